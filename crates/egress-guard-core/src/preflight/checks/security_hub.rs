//! `security_hub`: with `SecurityHubFindings=true`, Security Hub is enabled in every region asked, or each import
//! there is refused.

use crate::preflight::check::{Check, Judge, Problem, Unchecked};
use crate::preflight::observations::Observations;

impl Check {
    pub const SECURITY_HUB: Check = Check::named("security_hub");
}

pub(super) const JUDGE: Judge = Judge { check: Check::SECURITY_HUB, problems, unchecked };

/// Each region whose hub `DescribeHub` answered as not enabled, in the request's order.
fn problems(observations: &Observations) -> Vec<Problem> {
    let mut out = Vec::new();
    for r in &observations.regions {
        if let Some(Ok(false)) = r.hub {
            let region = r.region.as_str();
            out.push(Problem::in_region(
                Check::SECURITY_HUB,
                region,
                format!(
                    "Security Hub is not enabled in {region}: with SecurityHubFindings=true every import there is refused (InvalidAccess) and fails the invocation"
                ),
                format!(
                    "enable it (`aws securityhub enable-security-hub --region {region}`) or set SecurityHubFindings=false"
                ),
            ));
        }
    }
    out
}

/// Each region whose hub could not be read.
fn unchecked(observations: &Observations) -> Vec<Unchecked> {
    let mut out = Vec::new();
    for r in &observations.regions {
        if let Some(Err(e)) = &r.hub {
            out.push(Unchecked::in_region(Check::SECURITY_HUB, &r.region, e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::RegionObservation;
    use crate::preflight::fixtures::listed;

    fn hubs(hubs: &[(&str, Option<Result<bool, &str>>)]) -> Observations {
        Observations {
            listed: listed(&hubs.iter().map(|(r, _)| (*r, "opt-in-not-required")).collect::<Vec<_>>()),
            regions: hubs
                .iter()
                .map(|(region, hub)| RegionObservation {
                    region: (*region).into(),
                    trails: None,
                    hub: hub.map(|h| h.map_err(str::to_owned)),
                })
                .collect(),
            concurrency: None,
            members: vec![],
        }
    }

    #[test]
    fn a_hub_not_enabled_is_a_problem_with_the_command_that_enables_it() {
        let p = problems(&hubs(&[("eu-west-1", Some(Ok(true))), ("us-east-1", Some(Ok(false)))]));
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].check, p[0].region.as_deref()), (Check::SECURITY_HUB, Some("us-east-1")));
        assert_eq!(
            p[0].fix,
            "enable it (`aws securityhub enable-security-hub --region us-east-1`) or set SecurityHubFindings=false"
        );
    }

    #[test]
    fn a_hub_that_cannot_be_read_is_unchecked_there_and_one_not_asked_about_is_nothing() {
        let o = hubs(&[("eu-west-1", None), ("us-east-1", Some(Err("ThrottlingException")))]);
        assert_eq!(problems(&o), []);
        assert_eq!(unchecked(&o), [Unchecked::in_region(Check::SECURITY_HUB, "us-east-1", "ThrottlingException")]);
    }
}
