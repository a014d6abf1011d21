//! `concurrency`: the reserved concurrency the deploy asks for leaves Lambda the unreserved executions it keeps in
//! the home region.

use crate::preflight::check::{Check, Judge, Problem, Unchecked};
use crate::preflight::observations::Observations;

/// Lambda keeps at least this many of an account's concurrent executions unreserved, for the functions that reserve
/// none: "You can reserve up to the Unreserved account concurrency value that is shown, minus 100"
/// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html). An account whose quota is 10 (new
/// accounts) can therefore reserve nothing.
pub const MIN_UNRESERVED_CONCURRENCY: i64 = 100;

impl Check {
    pub const CONCURRENCY: Check = Check::named("concurrency");
}

pub(super) const JUDGE: Judge = Judge { check: Check::CONCURRENCY, problems, unchecked };

/// The reservation, when it would leave fewer than `MIN_UNRESERVED_CONCURRENCY` unreserved, with the quota it needs.
fn problems(observations: &Observations) -> Vec<Problem> {
    let Some(c) = &observations.concurrency else { return Vec::new() };
    let Ok(limit) = &c.limit else { return Vec::new() };
    let (n, u) = (i64::from(c.requested), limit.unreserved);
    if u - n >= MIN_UNRESERVED_CONCURRENCY {
        return Vec::new();
    }
    let problem = if u <= MIN_UNRESERVED_CONCURRENCY {
        format!(
            "a reserved concurrency of {n} cannot be set in {}: the account has {u} unreserved concurrent executions (quota {}) and Lambda keeps at least {MIN_UNRESERVED_CONCURRENCY} unreserved, so it can reserve none and the deploy fails",
            c.region, limit.quota
        )
    } else {
        format!(
            "a reserved concurrency of {n} cannot be set in {}: it would leave {} of the account's {u} unreserved concurrent executions (quota {}), and Lambda keeps at least {MIN_UNRESERVED_CONCURRENCY} unreserved, so the deploy fails",
            c.region,
            u - n,
            limit.quota
        )
    };
    let fix = format!(
        "leave FunctionConcurrency empty/0 (unreserved) or ask for a higher quota (Service Quotas, AWS Lambda \"Concurrent executions\", at least {} in {})",
        limit.quota + (n + MIN_UNRESERVED_CONCURRENCY - u),
        c.region
    );
    vec![Problem::in_region(Check::CONCURRENCY, &c.region, problem, fix)]
}

/// The account's settings, when they could not be read.
fn unchecked(observations: &Observations) -> Vec<Unchecked> {
    if let Some(c) = &observations.concurrency
        && let Err(e) = &c.limit
    {
        vec![Unchecked::in_region(Check::CONCURRENCY, &c.region, e)]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use crate::preflight::{AccountConcurrency, Check, ConcurrencyObservation, Observations, errors, findings};

    fn concurrency(requested: u32, quota: i64, unreserved: i64) -> Observations {
        Observations {
            listed: Ok(vec![]),
            regions: vec![],
            concurrency: Some(ConcurrencyObservation {
                region: "eu-west-1".into(),
                requested,
                limit: Ok(AccountConcurrency { quota, unreserved }),
            }),
            members: vec![],
        }
    }

    #[test]
    fn a_reservation_that_leaves_exactly_one_hundred_unreserved_is_fine() {
        assert_eq!(findings(&concurrency(900, 1000, 1000)), []);
        assert_eq!(findings(&concurrency(10, 1000, 110)), []);
    }

    #[test]
    fn a_reservation_that_leaves_ninety_nine_unreserved_is_a_finding_with_the_quota_it_needs() {
        let f = findings(&concurrency(901, 1000, 1000));
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].check, f[0].region.as_deref()), (Check::CONCURRENCY, Some("eu-west-1")));
        assert!(f[0].problem.contains("would leave 99 of the account's 1000 unreserved"), "{}", f[0].problem);
        assert!(f[0].fix.starts_with("leave FunctionConcurrency empty/0 (unreserved) or ask for a higher quota"));
        assert!(f[0].fix.contains("at least 1001 in eu-west-1"), "{}", f[0].fix);
    }

    #[test]
    fn an_account_with_a_quota_of_ten_can_reserve_nothing() {
        let f = findings(&concurrency(1, 10, 10));
        assert_eq!(f.len(), 1);
        assert!(f[0].problem.contains("has 10 unreserved concurrent executions (quota 10)"), "{}", f[0].problem);
        assert!(f[0].problem.contains("it can reserve none"), "{}", f[0].problem);
        assert!(f[0].fix.contains("at least 101 in eu-west-1"), "{}", f[0].fix);
        assert_eq!(findings(&concurrency(1, 1000, 100)).len(), 1, "100 unreserved: not even 1 can be reserved");
    }

    #[test]
    fn account_settings_that_cannot_be_read_are_unchecked_in_the_home_region() {
        let mut o = concurrency(5, 1000, 1000);
        if let Some(c) = &mut o.concurrency {
            c.limit = Err("TooManyRequestsException: slow down".into());
        }
        assert_eq!(findings(&o), []);
        let e = errors(&o);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].check, e[0].region.as_deref()), (Check::CONCURRENCY, Some("eu-west-1")));
        assert_eq!(e[0].error, "TooManyRequestsException: slow down");
    }
}
