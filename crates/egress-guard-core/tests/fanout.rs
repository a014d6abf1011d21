//! The scheduled fan-out and the queued sweeps over in-memory fakes: which (account, region) requests a schedule
//! queues (named members, every member listed, members without the role), what fails the invocation so that the
//! alarm fires, what a queued request may sweep, and a sweep cut short queueing its next run.

mod common;

use std::collections::BTreeSet;

use common::{FakeAccounts, FakeNotifier, FakeQueue, FakeReach, FakeTable, event, group, rule};
use egress_guard_core::{
    Error, Fanout, Home, Incoming, Invocation, InvocationReport, MAX_SWEEP_RUNS, Members, Organization, Settings,
    SweepRequest, invoke, parse_event,
};

const HOME: &str = "123456789012";
const MEMBER_A: &str = "111111111111";
const MEMBER_B: &str = "222222222222";

fn home() -> Home {
    Home::from_function_arn(&format!("arn:aws:lambda:eu-west-1:{HOME}:function:egress-guard")).unwrap()
}

fn org(members: Members) -> Settings {
    let organization = Organization { role_name: "egress-guard-remediation".into(), members };
    Settings { organization: Some(organization), ..Settings::default() }
}

fn named(accounts: &[&str]) -> Members {
    Members::Only(accounts.iter().map(|a| (*a).to_owned()).collect::<BTreeSet<_>>())
}

fn regions() -> Vec<String> {
    vec!["eu-west-1".into(), "us-east-1".into()]
}

/// The schedule through `invoke` with the queue and accounts given; the requests queued, as `account/region`.
fn schedule(settings: &Settings, queue: &FakeQueue, accounts: &FakeAccounts) -> (Invocation, Vec<String>) {
    let incoming = Incoming::Schedule(parse_event(&event("scheduled-sweep")).unwrap());
    let (reach, notifier, table) = (FakeReach::default(), FakeNotifier::default(), FakeTable::default());
    let regions = regions();
    let fanout = Some(Fanout { queue, accounts, regions: &regions });
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let home = home();
    let invocation = rt.block_on(invoke(incoming, settings, Some(&home), (&reach, &notifier, &table), fanout, || true));
    assert!(reach.reached().is_empty(), "the fan-out reads no group: {:?}", reach.reached());
    let queued = queue.sent.lock().unwrap().iter().map(|r| format!("{}/{}", r.account, r.region)).collect();
    (invocation, queued)
}

fn places(accounts: &[&str]) -> Vec<String> {
    accounts.iter().flat_map(|a| regions().into_iter().map(move |r| format!("{a}/{r}"))).collect()
}

#[test]
fn a_schedule_queues_the_home_account_and_each_named_member_in_every_region() {
    let (queue, accounts) = (FakeQueue::default(), FakeAccounts::default());
    let (invocation, queued) = schedule(&org(named(&[MEMBER_B, MEMBER_A])), &queue, &accounts);
    assert_eq!(queued, places(&[HOME, MEMBER_A, MEMBER_B]));
    let Ok(InvocationReport::Dispatch(report)) = invocation.result else { panic!("{invocation:?}") };
    assert_eq!((report.queued, report.without_role), (places(&[HOME, MEMBER_A, MEMBER_B]), vec![]));
    assert!(accounts.tried.lock().unwrap().is_empty(), "named members are not probed");
    let of: BTreeSet<(u32, u32)> = queue.sent.lock().unwrap().iter().map(|r| (r.index, r.of)).collect();
    assert_eq!(of, (0..6).map(|i| (i, 6)).collect(), "each request's place among the schedule's six");
}

#[test]
fn every_member_is_listed_and_one_without_the_role_is_left_out_and_named() {
    let queue = FakeQueue::default();
    let accounts = FakeAccounts {
        listed: Some(vec![MEMBER_A.into(), MEMBER_B.into()]),
        denied: vec![MEMBER_B.into()],
        ..Default::default()
    };
    let (invocation, queued) = schedule(&org(Members::Any), &queue, &accounts);
    assert_eq!(queued, places(&[HOME, MEMBER_A]));
    let Ok(InvocationReport::Dispatch(report)) = invocation.result else { panic!("{invocation:?}") };
    assert_eq!(report.without_role, vec![MEMBER_B.to_owned()]);
    let tried = accounts.tried.lock().unwrap().clone();
    assert_eq!(
        tried,
        [MEMBER_A, MEMBER_B].map(|a| format!("arn:aws:iam::{a}:role/egress-guard-remediation")),
        "each member's role probed once, the home account's never"
    );
}

#[test]
fn members_unlisted_or_all_denied_still_sweep_home_and_fail_the_invocation() {
    for accounts in [
        FakeAccounts { listed: None, ..Default::default() },
        FakeAccounts { listed: Some(vec![MEMBER_A.into()]), denied: vec![MEMBER_A.into()], ..Default::default() },
    ] {
        let queue = FakeQueue::default();
        let (invocation, queued) = schedule(&org(Members::Any), &queue, &accounts);
        assert_eq!(queued, places(&[HOME]), "{accounts:?}");
        let Err(Error::Dispatch { source }) = invocation.result else { panic!("{invocation:?}") };
        assert!(source.to_string().contains("only this account's sweeps were queued"), "{source}");
    }
}

#[test]
fn a_queue_that_refuses_fails_the_schedule() {
    let queue = FakeQueue { fail: true, ..Default::default() };
    let (invocation, queued) = schedule(&Settings::default(), &queue, &FakeAccounts::default());
    assert!(queued.is_empty());
    assert!(matches!(invocation.result, Err(Error::Dispatch { .. })), "{invocation:?}");
}

fn request(account: &str, region: &str, run: u32) -> SweepRequest {
    SweepRequest {
        schedule_id: "5c2f8a71".into(),
        time: "2026-11-25T06:00:00Z".into(),
        account: account.into(),
        region: region.into(),
        run,
        index: 0,
        of: 0,
    }
}

/// `requests` delivered as one SQS batch, over `reach`, with the time budget `budget` (groups a sweep may start).
fn deliver(
    requests: &[SweepRequest],
    settings: &Settings,
    reach: &FakeReach,
    queue: &FakeQueue,
    budget: usize,
) -> Invocation {
    let records: Vec<serde_json::Value> = requests
        .iter()
        .map(|r| serde_json::json!({"eventSource": "aws:sqs", "body": serde_json::to_string(r).unwrap()}))
        .collect();
    let incoming = Incoming::parse(serde_json::json!({ "Records": records })).unwrap();
    let (notifier, table, accounts) = (FakeNotifier::default(), FakeTable::default(), FakeAccounts::default());
    let regions = regions();
    let fanout = Some(Fanout { queue, accounts: &accounts, regions: &regions });
    let left = std::cell::Cell::new(budget);
    let has_time = || left.replace(left.get().saturating_sub(1)) > 0;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let home = home();
    rt.block_on(invoke(incoming, settings, Some(&home), (reach, &notifier, &table), fanout, has_time))
}

#[test]
fn a_queued_request_for_an_account_or_region_the_fan_out_would_not_queue_reaches_nothing() {
    let reach = FakeReach::default();
    let settings = org(named(&[MEMBER_A]));
    let stranger = request("333333333333", "eu-west-1", 1);
    let unguarded = request(MEMBER_A, "ap-south-1", 1);
    let invocation = deliver(&[stranger, unguarded], &settings, &reach, &FakeQueue::default(), 100);
    let Ok(InvocationReport::Sweeps(reports)) = invocation.result else { panic!("{invocation:?}") };
    assert!(reports.is_empty());
    assert!(reach.reached().is_empty(), "no group read, no role assumed: {:?}", reach.reached());
}

#[test]
fn a_member_request_is_swept_through_its_role_and_the_home_request_with_the_functions_own_credentials() {
    let open = || vec![group("sg-0000000000000000a", vec![rule("all traffic to 0.0.0.0/0")])];
    let reach = FakeReach::with([(format!("{MEMBER_A}/us-east-1"), open()), ("own/eu-west-1".to_owned(), open())]);
    let requests = [request(MEMBER_A, "us-east-1", 1), request(HOME, "eu-west-1", 1)];
    let invocation = deliver(&requests, &org(named(&[MEMBER_A])), &reach, &FakeQueue::default(), 100);
    let Ok(InvocationReport::Sweeps(reports)) = invocation.result else { panic!("{invocation:?}") };
    assert_eq!(reach.reached(), [format!("{MEMBER_A}/us-east-1"), "own/eu-west-1".to_owned()]);
    assert_eq!(reports.iter().map(|r| r.acted()).collect::<Vec<_>>(), [1, 1]);
    for place in [format!("{MEMBER_A}/us-east-1"), "own/eu-west-1".to_owned()] {
        assert!(reach.groups(&place).0.egress("sg-0000000000000000a").is_empty(), "{place} revoked");
    }
}

#[test]
fn a_sweep_cut_short_queues_its_next_run_until_the_last() {
    let groups = (0..3).map(|i| group(&format!("sg-000000000000000{i}a"), vec![rule("all traffic to ::/0")])).collect();
    let reach = FakeReach::with([("own/eu-west-1".to_owned(), groups)]);
    let queue = FakeQueue::default();
    let invocation = deliver(&[request(HOME, "eu-west-1", 1)], &Settings::default(), &reach, &queue, 1);
    let Ok(InvocationReport::Sweeps(reports)) = invocation.result else { panic!("{invocation:?}") };
    assert!(!reports[0].complete);
    let next: Vec<u32> = queue.sent.lock().unwrap().iter().map(|r| r.run).collect();
    assert_eq!(next, [2], "the next run queued once");
    let last = FakeQueue::default();
    deliver(&[request(HOME, "eu-west-1", MAX_SWEEP_RUNS)], &Settings::default(), &reach, &last, 0);
    assert!(last.sent.lock().unwrap().is_empty(), "the last run queues none");
}
