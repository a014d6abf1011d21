//! The core's async work over the ports: remediate a trigger's groups, sweep a region, observe a group's traffic
//! (the proposal), and apply a proposal.

pub mod apply;
pub mod observe;
pub mod remediate;
pub mod sweep;
