//! The notice's data: what happened to one group, built from the trigger, the group as read, its evaluation and
//! what the revoke left. `notify::text` turns it into a person's text.

use serde::{Deserialize, Serialize};

use crate::caller::{Caller, classify};
use crate::evaluate::{Disposition, Evaluation, Exemption, Finding, FindingKind};
use crate::history::Repeat;
use crate::model::{EgressRule, SecurityGroup};
use crate::notify::observed::ObservedEgress;
use crate::outcome::Outcome;
use crate::permission::undo_command;
use crate::settings::Settings;
use crate::trigger::{Actor, EventName, Trigger};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
}

/// The change that triggered the check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    pub event_id: String,
    pub event_name: EventName,
    pub event_time: String,
    pub actor: Actor,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub outcome: Outcome,
    pub account: String,
    pub region: String,
    pub group: GroupRef,
    pub cause: Cause,
    /// The tool behind the change, for a CloudTrail event (not for `egress-guard fix` or a sweep).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub caller: Option<Caller>,
    pub dry_run: bool,
    /// The kill switch's line, when a pause made this a dry run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub paused: Option<String>,
    pub before: Vec<EgressRule>,
    /// The egress as re-read after the revoke (in a dry run: as it would be). Empty if it could not be read.
    pub after: Vec<EgressRule>,
    /// The rules this invocation removed (in a dry run: the rules that would be removed).
    pub revoked: Vec<EgressRule>,
    /// Open rules still present after the revoke.
    pub still_open: Vec<EgressRule>,
    /// Open rules kept on purpose: allowed ports, other protocols, exempt groups, split ranges not revoked.
    pub kept_open: Vec<Finding>,
    /// Whether the revoked destinations came back after an earlier revoke; `None` when no history is kept.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub repeat: Option<Repeat>,
    /// Rules whose CIDRs, none `/0`, add up to all of IPv4 or IPv6 with their siblings (revoked or kept).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub split_ranges: Vec<EgressRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemption: Option<Exemption>,
    /// Why the revoke stopped after removing some rules, if it did.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub revoke_error: Option<String>,
    /// Why the group could not be re-read after the revoke, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_error: Option<String>,
    /// The AWS CLI command that restores exactly what was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo_command: Option<String>,
    /// What the group's interfaces were seen to need, when `EGRESS_GUARD_OBSERVED_EGRESS_DAYS` is on.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub observed_egress: Option<ObservedEgress>,
}

/// What acting on a group left, before the notice is built: the outcome, the rules this invocation removed (in a dry
/// run: would remove), the egress as re-read (in a dry run: as it would be), the open rules still there, and why the
/// revoke stopped or the re-read failed, if either did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub outcome: Outcome,
    pub revoked: Vec<EgressRule>,
    pub after: Vec<EgressRule>,
    pub still_open: Vec<EgressRule>,
    pub revoke_error: Option<String>,
    pub verify_error: Option<String>,
}

impl Verification {
    /// Nothing revoked: the group as it was read.
    pub fn untouched(outcome: Outcome, before: &SecurityGroup) -> Verification {
        Verification {
            outcome,
            revoked: vec![],
            after: before.egress.clone(),
            still_open: vec![],
            revoke_error: None,
            verify_error: None,
        }
    }
}

impl Notice {
    /// The notice for `before`, evaluated as `evaluation`, after `verification`; the repeat count comes later.
    pub fn new(
        trigger: &Trigger,
        settings: &Settings,
        before: &SecurityGroup,
        evaluation: &Evaluation,
        verification: Verification,
    ) -> Notice {
        let Verification { outcome, revoked, after, still_open, revoke_error, verify_error } = verification;
        // A rule still there cannot be authorized again: the undo names only what is gone.
        let gone: Vec<EgressRule> =
            revoked.iter().filter(|r| !still_open.iter().any(|open| open.same_traffic(r))).cloned().collect();
        let undo_command =
            (!settings.dry_run && !gone.is_empty()).then(|| undo_command(&trigger.region, &before.id, &gone));
        Notice {
            outcome,
            account: before.owner_id.clone().unwrap_or_else(|| trigger.account.clone()),
            region: trigger.region.clone(),
            group: GroupRef { id: before.id.clone(), name: before.name.clone(), vpc_id: before.vpc_id.clone() },
            cause: Cause {
                event_id: trigger.event_id.clone(),
                event_name: trigger.event_name,
                event_time: trigger.event_time.clone(),
                actor: trigger.actor.clone(),
            },
            repeat: None,
            caller: trigger.is_cloudtrail().then(|| classify(&trigger.actor, before)),
            dry_run: settings.dry_run,
            paused: settings.paused.as_ref().map(|p| p.line()),
            before: before.egress.clone(),
            after,
            revoked,
            still_open,
            kept_open: evaluation.findings.iter().filter(|f| f.disposition != Disposition::Revoke).cloned().collect(),
            split_ranges: evaluation
                .findings
                .iter()
                .filter(|f| f.kind == FindingKind::Split)
                .map(|f| f.rule.clone())
                .collect(),
            exemption: evaluation.exemption.clone(),
            revoke_error,
            verify_error,
            undo_command,
            observed_egress: None,
        }
    }
}
