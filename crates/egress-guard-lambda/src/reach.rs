//! Where the function reaches AWS, as ports of its own: the security groups, flow logs and outlets of any account
//! and region (`Reach`, which `Fleet` implements), the sweep queue and the organization's accounts for the fan-out.

use std::future::Future;
use std::time::Duration;

use egress_guard_core::org::Access;
use egress_guard_core::{FlowLogs, NoHistory, Outlets, Pause, SecurityGroups, SweepRequest};

/// Where scheduled sweeps fan out to: one request per (account, region), each swept by its own invocation.
pub trait SweepQueue {
    type Error: std::error::Error + Send + Sync + 'static;
    fn send(&self, requests: &[SweepRequest]) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

impl SweepQueue for egress_guard_aws::SqsSweepQueue {
    type Error = egress_guard_aws::Error;
    fn send(&self, requests: &[SweepRequest]) -> impl Future<Output = Result<(), Self::Error>> + Send {
        egress_guard_aws::SqsSweepQueue::send(self, requests)
    }
}

/// The organization's active accounts, for a sweep of every member when the function acts in all of them (`*`), and
/// whether the function may assume a member's remediation role (`Ok(false)`: denied, the spoke is not there).
pub trait Accounts {
    type Error: std::error::Error + Send + Sync + 'static;
    fn list(&self) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send;
    fn can_assume(&self, role_arn: &str) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

impl Accounts for egress_guard_aws::OrganizationAccounts {
    type Error = egress_guard_aws::Error;
    fn list(&self) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send {
        egress_guard_aws::OrganizationAccounts::active(self)
    }
    fn can_assume(&self, role_arn: &str) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        egress_guard_aws::OrganizationAccounts::can_assume(self, role_arn)
    }
}

/// The kill switch, read on every invocation: the pause in force, if any (`egress-guard pause`).
pub trait Switch {
    type Error: std::error::Error + Send + Sync + 'static;
    fn paused(&self) -> impl Future<Output = Result<Option<Pause>, Self::Error>> + Send;
}

impl Switch for egress_guard_aws::DynamoHistory {
    type Error = egress_guard_aws::Error;
    async fn paused(&self) -> Result<Option<Pause>, Self::Error> {
        match egress_guard_aws::DynamoHistory::paused(self).await {
            // The function's own table missing holds no pause (the history tells its own failure); any other
            // failure leaves the switch unread, and nothing is done.
            Err(err) if err.code() == "ResourceNotFoundException" => {
                tracing::warn!(error = %err, "the pause switch's table does not exist: not paused");
                Ok(None)
            }
            answer => answer,
        }
    }
}

/// No table, no switch: never paused.
impl Switch for NoHistory {
    type Error = std::convert::Infallible;
    async fn paused(&self) -> Result<Option<Pause>, Self::Error> {
        Ok(None)
    }
}

impl<S: Switch + Sync> Switch for Option<S> {
    type Error = S::Error;
    async fn paused(&self) -> Result<Option<Pause>, Self::Error> {
        match self {
            Some(switch) => switch.paused().await,
            None => Ok(None),
        }
    }
}

/// How the function fans its sweeps out: the queue, the organization's accounts (asked only when every member is
/// acted in), and the regions every account is swept in (empty: the function's own).
#[derive(Debug)]
pub struct Fanout<'a, Q, A> {
    pub queue: &'a Q,
    pub accounts: &'a A,
    pub regions: &'a [String],
}

impl<Q, A> Clone for Fanout<'_, Q, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Q, A> Copy for Fanout<'_, Q, A> {}

/// A notice waits at most this long for its observed-egress section (`EGRESS_GUARD_OBSERVED_EGRESS_DAYS`): past it,
/// the section says it was not read and the notice goes out.
pub const OBSERVED_EGRESS_BUDGET: Duration = Duration::from_secs(5);

/// Where the function finds the security groups of an event's account and region, their interfaces' flow logs, and
/// where their notices also go (Security Hub, the bus).
pub trait Reach {
    type Groups: SecurityGroups + Sync;
    type FlowLogs: FlowLogs + Sync;
    type Outlets: Outlets + Sync;
    fn security_groups(&self, access: &Access, region: &str) -> impl Future<Output = Self::Groups> + Send;
    /// The flow logs, read within `OBSERVED_EGRESS_BUDGET` from now.
    fn flow_logs(&self, access: &Access, region: &str) -> impl Future<Output = Self::FlowLogs> + Send;
    fn outlets(&self, access: &Access, region: &str) -> impl Future<Output = Self::Outlets> + Send;
}

impl Reach for egress_guard_aws::Fleet {
    type Groups = egress_guard_aws::Ec2SecurityGroups;
    type FlowLogs = egress_guard_aws::AwsFlowLogs;
    type Outlets = egress_guard_aws::AwsOutlets;
    fn outlets(&self, access: &Access, region: &str) -> impl Future<Output = Self::Outlets> + Send {
        egress_guard_aws::Fleet::outlets(self, access, region)
    }
    fn security_groups(&self, access: &Access, region: &str) -> impl Future<Output = Self::Groups> + Send {
        egress_guard_aws::Fleet::security_groups(self, access, region)
    }
    async fn flow_logs(&self, access: &Access, region: &str) -> Self::FlowLogs {
        egress_guard_aws::Fleet::flow_logs(self, access, region).await.within(OBSERVED_EGRESS_BUDGET)
    }
}
