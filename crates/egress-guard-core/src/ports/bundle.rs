//! `Ports`: the five ports one remediation or sweep runs over, lent together.

use crate::ports::flow_logs::NoFlowLogs;
use crate::ports::outlets::NoOutlets;

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
