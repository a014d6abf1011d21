//! What became of one group: the outcome every report, notice, log line and metric speaks of.

use serde::{Deserialize, Serialize};

use crate::evaluate::Evaluation;

/// What became of one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Compliant,
    Exempt,
    Remediated,
    DryRun,
    GroupGone,
    CallFailed,
    VerificationFailed,
    /// The event's account is not one the function acts in (organization mode); nothing was read or changed.
    Refused,
    /// The open rules were gone when this invocation revoked them: a concurrent invocation or a duplicate delivery
    /// removed them and sent the notice. Nothing was changed; no notice.
    AlreadyRemediated,
    /// The revoke failed before it removed anything (a sweep's group; an event's failure fails the invocation).
    RevokeFailed,
}

impl Outcome {
    /// Every outcome, in the order the metrics line lists them.
    pub const ALL: [Outcome; 10] = [
        Outcome::Remediated,
        Outcome::Compliant,
        Outcome::Exempt,
        Outcome::DryRun,
        Outcome::GroupGone,
        Outcome::CallFailed,
        Outcome::VerificationFailed,
        Outcome::Refused,
        Outcome::AlreadyRemediated,
        Outcome::RevokeFailed,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Compliant => "compliant",
            Outcome::Exempt => "exempt",
            Outcome::Remediated => "remediated",
            Outcome::DryRun => "dry_run",
            Outcome::GroupGone => "group_gone",
            Outcome::CallFailed => "call_failed",
            Outcome::VerificationFailed => "verification_failed",
            Outcome::Refused => "refused",
            Outcome::AlreadyRemediated => "already_remediated",
            Outcome::RevokeFailed => "revoke_failed",
        }
    }

    /// The `detail-type` of the outcome's event on the bus: `Security Group Egress Remediated`, …
    pub fn detail_type(&self) -> &'static str {
        match self {
            Outcome::Compliant => "Security Group Egress Compliant",
            Outcome::Exempt => "Security Group Egress Exempt",
            Outcome::Remediated => "Security Group Egress Remediated",
            Outcome::DryRun => "Security Group Egress Dry Run",
            Outcome::GroupGone => "Security Group Egress Group Gone",
            Outcome::CallFailed => "Security Group Egress Call Failed",
            Outcome::VerificationFailed => "Security Group Egress Verification Failed",
            Outcome::Refused => "Security Group Egress Refused",
            Outcome::AlreadyRemediated => "Security Group Egress Already Remediated",
            Outcome::RevokeFailed => "Security Group Egress Revoke Failed",
        }
    }

    /// The outcome for a group left as it is (empty plan): exempt if an exemption applies, else compliant.
    pub fn untouched(evaluation: &Evaluation) -> Outcome {
        if evaluation.exemption.is_some() { Outcome::Exempt } else { Outcome::Compliant }
    }

    /// Whether this invocation's revoke may have removed rules: the outcomes the repeat history and the
    /// `RulesRevoked` metric count (what was removed is in the notice).
    pub fn revoked(&self) -> bool {
        matches!(self, Outcome::Remediated | Outcome::VerificationFailed | Outcome::GroupGone)
    }

    /// Whether the group had open egress that was (or in a dry run would be) revoked: the notices that carry the
    /// observed-egress section.
    pub fn acted_on_open(&self) -> bool {
        matches!(self, Outcome::Remediated | Outcome::DryRun | Outcome::VerificationFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_outcome_once() {
        let names: std::collections::BTreeSet<&str> = Outcome::ALL.iter().map(Outcome::as_str).collect();
        assert_eq!(names.len(), Outcome::ALL.len());
        for outcome in Outcome::ALL {
            // A new variant breaks this match, and so reminds whoever adds it to list it in ALL.
            match outcome {
                Outcome::Compliant
                | Outcome::Exempt
                | Outcome::Remediated
                | Outcome::DryRun
                | Outcome::GroupGone
                | Outcome::CallFailed
                | Outcome::VerificationFailed
                | Outcome::Refused
                | Outcome::AlreadyRemediated
                | Outcome::RevokeFailed => {}
            }
        }
    }
}
