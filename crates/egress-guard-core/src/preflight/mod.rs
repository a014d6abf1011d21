//! `preflight`: what would make a deploy or the guard fail, decided from read-only observations, each finding with
//! its fix. The adapter observes (the account's regions, the trails that cover each, Lambda's unreserved
//! concurrency, Security Hub, the member accounts' roles); `findings` decides. Pure: no AWS call, no runtime.
//!
//! `request` is what was asked, `observations` what the adapter saw, `trail` whether a region's trails deliver its
//! events; here, the observations become `findings` and `errors`, and both a `Report`.

mod observations;
mod request;
mod trail;
mod watch;

use serde::{Deserialize, Serialize};

pub use observations::{
    AccountConcurrency, AdvancedSelector, Assume, ClassicSelector, ConcurrencyObservation, FieldSelector, ListedRegion,
    MemberObservation, Observations, OptIn, RegionObservation, SESSION_NAME, Seen, Selectors, TrailObservation,
};
pub use request::{DEFAULT_REGIONS, DEFAULT_ROLE_NAME, Request};
use trail::trail_problem;

/// The `schema` field of every JSON preflight report; bumped on any breaking change.
pub const SCHEMA: &str = "egress-guard.preflight/v1";

/// Lambda keeps at least this many of an account's concurrent executions unreserved, for the functions that reserve
/// none: "You can reserve up to the Unreserved account concurrency value that is shown, minus 100"
/// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html). An account whose quota is 10 (new
/// accounts) can therefore reserve nothing.
pub const MIN_UNRESERVED_CONCURRENCY: i64 = 100;

/// Which check a finding or an error belongs to (`check` in the JSON schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Region,
    Trail,
    Concurrency,
    SecurityHub,
    MemberRole,
}

impl Check {
    pub fn as_str(&self) -> &'static str {
        match self {
            Check::Region => "region",
            Check::Trail => "trail",
            Check::Concurrency => "concurrency",
            Check::SecurityHub => "security_hub",
            Check::MemberRole => "member_role",
        }
    }
}

/// Something that would make the deploy or the guard fail, and its fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub check: Check,
    pub region: Option<String>,
    pub account: Option<String>,
    pub problem: String,
    pub fix: String,
}

/// A check that could not run (its calls failed): never a pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unchecked {
    pub check: Check,
    pub region: Option<String>,
    pub account: Option<String>,
    pub error: String,
}

/// What was asked, as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    pub regions: Vec<String>,
    pub member_accounts: Vec<String>,
    pub function_concurrency: Option<u32>,
    pub security_hub: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub findings: Vec<Finding>,
    /// The checks that could not run; the exit code is then 2.
    pub errors: Vec<Unchecked>,
    pub checked: Checked,
}

impl Report {
    pub fn new(request: &Request, observations: &Observations) -> Report {
        Report {
            schema: SCHEMA.to_owned(),
            findings: findings(observations),
            errors: errors(observations),
            checked: Checked {
                regions: request.regions.clone(),
                member_accounts: request.member_accounts.clone(),
                function_concurrency: request.function_concurrency,
                security_hub: request.security_hub,
            },
        }
    }

    /// 2 when a check could not run, else 1 when something was found, else 0.
    pub fn exit_code(&self) -> i32 {
        if !self.errors.is_empty() {
            2
        } else if !self.findings.is_empty() {
            1
        } else {
            0
        }
    }

    /// One line per finding (`<check> <where>: <problem> — fix: <fix>`), one per check that could not run, and a last
    /// line with the count.
    pub fn text(&self) -> String {
        let place = |region: &Option<String>, account: &Option<String>| {
            [account.as_deref(), region.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ")
        };
        let head = |check: Check, region: &Option<String>, account: &Option<String>| {
            let place = place(region, account);
            if place.is_empty() { check.as_str().to_owned() } else { format!("{} {place}", check.as_str()) }
        };
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&format!("{}: {} — fix: {}\n", head(f.check, &f.region, &f.account), f.problem, f.fix));
        }
        for e in &self.errors {
            out.push_str(&format!("{}: could not check: {}\n", head(e.check, &e.region, &e.account), e.error));
        }
        let count = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut last = match self.findings.len() {
            0 => "preflight: nothing found".to_owned(),
            n => format!("preflight: {}", count(n, "finding", "findings")),
        };
        if !self.errors.is_empty() {
            last.push_str(&format!(", {} could not run", count(self.errors.len(), "check", "checks")));
        }
        out.push_str(&last);
        out.push('\n');
        out
    }
}

/// Every finding, by check (region, trail, concurrency, Security Hub, member role), then in the request's order.
pub fn findings(observations: &Observations) -> Vec<Finding> {
    let mut out = Vec::new();
    let finding = |check, region: Option<&str>, account: Option<&str>, problem: String, fix: String| Finding {
        check,
        region: region.map(str::to_owned),
        account: account.map(str::to_owned),
        problem,
        fix,
    };
    if let Ok(listed) = &observations.listed {
        for r in &observations.regions {
            let region = r.region.as_str();
            let fix = format!(
                "enable it (Account console, or `aws account enable-region --region-name {region}`) or remove it from Regions"
            );
            match listed.iter().find(|l| l.name == region).map(|l| &l.opt_in) {
                None => out.push(finding(
                    Check::Region,
                    Some(region),
                    None,
                    format!("{region} is not a region of this account's partition: DescribeRegions does not list it"),
                    "correct its name or remove it from Regions".to_owned(),
                )),
                Some(OptIn::NotOptedIn) => out.push(finding(
                    Check::Region,
                    Some(region),
                    None,
                    format!("region {region} is not enabled in this account"),
                    fix,
                )),
                Some(OptIn::Other(status)) => out.push(finding(
                    Check::Region,
                    Some(region),
                    None,
                    format!("region {region} is not enabled in this account (opt-in status {status})"),
                    fix,
                )),
                Some(OptIn::NotRequired | OptIn::OptedIn) => {}
            }
        }
    }
    for r in &observations.regions {
        if let Some(Ok(trails)) = &r.trails
            && let Some((problem, fix)) = trail_problem(&r.region, trails)
        {
            out.push(finding(Check::Trail, Some(&r.region), None, problem, fix));
        }
    }
    if let Some(c) = &observations.concurrency
        && let Ok(limit) = &c.limit
    {
        let (n, u) = (i64::from(c.requested), limit.unreserved);
        if u - n < MIN_UNRESERVED_CONCURRENCY {
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
            out.push(finding(Check::Concurrency, Some(&c.region), None, problem, fix));
        }
    }
    for r in &observations.regions {
        if let Some(Ok(false)) = r.hub {
            let region = r.region.as_str();
            out.push(finding(
                Check::SecurityHub,
                Some(region),
                None,
                format!(
                    "Security Hub is not enabled in {region}: with SecurityHubFindings=true every import there is refused (InvalidAccess) and fails the invocation"
                ),
                format!(
                    "enable it (`aws securityhub enable-security-hub --region {region}`) or set SecurityHubFindings=false"
                ),
            ));
        }
    }
    for m in &observations.members {
        if let Ok(Assume::Denied { message }) = &m.assumed {
            let account = m.account.as_str();
            out.push(finding(
                Check::MemberRole,
                None,
                Some(account),
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

/// Every check that could not run, in the order of `findings`.
pub fn errors(observations: &Observations) -> Vec<Unchecked> {
    let mut out = Vec::new();
    let unchecked = |check, region: Option<&str>, account: Option<&str>, error: &str| Unchecked {
        check,
        region: region.map(str::to_owned),
        account: account.map(str::to_owned),
        error: error.to_owned(),
    };
    if let Err(e) = &observations.listed {
        out.push(unchecked(Check::Region, None, None, &format!("listing the account's regions: {e}")));
    }
    for r in &observations.regions {
        match &r.trails {
            Some(Err(e)) => out.push(unchecked(Check::Trail, Some(&r.region), None, e)),
            Some(Ok(trails)) => {
                let covering: Vec<&TrailObservation> = trails.iter().filter(|t| t.covers(&r.region)).collect();
                let decided = covering.iter().any(|t| {
                    t.logging == Ok(true) && t.selectors.as_ref().is_ok_and(Selectors::logs_management_writes)
                });
                if !decided {
                    for t in covering {
                        for e in [t.logging.as_ref().err(), t.selectors.as_ref().err()].into_iter().flatten() {
                            out.push(unchecked(Check::Trail, Some(&r.region), None, &format!("trail {}: {e}", t.name)));
                        }
                    }
                }
            }
            None => {}
        }
    }
    if let Some(c) = &observations.concurrency
        && let Err(e) = &c.limit
    {
        out.push(unchecked(Check::Concurrency, Some(&c.region), None, e));
    }
    for r in &observations.regions {
        if let Some(Err(e)) = &r.hub {
            out.push(unchecked(Check::SecurityHub, Some(&r.region), None, e));
        }
    }
    for m in &observations.members {
        if let Err(e) = &m.assumed {
            out.push(unchecked(Check::MemberRole, None, Some(&m.account), e));
        }
    }
    out
}

/// Observations the tests of this module and of `trail` build on.
#[cfg(test)]
mod fixtures {
    use super::*;

    pub(super) fn trail(name: &str, home: &str, multi: bool, org: bool) -> TrailObservation {
        TrailObservation {
            name: name.into(),
            arn: format!("arn:aws:cloudtrail:{home}:123456789012:trail/{name}"),
            home_region: home.into(),
            multi_region: multi,
            organization: org,
            logging: Ok(true),
            // What AWS answers for a trail with no custom selectors: one classic selector, `All`, management events
            // included; so every coverage test also goes through the selector evaluation.
            selectors: Ok(Selectors {
                custom: false,
                classic: vec![ClassicSelector {
                    read_write_type: Some("All".into()),
                    include_management_events: Some(true),
                    ..Default::default()
                }],
                advanced: vec![],
            }),
        }
    }

    pub(super) fn listed(regions: &[(&str, &str)]) -> Seen<Vec<ListedRegion>> {
        Ok(regions.iter().map(|(n, s)| ListedRegion { name: (*n).into(), opt_in: OptIn::from_status(s) }).collect())
    }

    /// Observations of `regions` (all enabled), each with `trails` listed, nothing else asked.
    pub(super) fn with_trails(regions: &[&str], trails: Vec<TrailObservation>) -> Observations {
        Observations {
            listed: listed(&regions.iter().map(|r| (*r, "opt-in-not-required")).collect::<Vec<_>>()),
            regions: regions
                .iter()
                .map(|r| RegionObservation { region: (*r).into(), trails: Some(Ok(trails.clone())), hub: None })
                .collect(),
            concurrency: None,
            members: vec![],
        }
    }

    /// (check, region, account) of each finding.
    pub(super) fn places(o: &Observations) -> Vec<(Check, Option<String>, Option<String>)> {
        findings(o).into_iter().map(|f| (f.check, f.region, f.account)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::fixtures::{listed, places, trail, with_trails};

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
            [(Check::Region, "ap-east-1"), (Check::Region, "xx-fake-1")]
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
        assert_eq!((e.len(), e[0].check), (1, Check::Region));
        assert_eq!(e[0].error, "listing the account's regions: UnauthorizedOperation: denied");
    }

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
        assert_eq!((f[0].check, f[0].region.as_deref()), (Check::Concurrency, Some("eu-west-1")));
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
                (Check::SecurityHub, Some("us-east-1".into()), None),
                (Check::MemberRole, None, Some("222222222222".into()))
            ]
        );
        let member = &findings(&o)[1];
        assert!(member.problem.starts_with(
            "cannot assume arn:aws:iam::222222222222:role/egress-guard-remediation (AccessDenied: not authorized): the spoke is missing in 222222222222, or its role does not trust these credentials"
        ));
        assert!(member.fix.contains("run preflight with that role's permissions"), "{}", member.fix);
        let e = errors(&o);
        assert_eq!((e.len(), e[0].check, e[0].account.as_deref()), (1, Check::MemberRole, Some("333333333333")));
    }

    #[test]
    fn the_report_exits_by_what_it_holds_and_prints_a_line_each_then_the_count() {
        let request = Request::new("eu-west-1,us-west-2", None, "r", None, false).unwrap();
        let healthy = Report::new(
            &request,
            &with_trails(&["eu-west-1", "us-west-2"], vec![trail("t", "eu-west-1", true, false)]),
        );
        assert_eq!((healthy.exit_code(), healthy.text()), (0, "preflight: nothing found\n".to_owned()));
        let one = Report::new(
            &request,
            &with_trails(&["eu-west-1", "us-west-2"], vec![trail("west", "us-west-2", false, false)]),
        );
        assert_eq!(one.exit_code(), 1);
        assert_eq!(
            one.text(),
            "trail eu-west-1: no trail covers eu-west-1: no trail logs its management write events, so EventBridge never sees the calls made there — fix: deploy with CreateTrail=true or create a trail that covers eu-west-1 (a multi-region trail covers every region)\npreflight: 1 finding\n"
        );
        let mut failing = with_trails(&["eu-west-1", "us-west-2"], vec![trail("west", "us-west-2", false, false)]);
        failing.regions[1].trails = Some(Err("AccessDeniedException: denied".into()));
        let report = Report::new(&request, &failing);
        assert_eq!(report.exit_code(), 2);
        assert!(report.text().ends_with(
            "trail us-west-2: could not check: AccessDeniedException: denied\npreflight: 1 finding, 1 check could not run\n"
        ), "{}", report.text());
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["schema"], "egress-guard.preflight/v1");
        assert_eq!(
            json["checked"],
            serde_json::json!({"regions": ["eu-west-1", "us-west-2"], "member_accounts": [], "function_concurrency": null, "security_hub": false})
        );
        assert_eq!(json["findings"][0]["check"], "trail");
        assert_eq!(
            json["errors"][0],
            serde_json::json!({"check": "trail", "region": "us-west-2", "account": null, "error": "AccessDeniedException: denied"})
        );
    }
}
