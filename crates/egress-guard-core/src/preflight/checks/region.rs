//! `region`: every region asked is a region of the account's partition, and enabled in the account.

use crate::preflight::check::{Check, Judge, Problem, Unchecked};
use crate::preflight::observations::{Observations, OptIn};

impl Check {
    pub const REGION: Check = Check::named("region");
}

pub(super) const JUDGE: Judge = Judge { check: Check::REGION, problems, unchecked };

/// Each region asked that `DescribeRegions` does not list, or lists as not enabled, in the request's order.
fn problems(observations: &Observations) -> Vec<Problem> {
    let Ok(listed) = &observations.listed else { return Vec::new() };
    let mut out = Vec::new();
    for r in &observations.regions {
        let region = r.region.as_str();
        let problem = |problem: String, fix: String| Problem::in_region(Check::REGION, region, problem, fix);
        let fix = format!(
            "enable it (Account console, or `aws account enable-region --region-name {region}`) or remove it from Regions"
        );
        match listed.iter().find(|l| l.name == region).map(|l| &l.opt_in) {
            None => out.push(problem(
                format!("{region} is not a region of this account's partition: DescribeRegions does not list it"),
                "correct its name or remove it from Regions".to_owned(),
            )),
            Some(OptIn::NotOptedIn) => {
                out.push(problem(format!("region {region} is not enabled in this account"), fix));
            }
            Some(OptIn::Other(status)) => out
                .push(problem(format!("region {region} is not enabled in this account (opt-in status {status})"), fix)),
            Some(OptIn::NotRequired | OptIn::OptedIn) => {}
        }
    }
    out
}

/// The listing itself, when it failed.
fn unchecked(observations: &Observations) -> Vec<Unchecked> {
    match &observations.listed {
        Err(e) => vec![Unchecked::anywhere(Check::REGION, format!("listing the account's regions: {e}"))],
        Ok(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::preflight::fixtures::listed;
    use crate::preflight::{Check, Observations, RegionObservation, errors, findings};

    #[test]
    fn regions_not_enabled_or_unknown_are_findings_and_not_looked_into() {
        let l =
            listed(&[("eu-west-1", "opt-in-not-required"), ("ap-east-1", "not-opted-in"), ("me-south-1", "opted-in")]);
        assert!(RegionObservation::is_probed(&l, "eu-west-1") && RegionObservation::is_probed(&l, "me-south-1"));
        assert!(!RegionObservation::is_probed(&l, "ap-east-1") && !RegionObservation::is_probed(&l, "xx-fake-1"));
        assert!(RegionObservation::is_probed(&Err("UnauthorizedOperation".into()), "xx-fake-1"));
        let o = Observations {
            listed: l,
            regions: ["eu-west-1", "ap-east-1", "xx-fake-1", "me-south-1"]
                .iter()
                .map(|r| RegionObservation { region: (*r).into(), trails: None, hub: None })
                .collect(),
            concurrency: None,
            members: vec![],
        };
        let f = findings(&o);
        assert_eq!(
            f.iter().map(|f| (f.check, f.region.as_deref().unwrap())).collect::<Vec<_>>(),
            [(Check::REGION, "ap-east-1"), (Check::REGION, "xx-fake-1")]
        );
        assert_eq!(f[0].problem, "region ap-east-1 is not enabled in this account");
        assert_eq!(
            f[0].fix,
            "enable it (Account console, or `aws account enable-region --region-name ap-east-1`) or remove it from Regions"
        );
        assert!(f[1].problem.contains("not a region of this account's partition"), "{}", f[1].problem);
    }

    #[test]
    fn a_failed_region_listing_is_one_error_and_no_finding() {
        let o = Observations {
            listed: Err("UnauthorizedOperation: denied".into()),
            regions: vec![RegionObservation { region: "eu-west-1".into(), trails: None, hub: None }],
            concurrency: None,
            members: vec![],
        };
        assert_eq!(findings(&o), []);
        let e = errors(&o);
        assert_eq!((e.len(), e[0].check), (1, Check::REGION));
        assert_eq!(e[0].error, "listing the account's regions: UnauthorizedOperation: denied");
    }

    #[test]
    fn a_status_ec2_may_add_is_not_enabled_and_names_the_status() {
        let o = Observations {
            listed: listed(&[("eu-west-1", "opt-in-pending")]),
            regions: vec![RegionObservation { region: "eu-west-1".into(), trails: None, hub: None }],
            concurrency: None,
            members: vec![],
        };
        let f = findings(&o);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].problem, "region eu-west-1 is not enabled in this account (opt-in status opt-in-pending)");
    }
}
