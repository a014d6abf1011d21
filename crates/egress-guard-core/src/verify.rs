//! `egress-guard verify`, the deployment's canary: per region, a temporary group opened (`tcp 9` to `0.0.0.0/0`) and
//! watched until the deployment revokes it and tells it. Here, what counts as its notice, the outcome each region's
//! observations give, and the report (schema `egress-guard.verify/v1`) with its exit code.

use serde::{Deserialize, Serialize};

use crate::model::EgressRule;

/// The `schema` field of every JSON verify report; bumped on any breaking change.
pub const SCHEMA: &str = "egress-guard.verify/v1";
/// Every verify group's name starts so; the rest is random.
pub const GROUP_PREFIX: &str = "egress-guard-verify-";
/// The tag every verify group carries (its value: the run's id), so that one left behind is found.
pub const TAG_KEY: &str = "egress-guard:verify";
/// What verify opens: the discard port, which no workload needs.
pub const PROBE_RULE: &str = "tcp 9 to 0.0.0.0/0";
/// The default `--timeout`, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// The rule verify authorizes and waits to see revoked.
pub fn probe() -> EgressRule {
    PROBE_RULE.parse().expect("the probe rule parses")
}

/// The group's description: what it is, for whoever finds it.
pub fn description(run: &str) -> String {
    format!(
        "egress-guard verify {run}: a temporary canary that opens tcp 9 to 0.0.0.0/0 to check that egress-guard \
         revokes it; deleted by the run"
    )
}

/// What a region's canary ended as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The probe rule was revoked.
    Revoked,
    /// The deployment is in dry run (or paused): the rule stays and its notice says it would be revoked.
    NoticeOnly,
    /// Nothing happened within the timeout.
    NotRevoked,
    /// The canary could not be set up or watched.
    Error,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Revoked => "revoked",
            Outcome::NoticeOnly => "notice_only",
            Outcome::NotRevoked => "not_revoked",
            Outcome::Error => "error",
        }
    }
}

/// A notice heard on the topic, as its SNS attributes and text carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heard {
    pub group_id: String,
    pub outcome: String,
    pub text: String,
}

/// What a notice told of the probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Told {
    Revoked,
    /// A dry run (or a pause): it would be revoked.
    WouldRevoke,
    /// The revoke was refused (an SCP, a missing permission): the notice's reason.
    Refused(String),
}

/// What a notice says of the probe, from its rules table (`tcp 9  0.0.0.0/0  REVOKED`); `None` when it is about
/// another group, or about this one without the probe (the `CreateSecurityGroup` run that revoked only EC2's default
/// allow-all). Whichever event's run reaches the group first revokes the probe, so the event's name does not count.
pub fn about_probe(heard: &Heard, group_id: &str) -> Option<Told> {
    if heard.group_id != group_id {
        return None;
    }
    let state = heard.text.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        (words.len() > 3 && words[..3] == ["tcp", "9", "0.0.0.0/0"]).then(|| words[3..].join(" "))
    })?;
    match (heard.outcome.as_str(), state.as_str()) {
        ("remediated" | "verification_failed" | "group_gone", "REVOKED") => Some(Told::Revoked),
        ("dry_run", "would revoke") => Some(Told::WouldRevoke),
        ("revoke_failed", _) => {
            let reason = heard.text.lines().find(|l| l.starts_with("The revoke was refused")).unwrap_or("refused");
            Some(Told::Refused(reason.to_owned()))
        }
        _ => None,
    }
}

/// What was seen of one region's canary while it was watched.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Watched {
    /// Seconds from the authorize's answer to the first read without the probe rule.
    pub revoked_after: Option<f64>,
    /// The probe's notice, once it arrived.
    pub notice: Option<Told>,
}

impl Watched {
    /// Takes in a notice about the probe: a revoke told outranks a dry run's, which outranks a refusal.
    pub fn hear(&mut self, told: Told) {
        let rank = |t: &Told| match t {
            Told::Revoked => 2,
            Told::WouldRevoke => 1,
            Told::Refused(_) => 0,
        };
        if self.notice.as_ref().is_none_or(|now| rank(&told) > rank(now)) {
            self.notice = Some(told);
        }
    }

    /// Whether there is nothing more to wait for: revoked and told, told it would be, or told it was refused.
    pub fn settled(&self) -> bool {
        match (&self.revoked_after, &self.notice) {
            (Some(_), Some(_)) => true,
            (None, Some(told)) => *told != Told::Revoked,
            (_, None) => false,
        }
    }

    /// The outcome once watching stopped (settled, or the timeout).
    pub fn outcome(&self) -> Outcome {
        match (self.revoked_after, &self.notice) {
            (Some(_), _) => Outcome::Revoked,
            (None, Some(Told::WouldRevoke)) => Outcome::NoticeOnly,
            (None, Some(Told::Refused(_))) => Outcome::Error,
            (None, _) => Outcome::NotRevoked,
        }
    }
}

/// One region's line of the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegionReport {
    pub region: String,
    pub group_id: Option<String>,
    pub outcome: Outcome,
    /// From the authorize's answer to the first read without the rule; `null` unless revoked.
    pub seconds_to_revoke: Option<f64>,
    /// Whether the notice naming the group arrived on the topic.
    pub notice: bool,
    pub error: Option<String>,
}

impl RegionReport {
    pub fn watched(region: &str, group_id: &str, watched: &Watched) -> RegionReport {
        RegionReport {
            region: region.to_owned(),
            group_id: Some(group_id.to_owned()),
            outcome: watched.outcome(),
            seconds_to_revoke: watched.revoked_after.map(|s| (s * 10.0).round() / 10.0),
            notice: watched.notice.is_some(),
            error: match (&watched.notice, watched.outcome()) {
                (Some(Told::Refused(reason)), Outcome::Error) => Some(format!("the function's revoke: {reason}")),
                _ => None,
            },
        }
    }

    pub fn failed(region: &str, group_id: Option<String>, error: String) -> RegionReport {
        RegionReport {
            region: region.to_owned(),
            group_id,
            outcome: Outcome::Error,
            seconds_to_revoke: None,
            notice: false,
            error: Some(error),
        }
    }

    /// What to check when a region's canary stayed open, or was revoked untold.
    fn hint(&self) -> Option<String> {
        match (self.outcome, self.notice) {
            (Outcome::NotRevoked, _) => Some(format!(
                "nothing revoked it: check that a trail logs management write events in {r} (egress-guard preflight \
                 --regions {r}), that the stack's rule (or {r}'s forwarder) is enabled, and the function's errors and \
                 failure queue",
                r = self.region
            )),
            (Outcome::Revoked, false) => Some(
                "revoked, but no notice arrived: check the function's notice failures (NoticeFailures) and the topic"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// The whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub schema: String,
    pub regions: Vec<RegionReport>,
}

impl VerifyReport {
    pub fn new(regions: Vec<RegionReport>) -> VerifyReport {
        VerifyReport { schema: SCHEMA.to_owned(), regions }
    }

    /// 0: every region revoked or told it would be; 1: one not revoked in time; 2: an error.
    pub fn exit_code(&self) -> u8 {
        let any = |o: Outcome| self.regions.iter().any(|r| r.outcome == o);
        if any(Outcome::Error) {
            2
        } else if any(Outcome::NotRevoked) {
            1
        } else {
            0
        }
    }

    /// One line per region, and what to check where something is wrong.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for r in &self.regions {
            let group = r.group_id.as_deref().unwrap_or("-");
            let told = if r.notice { "notice received" } else { "no notice" };
            let line = match r.outcome {
                Outcome::Revoked => format!(
                    "{}: revoked in {:.1} s ({group}), {told}",
                    r.region,
                    r.seconds_to_revoke.unwrap_or_default()
                ),
                Outcome::NoticeOnly => format!("{}: notice only ({group}): the deployment is in dry run", r.region),
                Outcome::NotRevoked => format!("{}: NOT REVOKED within the timeout ({group}), {told}", r.region),
                Outcome::Error => format!("{}: ERROR: {}", r.region, r.error.as_deref().unwrap_or_default()),
            };
            out.push_str(&line);
            out.push('\n');
            if let Some(hint) = r.hint() {
                out.push_str(&format!("  {hint}\n"));
            }
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A notice whose rules table holds `rows` (traffic, destination, state), as `Notice::text` lays it out.
    fn heard(group_id: &str, outcome: &str, rows: &[(&str, &str)]) -> Heard {
        let mut text = "egress-guard ...\n\nEgress rules, before -> after:\n".to_owned();
        for (rule, state) in rows {
            text.push_str(&format!("  {rule:<12}  0.0.0.0/0  {state}\n"));
        }
        if outcome == "revoke_failed" {
            text.push_str("\nThe revoke was refused; nothing was removed: UnauthorizedOperation\n");
        }
        Heard { group_id: group_id.into(), outcome: outcome.into(), text }
    }

    #[test]
    fn a_notice_is_the_probes_when_its_table_says_what_became_of_tcp_9() {
        let revoked = heard("sg-1", "remediated", &[("tcp 9", "REVOKED")]);
        assert_eq!(about_probe(&revoked, "sg-1"), Some(Told::Revoked));
        assert_eq!(about_probe(&revoked, "sg-2"), None, "another group");
        let dry = heard("sg-1", "dry_run", &[("tcp 9", "would revoke")]);
        assert_eq!(about_probe(&dry, "sg-1"), Some(Told::WouldRevoke));
        // The CreateSecurityGroup run that got there before the authorize: only EC2's default allow-all.
        let birth = heard("sg-1", "remediated", &[("all traffic", "REVOKED")]);
        assert_eq!(about_probe(&birth, "sg-1"), None);
        let refused = heard("sg-1", "revoke_failed", &[("tcp 9", "STILL OPEN")]);
        let Some(Told::Refused(reason)) = about_probe(&refused, "sg-1") else { panic!("refused") };
        assert!(reason.contains("UnauthorizedOperation"), "{reason}");
    }

    #[test]
    fn a_region_is_settled_when_revoked_and_told_or_told_it_would_be_or_was_refused() {
        let revoked = Watched { revoked_after: Some(3.0), notice: Some(Told::Revoked) };
        assert!(revoked.settled() && revoked.outcome() == Outcome::Revoked);
        let untold = Watched { revoked_after: Some(3.0), notice: None };
        assert!(!untold.settled() && untold.outcome() == Outcome::Revoked, "waits for the notice, revoked anyway");
        let dry = Watched { revoked_after: None, notice: Some(Told::WouldRevoke) };
        assert!(dry.settled() && dry.outcome() == Outcome::NoticeOnly);
        let refused = Watched { revoked_after: None, notice: Some(Told::Refused("SCP".into())) };
        assert!(refused.settled() && refused.outcome() == Outcome::Error);
        assert!(RegionReport::watched("eu-west-1", "sg-1", &refused).error.unwrap().contains("SCP"));
        let told_first = Watched { revoked_after: None, notice: Some(Told::Revoked) };
        assert!(!told_first.settled(), "told before the read shows it: read again");
        assert_eq!(Watched::default().outcome(), Outcome::NotRevoked);
        let mut heard = Watched::default();
        heard.hear(Told::Revoked);
        heard.hear(Told::Refused("late duplicate".into()));
        assert_eq!(heard.notice, Some(Told::Revoked), "a revoke told is not undone by a later refusal");
    }

    #[test]
    fn the_exit_code_is_the_worst_region() {
        let r = |outcome| RegionReport { outcome, ..RegionReport::failed("eu-west-1", None, String::new()) };
        let code = |o: Vec<Outcome>| VerifyReport::new(o.into_iter().map(r).collect()).exit_code();
        assert_eq!(code(vec![Outcome::Revoked, Outcome::NoticeOnly]), 0);
        assert_eq!(code(vec![Outcome::Revoked, Outcome::NotRevoked]), 1);
        assert_eq!(code(vec![Outcome::NotRevoked, Outcome::Error]), 2);
    }

    #[test]
    fn the_probe_is_tcp_9_to_the_world() {
        assert_eq!(probe().to_string(), "tcp 9 to 0.0.0.0/0");
    }
}
