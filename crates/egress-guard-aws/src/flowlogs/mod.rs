//! The flow logs of a group's interfaces behind the core's read-only `FlowLogs` port: EC2 for the interfaces, flow
//! logs, VPC blocks and AWS-managed prefix lists; CloudWatch Logs (`cloudwatch`) and S3 (`s3`) for the records. Every call may be held to a deadline, so that a notice's section never waits long.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_sdk_ec2::types::Filter;
use egress_guard_core::ports::FlowLogs;
use egress_guard_core::recommend::{FlowLog, Interface, LogDestination, Network, PrefixList, Records, Window};
use ipnet::IpNet;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::ec2::ec2_error;
use crate::error::{Error, code_and_message};
use crate::lazy::OnFirstUse;

mod cloudwatch;
mod s3;

/// CloudWatch Logs calls in flight at once, all readers of one account and region together.
const LOGS_CALLS_AT_ONCE: usize = 2;
/// DescribeFlowLogs and DescribeNetworkInterfaces take at most 200 filter values.
const VALUES_PER_FILTER: usize = 200;
/// The AWS-managed prefix lists a proposal uses, by the end of their name, and what a rule that references one
/// counts against the quota when EC2 does not say (their published weight).
const MANAGED_LISTS: [(&str, u32); 2] = [(".s3", 1), (".dynamodb", 1)];

#[derive(Clone, Debug)]
pub struct AwsFlowLogs {
    ec2: OnFirstUse<aws_sdk_ec2::Client>,
    logs: OnFirstUse<aws_sdk_cloudwatchlogs::Client>,
    s3: OnFirstUse<aws_sdk_s3::Client>,
    region: String,
    /// Calls end within this budget of the first one (an `OnceLock` per `within`).
    budget: Option<(Duration, Arc<OnceLock<Instant>>)>,
    /// Shared by every clone: the CloudWatch Logs calls in flight.
    logs_calls: Arc<Semaphore>,
}

impl AwsFlowLogs {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        AwsFlowLogs {
            ec2: OnFirstUse::new(config, aws_sdk_ec2::Client::new),
            logs: OnFirstUse::new(config, aws_sdk_cloudwatchlogs::Client::new),
            // A custom endpoint (an emulator, a gateway) serves buckets by path, not by host name.
            s3: OnFirstUse::new(config, |config| {
                let path_style = config.endpoint_url().is_some();
                aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(config).force_path_style(path_style).build(),
                )
            }),
            region: config.region().map(ToString::to_string).unwrap_or_default(),
            budget: None,
            logs_calls: Arc::new(Semaphore::new(LOGS_CALLS_AT_ONCE)),
        }
    }

    /// A reader over these clients, in `region`.
    pub fn from_clients(
        ec2: aws_sdk_ec2::Client,
        logs: aws_sdk_cloudwatchlogs::Client,
        s3: aws_sdk_s3::Client,
        region: &str,
    ) -> Self {
        let logs_calls = Arc::new(Semaphore::new(LOGS_CALLS_AT_ONCE));
        let (ec2, logs, s3) = (OnFirstUse::ready(ec2), OnFirstUse::ready(logs), OnFirstUse::ready(s3));
        AwsFlowLogs { ec2, logs, s3, region: region.to_owned(), budget: None, logs_calls }
    }

    /// The same reader, whose calls all end within `budget` of its first call (then each fails as `budget`): the
    /// budget starts when the reading does, not before a revoke that comes first.
    pub fn within(&self, budget: Duration) -> Self {
        AwsFlowLogs { budget: Some((budget, Arc::new(OnceLock::new()))), ..self.clone() }
    }

    /// A CloudWatch Logs call, at most `LOGS_CALLS_AT_ONCE` of them in flight for this account and region
    /// (`FilterLogEvents` is held to 5 a second, and the quota cannot be raised), within the budget.
    async fn logs_call<T>(&self, call: impl Future<Output = T>) -> Result<T, Error> {
        self.timed(async {
            // The semaphore is never closed: a permit always comes.
            let _permit = self.logs_calls.acquire().await.ok();
            call.await
        })
        .await
    }

    /// `call`'s output, or `Error::Budget` once the budget is spent.
    async fn timed<T>(&self, call: impl Future<Output = T>) -> Result<T, Error> {
        match &self.budget {
            None => Ok(call.await),
            Some((budget, start)) => {
                let deadline = *start.get_or_init(|| Instant::now() + *budget);
                tokio::time::timeout_at(deadline, call)
                    .await
                    .map_err(|_| Error::Budget { message: "the observed-egress time budget was spent".to_owned() })
            }
        }
    }
}

/// The code and message of any SDK error, whatever its operation.
trait CodeAndMessage {
    fn code_and_message(&self) -> (String, String);
}

impl<E> CodeAndMessage for aws_sdk_ec2::error::SdkError<E, aws_sdk_ec2::config::http::HttpResponse>
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    fn code_and_message(&self) -> (String, String) {
        code_and_message(self)
    }
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder().name(name).set_values(Some(values.to_vec())).build()
}

impl FlowLogs for AwsFlowLogs {
    type Error = Error;

    async fn interfaces(&self, group_id: &str) -> Result<Vec<Interface>, Error> {
        let mut pages = self
            .ec2
            .get()
            .describe_network_interfaces()
            .filters(filter("group-id", &[group_id.to_owned()]))
            .into_paginator()
            .send();
        let mut interfaces = Vec::new();
        while let Some(page) = self.timed(pages.next()).await? {
            let page = page.map_err(|e| ec2_error("DescribeNetworkInterfaces", &e))?;
            for eni in page.network_interfaces() {
                let v4 = eni.private_ip_addresses().iter().filter_map(|a| a.private_ip_address());
                let public = eni.association().and_then(|a| a.public_ip());
                let v6 = eni.ipv6_addresses().iter().filter_map(|a| a.ipv6_address());
                let addresses = v4.chain(public).chain(v6).filter_map(|a| a.parse::<IpAddr>().ok()).collect();
                interfaces.push(Interface {
                    id: eni.network_interface_id().unwrap_or_default().to_owned(),
                    subnet_id: eni.subnet_id().map(str::to_owned),
                    vpc_id: eni.vpc_id().map(str::to_owned),
                    owner_id: eni.owner_id().map(str::to_owned),
                    addresses,
                    since: eni.attachment().and_then(|a| a.attach_time()).map(|t| t.secs()),
                });
            }
        }
        Ok(interfaces)
    }

    async fn flow_logs(&self, resource_ids: &[String]) -> Result<Vec<FlowLog>, Error> {
        let mut logs = Vec::new();
        for ids in resource_ids.chunks(VALUES_PER_FILTER) {
            let mut pages =
                self.ec2.get().describe_flow_logs().filter(filter("resource-id", ids)).into_paginator().send();
            while let Some(page) = self.timed(pages.next()).await? {
                let page = page.map_err(|e| ec2_error("DescribeFlowLogs", &e))?;
                for fl in page.flow_logs() {
                    let kind = fl.log_destination_type().map(|t| t.as_str().to_owned()).unwrap_or_default();
                    let destination = match kind.as_str() {
                        "cloud-watch-logs" => LogDestination::CloudWatchLogs {
                            log_group: fl
                                .log_group_name()
                                .map(str::to_owned)
                                .or_else(|| {
                                    let arn = fl.log_destination()?;
                                    Some(arn.rsplit(":log-group:").next()?.trim_end_matches(":*").to_owned())
                                })
                                .unwrap_or_default(),
                        },
                        "s3" => {
                            // arn:<partition>:s3:::bucket[/prefix]
                            let arn = fl.log_destination().unwrap_or_default();
                            let path = arn.splitn(6, ':').nth(5).unwrap_or(arn);
                            let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
                            let prefix = prefix.trim_matches('/');
                            let hive = fl.destination_options().and_then(|o| o.hive_compatible_partitions());
                            let per_hour = fl.destination_options().and_then(|o| o.per_hour_partition());
                            if hive == Some(true) || per_hour == Some(true) {
                                LogDestination::Other("S3 with Hive-compatible or per-hour partitions".into())
                            } else {
                                LogDestination::S3 {
                                    bucket: bucket.to_owned(),
                                    prefix: if prefix.is_empty() { String::new() } else { format!("{prefix}/") },
                                }
                            }
                        }
                        other => LogDestination::Other(other.to_owned()),
                    };
                    logs.push(FlowLog {
                        id: fl.flow_log_id().unwrap_or_default().to_owned(),
                        resource_id: fl.resource_id().unwrap_or_default().to_owned(),
                        traffic_type: fl.traffic_type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
                        log_format: fl.log_format().unwrap_or_default().to_owned(),
                        destination,
                        created_at: fl.creation_time().map(|t| t.secs()),
                        delivery_error: (fl.deliver_logs_status() == Some("FAILED"))
                            .then(|| fl.deliver_logs_error_message().unwrap_or("delivery failed").to_owned()),
                    });
                }
            }
        }
        logs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(logs)
    }

    async fn records(
        &self,
        log: &FlowLog,
        interfaces: &[&Interface],
        window: Window,
        limit: usize,
    ) -> Result<Records, Error> {
        match &log.destination {
            LogDestination::CloudWatchLogs { log_group } => self.cloudwatch(log_group, interfaces, window, limit).await,
            LogDestination::S3 { bucket, prefix } => self.s3(bucket, prefix, log, interfaces, window, limit).await,
            LogDestination::Other(_) => Ok(Records::default()),
        }
    }

    async fn network(&self, vpc_id: &str) -> Result<Network, Error> {
        let call = self.ec2.get().describe_vpcs().vpc_ids(vpc_id).send();
        let vpcs = self.timed(call).await?.map_err(|e| ec2_error("DescribeVpcs", &e))?;
        let mut network = Network::default();
        for vpc in vpcs.vpcs() {
            let v4 = vpc.cidr_block_association_set().iter().filter_map(|a| a.cidr_block());
            let v6 = vpc.ipv6_cidr_block_association_set().iter().filter_map(|a| a.ipv6_cidr_block());
            network.vpc_cidrs.extend(v4.chain(v6).filter_map(|c| c.parse::<IpNet>().ok()));
        }
        network.vpc_cidrs.sort();
        network.vpc_cidrs.dedup();
        let call =
            self.ec2.get().describe_managed_prefix_lists().filters(filter("owner-id", &["AWS".to_owned()])).send();
        let lists = self.timed(call).await?.map_err(|e| ec2_error("DescribeManagedPrefixLists", &e))?;
        for list in lists.prefix_lists() {
            let name = list.prefix_list_name().unwrap_or_default();
            let Some((_, weight)) =
                MANAGED_LISTS.iter().find(|(end, _)| name == format!("com.amazonaws.{}{end}", self.region))
            else {
                continue;
            };
            let id = list.prefix_list_id().unwrap_or_default().to_owned();
            let call = self.ec2.get().get_managed_prefix_list_entries().prefix_list_id(&id).send();
            let entries = self.timed(call).await?.map_err(|e| ec2_error("GetManagedPrefixListEntries", &e))?;
            network.prefix_lists.push(PrefixList {
                id,
                name: name.to_owned(),
                // AWS publishes the weight of its managed lists; `MaxEntries` is the customer-managed lists' count.
                weight: *weight,
                cidrs: entries.entries().iter().filter_map(|e| e.cidr()?.parse().ok()).collect(),
            });
        }
        network.prefix_lists.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(network)
    }
}
