//! What a sweep saw of its region's watch: whether the region's changes can still be seen (a trail logging its
//! management write events, the rule that takes them enabled). Judged in `preflight/watch.rs`; a blind region's sweep
//! says `BLIND` and why, and still sweeps.

use serde::{Deserialize, Serialize};

/// The stack's EventBridge rule that takes (or forwards) a region's changes, as `DescribeRule` answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleState {
    /// `ENABLED` (or `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`): `name` takes the region's changes.
    Enabled { name: String },
    /// `DISABLED`: the rule is there and takes nothing.
    Disabled { name: String },
    /// No rule of the stack targets the function (or, away from home, the home region's bus) there.
    Missing { target: String },
}

/// What a sweep saw of its region's watch (the report's `watch` object).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    /// Why the region's changes cannot be seen (the subject's words: `CloudTrail not logging`), `None` when they can.
    pub blind: Option<String>,
    /// The trails: the one that logs the region's management write events, or why none does and the fix.
    pub trail: String,
    /// The rule: `enabled <name>`, `disabled <name>`, `missing`; `None` when not checked (a member account's rules are
    /// its spoke's).
    #[serde(default)]
    pub rule: Option<String>,
    /// What could not be read (each an error): the region is then neither called blind nor seen for that part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<String>,
}

impl Watch {
    /// Whether the region's changes cannot be seen.
    pub fn is_blind(&self) -> bool {
        self.blind.is_some()
    }
}
