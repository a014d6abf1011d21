//! Repeat offenders (the data; the `History` port is in `ports`): how often egress-guard revoked the same open destination of the same group within a window, so
//! that a notice can say "re-opened 3 times in 24 h" when infrastructure-as-code keeps putting a rule back.
//!
//! The count is a courtesy, never a condition: it is asked for only after a revoke, at most once per remediation,
//! and a store that fails leaves the revoke and its notice as they are (the notice then says the count is unknown).

use serde::{Deserialize, Serialize};

use crate::model::{Destination, EgressRule};
use crate::undo::RevokeRecord;

/// One remediation, as the store records it: for the repeat count, and for `egress-guard undo` (`record`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub account: String,
    pub region: String,
    pub group_id: String,
    pub event_id: String,
    /// Exactly the rules removed.
    pub rules: Vec<EgressRule>,
    /// One key per revoked destination: `protocol:from-to:cidr`, stable across describes.
    pub destinations: Vec<String>,
    /// When the rule was (re-)opened: the event's time, seconds since the epoch.
    pub at: i64,
    /// When it was revoked (now), seconds since the epoch: what `egress-guard undo --since` compares.
    pub revoked_at: i64,
    pub window_secs: i64,
    /// Who re-opened it.
    pub by: String,
}

impl Revocation {
    /// `account/region/group-id`: one repeat-count item per group.
    pub fn group_key(&self) -> String {
        format!("{}/{}/{}", self.account, self.region, self.group_id)
    }

    /// What `egress-guard undo` reads back.
    pub fn record(&self) -> RevokeRecord {
        RevokeRecord {
            account: self.account.clone(),
            region: self.region.clone(),
            group_id: self.group_id.clone(),
            at: self.revoked_at,
            by: self.by.clone(),
            event_id: self.event_id.clone(),
            rules: self.rules.clone(),
        }
    }
}

/// What the notice says about repeats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Repeat {
    /// Revocations of each revoked destination within the window, this one included.
    /// `times` is the highest of the counts: 2 or more is a repeat (what an EventBridge rule matches on).
    Counted { window_hours: u32, counts: Vec<(String, u32)>, times: u32, by: String },
    /// The store could not be read or written: the revoke and this notice stand, the count is unknown.
    Unknown { error: String },
}

impl Repeat {
    /// The highest count: 2 or more means a destination came back after egress-guard revoked it.
    pub fn times(&self) -> Option<u32> {
        match self {
            Repeat::Counted { times, .. } => Some(*times),
            Repeat::Unknown { .. } => None,
        }
    }

    /// The `repeat` message attribute: `true`, `false` or `unknown`.
    pub fn attribute(&self) -> &'static str {
        match self.times() {
            Some(n) if n >= 2 => "true",
            Some(_) => "false",
            None => "unknown",
        }
    }

    /// The notice's line.
    pub fn line(&self) -> String {
        match self {
            Repeat::Counted { window_hours, counts, by, .. } => match self.times() {
                Some(n) if n >= 2 => {
                    let times = if n >= SLOTS { format!("{n} or more times") } else { format!("{n} times") };
                    let which: Vec<&str> =
                        counts.iter().filter(|(_, c)| *c >= 2).map(|(rule, _)| rule.as_str()).collect();
                    format!(
                        "REPEAT: egress-guard has revoked this rule {times} in {window_hours} h; it keeps being \
                         re-opened, last by {by} ({}).",
                        which.join(", ")
                    )
                }
                _ => format!("First revoke of this rule in {window_hours} h."),
            },
            Repeat::Unknown { error } => format!(
                "Repeat count unknown: the history could not be updated ({error}), so `egress-guard undo` may not list \
                 this revoke: keep this notice's undo command."
            ),
        }
    }
}

/// What the history last recorded as open on a group (what egress-guard left open to the world, by an event or a
/// sweep; empty once revoked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Last {
    /// No history is kept here.
    NotKept,
    /// Nothing recorded for the group (or it expired).
    Never,
    Was(String),
}

/// How a group a sweep found open stands against what egress-guard saw before: the difference between a rule that
/// was open before egress-guard watched, one it already reported, and one an event should have closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Since {
    /// The region's first sweep: open from before egress-guard watched, not evidence of a missed event.
    Baseline,
    /// Open as egress-guard last reported it (in a dry run, a pause, an exemption, a revoke that failed).
    Reported,
    /// Changed since egress-guard last looked, and no event reported it: an event was missed.
    Changed,
    /// The history could not be read or written: whether an event was missed is unknown.
    Unknown,
}

impl Since {
    /// `first`: whether this is the region's first sweep (`None`: unknown); `last`: what was recorded before;
    /// `open`: what the sweep found open (`open_key`).
    pub fn of(first: Option<bool>, last: &Last, open: &str) -> Since {
        match (first, last) {
            (Some(true), _) => Since::Baseline,
            (_, Last::Was(was)) if was == open => Since::Reported,
            (Some(false), Last::Was(_) | Last::Never) => Since::Changed,
            _ => Since::Unknown,
        }
    }

    /// Counted as a missed event (`MissedEvents`): changed unseen, or unknown (the alarm errs on the side of telling).
    pub fn missed(self) -> bool {
        matches!(self, Since::Changed | Since::Unknown)
    }
}

/// What is open on a group, as the history compares it: the sorted destination keys of `rules`.
pub fn open_key(rules: &[EgressRule]) -> String {
    let mut keys: Vec<String> = rules.iter().map(destination_key).collect();
    keys.sort();
    keys.dedup();
    keys.join(" ")
}

/// How long what a group had open is remembered (and a schedule's digest items kept): 35 days, longer than the
/// longest repeat window (720 h), so that recording it never shortens the repeat count's item, and longer than a
/// monthly schedule. A region's first sweep is remembered for good (one small item per account and region).
pub const SEEN_SECS: i64 = 35 * 24 * 3600;

/// How many past revocations per destination the store keeps; counts stop there ("5 or more").
pub const SLOTS: u32 = 5;

/// The store's key for a revoked rule's destination: `tcp:443-443:0.0.0.0/0`, `-1:all:::/0`.
pub fn destination_key(rule: &EgressRule) -> String {
    let ports = rule.ports.map_or("all".to_owned(), |p| format!("{}-{}", p.from, p.to));
    let to = match &rule.destination {
        Destination::Cidr(cidr) => cidr.to_string(),
        other => other.to_string(),
    };
    format!("{}:{ports}:{to}", rule.protocol.as_ec2())
}
