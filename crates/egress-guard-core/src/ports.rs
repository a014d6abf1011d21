//! The ports the core's async work runs over, and nothing else: the security groups it reads and changes, where
//! messages go, where revokes are remembered, the flow logs it reads, and where notices also go for machines, with
//! the do-nothing stand-ins. Adapters implement them (`egress-guard-aws`), tests fake them.

use std::future::Future;

use crate::evaluate::RevokePlan;
use crate::history::{Last, Revocation};
use crate::model::{EgressRule, SecurityGroup};
use crate::notify::message::Message;
use crate::notify::notice::Notice;
use crate::recommend::evidence::{FlowLog, Interface, Network, Records, Window};

/// Reads and changes security groups. Speaks domain types only.
pub trait SecurityGroups {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The group as EC2 holds it now; `None` if it does not exist (any more).
    fn describe(&self, group_id: &str) -> impl Future<Output = Result<Option<SecurityGroup>, Self::Error>> + Send;

    /// The default group of a VPC as EC2 holds it now; `None` if the VPC is not found (yet, or any more).
    fn default_group(&self, vpc_id: &str) -> impl Future<Output = Result<Option<SecurityGroup>, Self::Error>> + Send;

    /// Every group of the region, for the sweep.
    fn list(&self) -> impl Future<Output = Result<Vec<SecurityGroup>, Self::Error>> + Send;

    /// Revokes exactly the plan's rules and answers which of them this call removed. A rule already gone (a
    /// concurrent revoke, a duplicate delivery) is not an error and not in the answer; nor is a group that is gone.
    /// An error that stops the revoke after some rules were removed still reports them (`Revoked::error`).
    fn revoke(&self, plan: &RevokePlan) -> impl Future<Output = Revoked<Self::Error>> + Send;

    /// Authorizes exactly `rules` on the group (a proposal applied); a rule that already exists is not an error.
    fn authorize(&self, group_id: &str, rules: &[EgressRule]) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Waits before another look at a group (EC2 is eventually consistent: a group just created may not be found
    /// yet, a rule just revoked may still show), longer with each `attempt` from 0. Fakes return at once.
    fn settle(&self, attempt: u32) -> impl Future<Output = ()> + Send;
}

/// What a revoke did: the plan's rules this call removed, and the error that stopped it, if one did.
#[derive(Debug)]
pub struct Revoked<E> {
    pub removed: Vec<EgressRule>,
    pub error: Option<E>,
}

impl<E> Revoked<E> {
    pub fn removed(removed: Vec<EgressRule>) -> Self {
        Revoked { removed, error: None }
    }
}

/// Delivers messages (a group's notice, a sweep's report) to people.
pub trait Notifier {
    type Error: std::error::Error + Send + Sync + 'static;

    fn publish(&self, message: &(dyn Message + Sync)) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Where revocations are remembered.
pub trait History {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Records `revocation` and answers, for each of its destinations in order, how many times it was revoked in the
    /// window ending at `revocation.at`, this time included. `None`: no history is kept here.
    fn record(&self, revocation: &Revocation) -> impl Future<Output = Result<Option<Vec<u32>>, Self::Error>> + Send;

    /// Records what is left open on the group `account/region/group-id` after egress-guard acted (`open_key`; empty
    /// once revoked) and answers what was recorded before.
    fn seen(&self, group_key: &str, open: &str, at: i64) -> impl Future<Output = Result<Last, Self::Error>> + Send {
        let _ = (group_key, open, at);
        std::future::ready(Ok(Last::NotKept))
    }

    /// Records a sweep of `account/region` by the schedule of `schedule_time`, and answers whether it is the
    /// region's first (every run of the first schedule is). `None`: no history kept.
    fn first_sweep(
        &self,
        region_key: &str,
        schedule_time: &str,
        at: i64,
    ) -> impl Future<Output = Result<Option<bool>, Self::Error>> + Send {
        let _ = (region_key, schedule_time, at);
        std::future::ready(Ok(None))
    }
}

/// No history kept (the CLI, or a function without a table).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHistory;

impl History for NoHistory {
    type Error = std::convert::Infallible;
    async fn record(&self, _: &Revocation) -> Result<Option<Vec<u32>>, Self::Error> {
        Ok(None)
    }
}

impl<H: History + Sync> History for Option<H> {
    type Error = H::Error;
    async fn record(&self, revocation: &Revocation) -> Result<Option<Vec<u32>>, Self::Error> {
        match self {
            Some(history) => history.record(revocation).await,
            None => Ok(None),
        }
    }
    async fn seen(&self, group_key: &str, open: &str, at: i64) -> Result<Last, Self::Error> {
        match self {
            Some(history) => history.seen(group_key, open, at).await,
            None => Ok(Last::NotKept),
        }
    }
    async fn first_sweep(&self, region_key: &str, schedule_time: &str, at: i64) -> Result<Option<bool>, Self::Error> {
        match self {
            Some(history) => history.first_sweep(region_key, schedule_time, at).await,
            None => Ok(None),
        }
    }
}

/// What the interfaces that use a group did: their flow logs and records, the VPC around them. Read only: nothing
/// here can change a group.
pub trait FlowLogs {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The network interfaces that use the group.
    fn interfaces(&self, group_id: &str) -> impl Future<Output = Result<Vec<Interface>, Self::Error>> + Send;

    /// The flow logs that capture any of `resource_ids` (interfaces, subnets, VPCs).
    fn flow_logs(&self, resource_ids: &[String]) -> impl Future<Output = Result<Vec<FlowLog>, Self::Error>> + Send;

    /// The records `log` holds for `interfaces` in `window`, at most `limit` lines (then `truncated`).
    fn records(
        &self,
        log: &FlowLog,
        interfaces: &[&Interface],
        window: Window,
        limit: usize,
    ) -> impl Future<Output = Result<Records, Self::Error>> + Send;

    /// The VPC's CIDR blocks and the region's AWS-managed prefix lists (S3, DynamoDB) with their entries.
    fn network(&self, vpc_id: &str) -> impl Future<Output = Result<Network, Self::Error>> + Send;
}

/// No flow logs read (a sweep, or a notice without the observed-egress section).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFlowLogs;

/// `NoFlowLogs` cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("flow logs are not read here")]
pub struct NotRead;

impl FlowLogs for NoFlowLogs {
    type Error = NotRead;
    async fn interfaces(&self, _: &str) -> Result<Vec<Interface>, NotRead> {
        Err(NotRead)
    }
    async fn flow_logs(&self, _: &[String]) -> Result<Vec<FlowLog>, NotRead> {
        Err(NotRead)
    }
    async fn records(&self, _: &FlowLog, _: &[&Interface], _: Window, _: usize) -> Result<Records, NotRead> {
        Err(NotRead)
    }
    async fn network(&self, _: &str) -> Result<Network, NotRead> {
        Err(NotRead)
    }
}

/// Where each group's notice also goes, for machines: Security Hub findings, an event on a bus. Called once the
/// notices are published to people, with every notice of the invocation (one for an event, the groups acted on for
/// a sweep).
pub trait Outlets {
    type Error: std::error::Error + Send + Sync + 'static;

    fn deliver(&self, notices: &[Notice]) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Notices go to people only.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoOutlets;

impl Outlets for NoOutlets {
    type Error = std::convert::Infallible;
    async fn deliver(&self, _: &[Notice]) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The ports the flow runs over: the groups it reads and changes, where notices go, where revokes are remembered,
/// the flow logs a notice's observed-egress section reads, and where notices also go for machines.
#[derive(Debug)]
pub struct Ports<'a, G, N, H, F = NoFlowLogs, O = NoOutlets> {
    pub groups: &'a G,
    pub notifier: &'a N,
    pub history: &'a H,
    pub flow_logs: &'a F,
    pub outlets: &'a O,
}

impl<G, N, H, F, O> Clone for Ports<'_, G, N, H, F, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<G, N, H, F, O> Copy for Ports<'_, G, N, H, F, O> {}
