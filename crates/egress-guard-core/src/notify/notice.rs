//! The notice's data: what happened to one group, built from the trigger, the group as read, its evaluation and
//! what the revoke left. `notify::notice_text` turns it into a person's text.

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
    /// When the revoke answered: the end of the exposure.
    #[serde(default)]
    pub closed_at: Option<String>,
    /// Seconds from the change CloudTrail recorded (`cause.event_time`) to the revoke's answer; `null` when nothing
    /// was closed or no change is known (a sweep: open since before it).
    #[serde(default)]
    pub exposure_seconds: Option<i64>,
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
    /// When the revoke answered (RFC 3339): the end of the exposure. `None` when nothing was revoked.
    pub closed_at: Option<String>,
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
            closed_at: None,
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
        let Verification { outcome, revoked, after, still_open, revoke_error, verify_error, closed_at } = verification;
        // From the change CloudTrail recorded to the revoke's answer; a sweep knows no change, only that it was open.
        let exposure_seconds = match (&closed_at, trigger.is_cloudtrail()) {
            (Some(closed), true) => seconds_between(&trigger.event_time, closed),
            _ => None,
        };
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
            closed_at,
            exposure_seconds,
        }
    }

    /// The notice's `Exposed` line, for a group whose open egress was acted on: how long it was open (from the change
    /// to the revoke's answer), or since when it is open, or, found by a sweep, that it was open before it.
    pub fn exposure_line(&self) -> Option<String> {
        if !self.outcome.acted_on_open() {
            return None;
        }
        let c = &self.cause;
        let by = c.actor.name();
        // A CloudTrail event dates the change (the notice then names the tool behind it); a sweep or a command does not.
        let from_cloudtrail = self.caller.is_some();
        let closed = self.closed_at.as_deref();
        Some(match (self.exposure_seconds, closed) {
            (Some(seconds), Some(closed)) => {
                format!("Exposed  {}: opened {} by {by}, closed {closed}", duration(seconds), c.event_time)
            }
            _ if c.event_name == EventName::ScheduledSweep => format!(
                "Exposed  open since before the sweep at {} (no event told it), {}",
                c.event_time,
                closed.map_or("still open".to_owned(), |at| format!("closed {at}"))
            ),
            (_, None) if from_cloudtrail => format!("Exposed  since {} by {by}: still open", c.event_time),
            (_, Some(at)) => format!("Exposed  until {at}: when it opened is not known (no CloudTrail event)"),
            (_, None) => "Exposed  still open; when it opened is not known (no CloudTrail event)".to_owned(),
        })
    }
}

/// Seconds from `from` to `to` (RFC 3339), never negative; `None` when either is not a time.
fn seconds_between(from: &str, to: &str) -> Option<i64> {
    let from = chrono::DateTime::parse_from_rfc3339(from).ok()?;
    let to = chrono::DateTime::parse_from_rfc3339(to).ok()?;
    Some((to - from).num_seconds().max(0))
}

/// `41 s`, `3 min 20 s`, `2 h 5 min`, `8 d 1 h`.
pub fn duration(seconds: i64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_says_them() {
        let said: Vec<String> = [41, 200, 7_500, 8 * 86_400 + 3_700].into_iter().map(duration).collect();
        assert_eq!(said, ["41 s", "3 min 20 s", "2 h 5 min", "8 d 1 h"]);
    }

    #[test]
    fn exposure_runs_from_the_change_to_the_revoke_and_is_never_negative() {
        assert_eq!(seconds_between("2026-12-03T10:00:00Z", "2026-12-03T10:00:41Z"), Some(41));
        assert_eq!(seconds_between("2026-12-03T10:00:41Z", "2026-12-03T10:00:00Z"), Some(0), "clocks apart");
        assert_eq!(seconds_between("not a time", "2026-12-03T10:00:00Z"), None);
    }
}
