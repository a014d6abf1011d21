//! Bulk undo: the revokes egress-guard recorded (one `RevokeRecord` each, in the history table), chosen by window,
//! group and region, merged into one restore per group, and checked against the group as it is now: a group gone
//! or a rule already back is skipped with its reason, never authorized twice.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{EgressRule, SecurityGroup};

/// How long a revoke's record is kept for `undo`: 90 days, the same as CloudTrail's event history.
pub const RETENTION_SECS: i64 = 90 * 24 * 3600;

/// One revoke as the history keeps it: where, when (the triggering event's time), by whose change, and exactly the
/// rules removed (with their descriptions, so that a restore puts them back as they were).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeRecord {
    pub account: String,
    pub region: String,
    pub group_id: String,
    /// When it was revoked, seconds since the epoch.
    pub at: i64,
    pub by: String,
    pub event_id: String,
    pub rules: Vec<EgressRule>,
}

/// Which revokes to undo: `since <= at <= until`, and only the groups and regions named, when named.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub since: i64,
    pub until: i64,
    pub group_ids: Option<BTreeSet<String>>,
    pub regions: Option<BTreeSet<String>>,
}

impl Selection {
    pub fn admits(&self, record: &RevokeRecord) -> bool {
        (self.since..=self.until).contains(&record.at)
            && self.group_ids.as_ref().is_none_or(|ids| ids.contains(&record.group_id))
            && self.regions.as_ref().is_none_or(|regions| regions.contains(&record.region))
    }
}

/// The rules to put back on one group: every rule the selected revokes removed from it, each once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Restore {
    pub account: String,
    pub region: String,
    pub group_id: String,
    pub rules: Vec<EgressRule>,
}

/// A group, or some of its rules, that cannot be restored, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub account: String,
    pub region: String,
    pub group_id: String,
    pub reason: String,
}

/// The selected revokes, one restore per (account, region, group), in that order; a rule revoked several times in
/// the window (a group re-opened and closed again) is restored once.
pub fn restores(records: &[RevokeRecord], selection: &Selection) -> Vec<Restore> {
    let mut by_group: BTreeMap<(&str, &str, &str), Vec<EgressRule>> = BTreeMap::new();
    for record in records.iter().filter(|r| selection.admits(r)) {
        let rules = by_group.entry((&record.account, &record.region, &record.group_id)).or_default();
        for rule in &record.rules {
            if !rules.iter().any(|r| r.same_traffic(rule)) {
                rules.push(rule.clone());
            }
        }
    }
    by_group
        .into_iter()
        .map(|((account, region, group_id), rules)| Restore {
            account: account.to_owned(),
            region: region.to_owned(),
            group_id: group_id.to_owned(),
            rules,
        })
        .collect()
}

/// What of `restore` can go back on the group as it is now (`None`: the group is gone): the rules to authorize, and
/// the reason for what cannot (the group deleted; rules already there, re-added since).
pub fn against(restore: &Restore, now: Option<&SecurityGroup>) -> (Option<Restore>, Option<Skipped>) {
    let skipped = |reason: String| Skipped {
        account: restore.account.clone(),
        region: restore.region.clone(),
        group_id: restore.group_id.clone(),
        reason,
    };
    let Some(group) = now else {
        return (None, Some(skipped("the group no longer exists".into())));
    };
    let (back, missing): (Vec<&EgressRule>, Vec<&EgressRule>) =
        restore.rules.iter().partition(|rule| group.egress.iter().any(|r| r.same_traffic(rule)));
    let todo =
        (!missing.is_empty()).then(|| Restore { rules: missing.into_iter().cloned().collect(), ..restore.clone() });
    let why = (!back.is_empty()).then(|| {
        let rules: Vec<String> = back.iter().map(|r| r.to_string()).collect();
        skipped(format!("already on the group, re-added since: {}", rules.join(", ")))
    });
    (todo, why)
}

/// `egress-guard undo`'s JSON: `restored` lists what was restored, or what would be without `--apply`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UndoReport {
    pub schema: &'static str,
    pub applied: bool,
    pub restored: Vec<Restore>,
    pub skipped: Vec<Skipped>,
}

impl UndoReport {
    pub const SCHEMA: &'static str = "egress-guard.undo/v1";

    pub fn new(applied: bool) -> Self {
        UndoReport { schema: Self::SCHEMA, applied, ..Default::default() }
    }

    /// 0 when everything listed was (or would be) restored, 1 when something could not be.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.skipped.is_empty())
    }

    /// The report as a person reads it: one line per group, and what to do next.
    pub fn text(&self) -> String {
        let verb = if self.applied { "Restored" } else { "Would restore" };
        let mut out = String::new();
        for r in &self.restored {
            let rules: Vec<String> = r.rules.iter().map(|rule| rule.to_string()).collect();
            out.push_str(&format!("{verb:<13} {} {} {}: {}\n", r.account, r.region, r.group_id, rules.join(", ")));
        }
        for s in &self.skipped {
            out.push_str(&format!("{:<13} {} {} {}: {}\n", "Skipped", s.account, s.region, s.group_id, s.reason));
        }
        if self.restored.is_empty() && self.skipped.is_empty() {
            out.push_str("No revoke by egress-guard in the window.\n");
        } else if !self.applied && !self.restored.is_empty() {
            out.push_str("Nothing was changed: run again with --apply to restore.\n");
        } else if self.applied && !self.restored.is_empty() {
            out.push_str(
                "egress-guard revokes these again when it resumes, unless the groups are exempt \
                 (tag egress-guard:exempt=<reason>) or the rules no longer open egress to the world.\n",
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(port: u16, cidr: &str) -> EgressRule {
        format!("tcp {port} to {cidr}").parse().unwrap()
    }

    fn record(group: &str, region: &str, at: i64, rules: Vec<EgressRule>) -> RevokeRecord {
        RevokeRecord {
            account: "123456789012".into(),
            region: region.into(),
            group_id: group.into(),
            at,
            by: "alice".into(),
            event_id: format!("e-{at}"),
            rules,
        }
    }

    #[test]
    fn one_restore_per_group_each_rule_once_inside_the_window_only() {
        let records = vec![
            record("sg-b", "eu-west-1", 100, vec![rule(443, "0.0.0.0/0")]),
            record("sg-a", "eu-west-1", 200, vec![rule(443, "0.0.0.0/0"), rule(80, "::/0")]),
            record("sg-a", "eu-west-1", 300, vec![rule(443, "0.0.0.0/0")]),
            record("sg-a", "eu-west-1", 999, vec![rule(22, "0.0.0.0/0")]),
        ];
        let plan = restores(&records, &Selection { since: 100, until: 300, ..Default::default() });
        assert_eq!(plan.len(), 2);
        assert_eq!(
            (plan[0].group_id.as_str(), plan[0].rules.clone()),
            ("sg-a", vec![rule(443, "0.0.0.0/0"), rule(80, "::/0")])
        );
        assert_eq!(plan[1].group_id, "sg-b");
    }

    #[test]
    fn groups_and_regions_narrow_the_selection() {
        let records = vec![
            record("sg-a", "eu-west-1", 1, vec![rule(1, "0.0.0.0/0")]),
            record("sg-a", "us-east-1", 1, vec![rule(1, "0.0.0.0/0")]),
        ];
        let only = |regions: &[&str]| Selection {
            since: 0,
            until: 9,
            regions: Some(regions.iter().map(|r| r.to_string()).collect()),
            group_ids: Some(["sg-a".to_owned()].into()),
        };
        assert_eq!(restores(&records, &only(&["us-east-1"]))[0].region, "us-east-1");
        assert_eq!(restores(&records, &only(&["us-east-1"])).len(), 1);
        assert!(
            restores(&records, &Selection { group_ids: Some(["sg-z".into()].into()), until: 9, ..Default::default() })
                .is_empty()
        );
    }

    #[test]
    fn a_rule_back_already_is_skipped_and_the_rest_restored_and_a_gone_group_is_skipped() {
        let restore = Restore {
            account: "1".into(),
            region: "r".into(),
            group_id: "sg-a".into(),
            rules: vec![rule(443, "0.0.0.0/0"), rule(80, "0.0.0.0/0")],
        };
        let mut group = SecurityGroup { id: "sg-a".into(), ..Default::default() };
        group.egress = vec![EgressRule { description: Some("put back by hand".into()), ..rule(80, "0.0.0.0/0") }];
        let (todo, skipped) = against(&restore, Some(&group));
        assert_eq!(todo.unwrap().rules, vec![rule(443, "0.0.0.0/0")]);
        assert!(skipped.unwrap().reason.contains("re-added since: tcp 80 to 0.0.0.0/0"));
        let (todo, skipped) = against(&restore, None);
        assert!(todo.is_none());
        assert_eq!(skipped.unwrap().reason, "the group no longer exists");
    }
}
