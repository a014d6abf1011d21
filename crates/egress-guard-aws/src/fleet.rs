//! Security groups (and the hub their findings go to) in any account and region an event names: the function's own credentials at home, a member
//! account's remediation role elsewhere. Each role is assumed once and its credentials are cached until near expiry.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use egress_guard_core::{Access, Home, OBSERVED_EGRESS_BUDGET, Reach, Watch};

use crate::config::SESSION_NAME;
use crate::{AwsFlowLogs, AwsOutlets, Ec2SecurityGroups, EventBus, Integrations, SecurityHubFindings};

/// The clients of one (access, region).
#[derive(Clone, Debug)]
struct Reached {
    config: SdkConfig,
    groups: Ec2SecurityGroups,
    flow_logs: AwsFlowLogs,
    hub: Option<SecurityHubFindings>,
}

/// Clients by (access, region), built on first use and kept for the life of the process, and the function's bus.
#[derive(Debug)]
pub struct Fleet {
    config: SdkConfig,
    integrations: Integrations,
    bus: Option<EventBus>,
    clients: Mutex<HashMap<(Access, String), Reached>>,
    roles: Mutex<HashMap<String, SharedCredentialsProvider>>,
}

impl Fleet {
    pub fn new(config: SdkConfig, integrations: Integrations) -> Fleet {
        let bus = integrations.bus(&config);
        Fleet { config, integrations, bus, clients: Mutex::default(), roles: Mutex::default() }
    }

    /// The security groups of `region`, reached as `access` says. Builds no credentials until a call needs them;
    /// clients of one account in several regions share its credentials (one `AssumeRole` for all of them).
    pub async fn security_groups(&self, access: &Access, region: &str) -> Ec2SecurityGroups {
        self.clients(access, region).await.groups
    }

    /// The flow logs of `region`'s interfaces, reached as `access` says, with the same credentials.
    pub async fn flow_logs(&self, access: &Access, region: &str) -> AwsFlowLogs {
        self.clients(access, region).await.flow_logs
    }

    /// Where notices also go: Security Hub in `region`'s hub of the account `access` reaches (findings are imported
    /// by the account they belong to), the function's own bus.
    pub async fn outlets(&self, access: &Access, region: &str) -> AwsOutlets {
        AwsOutlets { hub: self.clients(access, region).await.hub, bus: self.bus.clone() }
    }

    /// Whether `region`'s changes can still be seen: the trails that cover it and the rule that takes them, read with
    /// the credentials `access` gives: in the function's own account, the function's rule at home and elsewhere the
    /// region stack's forwarder to home's default bus; in a member account, its spoke's forwarder to the organization
    /// bus.
    pub async fn watch(&self, access: &Access, region: &str, home: Option<&Home>) -> Watch {
        let config = self.clients(access, region).await.config;
        let rule = async {
            let home = home?;
            let target = match access {
                Access::AssumeRole { .. } => home.organization_bus_arn(),
                Access::Own if region == home.region => home.function_arn.clone(),
                Access::Own => {
                    format!("arn:{}:events:{}:{}:event-bus/default", home.partition, home.region, home.account)
                }
            };
            Some(crate::watch::rule_state(&config, region, &target).await)
        };
        let (trails, rule) = futures_util::future::join(crate::trails::region_trails(&config, region), rule).await;
        Watch::assess(region, &trails, rule)
    }

    async fn clients(&self, access: &Access, region: &str) -> Reached {
        let key = (access.clone(), region.to_owned());
        if let Some(clients) = self.clients.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return clients.clone();
        }
        let mut config = self.config.to_builder().region(aws_config::Region::new(region.to_owned()));
        if let Access::AssumeRole { account, role_arn } = access {
            config = config.credentials_provider(self.role(account, role_arn).await);
        }
        let config = config.build();
        let clients = Reached {
            config: config.clone(),
            groups: Ec2SecurityGroups::new(aws_sdk_ec2::Client::new(&config)),
            flow_logs: AwsFlowLogs::new(&config),
            hub: self.integrations.hub(&config),
        };
        self.clients.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_insert(clients).clone()
    }

    async fn role(&self, account: &str, role_arn: &str) -> SharedCredentialsProvider {
        if let Some(provider) = self.roles.lock().unwrap_or_else(|e| e.into_inner()).get(role_arn) {
            return provider.clone();
        }
        let inner =
            AssumeRoleProvider::builder(role_arn).session_name(SESSION_NAME).configure(&self.config).build().await;
        let provider = SharedCredentialsProvider::new(Assumed {
            inner: Arc::new(inner),
            account: account.to_owned(),
            role_arn: role_arn.to_owned(),
        });
        self.roles.lock().unwrap_or_else(|e| e.into_inner()).entry(role_arn.to_owned()).or_insert(provider).clone()
    }
}

/// The core's reach into any account and region: the same clients, the flow logs held to the notice's budget.
impl Reach for Fleet {
    type Groups = Ec2SecurityGroups;
    type FlowLogs = AwsFlowLogs;
    type Outlets = AwsOutlets;
    fn security_groups(&self, access: &Access, region: &str) -> impl Future<Output = Ec2SecurityGroups> + Send {
        Fleet::security_groups(self, access, region)
    }
    async fn flow_logs(&self, access: &Access, region: &str) -> AwsFlowLogs {
        Fleet::flow_logs(self, access, region).await.within(OBSERVED_EGRESS_BUDGET)
    }
    fn outlets(&self, access: &Access, region: &str) -> impl Future<Output = AwsOutlets> + Send {
        Fleet::outlets(self, access, region)
    }
    async fn watch(&self, access: &Access, region: &str, home: Option<&Home>) -> Option<Watch> {
        Some(Fleet::watch(self, access, region, home).await)
    }
}

/// A member account's role credentials, logged each time they are fetched (once per expiry, thanks to the SDK's
/// identity cache in front of it).
#[derive(Debug)]
struct Assumed {
    inner: Arc<AssumeRoleProvider>,
    account: String,
    role_arn: String,
}

impl ProvideCredentials for Assumed {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let result = self.inner.provide_credentials().await;
            match &result {
                Ok(creds) => tracing::info!(
                    account = %self.account,
                    role_arn = %self.role_arn,
                    expires = ?creds.expiry(),
                    "assumed the remediation role"
                ),
                Err(err) => tracing::error!(
                    account = %self.account,
                    role_arn = %self.role_arn,
                    error = %aws_sdk_ec2::error::DisplayErrorContext(err),
                    "could not assume the remediation role"
                ),
            }
            result
        })
    }
}
