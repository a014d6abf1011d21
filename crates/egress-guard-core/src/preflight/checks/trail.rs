//! `trail`: a trail covering each region logs its management write events, so EventBridge sees the calls made
//! there (`trail_problem`'s rules); a covering trail whose state could not be read leaves the region unchecked.

use crate::preflight::check::{Check, Judge, Problem, Unchecked};
use crate::preflight::observations::{Observations, Selectors, TrailObservation};
use crate::preflight::trail::trail_problem;

impl Check {
    pub const TRAIL: Check = Check::named("trail");
}

pub(super) const JUDGE: Judge = Judge { check: Check::TRAIL, problems, unchecked };

/// Each region whose listed trails deliver none of its management write events, in the request's order.
fn problems(observations: &Observations) -> Vec<Problem> {
    let mut out = Vec::new();
    for r in &observations.regions {
        if let Some(Ok(trails)) = &r.trails
            && let Some((problem, fix)) = trail_problem(&r.region, trails)
        {
            out.push(Problem::in_region(Check::TRAIL, &r.region, problem, fix));
        }
    }
    out
}

/// Each region whose trails could not be listed, and each unread covering trail of a region no covering trail is
/// known to serve.
fn unchecked(observations: &Observations) -> Vec<Unchecked> {
    let mut out = Vec::new();
    for r in &observations.regions {
        match &r.trails {
            Some(Err(e)) => out.push(Unchecked::in_region(Check::TRAIL, &r.region, e)),
            Some(Ok(trails)) => {
                let covering: Vec<&TrailObservation> = trails.iter().filter(|t| t.covers(&r.region)).collect();
                let decided = covering.iter().any(|t| {
                    t.logging == Ok(true) && t.selectors.as_ref().is_ok_and(Selectors::logs_management_writes)
                });
                if !decided {
                    for t in covering {
                        for e in [t.logging.as_ref().err(), t.selectors.as_ref().err()].into_iter().flatten() {
                            out.push(Unchecked::in_region(Check::TRAIL, &r.region, format!("trail {}: {e}", t.name)));
                        }
                    }
                }
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::fixtures::{trail, with_trails};

    #[test]
    fn a_region_whose_trails_cannot_be_listed_is_unchecked_there_and_no_problem() {
        let mut o = with_trails(&["eu-west-1", "us-west-2"], vec![trail("main", "eu-west-1", true, false)]);
        o.regions[1].trails = Some(Err("AccessDeniedException: denied".into()));
        assert_eq!(problems(&o), []);
        assert_eq!(unchecked(&o), [Unchecked::in_region(Check::TRAIL, "us-west-2", "AccessDeniedException: denied")]);
    }

    #[test]
    fn each_unread_state_of_a_covering_trail_is_named_unless_another_trail_serves_the_region() {
        let mut unread = trail("unread", "eu-west-1", true, false);
        unread.logging = Err("throttled".into());
        unread.selectors = Err("denied".into());
        let o = with_trails(&["eu-west-1"], vec![unread.clone()]);
        let named: Vec<String> = unchecked(&o).into_iter().map(|u| u.error).collect();
        assert_eq!(named, ["trail unread: throttled", "trail unread: denied"]);
        assert_eq!(unchecked(&with_trails(&["eu-west-1"], vec![unread, trail("ok", "us-east-1", true, false)])), []);
    }

    #[test]
    fn an_unread_trail_that_does_not_cover_the_region_is_not_named() {
        let mut elsewhere = trail("elsewhere", "us-east-1", false, false);
        elsewhere.logging = Err("throttled".into());
        let o = with_trails(&["eu-west-1"], vec![elsewhere]);
        assert_eq!(unchecked(&o), []);
        assert_eq!(problems(&o).len(), 1, "no trail covers eu-west-1");
    }
}
