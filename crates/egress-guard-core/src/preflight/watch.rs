//! A region's watch judged: whether a trail covering it logs its management write events (`trail_problem`'s rules)
//! and whether the rule that takes its changes is enabled; what could not be read is said, never called blind.

use crate::preflight::observations::{Seen, TrailObservation};
use crate::preflight::trail::trail_problem;
use crate::watch::{RuleState, Watch};

impl Watch {
    /// Judges `region`'s watch from the trails `DescribeTrails` listed there (each with its state) and the rule.
    pub fn assess(region: &str, trails: &Seen<Vec<TrailObservation>>, rule: Option<Seen<RuleState>>) -> Watch {
        let mut watch = Watch::default();
        let mut why = Vec::new();
        match trails {
            Err(err) => {
                watch.trail = "not read".to_owned();
                watch.unread.push(format!("the trails: {err}"));
            }
            Ok(trails) => match trail_problem(region, trails) {
                Some((problem, fix)) => {
                    let covering: Vec<&TrailObservation> = trails.iter().filter(|t| t.covers(region)).collect();
                    why.push(if covering.is_empty() {
                        "no trail"
                    } else if covering.iter().all(|t| t.logging == Ok(false)) {
                        "CloudTrail not logging"
                    } else {
                        "CloudTrail not logging management writes"
                    });
                    watch.trail = format!("{problem}: {fix}");
                }
                None => {
                    let works = |t: &&TrailObservation| {
                        t.covers(region)
                            && t.logging == Ok(true)
                            && t.selectors.as_ref().is_ok_and(|s| s.logs_management_writes())
                    };
                    watch.trail = match trails.iter().find(works) {
                        Some(t) => format!("trail {} logs management write events", t.name),
                        None => "a covering trail could not be read".to_owned(),
                    };
                    for t in trails.iter().filter(|t| t.covers(region)) {
                        for err in [t.logging.as_ref().err(), t.selectors.as_ref().err()].into_iter().flatten() {
                            watch.unread.push(format!("trail {}: {err}", t.name));
                        }
                    }
                    if trails.iter().any(|t| works(&t)) {
                        watch.unread.clear();
                    }
                }
            },
        }
        watch.rule = rule.map(|rule| match rule {
            Ok(RuleState::Enabled { name }) => format!("enabled {name}"),
            Ok(RuleState::Disabled { name }) => {
                why.push("rule disabled");
                format!("disabled {name}: `aws events enable-rule --name {name} --region {region}`")
            }
            Ok(RuleState::Missing { target }) => {
                why.push("rule missing");
                format!("missing: no rule targets {target}; redeploy the stack (or its region stack set)")
            }
            Err(err) => {
                watch.unread.push(format!("the rule: {err}"));
                "not read".to_owned()
            }
        });
        watch.blind = (!why.is_empty()).then(|| why.join(", "));
        watch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::Selectors;
    use crate::watch::{RuleState, Watch};

    fn trail(home: &str, multi_region: bool, logging: Seen<bool>) -> TrailObservation {
        TrailObservation {
            name: "audit".into(),
            arn: format!("arn:aws:cloudtrail:{home}:123456789012:trail/audit"),
            home_region: home.into(),
            multi_region,
            organization: false,
            logging,
            selectors: Ok(Selectors::default()),
        }
    }

    #[test]
    fn a_region_whose_only_trail_stopped_is_blind_and_says_how_to_start_it() {
        let w = Watch::assess("eu-west-1", &Ok(vec![trail("us-east-1", true, Ok(false))]), None);
        assert_eq!(w.blind.as_deref(), Some("CloudTrail not logging"));
        assert!(w.trail.contains("aws cloudtrail start-logging"), "{}", w.trail);
    }

    #[test]
    fn a_logging_multi_region_trail_sees_every_region_and_a_single_region_one_only_its_own() {
        let multi = Watch::assess("eu-west-1", &Ok(vec![trail("us-east-1", true, Ok(true))]), None);
        assert_eq!((multi.blind, multi.unread.len()), (None, 0), "{}", multi.trail);
        let single = Watch::assess("eu-west-1", &Ok(vec![trail("us-east-1", false, Ok(true))]), None);
        assert_eq!(single.blind.as_deref(), Some("no trail"));
        assert_eq!(Watch::assess("eu-west-1", &Ok(vec![]), None).blind.as_deref(), Some("no trail"));
    }

    #[test]
    fn what_could_not_be_read_is_named_and_never_called_blind() {
        let w = Watch::assess("eu-west-1", &Err("AccessDeniedException".into()), Some(Err("throttled".into())));
        assert_eq!((w.blind, w.unread.len()), (None, 2), "{:?}", w.unread);
        let state = Watch::assess("eu-west-1", &Ok(vec![trail("eu-west-1", false, Err("denied".into()))]), None);
        assert_eq!((state.blind, state.unread.len()), (None, 1));
    }

    #[test]
    fn a_disabled_or_missing_rule_is_blind_with_a_logging_trail() {
        let ok = Ok(vec![trail("eu-west-1", true, Ok(true))]);
        let disabled = Watch::assess("eu-west-1", &ok, Some(Ok(RuleState::Disabled { name: "r".into() })));
        assert_eq!(disabled.blind.as_deref(), Some("rule disabled"));
        let missing = Watch::assess("eu-west-1", &ok, Some(Ok(RuleState::Missing { target: "the function".into() })));
        assert_eq!(missing.blind.as_deref(), Some("rule missing"));
        let enabled = Watch::assess("eu-west-1", &ok, Some(Ok(RuleState::Enabled { name: "r".into() })));
        assert_eq!(enabled.blind, None);
    }
}
