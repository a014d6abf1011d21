//! One trigger in its account and region, as the function runs it: the account checked against the organization,
//! the kill switch read, a sweep's watch read, then the event's groups or the sweep; and what an invocation answers.

use serde::Serialize;

use crate::Error;
use crate::notify::report::{EventReport, SweepReport};
use crate::org::{self, Home};
use crate::ports::{History, Notifier, Ports, Reach, Switch};
use crate::run::remediate::handle;
use crate::run::sweep::{SweepScope, sweep};
use crate::settings::Settings;
use crate::trigger::{Trigger, TriggerKind};

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

/// One invocation as the function saw it: the kind of trigger it handled (an event, also when the event was bad, or
/// a sweep), and its result.
#[derive(Debug)]
pub struct Invocation {
    pub trigger: TriggerKind,
    pub result: Result<InvocationReport, Error>,
}

impl Invocation {
    pub fn failed(trigger: TriggerKind, err: Error) -> Invocation {
        Invocation { trigger, result: Err(err) }
    }
}

/// Takes one trigger through the core in its account and region: refuse an account the function does not act in
/// (no AWS call), read the kill switch (paused here: a dry run that says so; unread: nothing at all, the event is
/// kept), read a sweep's watch, then an event's groups or a sweep of the region, which acts on another group only
/// while `has_time()`. `digest`: a sweep of a scheduled fan-out, whose report goes into the schedule's digest.
pub async fn run_one<R: Reach, N: Notifier, H: History + Switch>(
    trigger: &Trigger,
    settings: &Settings,
    home: Option<&Home>,
    (reach, notifier, history): (&R, &N, &H),
    digest: bool,
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
    let pause = match history.paused().await {
        Ok(pause) => pause.filter(|p| p.covers(&trigger.region)),
        Err(source) => {
            let err = Error::PauseUnread { source: Box::new(source) };
            tracing::error!(event_id = %trigger.event_id, error = %err, "pause switch unread: nothing done");
            return Invocation::failed(kind, err);
        }
    };
    let settings = match pause {
        Some(pause) => {
            tracing::warn!(event_id = %trigger.event_id, pause = %pause.line(), "paused: a dry run");
            settings.paused(pause)
        }
        None => settings.clone(),
    };
    // A sweep first looks at whether its region's changes can still be seen (read-only; it sweeps either way).
    let mut scope = SweepScope { digest, watch: None };
    if kind == TriggerKind::Sweep {
        scope.watch = reach.watch(&access, &trigger.region, home).await;
        if let Some(watch) = &scope.watch
            && let Some(why) = &watch.blind
        {
            tracing::error!(event_id = %trigger.event_id, region = %trigger.region, blind = %why, trail = %watch.trail, "BLIND: this region's changes are not seen");
        }
    }
    let groups = reach.security_groups(&access, &trigger.region).await;
    let flow_logs = reach.flow_logs(&access, &trigger.region).await;
    let outlets = reach.outlets(&access, &trigger.region).await;
    let ports = Ports { groups: &groups, notifier, history, flow_logs: &flow_logs, outlets: &outlets };
    let result = match kind {
        TriggerKind::Sweep => sweep(trigger, &settings, &scope, ports, has_time).await.map(InvocationReport::Sweep),
        TriggerKind::Event => handle(trigger, &settings, ports).await.map(InvocationReport::Event),
    };
    if let Err(err) = &result {
        tracing::error!(event_id = %trigger.event_id, error = %err, "remediation failed");
    }
    Invocation { trigger: kind, result }
}
