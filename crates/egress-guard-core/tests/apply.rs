//! `apply`, the `--apply` sequence over in-memory groups: refused on a blocking gap with no call that changes the
//! group, authorized then seen before anything may be revoked, never `Applied` while a rule does not show, and a dry
//! run that calls nothing.

mod common;

use common::{FakeGroups, group, rule};
use egress_guard_core::recommend::{Basis, Gap, Proposal, Proposed, Quota, SCHEMA, UNLOGGED, Window};
use egress_guard_core::{Applied, apply};

const GROUP: &str = "sg-0123456789abcdef0";

fn proposal(rules: &[&str], gaps: Vec<Gap>) -> Proposal {
    Proposal {
        schema: SCHEMA,
        group_id: GROUP.into(),
        region: "eu-west-1".into(),
        vpc_id: None,
        days: 14,
        window: Window { start: 0, end: 14 * 86_400 },
        ip_ranges: "2026-11-01-00-00-00".into(),
        interfaces: vec![],
        rules: rules.iter().map(|r| Proposed { rule: rule(r), flows: 1, basis: Basis::Observed }).collect(),
        already_allowed: 0,
        merges: vec![],
        gaps,
        unlogged: UNLOGGED,
        open_rules: vec![rule("all traffic to 0.0.0.0/0")],
        quota: Quota { limit: 60, ipv4: 1, ipv6: 0 },
        authorize_command: None,
        revoke_command: None,
    }
}

fn open_group() -> FakeGroups {
    FakeGroups::with([group(GROUP, vec![rule("all traffic to 0.0.0.0/0")])])
}

fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

#[test]
fn a_proposal_with_a_gap_is_refused_and_the_group_is_not_touched() {
    let groups = open_group();
    let gap = Gap::FewerDays { interface_id: "eni-0a".into(), days: 3, asked: 14 };
    let applied =
        run(apply(&proposal(&["tcp 443 to 203.0.113.0/24"], vec![gap.clone()]), false, false, &groups)).unwrap();
    assert_eq!(applied, Applied::Refused { gaps: vec![gap], accepted: true });
    assert!(groups.calls().is_empty(), "{:?}", groups.calls());
}

#[test]
fn a_gap_that_hides_traffic_is_refused_even_when_gaps_are_accepted() {
    let groups = open_group();
    let gap = Gap::NoFlowLogs { interface_id: "eni-0a".into() };
    let applied =
        run(apply(&proposal(&["tcp 443 to 203.0.113.0/24"], vec![gap.clone()]), true, false, &groups)).unwrap();
    assert_eq!(applied, Applied::Refused { gaps: vec![gap], accepted: false });
    assert!(groups.calls().is_empty(), "{:?}", groups.calls());
}

#[test]
fn an_applied_proposal_is_authorized_and_seen_on_the_group_before_it_is_applied() {
    let groups = open_group();
    let wanted = ["tcp 443 to 203.0.113.0/24", "udp 123 to 198.51.100.7/32"];
    let applied = run(apply(&proposal(&wanted, vec![]), false, false, &groups)).unwrap();
    assert_eq!(applied, Applied::Applied);
    assert_eq!(groups.calls(), [format!("authorize {GROUP} 2"), format!("describe {GROUP}")]);
    for r in wanted {
        assert!(groups.egress(GROUP).contains(&rule(r)), "{r} not on the group");
    }
}

#[test]
fn rules_that_never_show_are_not_visible_after_every_look_and_nothing_is_revoked() {
    let groups = FakeGroups { hide_authorized: true, ..open_group() };
    let applied = run(apply(&proposal(&["tcp 443 to 203.0.113.0/24"], vec![]), false, false, &groups)).unwrap();
    assert_eq!(applied, Applied::NotVisible { missing: vec![rule("tcp 443 to 203.0.113.0/24")] });
    let calls = groups.calls();
    // One authorize, then the first look and one more after each of the four settles.
    assert_eq!(calls.iter().filter(|c| c.starts_with("describe")).count(), 5, "{calls:?}");
    assert_eq!(calls.iter().filter(|c| c.starts_with("settle")).count(), 4, "{calls:?}");
    assert!(!calls.iter().any(|c| c.starts_with("revoke")), "{calls:?}");
    assert_eq!(groups.egress(GROUP), vec![rule("all traffic to 0.0.0.0/0")]);
}

#[test]
fn a_dry_run_decides_as_apply_would_and_calls_nothing() {
    let groups = open_group();
    let applied = run(apply(&proposal(&["tcp 443 to 203.0.113.0/24"], vec![]), false, true, &groups)).unwrap();
    assert_eq!(applied, Applied::DryRun);
    assert!(groups.calls().is_empty(), "a dry run calls nothing: {:?}", groups.calls());
    let gap = Gap::FewerDays { interface_id: "eni-0a".into(), days: 3, asked: 14 };
    let applied =
        run(apply(&proposal(&["tcp 443 to 203.0.113.0/24"], vec![gap.clone()]), false, true, &groups)).unwrap();
    assert_eq!(applied, Applied::Refused { gaps: vec![gap], accepted: true }, "refused as without the dry run");
    assert!(groups.calls().is_empty(), "{:?}", groups.calls());
}
