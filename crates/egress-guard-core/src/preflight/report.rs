//! The `Report` (schema `egress-guard.preflight/v1`): what was checked, the problems found with their fixes, and
//! what could not be checked; its text and its exit code.

use serde::{Deserialize, Serialize};

use crate::preflight::check::{Check, Problem, Unchecked};
use crate::preflight::checks::{errors, findings};
use crate::preflight::observations::Observations;
use crate::preflight::request::Scope;

/// The `schema` field of every JSON preflight report; bumped on any breaking change.
pub const SCHEMA: &str = "egress-guard.preflight/v1";

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
    pub findings: Vec<Problem>,
    /// The checks that could not run; the exit code is then 2.
    pub errors: Vec<Unchecked>,
    pub checked: Checked,
}

impl Report {
    pub fn new(scope: &Scope, observations: &Observations) -> Report {
        Report {
            schema: SCHEMA.to_owned(),
            findings: findings(observations),
            errors: errors(observations),
            checked: Checked {
                regions: scope.regions.clone(),
                member_accounts: scope.member_accounts.clone(),
                function_concurrency: scope.function_concurrency,
                security_hub: scope.security_hub,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::Request;
    use crate::preflight::fixtures::{trail, with_trails};

    #[test]
    fn the_report_exits_by_what_it_holds_and_prints_a_line_each_then_the_count() {
        let request = Request {
            regions: "eu-west-1,us-west-2".into(),
            member_accounts: None,
            role_name: "r".into(),
            function_concurrency: None,
            security_hub: false,
        }
        .validate()
        .unwrap();
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

    #[test]
    fn a_report_read_back_from_its_json_is_the_same_report() {
        let scope = Scope {
            regions: vec!["eu-west-1".into(), "us-west-2".into()],
            member_accounts: vec![],
            role_name: "r".into(),
            function_concurrency: None,
            security_hub: false,
        };
        let mut failing = with_trails(&["eu-west-1", "us-west-2"], vec![trail("west", "us-west-2", false, false)]);
        failing.regions[1].trails = Some(Err("AccessDeniedException: denied".into()));
        let report = Report::new(&scope, &failing);
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
    }
}
