//! egress-guard's AWS adapters behind the core's ports: EC2 security groups, SNS notices, DynamoDB history, flow logs
//! (EC2, CloudWatch Logs, S3), Security Hub findings, EventBridge events, the SQS sweep queue, Organizations; with the
//! `preflight` feature, `egress-guard preflight`'s read-only probes (CloudTrail, Lambda, STS).
//! The only crate that names `aws_sdk_*` types.
#![forbid(unsafe_code)]

mod canary;
mod clients;
mod config;
mod ec2;
mod error;
mod eventbridge;
mod fleet;
mod flowlogs;
mod lazy;
mod organizations;
mod outlets;
#[cfg(feature = "preflight")]
mod preflight;
mod securityhub;
mod sns;
mod sqs;
mod table;
mod trails;
mod watch;

pub use canary::{Canary, Listener};
pub use clients::Clients;
pub use config::{ATTEMPT_TIMEOUT, MAX_ATTEMPTS, OPERATION_TIMEOUT, SESSION_NAME, retry_config, timeout_config};
pub use ec2::{Ec2SecurityGroups, to_domain, to_permissions};
pub use error::Error;
pub use eventbridge::{EVENT_SOURCE, EventBus, MAX_ENTRY_BYTES};
pub use fleet::Fleet;
pub use flowlogs::AwsFlowLogs;
pub use organizations::OrganizationAccounts;
pub use outlets::{AwsOutlets, Integrations};
#[cfg(feature = "preflight")]
pub use preflight::AwsPreflight;
pub use securityhub::SecurityHubFindings;
pub use sns::{SnsNotifier, structured};
pub use sqs::SqsSweepQueue;
pub use table::{DynamoHistory, Gathered, LEASE_SECS, PAUSE_KEY, Share};
pub use trails::region_trails;
pub use watch::rule_state;
