//! The egress-guard Lambda function as a library: one EventBridge or SQS event through the core (an event's groups,
//! a sweep, or the scheduled fan-out), with its configuration, error type, ports and metrics line in their own
//! modules.
#![forbid(unsafe_code)]

mod config;
mod dispatch;
mod error;
mod handle;
mod metrics;
mod reach;

pub use config::{
    Config, EVENT_BUS_VAR, HISTORY_TABLE_VAR, REGIONS_VAR, SECURITY_HUB_VAR, SWEEP_QUEUE_VAR, TOPIC_ARN_VAR, variables,
};
pub use dispatch::{MAX_RECEIVES, MAX_SWEEP_RUNS, invoke};
pub use error::{Error, diagnostic, error_code};
pub use handle::{DispatchReport, Invocation, InvocationReport, handle};
pub use metrics::metrics_line;
pub use reach::{Accounts, Digests, Fanout, Gather, OBSERVED_EGRESS_BUDGET, Reach, SweepQueue, Switch};
