//! The egress-guard Lambda function as a library: its configuration, the handler's one step (the event read once and
//! run by the core), the error type Lambda sees, and the metrics line. Every decision is the core's.
#![forbid(unsafe_code)]

mod config;
mod error;
mod handle;
mod metrics;

pub use config::{
    Config, EVENT_BUS_VAR, HISTORY_TABLE_VAR, REGIONS_VAR, SECURITY_HUB_VAR, SWEEP_QUEUE_VAR, TOPIC_ARN_VAR, variables,
};
pub use egress_guard_core::{
    DispatchReport, Fanout, Invocation, InvocationReport, MAX_RECEIVES, MAX_SWEEP_RUNS, OBSERVED_EGRESS_BUDGET,
};
pub use error::{Error, diagnostic, error_code};
pub use handle::{handle, invoke};
pub use metrics::metrics_line;
