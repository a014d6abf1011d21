//! The egress-guard Lambda function as a library: the handler that turns one EventBridge event into the core's
//! flow (an event's groups, or a sweep), with its configuration, error type and metrics line in their own modules.
#![forbid(unsafe_code)]

mod config;
mod error;
mod metrics;

use std::future::Future;

pub use config::{Config, HISTORY_TABLE_VAR, TOPIC_ARN_VAR, variables};
pub use error::{Error, diagnostic, error_code};
pub use metrics::metrics_line;

use egress_guard_core::org::{self, Access, Home};
use egress_guard_core::{
    EventReport, History, Notifier, Ports, SecurityGroups, Settings, SweepReport, TriggerKind, parse_value,
};
use serde::Serialize;
use serde_json::Value;

/// What the function answers: an event's report, or a sweep's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum InvocationReport {
    Event(EventReport),
    Sweep(SweepReport),
}

/// One invocation as the handler saw it: the kind of trigger it handled (an event, also when the event was bad, or
/// a sweep), and its result.
#[derive(Debug)]
pub struct Invocation {
    pub trigger: TriggerKind,
    pub result: Result<InvocationReport, egress_guard_core::Error>,
}

/// Where the function finds the security groups of an event's account and region.
pub trait Reach {
    type Groups: SecurityGroups + Sync;
    fn security_groups(&self, access: &Access, region: &str) -> impl Future<Output = Self::Groups> + Send;
}

impl Reach for egress_guard_aws::Fleet {
    type Groups = egress_guard_aws::Ec2SecurityGroups;
    fn security_groups(&self, access: &Access, region: &str) -> impl Future<Output = Self::Groups> + Send {
        egress_guard_aws::Fleet::security_groups(self, access, region)
    }
}

/// Handles one event: parse (no AWS call on bad input); refuse an account the function does not act in (no AWS
/// call either); then the core's flow in the event's account and region. A Scheduled Event runs the sweep, which
/// acts on another group only while `has_time()`. `home` is the function's own account, from its ARN.
pub async fn handle<R: Reach, N: Notifier, H: History>(
    event: Value,
    settings: &Settings,
    home: Option<&Home>,
    (reach, notifier, history): (&R, &N, &H),
    has_time: impl Fn() -> bool,
) -> Invocation {
    let trigger = match parse_value(event) {
        Ok(trigger) => trigger,
        Err(err) => {
            tracing::warn!(error = %err, "rejected event");
            return Invocation { trigger: TriggerKind::Event, result: Err(err) };
        }
    };
    let kind = trigger.kind();
    tracing::info!(
        event_id = %trigger.event_id,
        event_name = trigger.event_name.as_str(),
        trigger = kind.as_str(),
        account = %trigger.account,
        region = %trigger.region,
        group_ids = ?trigger.group_ids,
        actor = trigger.actor.name(),
        "event received"
    );
    let access = match org::access(settings.organization.as_ref(), home, &trigger.account, &trigger.region) {
        Ok(access) => access,
        Err(reason) => {
            let report = InvocationReport::Event(EventReport::refused(&trigger, reason));
            return Invocation { trigger: kind, result: Ok(report) };
        }
    };
    let groups = reach.security_groups(&access, &trigger.region).await;
    let ports = Ports { groups: &groups, notifier, history };
    let result = match kind {
        TriggerKind::Sweep => {
            egress_guard_core::sweep(&trigger, settings, ports, has_time).await.map(InvocationReport::Sweep)
        }
        TriggerKind::Event => egress_guard_core::handle(&trigger, settings, ports).await.map(InvocationReport::Event),
    };
    if let Err(err) = &result {
        let error_code = error_code(err).unwrap_or("-");
        tracing::error!(event_id = %trigger.event_id, error_code, error = %err, "remediation failed");
    }
    Invocation { trigger: kind, result }
}
