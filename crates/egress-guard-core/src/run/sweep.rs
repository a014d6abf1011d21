//! The sweep: every group of the region through the same evaluation and remediation as an event, with one report
//! message instead of a notice per group.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};

use crate::Error;
use crate::evaluate::evaluate;
use crate::history::{Since, open_key};
use crate::model::EgressRule;
use crate::model::SecurityGroup;
use crate::notify::message::MAX_MESSAGE_BYTES;
use crate::notify::notice::{Notice, Verification};
use crate::notify::report::{SweepLine, SweepReport};
use crate::outcome::Outcome;
use crate::ports::{History, Notifier, Outlets, Ports, SecurityGroups};
use crate::run::publish::publish_all;
use crate::run::remediate::{act, note, refused};
use crate::settings::Settings;
use crate::trigger::Trigger;
use crate::watch::Watch;

/// What became of one group of the sweep, with the notice that machines get (Security Hub, the event bus).
enum Step {
    /// Nothing to revoke: its outcome, and its line and notice when it is exempt with open egress.
    Untouched(Outcome, Option<(SweepLine, Notice)>),
    Acted(SweepLine, Option<Notice>),
    /// Not started: the time ran short.
    NoTime,
}

/// What the function learned for one sweep, never from a variable: whether its report goes into the schedule's one
/// digest (sent by the last sweep to finish) instead of out on its own, and what it saw of the region's watch (the
/// trail, the rule) before the sweep: a blind region's report says `BLIND`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepScope {
    pub digest: bool,
    pub watch: Option<Watch>,
}

/// Sweeps the region: lists every group, acts on each with open egress while `has_time()` says there is time for one
/// more (a group is never left half-done; a group whose revoke fails is a line of the report and the sweep goes on),
/// and publishes the report, in numbered parts that each fit SNS, if any group was acted on or failed. A sweep cut
/// short names the group it stopped at; the next one, starting from the top, finds the groups before it fixed and
/// costs them no call, so it takes up where this one stopped.
pub async fn sweep<G, N, H, F, O>(
    trigger: &Trigger,
    settings: &Settings,
    scope: &SweepScope,
    ports: Ports<'_, G, N, H, F, O>,
    has_time: impl Fn() -> bool,
) -> Result<SweepReport, Error>
where
    G: SecurityGroups,
    N: Notifier,
    H: History,
    O: Outlets,
{
    let has_time: &dyn Fn() -> bool = &has_time;
    let all = ports
        .groups
        .list()
        .await
        .map_err(|source| Error::SecurityGroups { group_id: "(all)".into(), source: Box::new(source) })?;
    let first = first_sweep(trigger, ports.history).await;
    let mut report = SweepReport {
        event_id: trigger.event_id.clone(),
        account: trigger.account.clone(),
        region: trigger.region.clone(),
        dry_run: settings.dry_run,
        paused: settings.paused.as_ref().map(|p| p.line()),
        groups_total: all.len(),
        groups_checked: 0,
        complete: true,
        stopped_at: None,
        counts: BTreeMap::new(),
        lines: Vec::new(),
        outlets_failed: None,
        watch: scope.watch.clone().map(Box::new),
    };
    // Up to `sweep_concurrency` groups are acted on at once, each checking the time as it starts. Every step runs to
    // its end (none is ever dropped half-way through a revoke), and the report keeps the list's order.
    // Unordered, so that one slow group does not hold the others' places; put back in the list's order after.
    let numbered = all
        .iter()
        .enumerate()
        .map(|(i, group)| async move { (i, step(trigger, settings, group, ports, first, has_time).await) });
    let mut steps: Vec<(usize, Step)> =
        stream::iter(numbered).buffer_unordered(settings.sweep_concurrency.max(1)).collect().await;
    steps.sort_by_key(|(i, _)| *i);
    let notices = tally(&mut report, &all, steps);
    // In a digest (a scheduled fan-out), the sweep's report goes out with the others, once, from the last sweep.
    // A blind region is told even when nothing was acted on: its changes are not seen.
    if (report.acted() > 0 || report.is_blind()) && !scope.digest {
        // Every part is tried; the error carries the parts that failed (each group's undo command is also logged).
        publish_all(ports.notifier, &report.parts(MAX_MESSAGE_BYTES)).await?;
    }
    // Once the report is out, the sweep is done: an outlet's failure is logged (each notice whole) and counted
    // (`OutletFailures`, its alarm), never a reason to sweep again, which would send the report again.
    if !notices.is_empty()
        && let Err(source) = ports.outlets.deliver(&notices).await
    {
        for notice in &notices {
            tracing::error!(event_id = %trigger.event_id, group_id = %notice.group.id, notice = %notice.to_json(), "sweep: notice not delivered to an outlet");
        }
        tracing::error!(event_id = %trigger.event_id, error = %source, notices = notices.len(), "sweep: the outlets failed; the sweep stands");
        report.outlets_failed = Some(source.to_string());
    }
    Ok(report)
}

/// Whether this is the region's first sweep: `None`, no history kept here, so no line says how it stands;
/// `Some(None)`, the history failed (unknown).
async fn first_sweep<H: History>(trigger: &Trigger, history: &H) -> Option<Option<bool>> {
    let region_key = format!("{}/{}", trigger.account, trigger.region);
    let at = chrono::DateTime::parse_from_rfc3339(&trigger.event_time)
        .map_or_else(|_| chrono::Utc::now().timestamp(), |t| t.timestamp());
    match history.first_sweep(&region_key, &trigger.event_time, at).await {
        Ok(first) => first.map(Some),
        Err(err) => {
            tracing::warn!(event_id = %trigger.event_id, error = %err, "the region's first sweep unknown: missed events are counted as unknown");
            Some(None)
        }
    }
}

/// Each group's step counted into `report`, in the list's order; the notices machines get.
fn tally(report: &mut SweepReport, all: &[SecurityGroup], steps: Vec<(usize, Step)>) -> Vec<Notice> {
    let mut notices = Vec::new();
    for (group, (_, step)) in all.iter().zip(steps) {
        let outcome = match step {
            // Past the first group not started, only the groups acted on anyway (started before the time ran out)
            // are counted: "checked N" means the groups before where the sweep stopped, and those.
            _ if report.stopped_at.is_some() && !matches!(step, Step::Acted(..)) => continue,
            Step::NoTime => {
                report.complete = false;
                report.stopped_at = Some(group.id.clone());
                tracing::warn!(
                    checked = report.groups_checked,
                    total = report.groups_total,
                    stopped_at = %group.id,
                    "sweep stopped: time ran short"
                );
                continue;
            }
            Step::Untouched(outcome, exempt) => {
                if let Some((line, notice)) = exempt {
                    report.lines.push(line);
                    notices.push(notice);
                }
                outcome
            }
            Step::Acted(line, notice) => {
                let outcome = line.outcome;
                report.lines.push(line);
                notices.extend(notice);
                outcome
            }
        };
        *report.counts.entry(outcome).or_default() += 1;
        report.groups_checked += 1;
    }
    notices
}

/// One group of the sweep: evaluated, and acted on if it has something to revoke and there is time to start.
async fn step<G: SecurityGroups, N, H: History, F, O>(
    trigger: &Trigger,
    settings: &Settings,
    group: &SecurityGroup,
    ports: Ports<'_, G, N, H, F, O>,
    first: Option<Option<bool>>,
    has_time: &dyn Fn() -> bool,
) -> Step {
    let evaluation = evaluate(group, settings);
    if evaluation.plan.is_empty() {
        let outcome = Outcome::untouched(&evaluation);
        if outcome != Outcome::Exempt || evaluation.findings.is_empty() {
            return Step::Untouched(outcome, None);
        }
        // Recorded as the plan would be without the exemption, as `act` records it: lifting the exemption then changes
        // nothing egress-guard compares.
        let unexempt = Settings { exempt_tag_key: None, exempt_group_ids: Default::default(), ..settings.clone() };
        let open: Vec<EgressRule> = evaluate(group, &unexempt).plan.rules;
        let key = format!("{}/{}/{}", trigger.account, trigger.region, group.id);
        let last = note(trigger, ports.history, &key, &open).await;
        let notice = Notice::new(trigger, settings, group, &evaluation, Verification::untouched(outcome, group));
        let line = SweepLine {
            since: first.map(|f| Since::of(f, &last, &open_key(&open))),
            ..SweepLine::exempt(group, &evaluation)
        };
        return Step::Untouched(outcome, Some((line, notice)));
    }
    if !has_time() {
        return Step::NoTime;
    }
    // One group's failure is a line of the report, never the end of the sweep.
    let (line, notice) = match act(trigger, settings, group, &evaluation, ports).await {
        Ok((notice, last)) => {
            let since = first.map(|f| Since::of(f, &last, &open_key(&evaluation.plan.rules)));
            (SweepLine { since, ..SweepLine::new(&notice) }, Some(notice))
        }
        Err(err) => {
            tracing::error!(event_id = %trigger.event_id, group_id = %group.id, error = %err, "sweep: revoke failed");
            // Its finding says so (Security Hub, the bus); the report names it.
            (SweepLine::failed(group, err.to_string()), Some(refused(trigger, settings, group, &evaluation, &err)))
        }
    };
    // The log keeps each undo command too: a report that cannot be published loses none of them.
    tracing::info!(
        event_id = %trigger.event_id,
        group_id = %group.id,
        outcome = line.outcome.as_str(),
        revoked = line.revoked.len(),
        undo = line.undo_command.as_deref().unwrap_or("-"),
        "sweep: group handled"
    );
    Step::Acted(line, notice)
}
