//! The sweep: every group of the region through the same evaluation and remediation as an event, with one report
//! message instead of a notice per group. It catches what lost events, trail gaps and pre-existing groups left open.

use std::collections::BTreeMap;

use crate::Error;
use crate::evaluate::evaluate;
use crate::flow::act;
use crate::outcome::Outcome;
use crate::ports::{History, Message, Notifier, Ports, SecurityGroups};
use crate::report::{SweepLine, SweepReport};
use crate::settings::Settings;
use crate::trigger::Trigger;

/// Sweeps the region: lists every group, acts on each with open egress while `has_time()` says there is time for one
/// more (a group is never left half-done), and publishes one report if any group was acted on.
pub async fn sweep<G, N, H>(
    trigger: &Trigger,
    settings: &Settings,
    ports: Ports<'_, G, N, H>,
    has_time: impl Fn() -> bool,
) -> Result<SweepReport, Error>
where
    G: SecurityGroups,
    N: Notifier,
    H: History,
{
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
        counts: BTreeMap::new(),
        lines: Vec::new(),
    };
    for group in &all {
        let evaluation = evaluate(group, settings);
        let outcome = if evaluation.plan.is_empty() {
            Outcome::untouched(&evaluation)
        } else {
            if !has_time() {
                report.complete = false;
                tracing::warn!(
                    checked = report.groups_checked,
                    total = report.groups_total,
                    "sweep stopped: time ran short"
                );
                break;
            }
            let notice = act(trigger, settings, group, &evaluation, ports).await?;
            report.lines.push(SweepLine::new(&notice));
            tracing::info!(event_id = %trigger.event_id, group_id = %group.id, outcome = notice.outcome.as_str(), revoked = notice.revoked.len(), "sweep: group handled");
            notice.outcome
        };
        *report.counts.entry(outcome).or_default() += 1;
        report.groups_checked += 1;
    }
    if report.acted() > 0 {
        ports.notifier.publish(&report).await.map_err(|source| Error::NotifySummary {
            text: format!("{}\n\n{}", report.subject(), report.text()),
            source: Box::new(source),
        })?;
    }
    Ok(report)
}
