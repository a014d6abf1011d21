//! Where the function reaches AWS, as ports of its own: the security groups, flow logs and outlets of any account
//! and region (`Reach`, which `Fleet` implements), the sweep queue and the organization's accounts for the fan-out.

use std::future::Future;
use std::time::Duration;

use egress_guard_core::notify::digest::DigestPart;
use egress_guard_core::org::{Access, Home};
use egress_guard_core::{FlowLogs, NoHistory, Outlets, Pause, SecurityGroups, SweepRequest, Watch};

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

/// Where a schedule's digest stands after a sweep added its share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gather {
    /// Other sweeps are still to finish, or another sweep sends the digest.
    Waiting,
    /// The digest went out already (a late redelivery): what this sweep did goes out on its own.
    AlreadySent,
    /// This sweep completed the schedule and holds the claim: every share, in request order.
    Complete(Vec<DigestPart>),
}

/// Where a schedule's digest is gathered: each sweep's share kept, the requests done counted once each, and every
/// share answered to the one sweep that completes the count and claims the sending.
pub trait Digests {
    type Error: std::error::Error + Send + Sync + 'static;
    /// Whether shares are kept here at all; where they are not, each sweep reports on its own.
    fn gathers(&self) -> bool;
    /// Keeps `share` of `request` (`last`: the request's last run) and says where the digest stands.
    fn add(
        &self,
        request: &SweepRequest,
        share: &DigestPart,
        last: bool,
    ) -> impl Future<Output = Result<Gather, Self::Error>> + Send;
    /// The digest went out: later deliveries report on their own.
    fn published(&self, schedule_id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Gives the claim back (the digest could not be sent), for the sweep's redelivery.
    fn release(&self, schedule_id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Digests for egress_guard_aws::DynamoHistory {
    type Error = egress_guard_aws::Error;
    fn gathers(&self) -> bool {
        true
    }
    async fn add(&self, request: &SweepRequest, share: &DigestPart, last: bool) -> Result<Gather, Self::Error> {
        let json = serde_json::to_string(share).unwrap_or_default();
        let kept = egress_guard_aws::Share {
            schedule_id: &request.schedule_id,
            index: request.index,
            run: request.run,
            of: request.of,
            last,
            json,
            at: now(),
        };
        Ok(match self.add_share(&kept).await? {
            egress_guard_aws::Gathered::Waiting => Gather::Waiting,
            egress_guard_aws::Gathered::AlreadySent => Gather::AlreadySent,
            egress_guard_aws::Gathered::Complete(all) => Gather::Complete(
                all.iter()
                    .filter_map(|json| match serde_json::from_str(json) {
                        Ok(share) => Some(share),
                        Err(err) => {
                            tracing::error!(error = %err, "a sweep's share of the digest is unreadable: left out");
                            None
                        }
                    })
                    .collect(),
            ),
        })
    }
    fn published(&self, schedule_id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.digest_published(schedule_id, now())
    }
    fn release(&self, schedule_id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.release_digest(schedule_id)
    }
}

/// No table: each sweep reports on its own.
impl Digests for NoHistory {
    type Error = std::convert::Infallible;
    fn gathers(&self) -> bool {
        false
    }
    async fn add(&self, _: &SweepRequest, _: &DigestPart, _: bool) -> Result<Gather, Self::Error> {
        Ok(Gather::Waiting)
    }
    async fn published(&self, _: &str) -> Result<(), Self::Error> {
        Ok(())
    }
    async fn release(&self, _: &str) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl<D: Digests + Sync> Digests for Option<D> {
    type Error = D::Error;
    fn gathers(&self) -> bool {
        self.as_ref().is_some_and(D::gathers)
    }
    async fn add(&self, request: &SweepRequest, share: &DigestPart, last: bool) -> Result<Gather, Self::Error> {
        match self {
            Some(digests) => digests.add(request, share, last).await,
            None => Ok(Gather::Waiting),
        }
    }
    async fn published(&self, schedule_id: &str) -> Result<(), Self::Error> {
        match self {
            Some(digests) => digests.published(schedule_id).await,
            None => Ok(()),
        }
    }
    async fn release(&self, schedule_id: &str) -> Result<(), Self::Error> {
        match self {
            Some(digests) => digests.release(schedule_id).await,
            None => Ok(()),
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
    /// Whether `region`'s changes can still be seen (its trails; at `home`'s account, the rule that takes them), read
    /// before a sweep. `None`: not looked at.
    fn watch(&self, access: &Access, region: &str, home: Option<&Home>) -> impl Future<Output = Option<Watch>> + Send {
        let _ = (access, region, home);
        async { None }
    }
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
    async fn watch(&self, access: &Access, region: &str, home: Option<&Home>) -> Option<Watch> {
        Some(egress_guard_aws::Fleet::watch(self, access, region, home).await)
    }
}
