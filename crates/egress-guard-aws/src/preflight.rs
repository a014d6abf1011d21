//! `egress-guard preflight`'s observations: read-only calls only (Describe, Get, and `sts:AssumeRole`, whose
//! credentials are dropped), turned into the core's `Observations`; every failed call is kept as its error, never
//! taken for a pass.

use std::collections::BTreeMap;

use aws_config::{Region, SdkConfig};
use egress_guard_core::preflight::{
    AccountConcurrency, Assume, ConcurrencyObservation, ListedRegion, MemberObservation, Observations, OptIn,
    RegionObservation, SESSION_NAME, Scope, Seen, Selectors,
};
use futures_util::StreamExt;

use crate::ec2::ec2_error;
use crate::error::{Error, code_and_message};
use crate::trails::Listed;

/// Calls in flight at once, per stage (the regions, then the trails they list).
const AT_ONCE: usize = 8;

/// The probes, with the caller's credentials; `home` is the region the function is (or would be) deployed to.
#[derive(Clone, Debug)]
pub struct AwsPreflight {
    config: SdkConfig,
    home: String,
}

impl AwsPreflight {
    pub fn new(config: &SdkConfig, home: &str) -> AwsPreflight {
        AwsPreflight { config: config.clone(), home: home.to_owned() }
    }

    fn in_region(&self, region: &str) -> SdkConfig {
        self.config.to_builder().region(Region::new(region.to_owned())).build()
    }

    /// Everything `request` asks about: the account's regions first (a region not enabled is not looked into), then
    /// each region's trails and hub, each trail's state once in its home region; Lambda's account settings and the
    /// member roles alongside.
    pub async fn observe(&self, request: &Scope) -> Observations {
        let listed = self.regions().await.map_err(|e| e.to_string());
        let probed = |region: &str| RegionObservation::is_probed(&listed, region);
        let regions = futures_util::stream::iter(request.regions.iter().map(|region| {
            let probe = probed(region);
            async move {
                if !probe {
                    return (region.clone(), None, None);
                }
                let hub = async {
                    if request.security_hub {
                        Some(self.hub_enabled(region).await.map_err(|e| e.to_string()))
                    } else {
                        None
                    }
                };
                let (trails, hub) = futures_util::future::join(crate::trails::listed(&self.config, region), hub).await;
                (region.clone(), Some(trails.map_err(|e| e.to_string())), hub)
            }
        }))
        .buffered(AT_ONCE)
        .collect::<Vec<_>>();
        let concurrency = async {
            let requested = request.function_concurrency?;
            let limit = self.account_concurrency().await.map_err(|e| e.to_string());
            Some(ConcurrencyObservation { region: self.home.clone(), requested, limit })
        };
        let members = futures_util::stream::iter(request.member_accounts.iter().map(|account| async move {
            let role_arn = request.role_arn(&self.home, account);
            let assumed = self.assume(&role_arn).await.map_err(|e| e.to_string());
            MemberObservation { account: account.clone(), role_arn, assumed }
        }))
        .buffered(AT_ONCE)
        .collect::<Vec<_>>();
        let (regions, concurrency, members) = futures_util::future::join3(regions, concurrency, members).await;

        // A multi-region trail is listed in every region: its state is read once, in its home region.
        let mut distinct: BTreeMap<String, Listed> = BTreeMap::new();
        for (_, trails, _) in &regions {
            for trail in trails.iter().flatten().flatten() {
                distinct.entry(trail.arn.clone()).or_insert_with(|| trail.clone());
            }
        }
        let states: BTreeMap<String, (Seen<bool>, Seen<Selectors>)> = futures_util::stream::iter(
            distinct
                .into_values()
                .map(|trail| async move { (trail.arn.clone(), crate::trails::state(&self.config, &trail).await) }),
        )
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
        let regions = regions
            .into_iter()
            .map(|(region, trails, hub)| {
                let trails = trails.map(|listed| {
                    listed.map(|trails| {
                        trails
                            .into_iter()
                            .map(|t| {
                                let state = states.get(&t.arn).cloned().unwrap_or_else(|| {
                                    let unread = format!("trail {} was not read", t.arn);
                                    (Err(unread.clone()), Err(unread))
                                });
                                t.observed(state)
                            })
                            .collect()
                    })
                });
                RegionObservation { region, trails, hub }
            })
            .collect();
        Observations { listed, regions, concurrency, members }
    }

    /// Every region of the partition and its opt-in status.
    async fn regions(&self) -> Result<Vec<ListedRegion>, Error> {
        // DescribeRegions with AllRegions lists disabled regions too, each with its OptInStatus
        // (opt-in-not-required | opted-in | not-opted-in):
        // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeRegions.html
        let ec2 = aws_sdk_ec2::Client::new(&self.in_region(&self.home));
        let out =
            ec2.describe_regions().all_regions(true).send().await.map_err(|e| ec2_error("DescribeRegions", &e))?;
        Ok(out
            .regions()
            .iter()
            .filter_map(|r| {
                let name = r.region_name()?.to_owned();
                Some(ListedRegion { name, opt_in: OptIn::from_status(r.opt_in_status().unwrap_or_default()) })
            })
            .collect())
    }

    /// Whether Security Hub is enabled in `region`.
    async fn hub_enabled(&self, region: &str) -> Result<bool, Error> {
        // DescribeHub answers the hub of the calling account, or InvalidAccessException when the account is not
        // subscribed to Security Hub in the region:
        // https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_DescribeHub.html
        let client = aws_sdk_securityhub::Client::new(&self.in_region(region));
        match client.describe_hub().send().await {
            Ok(_) => Ok(true),
            Err(err) => {
                let (code, message) = code_and_message(&err);
                if code == "InvalidAccessException" {
                    return Ok(false);
                }
                let account = "the caller's account".to_owned();
                Err(Error::SecurityHub { operation: "DescribeHub", account, region: region.to_owned(), code, message })
            }
        }
    }

    /// Lambda's concurrency quota and what is unreserved of it, in the home region.
    async fn account_concurrency(&self) -> Result<AccountConcurrency, Error> {
        // GetAccountSettings: AccountLimit.ConcurrentExecutions and UnreservedConcurrentExecutions.
        // https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html
        let client = aws_sdk_lambda::Client::new(&self.in_region(&self.home));
        let fail =
            |code, message| Error::Lambda { operation: "GetAccountSettings", region: self.home.clone(), code, message };
        let out = client.get_account_settings().send().await.map_err(|err| {
            let (code, message) = code_and_message(&err);
            fail(code, message)
        })?;
        let limit = out.account_limit();
        match limit.and_then(|l| l.unreserved_concurrent_executions()) {
            Some(unreserved) => Ok(AccountConcurrency {
                quota: limit.map_or(0, |l| i64::from(l.concurrent_executions())),
                unreserved: i64::from(unreserved),
            }),
            None => Err(fail("MissingField".into(), "no AccountLimit.UnreservedConcurrentExecutions".into())),
        }
    }

    /// Whether these credentials may assume `role_arn`. The credentials are dropped: nothing is called with them.
    async fn assume(&self, role_arn: &str) -> Result<Assume, Error> {
        let client = aws_sdk_sts::Client::new(&self.in_region(&self.home));
        Ok(match crate::organizations::probe_role(&client, role_arn, SESSION_NAME).await? {
            Ok(()) => Assume::Assumed,
            Err(message) => Assume::Denied { message },
        })
    }
}
