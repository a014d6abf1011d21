//! egress-guard's AWS adapters: EC2 security groups and SNS notices behind the core's ports.
//! The only crate that names `aws_sdk_*` types.
#![forbid(unsafe_code)]

mod dynamodb;
mod ec2;
mod error;
mod eventbridge;
mod fleet;
mod flowlogs;
mod organizations;
mod outlets;
mod securityhub;
mod sns;
mod sqs;

pub use dynamodb::DynamoHistory;
pub use ec2::{Ec2SecurityGroups, to_domain, to_permissions};
pub use error::Error;
pub use eventbridge::{EVENT_SOURCE, EventBus, MAX_ENTRY_BYTES};
pub use fleet::{Fleet, SESSION_NAME};
pub use flowlogs::AwsFlowLogs;
pub use organizations::OrganizationAccounts;
pub use outlets::{AwsOutlets, Integrations};
pub use securityhub::SecurityHubFindings;
pub use sns::{SnsNotifier, structured};
pub use sqs::SqsSweepQueue;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use std::time::Duration;

/// Attempts per AWS call, first try included. Past them the call fails, and Lambda's own retries take over.
pub const MAX_ATTEMPTS: u32 = 4;

/// Each attempt of an AWS call gives up after this long; a hung connection is then retried like a 5xx.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// A whole AWS call, its retries and their backoff included, gives up after this long: no call can hold an
/// invocation past its time budget.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// `ATTEMPT_TIMEOUT` and `OPERATION_TIMEOUT`, for every client.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder().operation_attempt_timeout(ATTEMPT_TIMEOUT).operation_timeout(OPERATION_TIMEOUT).build()
}

/// The SDK's standard retry (exponential backoff with jitter; throttling, 5xx and transport errors retried), bounded
/// at `MAX_ATTEMPTS`. There is no retry loop of egress-guard's own.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// The SDK clients egress-guard needs, built once from the standard AWS configuration
/// (environment, profile, `AWS_ENDPOINT_URL`, container or instance credentials).
#[derive(Clone, Debug)]
pub struct Clients {
    pub config: aws_config::SdkConfig,
    pub ec2: aws_sdk_ec2::Client,
}

impl Clients {
    /// The revocation history in the DynamoDB table `table`.
    pub fn history(&self, table: &str) -> DynamoHistory {
        DynamoHistory::new(aws_sdk_dynamodb::Client::new(&self.config), table)
    }
}

impl Clients {
    pub async fn from_env() -> Self {
        Clients::load(None, None).await
    }

    /// As `from_env`, with a named profile and a region in place of the configured ones.
    pub async fn load(profile: Option<&str>, region: Option<&str>) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry_config())
            .timeout_config(timeout_config());
        if let Some(profile) = profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_owned()));
        }
        let config = loader.load().await;
        Clients { ec2: aws_sdk_ec2::Client::new(&config), config }
    }

    /// The configured region, if any.
    pub fn region(&self) -> Option<String> {
        self.ec2.config().region().map(ToString::to_string)
    }

    /// Security groups in another region, with the same credentials and settings.
    pub fn security_groups_in(&self, region: &str) -> Ec2SecurityGroups {
        let config = self.ec2.config().to_builder().region(aws_config::Region::new(region.to_owned())).build();
        Ec2SecurityGroups::new(aws_sdk_ec2::Client::from_conf(config))
    }

    pub fn security_groups(&self) -> Ec2SecurityGroups {
        Ec2SecurityGroups::new(self.ec2.clone())
    }

    /// Security groups in any account and region, for organization mode, and the outlets `integrations` asks for.
    pub fn fleet(&self, integrations: Integrations) -> Fleet {
        Fleet::new(self.config.clone(), integrations)
    }

    /// The organization's accounts (`organizations:ListAccounts`), for a sweep of every member.
    pub fn organization_accounts(&self) -> OrganizationAccounts {
        OrganizationAccounts::new(aws_sdk_organizations::Client::new(&self.config))
    }

    /// The flow logs of `region`'s interfaces, for a proposal (`egress-guard recommend`).
    pub fn flow_logs_in(&self, region: &str) -> AwsFlowLogs {
        AwsFlowLogs::new(&self.config.to_builder().region(aws_config::Region::new(region.to_owned())).build())
    }

    /// The queue the scheduled dispatch sends one sweep request per (account, region) to.
    pub fn sweep_queue(&self, queue_url: &str) -> SqsSweepQueue {
        SqsSweepQueue::new(aws_sdk_sqs::Client::new(&self.config), queue_url)
    }

    /// The outlets `integrations` asks for: Security Hub in `region` (with these credentials), the bus in the
    /// configured region.
    pub fn outlets(&self, integrations: &Integrations, region: &str) -> AwsOutlets {
        let in_region = self.config.to_builder().region(aws_config::Region::new(region.to_owned())).build();
        AwsOutlets { hub: integrations.hub(&in_region), bus: integrations.bus(&self.config) }
    }

    pub fn notifier(&self, topic_arn: &str) -> SnsNotifier {
        SnsNotifier::for_topic(&self.config, topic_arn)
    }
}
