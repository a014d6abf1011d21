//! One trigger through the core: the event parsed (no AWS call on bad input), the account checked against the
//! organization, then the core's remediation or sweep in the event's account and region, reached through `Reach`.

use egress_guard_core::org::{self, Home};
use egress_guard_core::{
    EventReport, History, Notifier, Ports, Settings, SweepReport, Trigger, TriggerKind, parse_value,
};
use serde::Serialize;
use serde_json::Value;

use crate::error::error_code;
use crate::reach::{Reach, Switch};

/// What the function answers: an event's report, or a sweep's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum InvocationReport {
    Event(EventReport),
    Sweep(SweepReport),
    /// A Scheduled Event fanned out: the (account, region) sweeps it queued.
    Dispatch(DispatchReport),
    /// The sweeps of one SQS batch, one report each.
    Sweeps(Vec<SweepReport>),
}

/// What a Scheduled Event queued: one sweep per (account, region), each swept by its own invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    pub schedule_id: String,
    /// `account/region` of each sweep queued.
    pub queued: Vec<String>,
    /// Members (with `*`) whose remediation role AssumeRole denies (no spoke there): not queued, told once here.
    pub without_role: Vec<String>,
}

/// One invocation as the handler saw it: the kind of trigger it handled (an event, also when the event was bad, or
/// a sweep), and its result.
#[derive(Debug)]
pub struct Invocation {
    pub trigger: TriggerKind,
    pub result: Result<InvocationReport, egress_guard_core::Error>,
}

/// Handles one event: parse (no AWS call on bad input); refuse an account the function does not act in (no AWS
/// call either); then the core's flow in the event's account and region. A Scheduled Event runs the sweep, which
/// acts on another group only while `has_time()`. `home` is the function's own account, from its ARN.
pub async fn handle<R: Reach, N: Notifier, H: History + Switch>(
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
    run(&trigger, settings, home, (reach, notifier, history), has_time).await
}

/// Takes one trigger through the core in its account and region: refuse an account the function does not act in
/// (no AWS call), then an event's groups or a sweep of the region.
pub(crate) async fn run<R: Reach, N: Notifier, H: History + Switch>(
    trigger: &Trigger,
    settings: &Settings,
    home: Option<&Home>,
    (reach, notifier, history): (&R, &N, &H),
    has_time: impl Fn() -> bool,
) -> Invocation {
    let kind = trigger.kind();
    tracing::info!(
        event_id = %trigger.event_id,
        event_name = trigger.event_name.as_str(),
        trigger = kind.as_str(),
        account = %trigger.account,
        region = %trigger.region,
        group_ids = ?trigger.group_ids,
        vpc_ids = ?trigger.vpc_ids,
        actor = trigger.actor.name(),
        "event received"
    );
    let access = match org::access(settings.organization.as_ref(), home, &trigger.account, &trigger.region) {
        Ok(access) => access,
        Err(reason) => {
            let report = InvocationReport::Event(EventReport::refused(trigger, reason));
            return Invocation { trigger: kind, result: Ok(report) };
        }
    };
    // The kill switch first: paused here, a dry run that says so; unread, nothing at all (the event is kept).
    let paused = match history.paused().await {
        Ok(pause) => pause.filter(|p| p.covers(&trigger.region)),
        Err(source) => {
            let err = egress_guard_core::Error::PauseUnread { source: Box::new(source) };
            tracing::error!(event_id = %trigger.event_id, error = %err, "pause switch unread: nothing done");
            return Invocation { trigger: kind, result: Err(err) };
        }
    };
    let mut adjusted = paused.map(|pause| {
        tracing::warn!(event_id = %trigger.event_id, pause = %pause.line(), "paused: a dry run");
        Settings { dry_run: true, paused: Some(pause), ..settings.clone() }
    });
    // A sweep first looks at whether its region's changes can still be seen (read-only; it sweeps either way).
    if kind == TriggerKind::Sweep
        && let Some(watch) = reach.watch(&access, &trigger.region, home).await
    {
        if let Some(why) = &watch.blind {
            tracing::error!(event_id = %trigger.event_id, region = %trigger.region, blind = %why, trail = %watch.trail, "BLIND: this region's changes are not seen");
        }
        let base = adjusted.take().unwrap_or_else(|| settings.clone());
        adjusted = Some(Settings { watch: Some(watch), ..base });
    }
    let settings = adjusted.as_ref().unwrap_or(settings);
    let groups = reach.security_groups(&access, &trigger.region).await;
    let flow_logs = reach.flow_logs(&access, &trigger.region).await;
    let outlets = reach.outlets(&access, &trigger.region).await;
    let ports = Ports { groups: &groups, notifier, history, flow_logs: &flow_logs, outlets: &outlets };
    let result = match kind {
        TriggerKind::Sweep => {
            egress_guard_core::sweep(trigger, settings, ports, has_time).await.map(InvocationReport::Sweep)
        }
        TriggerKind::Event => egress_guard_core::handle(trigger, settings, ports).await.map(InvocationReport::Event),
    };
    if let Err(err) = &result {
        let error_code = error_code(err).unwrap_or("-");
        tracing::error!(event_id = %trigger.event_id, error_code, error = %err, "remediation failed");
    }
    Invocation { trigger: kind, result }
}
