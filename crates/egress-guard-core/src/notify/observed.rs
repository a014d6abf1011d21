//! A notice's observed-egress section: the proposal for the group, bounded, and pointing at the full one.

use serde::{Deserialize, Serialize};

use crate::recommend::proposal::{Gap, Proposal};

/// Lines a notice's section reads per flow log at the most.
pub const NOTICE_MAX_RECORDS: usize = 20_000;
/// Rules and gaps a notice's section lists at the most; the rest are counted.
const NOTICE_RULES: usize = 10;
const NOTICE_GAPS: usize = 3;

/// A notice's observed-egress section: bounded, and pointing at the full proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ObservedEgress {
    /// No interface that uses the group has a flow log.
    NoFlowLogs,
    Proposed {
        days: u32,
        rules: Vec<String>,
        more: usize,
        gaps: Vec<String>,
        command: String,
    },
    /// Not read in time, or the read failed: the notice goes out without it.
    Unavailable {
        error: String,
    },
}

impl ObservedEgress {
    pub fn summary(proposal: &Proposal) -> ObservedEgress {
        if proposal.no_flow_logs() {
            return ObservedEgress::NoFlowLogs;
        }
        let rules = proposal
            .rules
            .iter()
            .take(NOTICE_RULES)
            .map(|p| format!("{}  ({} flows, {})", p.rule, p.flows, p.basis.text()));
        let gaps = proposal.gaps.iter().take(NOTICE_GAPS).map(Gap::text);
        ObservedEgress::Proposed {
            days: proposal.days,
            rules: rules.collect(),
            more: proposal.rules.len().saturating_sub(NOTICE_RULES) + proposal.gaps.len().saturating_sub(NOTICE_GAPS),
            gaps: gaps.collect(),
            command: format!(
                "egress-guard recommend --region {} --group-id {} --days {}",
                proposal.region, proposal.group_id, proposal.days
            ),
        }
    }

    /// The section as the notice prints it.
    pub fn text(&self) -> String {
        match self {
            ObservedEgress::NoFlowLogs => "Observed egress: no flow logs: enable them to get a proposal.\n".into(),
            ObservedEgress::Unavailable { error } => format!("Observed egress: not read ({error}).\n"),
            ObservedEgress::Proposed { days, rules, more, gaps, command } => {
                let mut out = format!(
                    "Observed egress (flow logs, last {days} days): {} what the group's interfaces started:\n",
                    if rules.is_empty() {
                        "no rule needed for".to_owned()
                    } else {
                        format!("{} rules would allow", rules.len())
                    }
                );
                for rule in rules {
                    out.push_str(&format!("  {rule}\n"));
                }
                for gap in gaps {
                    out.push_str(&format!("  gap: {gap}\n"));
                }
                if *more > 0 {
                    out.push_str(&format!("  and {more} more\n"));
                }
                out.push_str(&format!("  The full proposal, and the commands that apply it: {command}\n"));
                out
            }
        }
    }
}
