//! `member_role`: in organization mode, these credentials may assume each member account's remediation role.

use crate::preflight::check::{Check, Judge, Problem, Unchecked};
use crate::preflight::observations::{Assume, Observations};

impl Check {
    pub const MEMBER_ROLE: Check = Check::named("member_role");
}

pub(super) const JUDGE: Judge = Judge { check: Check::MEMBER_ROLE, problems, unchecked };

/// Each member account whose role STS refused to these credentials, in the request's order.
fn problems(observations: &Observations) -> Vec<Problem> {
    let mut out = Vec::new();
    for m in &observations.members {
        if let Ok(Assume::Denied { message }) = &m.assumed {
            let account = m.account.as_str();
            out.push(Problem::in_account(
                Check::MEMBER_ROLE,
                account,
                format!(
                    "cannot assume {} (AccessDenied: {message}): the spoke is missing in {account}, or its role does not trust these credentials; STS does not say which",
                    m.role_arn
                ),
                format!(
                    "the role trusts the hub's function role only: run preflight with that role's permissions, or check that the spoke StackSet has an instance in {account} (templates/spoke.yaml)"
                ),
            ));
        }
    }
    out
}

/// Each member account whose role could not be tried (an error other than a refusal).
fn unchecked(observations: &Observations) -> Vec<Unchecked> {
    let mut out = Vec::new();
    for m in &observations.members {
        if let Err(e) = &m.assumed {
            out.push(Unchecked::in_account(Check::MEMBER_ROLE, &m.account, e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::MemberObservation;

    fn members(assumed: Vec<Result<Assume, String>>) -> Observations {
        Observations {
            listed: Ok(vec![]),
            regions: vec![],
            concurrency: None,
            members: assumed
                .into_iter()
                .zip(["111111111111", "222222222222"])
                .map(|(assumed, account)| MemberObservation {
                    account: account.into(),
                    role_arn: format!("arn:aws:iam::{account}:role/egress-guard-remediation"),
                    assumed,
                })
                .collect(),
        }
    }

    #[test]
    fn an_assumable_role_is_nothing_and_a_refused_one_is_a_problem_of_its_account() {
        let o = members(vec![Ok(Assume::Assumed), Ok(Assume::Denied { message: "not authorized".into() })]);
        let p = problems(&o);
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].check, p[0].region.as_deref(), p[0].account.as_deref()),
            (Check::MEMBER_ROLE, None, Some("222222222222"))
        );
        assert!(p[0].fix.ends_with("has an instance in 222222222222 (templates/spoke.yaml)"), "{}", p[0].fix);
        assert_eq!(unchecked(&o), []);
    }

    #[test]
    fn a_role_that_could_not_be_tried_is_unchecked_for_its_account_and_no_problem() {
        let o = members(vec![Err("Throttling: slow down".into())]);
        assert_eq!(problems(&o), []);
        assert_eq!(unchecked(&o), [Unchecked::in_account(Check::MEMBER_ROLE, "111111111111", "Throttling: slow down")]);
    }
}
