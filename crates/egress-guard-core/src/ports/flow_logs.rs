//! `FlowLogs`: the read-only evidence of a group's traffic (its interfaces, their flow logs and records, the VPC),
//! and `NoFlowLogs`, where none is read.

use std::future::Future;

use crate::recommend::evidence::{FlowLog, Interface, Network, Records, Window};

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
