//! `preflight`: what would make a deploy or the guard fail, decided from read-only observations, each problem with
//! its fix. The adapter observes (the account's regions, the trails that cover each, Lambda's unreserved
//! concurrency, Security Hub, the member accounts' roles); the checks decide. Pure: no AWS call, no runtime.
//!
//! `request` is what was asked, `observations` what the adapter saw, `trail` whether a region's trails deliver its
//! events, `check` what a check answers, `checks` each check and their table, `report` the report of them all.

mod check;
mod checks;
mod observations;
mod report;
mod request;
mod trail;
mod watch;

pub use check::{Check, Judge, Problem, Unchecked};
pub use checks::{CHECKS, MIN_UNRESERVED_CONCURRENCY, errors, findings};
pub use observations::{
    AccountConcurrency, AdvancedSelector, Assume, ClassicSelector, ConcurrencyObservation, FieldSelector, ListedRegion,
    MemberObservation, Observations, OptIn, RegionObservation, SESSION_NAME, Seen, Selectors, TrailObservation,
};
pub use report::{Checked, Report, SCHEMA};
pub use request::{DEFAULT_REGIONS, DEFAULT_ROLE_NAME, Request, Scope};

/// Observations the tests of the checks, the report and `trail` build on.
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
