//! The sweep: every group of the region through the same evaluation and remediation as an event, with one summary
//! message instead of a notice per group. It catches what lost events, trail gaps and pre-existing groups left open.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::evaluate::evaluate;
use crate::flow::{Acted, Message, Notifier, Outcome, Ports, SecurityGroups, act};
use crate::history::History;
use crate::model::EgressRule;
use crate::notice::one_line;
use crate::settings::Settings;
use crate::trigger::Trigger;

/// One group the sweep acted on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepLine {
    pub group_id: String,
    pub group_name: String,
    pub outcome: Outcome,
    pub revoked: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo_command: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub still_open: Vec<String>,
}

/// What a sweep did: counts per outcome, one line per group acted on, and how far it got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepSummary {
    pub event_id: String,
    pub account: String,
    pub region: String,
    pub dry_run: bool,
    pub groups_total: usize,
    pub groups_checked: usize,
    /// False when the time ran short: the next sweep starts again from the top.
    pub complete: bool,
    pub counts: BTreeMap<Outcome, usize>,
    pub lines: Vec<SweepLine>,
}

impl SweepSummary {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.counts.get(&outcome).copied().unwrap_or(0)
    }

    /// Groups whose open egress was (or, in a dry run, would be) revoked, or stayed open.
    pub fn acted(&self) -> usize {
        self.count(Outcome::Remediated) + self.count(Outcome::DryRun) + self.count(Outcome::VerificationFailed)
    }
}

impl Message for SweepSummary {
    fn subject(&self) -> String {
        let n = self.acted();
        let text = if self.dry_run {
            format!("egress-guard sweep [dry run]: {n} group(s) would lose open egress - {}", self.region)
        } else {
            format!("egress-guard sweep: revoked open egress on {n} group(s) - {}", self.region)
        };
        one_line(&text, crate::notice::MAX_SUBJECT_CHARS)
    }

    fn text(&self) -> String {
        let mut out = format!(
            "The scheduled sweep of account {} in {} checked {} of {} security groups{}.\n",
            self.account,
            self.region,
            self.groups_checked,
            self.groups_total,
            if self.complete { "" } else { " (stopped early: time ran short; the next sweep starts again)" }
        );
        let counts: Vec<String> = self.counts.iter().map(|(o, n)| format!("{} {n}", o.as_str())).collect();
        out.push_str(&format!("Outcomes: {}\n", counts.join(", ")));
        out.push_str("These groups were open although no event reported them (a lost event, a trail gap, or older than egress-guard).\n");
        for line in &self.lines {
            out.push_str(&format!("\n{} \"{}\": {}\n", line.group_id, line.group_name, line.outcome.as_str()));
            for r in &line.revoked {
                out.push_str(&format!("  {} {r}\n", if self.dry_run { "would revoke" } else { "revoked" }));
            }
            for r in &line.still_open {
                out.push_str(&format!("  STILL OPEN {r}\n"));
            }
            if let Some(undo) = &line.undo_command {
                out.push_str(&format!("  undo: {undo}\n"));
            }
        }
        out
    }

    fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![
            ("outcome", "sweep".to_owned()),
            ("account", self.account.clone()),
            ("region", self.region.clone()),
            ("dry_run", self.dry_run.to_string()),
            ("trigger", "sweep".to_owned()),
        ]
    }
}

/// Sweeps the region: lists every group, acts on each with open egress while `has_time()` says there is time for one
/// more (a group is never left half-done), and publishes one summary if any group was acted on.
pub async fn sweep<G, N, H>(
    trigger: &Trigger,
    settings: &Settings,
    Ports { groups, notifier, history }: Ports<'_, G, N, H>,
    has_time: impl Fn() -> bool,
) -> Result<SweepSummary, Error>
where
    G: SecurityGroups,
    N: Notifier,
    H: History,
{
    let all = groups
        .list()
        .await
        .map_err(|source| Error::SecurityGroups { group_id: "(all)".into(), source: Box::new(source) })?;
    let mut summary = SweepSummary {
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
            evaluation.untouched_outcome()
        } else {
            if !has_time() {
                summary.complete = false;
                tracing::warn!(
                    checked = summary.groups_checked,
                    total = summary.groups_total,
                    "sweep stopped: time ran short"
                );
                break;
            }
            let Acted { outcome, notice } = act(trigger, group, settings, groups, history).await?;
            let show = |rules: &[EgressRule]| rules.iter().map(EgressRule::to_string).collect();
            summary.lines.push(SweepLine {
                group_id: group.id.clone(),
                group_name: group.name.clone(),
                outcome,
                revoked: show(&notice.revoked),
                undo_command: notice.undo_command.clone(),
                still_open: show(&notice.still_open),
            });
            tracing::info!(event_id = %trigger.event_id, group_id = %group.id, outcome = outcome.as_str(), revoked = notice.revoked.len(), "sweep: group handled");
            outcome
        };
        *summary.counts.entry(outcome).or_default() += 1;
        summary.groups_checked += 1;
    }
    if summary.acted() > 0 {
        notifier.publish(&summary).await.map_err(|source| Error::NotifySummary {
            text: format!("{}\n\n{}", summary.subject(), summary.text()),
            source: Box::new(source),
        })?;
    }
    Ok(summary)
}
