//! The core's async work over the ports: remediate a trigger's groups, sweep a region, observe a group's traffic
//! (the proposal), apply a proposal; and the function's entry: one trigger in its account and region, the scheduled
//! fan-out, the queued sweeps and the schedule's digest.

pub mod apply;
pub mod digest;
pub mod fanout;
pub mod invocation;
pub mod invoke;
pub mod publish;
pub mod queued;
pub mod recommend;
pub mod remediate;
pub mod sweep;
