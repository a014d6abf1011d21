//! The SDK clients, built from the standard AWS configuration, and the adapters made from them: EC2 at once, every
//! other service's client on its first call.

use aws_config::BehaviorVersion;

use crate::config::{retry_config, timeout_config};
use crate::{
    AwsFlowLogs, AwsOutlets, DynamoHistory, Ec2SecurityGroups, Fleet, Integrations, OrganizationAccounts, SnsNotifier,
    SqsSweepQueue,
};

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
        DynamoHistory::from_config(&self.config, table)
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

    /// Who these credentials are (`GetCallerIdentity`, which needs no permission), for what the CLI records.
    /// https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
    pub async fn caller_arn(&self) -> Result<String, crate::Error> {
        let sts = aws_sdk_sts::Client::new(&self.config);
        let out = sts.get_caller_identity().send().await.map_err(|err| {
            let (code, message) = crate::error::code_and_message(&err);
            crate::Error::Sts { role_arn: "(GetCallerIdentity)".into(), code, message }
        })?;
        Ok(out.arn().unwrap_or("unknown").to_owned())
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
        OrganizationAccounts::from_config(&self.config)
    }

    /// The flow logs of `region`'s interfaces, for a proposal (`egress-guard recommend`).
    pub fn flow_logs_in(&self, region: &str) -> AwsFlowLogs {
        AwsFlowLogs::new(&self.config.to_builder().region(aws_config::Region::new(region.to_owned())).build())
    }

    /// The queue the scheduled dispatch sends one sweep request per (account, region) to.
    pub fn sweep_queue(&self, queue_url: &str) -> SqsSweepQueue {
        SqsSweepQueue::from_config(&self.config, queue_url)
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

    /// `egress-guard preflight`'s read-only probes, with these credentials; `home` is where the function is deployed.
    #[cfg(feature = "preflight")]
    pub fn preflight(&self, home: &str) -> crate::preflight::AwsPreflight {
        crate::preflight::AwsPreflight::new(&self.config, home)
    }
}
