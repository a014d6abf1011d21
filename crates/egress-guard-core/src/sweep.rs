//! The sweep: every group of the region through the same evaluation and remediation as an event, with one report
//! message instead of a notice per group. It catches what lost events, trail gaps and pre-existing groups left open.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};

use crate::Error;
use crate::evaluate::evaluate;
use crate::flow::act;
use crate::model::SecurityGroup;
use crate::notice::{Notice, Verification};
use crate::outcome::Outcome;
use crate::ports::{History, Message, Notifier, Outlets, Ports, SecurityGroups};
use crate::render::MAX_MESSAGE_BYTES;
use crate::report::{SweepLine, SweepReport};
use crate::settings::Settings;
use crate::trigger::Trigger;

/// What became of one group of the sweep, with the notice that machines get (Security Hub, the event bus).
enum Step {
    /// Nothing to revoke: its outcome, and its line and notice when it is exempt with open egress.
    Untouched(Outcome, Option<(SweepLine, Notice)>),
    Acted(SweepLine, Option<Notice>),
    /// Not started: the time ran short.
    NoTime,
}

/// Sweeps the region: lists every group, acts on each with open egress while `has_time()` says there is time for one
/// more (a group is never left half-done; a group whose revoke fails is a line of the report and the sweep goes on),
/// and publishes the report, in numbered parts that each fit SNS, if any group was acted on or failed. A sweep cut
/// short names the group it stopped at; the next one, starting from the top, finds the groups before it fixed and
/// costs them no call, so it takes up where this one stopped.
pub async fn sweep<G, N, H, F, O>(
    trigger: &Trigger,
    settings: &Settings,
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
    let mut report = SweepReport {
        event_id: trigger.event_id.clone(),
        account: trigger.account.clone(),
        region: trigger.region.clone(),
        dry_run: settings.dry_run,
        groups_total: all.len(),
        groups_checked: 0,
        complete: true,
        stopped_at: None,
        counts: BTreeMap::new(),
        lines: Vec::new(),
    };
    // Up to `sweep_concurrency` groups are acted on at once, each checking the time as it starts. Every step runs to
    // its end (none is ever dropped half-way through a revoke), and the report keeps the list's order.
    // Unordered, so that one slow group does not hold the others' places; put back in the list's order after.
    let numbered = all
        .iter()
        .enumerate()
        .map(|(i, group)| async move { (i, step(trigger, settings, group, ports, has_time).await) });
    let mut steps: Vec<(usize, Step)> =
        stream::iter(numbered).buffer_unordered(settings.sweep_concurrency.max(1)).collect().await;
    steps.sort_by_key(|(i, _)| *i);
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
    if report.acted() > 0 {
        // Every part is tried; the error carries the parts that failed (each group's undo command is also logged).
        let parts = report.parts(MAX_MESSAGE_BYTES);
        let total = parts.len();
        let mut failed = Vec::new();
        for part in &parts {
            if let Err(source) = ports.notifier.publish(part).await {
                failed.push((format!("{}\n\n{}", part.subject(), part.text()), source));
            }
        }
        if !failed.is_empty() {
            let text = format!(
                "{} of {total} part(s) not sent; each group's undo command is also in the function's log.\n\n{}",
                failed.len(),
                failed.iter().map(|(text, _)| text.as_str()).collect::<Vec<_>>().join("\n\n")
            );
            let (_, source) = failed.swap_remove(0);
            return Err(Error::NotifySummary { text, source: Box::new(source) });
        }
    }
    if !notices.is_empty()
        && let Err(source) = ports.outlets.deliver(&notices).await
    {
        // A sweep's notices may be many: each goes to the log, whole, rather than into the error.
        for notice in &notices {
            tracing::error!(event_id = %trigger.event_id, group_id = %notice.group.id, notice = %notice.to_json(), "sweep: notice not delivered to an outlet");
        }
        let group_ids = notices.iter().map(|n| n.group.id.as_str()).collect::<Vec<_>>().join(", ");
        let notices = " (each notice is in the log)".to_owned();
        return Err(Error::Outlets { group_ids, notices, source: Box::new(source) });
    }
    Ok(report)
}

/// One group of the sweep: evaluated, and acted on if it has something to revoke and there is time to start.
async fn step<G: SecurityGroups, N, H: History, F, O>(
    trigger: &Trigger,
    settings: &Settings,
    group: &SecurityGroup,
    ports: Ports<'_, G, N, H, F, O>,
    has_time: &dyn Fn() -> bool,
) -> Step {
    let evaluation = evaluate(group, settings);
    if evaluation.plan.is_empty() {
        let outcome = Outcome::untouched(&evaluation);
        let exempt = (outcome == Outcome::Exempt && !evaluation.findings.is_empty()).then(|| {
            let notice = Notice::new(trigger, settings, group, &evaluation, Verification::untouched(outcome, group));
            (SweepLine::exempt(group, &evaluation), notice)
        });
        return Step::Untouched(outcome, exempt);
    }
    if !has_time() {
        return Step::NoTime;
    }
    // One group's failure is a line of the report, never the end of the sweep.
    let (line, notice) = match act(trigger, settings, group, &evaluation, ports).await {
        Ok(notice) => (SweepLine::new(&notice), Some(notice)),
        Err(err) => {
            tracing::error!(event_id = %trigger.event_id, group_id = %group.id, error = %err, "sweep: revoke failed");
            (SweepLine::failed(group, err.to_string()), None)
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
