//! `Reach`: where the function finds the ports of any account and region: the security groups, their interfaces'
//! flow logs, where their notices also go, and whether the region's changes can still be seen.

use std::future::Future;
use std::time::Duration;

use crate::org::{Access, Home};
use crate::ports::flow_logs::FlowLogs;
use crate::ports::groups::SecurityGroups;
use crate::ports::outlets::Outlets;
use crate::watch::Watch;

/// A notice waits at most this long for its observed-egress section (`EGRESS_GUARD_OBSERVED_EGRESS_DAYS`): past it,
/// the section says it was not read and the notice goes out.
pub const OBSERVED_EGRESS_BUDGET: Duration = Duration::from_secs(5);

/// The ports of an event's account and region, reached with `access` (the function's own credentials, or a
/// member's remediation role).
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
