//! The checks, one file each, and `CHECKS`, the one table that runs them: `findings` and `errors` both follow it, so
//! a check's problems and what it could not read always come in the same order.

mod concurrency;
mod member_role;
mod region;
mod security_hub;
mod trail;

use serde::{Deserialize, Deserializer};

pub use concurrency::MIN_UNRESERVED_CONCURRENCY;

use crate::preflight::check::{Check, Judge, Problem, Unchecked};
use crate::preflight::observations::Observations;

/// Every check, in the report's order.
pub const CHECKS: &[Judge] =
    &[region::JUDGE, trail::JUDGE, concurrency::JUDGE, security_hub::JUDGE, member_role::JUDGE];

/// Every problem, check by check in the order of `CHECKS`, each check's in the request's order.
pub fn findings(observations: &Observations) -> Vec<Problem> {
    CHECKS.iter().flat_map(|judge| (judge.problems)(observations)).collect()
}

/// Every check that could not run, in the order of `findings`.
pub fn errors(observations: &Observations) -> Vec<Unchecked> {
    CHECKS.iter().flat_map(|judge| (judge.unchecked)(observations)).collect()
}

impl<'de> Deserialize<'de> for Check {
    /// A check's name, one of `CHECKS`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Check, D::Error> {
        let name = String::deserialize(deserializer)?;
        CHECKS
            .iter()
            .map(|judge| judge.check)
            .find(|check| check.as_str() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown check {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::fixtures::{listed, places};
    use crate::preflight::{AccountConcurrency, Assume, ConcurrencyObservation, MemberObservation, RegionObservation};

    #[test]
    fn the_checks_run_in_the_reports_order_each_once() {
        let names: Vec<&str> = CHECKS.iter().map(|judge| judge.check.as_str()).collect();
        assert_eq!(names, ["region", "trail", "concurrency", "security_hub", "member_role"]);
    }

    #[test]
    fn every_check_names_what_it_gives_and_the_report_takes_them_in_the_tables_order() {
        let o = Observations {
            listed: listed(&[
                ("ap-east-1", "not-opted-in"),
                ("eu-west-1", "opt-in-not-required"),
                ("us-east-1", "opt-in-not-required"),
            ]),
            regions: vec![
                RegionObservation { region: "ap-east-1".into(), trails: None, hub: None },
                RegionObservation { region: "eu-west-1".into(), trails: Some(Ok(vec![])), hub: Some(Ok(false)) },
                RegionObservation {
                    region: "us-east-1".into(),
                    trails: Some(Err("denied".into())),
                    hub: Some(Err("slow".into())),
                },
            ],
            concurrency: Some(ConcurrencyObservation {
                region: "eu-west-1".into(),
                requested: 901,
                limit: Ok(AccountConcurrency { quota: 1000, unreserved: 1000 }),
            }),
            members: vec![
                MemberObservation {
                    account: "222222222222".into(),
                    role_arn: "r2".into(),
                    assumed: Ok(Assume::Denied { message: "no".into() }),
                },
                MemberObservation {
                    account: "333333333333".into(),
                    role_arn: "r3".into(),
                    assumed: Err("slow".into()),
                },
            ],
        };
        for judge in CHECKS {
            assert!((judge.problems)(&o).iter().all(|p| p.check == judge.check), "{}", judge.check.as_str());
            assert!((judge.unchecked)(&o).iter().all(|u| u.check == judge.check), "{}", judge.check.as_str());
        }
        let position = |check: Check| CHECKS.iter().position(|judge| judge.check == check);
        let problems: Vec<Check> = findings(&o).iter().map(|p| p.check).collect();
        let unread: Vec<Check> = errors(&o).iter().map(|u| u.check).collect();
        assert!(problems.iter().map(|c| position(*c)).is_sorted(), "{problems:?}");
        assert!(unread.iter().map(|c| position(*c)).is_sorted(), "{unread:?}");
        for check in [Check::REGION, Check::TRAIL, Check::CONCURRENCY, Check::SECURITY_HUB, Check::MEMBER_ROLE] {
            assert!(problems.contains(&check), "{} found nothing: {problems:?}", check.as_str());
        }
        for check in [Check::TRAIL, Check::SECURITY_HUB, Check::MEMBER_ROLE] {
            assert!(unread.contains(&check), "{} read everything: {unread:?}", check.as_str());
        }
    }

    #[test]
    fn a_check_deserializes_from_its_name_and_an_unknown_name_is_refused() {
        let check: Check = serde_json::from_str("\"security_hub\"").unwrap();
        assert_eq!(check, Check::SECURITY_HUB);
        let err = serde_json::from_str::<Check>("\"quota\"").unwrap_err();
        assert_eq!(err.to_string(), "unknown check \"quota\"");
    }

    #[test]
    fn hubs_and_member_roles_give_findings_or_errors_by_what_aws_answered() {
        let o = Observations {
            listed: listed(&[("eu-west-1", "opt-in-not-required"), ("us-east-1", "opt-in-not-required")]),
            regions: vec![
                RegionObservation { region: "eu-west-1".into(), trails: None, hub: Some(Ok(true)) },
                RegionObservation { region: "us-east-1".into(), trails: None, hub: Some(Ok(false)) },
            ],
            concurrency: None,
            members: vec![
                MemberObservation {
                    account: "111111111111".into(),
                    role_arn: "r1".into(),
                    assumed: Ok(Assume::Assumed),
                },
                MemberObservation {
                    account: "222222222222".into(),
                    role_arn: "arn:aws:iam::222222222222:role/egress-guard-remediation".into(),
                    assumed: Ok(Assume::Denied { message: "not authorized".into() }),
                },
                MemberObservation {
                    account: "333333333333".into(),
                    role_arn: "r3".into(),
                    assumed: Err("Throttling".into()),
                },
            ],
        };
        assert_eq!(
            places(&o),
            [
                (Check::SECURITY_HUB, Some("us-east-1".into()), None),
                (Check::MEMBER_ROLE, None, Some("222222222222".into()))
            ]
        );
        let member = &findings(&o)[1];
        assert!(member.problem.starts_with(
            "cannot assume arn:aws:iam::222222222222:role/egress-guard-remediation (AccessDenied: not authorized): the spoke is missing in 222222222222, or its role does not trust these credentials"
        ));
        assert!(member.fix.contains("run preflight with that role's permissions"), "{}", member.fix);
        let e = errors(&o);
        assert_eq!((e.len(), e[0].check, e[0].account.as_deref()), (1, Check::MEMBER_ROLE, Some("333333333333")));
    }
}
