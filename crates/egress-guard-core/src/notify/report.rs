//! What egress-guard answers: a `GroupReport` per group, an `EventReport` per trigger, a `SweepReport` per sweep
//! (`audit::AuditReport` is the CLI's). Data only; `notify::sweep_text` writes the sweep's message.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::evaluate::{Evaluation, Exemption};
use crate::history::Since;
use crate::model::{EgressRule, SecurityGroup};
use crate::notify::notice::Notice;
use crate::outcome::Outcome;
use crate::trigger::Trigger;
use crate::watch::Watch;

/// Rules as a person reads them: `tcp 443 to 0.0.0.0/0`.
pub(crate) fn show(rules: &[EgressRule]) -> Vec<String> {
    rules.iter().map(EgressRule::to_string).collect()
}

/// The result for one group of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    pub outcome: Outcome,
    /// Destinations revoked (in a dry run: that would be), as `traffic to destination`.
    pub revoked: Vec<String>,
    /// Rules whose CIDRs add up to the whole Internet (none `/0`), as `traffic to destination`: reported, and
    /// revoked only with `EGRESS_GUARD_REVOKE_SPLIT_RANGES`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub split_ranges: Vec<String>,
    /// Why nothing was done, for a refused event.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// The notice that was published, if one was.
    #[serde(skip)]
    pub notice: Option<Notice>,
}

impl GroupReport {
    /// A group nothing was read of or done to.
    pub(crate) fn untouched(group_id: Option<&str>, outcome: Outcome) -> GroupReport {
        GroupReport {
            group_id: group_id.map(str::to_owned),
            outcome,
            revoked: vec![],
            split_ranges: vec![],
            reason: None,
            notice: None,
        }
    }

    /// A group acted on, told by its notice; `published` says whether the notice went out.
    pub(crate) fn acted(notice: Notice, published: bool) -> GroupReport {
        GroupReport {
            group_id: Some(notice.group.id.clone()),
            outcome: notice.outcome,
            revoked: show(&notice.revoked),
            split_ranges: show(&notice.split_ranges),
            reason: None,
            notice: published.then_some(notice),
        }
    }
}

/// The answer to one trigger: small, for the Lambda's invocation record and the CLI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventReport {
    pub event_id: String,
    pub event_name: String,
    pub results: Vec<GroupReport>,
}

impl EventReport {
    pub(crate) fn new(trigger: &Trigger, results: Vec<GroupReport>) -> EventReport {
        EventReport { event_id: trigger.event_id.clone(), event_name: trigger.event_name.as_str().to_owned(), results }
    }

    /// The answer to a trigger the function does not act on (see `org::access`): no AWS call, no notice.
    pub fn refused(trigger: &Trigger, reason: String) -> EventReport {
        tracing::warn!(event_id = %trigger.event_id, account = %trigger.account, region = %trigger.region, %reason, outcome = "refused", "event refused");
        let group_id = trigger.group_ids.first().map(String::as_str);
        let report = GroupReport { reason: Some(reason), ..GroupReport::untouched(group_id, Outcome::Refused) };
        EventReport::new(trigger, vec![report])
    }
}

/// One group the sweep acted on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepLine {
    pub group_id: String,
    pub group_name: String,
    pub outcome: Outcome,
    pub revoked: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo_command: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub still_open: Vec<String>,
    /// Why the group is left open: its exemption, or the error that stopped the revoke.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// How its open egress stands against what egress-guard saw before (a baseline, already reported, changed
    /// unseen); `None` for a revoke that failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub since: Option<Since>,
}

impl SweepLine {
    pub(crate) fn new(notice: &Notice) -> SweepLine {
        SweepLine {
            group_id: notice.group.id.clone(),
            group_name: notice.group.name.clone(),
            outcome: notice.outcome,
            revoked: show(&notice.revoked),
            undo_command: notice.undo_command.clone(),
            still_open: show(&notice.still_open),
            reason: notice.revoke_error.clone(),
            since: None,
        }
    }

    /// An exempt group with open egress: nothing done, the exemption named.
    pub(crate) fn exempt(group: &SecurityGroup, evaluation: &Evaluation) -> SweepLine {
        let open: Vec<EgressRule> = evaluation.findings.iter().map(|f| f.rule.clone()).collect();
        SweepLine {
            still_open: show(&open),
            reason: evaluation.exemption.as_ref().map(Exemption::reason),
            ..SweepLine::untouched(group, Outcome::Exempt)
        }
    }

    /// A group whose revoke failed before it removed anything.
    pub(crate) fn failed(group: &SecurityGroup, error: String) -> SweepLine {
        SweepLine { reason: Some(error), ..SweepLine::untouched(group, Outcome::RevokeFailed) }
    }

    fn untouched(group: &SecurityGroup, outcome: Outcome) -> SweepLine {
        SweepLine {
            group_id: group.id.clone(),
            group_name: group.name.clone(),
            outcome,
            revoked: vec![],
            undo_command: None,
            still_open: vec![],
            reason: None,
            since: None,
        }
    }

    /// A group an event should have told: revoked (or in a dry run, to be revoked) by the sweep although its open
    /// egress changed since egress-guard last looked. A group gone before the revoke is not counted.
    pub fn missed(&self) -> bool {
        matches!(self.outcome, Outcome::Remediated | Outcome::VerificationFailed | Outcome::DryRun)
            && self.since.is_some_and(Since::missed)
    }
}

/// What a sweep did: counts per outcome, one line per group acted on, and how far it got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    pub event_id: String,
    pub account: String,
    pub region: String,
    pub dry_run: bool,
    /// The kill switch's line, when a pause made this a dry run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub paused: Option<String>,
    pub groups_total: usize,
    pub groups_checked: usize,
    /// False when the time ran short: the next sweep starts again from the top.
    pub complete: bool,
    /// The group the sweep stopped at when the time ran short.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stopped_at: Option<String>,
    pub counts: BTreeMap<Outcome, usize>,
    pub lines: Vec<SweepLine>,
    /// Why Security Hub or the bus did not take the sweep's notices, if they did not (each notice is in the log).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outlets_failed: Option<String>,
    /// Whether the region's changes can still be seen (its trail, its rule), when the function looked.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub watch: Option<Box<Watch>>,
}

impl SweepReport {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.counts.get(&outcome).copied().unwrap_or(0)
    }

    /// Groups whose open egress was (or, in a dry run, would be) revoked, stayed open, or could not be revoked.
    /// Whether the region's changes cannot be seen (no trail logging them, or the rule that takes them off).
    pub fn is_blind(&self) -> bool {
        self.watch.as_ref().is_some_and(|w| w.is_blind())
    }

    pub fn acted(&self) -> usize {
        [Outcome::Remediated, Outcome::DryRun, Outcome::VerificationFailed, Outcome::RevokeFailed]
            .into_iter()
            .map(|outcome| self.count(outcome))
            .sum()
    }
}
