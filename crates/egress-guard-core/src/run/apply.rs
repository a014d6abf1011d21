//! Apply: a proposal's rules authorized on the group, and the group read until it shows every one of them, so that
//! the revoke that follows (the same flow as `fix`) never leaves the group closed to what the workload needs.

use crate::Error;
use crate::model::EgressRule;
use crate::ports::SecurityGroups;
use crate::recommend::proposal::{Gap, Proposal};
use crate::run::remediate::SETTLE_ATTEMPTS;

/// What became of applying a proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Every proposed rule is authorized and shows on the group: its open rules may be revoked.
    Applied,
    /// Not authorized: the evidence has gaps that block it. `accepted` says whether `--accept-gaps` would apply it.
    Refused { gaps: Vec<Gap>, accepted: bool },
    /// Authorized, but the group does not show these rules after `SETTLE_ATTEMPTS` looks: nothing may be revoked.
    NotVisible { missing: Vec<EgressRule> },
    /// A dry run: the evidence would let it apply, and nothing was authorized.
    DryRun,
}

/// Authorizes `proposal`'s rules on its group unless a gap blocks it (`accept_gaps`: only those that hide traffic
/// do), then reads the group until every rule shows (EC2's reads are eventually consistent: looked at again after
/// 0.25, 0.5, 1 and 2 s with the EC2 adapter). A dry run decides the same and calls nothing.
pub async fn apply<G: SecurityGroups>(
    proposal: &Proposal,
    accept_gaps: bool,
    dry_run: bool,
    groups: &G,
) -> Result<Applied, Error> {
    if !proposal.applicable(accept_gaps) {
        let gaps = proposal.gaps.iter().filter(|g| g.blocks_apply(accept_gaps)).cloned().collect();
        return Ok(Applied::Refused { gaps, accepted: proposal.applicable(true) });
    }
    if dry_run {
        return Ok(Applied::DryRun);
    }
    let group_id = &proposal.group_id;
    let port_error = |source: G::Error| Error::SecurityGroups { group_id: group_id.clone(), source: Box::new(source) };
    let rules = proposal.rules();
    groups.authorize(group_id, &rules).await.map_err(port_error)?;
    let mut missing = Vec::new();
    for attempt in 0..=SETTLE_ATTEMPTS {
        let after = groups.describe(group_id).await.map_err(port_error)?.map(|g| g.egress).unwrap_or_default();
        missing = rules.iter().filter(|r| !after.iter().any(|a| a.same_traffic(r))).cloned().collect();
        if missing.is_empty() || attempt == SETTLE_ATTEMPTS {
            break;
        }
        groups.settle(attempt).await;
    }
    Ok(if missing.is_empty() { Applied::Applied } else { Applied::NotVisible { missing } })
}
