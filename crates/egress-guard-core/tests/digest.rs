//! A schedule's digest over in-memory fakes: its sweeps' shares gathered into one message sent by the sweep that
//! completes the schedule, and what happens when the table or the topic fails: nothing revoked goes untold.

mod common;

use common::{FakeAccounts, FakeNotifier, FakeQueue, FakeReach, FakeTable, group, rule};
use egress_guard_core::{Error, Fanout, Home, Incoming, Invocation, MAX_RECEIVES, Settings, SweepRequest, invoke};

const HOME: &str = "123456789012";
const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "us-west-2"];

fn request(index: u32, region: &str) -> SweepRequest {
    SweepRequest {
        schedule_id: "5c2f8a71".into(),
        time: "2026-11-25T06:00:00Z".into(),
        account: HOME.into(),
        region: region.into(),
        run: 1,
        index,
        of: REGIONS.len() as u32,
    }
}

/// Each region with one group open to the world.
fn reach() -> FakeReach {
    FakeReach::with(REGIONS.map(|r| {
        (format!("own/{r}"), vec![group(&format!("sg-{:0>17}", r.len()), vec![rule("all traffic to 0.0.0.0/0")])])
    }))
}

/// `request` delivered alone (its `receives`-th delivery) over the fakes.
fn deliver(
    request: &SweepRequest,
    receives: u32,
    reach: &FakeReach,
    notifier: &FakeNotifier,
    table: &FakeTable,
) -> Invocation {
    let body = serde_json::to_string(request).unwrap();
    let attributes = serde_json::json!({"ApproximateReceiveCount": receives.to_string()});
    let event = serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": body, "attributes": attributes}]});
    let (queue, accounts) = (FakeQueue::default(), FakeAccounts::default());
    let regions: Vec<String> = REGIONS.map(str::to_owned).to_vec();
    let fanout = Some(Fanout { queue: &queue, accounts: &accounts, regions: &regions });
    let home = Home::from_function_arn(&format!("arn:aws:lambda:eu-west-1:{HOME}:function:egress-guard")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let incoming = Incoming::parse(event).unwrap();
    rt.block_on(invoke(incoming, &Settings::default(), Some(&home), (reach, notifier, table), fanout, || true))
}

fn subjects(notifier: &FakeNotifier) -> Vec<String> {
    notifier.sent().into_iter().map(|s| s.subject).collect()
}

#[test]
fn the_sweep_that_completes_the_schedule_sends_one_digest_naming_every_region() {
    let (reach, notifier, table) = (reach(), FakeNotifier::default(), FakeTable::default());
    for (i, region) in REGIONS.iter().enumerate().take(2) {
        deliver(&request(i as u32, region), 1, &reach, &notifier, &table).result.unwrap();
        assert!(notifier.sent().is_empty(), "nothing sent before the schedule is complete");
    }
    deliver(&request(2, REGIONS[2]), 1, &reach, &notifier, &table).result.unwrap();
    let sent = notifier.sent();
    assert_eq!(sent.len(), 1, "{:?}", subjects(&notifier));
    assert!(sent[0].subject.starts_with("egress-guard digest"), "{}", sent[0].subject);
    for region in REGIONS {
        assert!(sent[0].text.contains(region), "{region} named:\n{}", sent[0].text);
    }
    assert!(table.sent.lock().unwrap().contains("5c2f8a71"), "marked sent");
}

#[test]
fn a_redelivery_after_the_digest_went_out_reports_on_its_own() {
    let (reach, notifier, table) = (reach(), FakeNotifier::default(), FakeTable::default());
    table.sent.lock().unwrap().insert("5c2f8a71".into());
    deliver(&request(0, REGIONS[0]), 2, &reach, &notifier, &table).result.unwrap();
    let subjects = subjects(&notifier);
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert!(!subjects[0].contains("digest") && subjects[0].contains(REGIONS[0]), "its own report: {subjects:?}");
}

#[test]
fn a_share_not_kept_sends_the_sweeps_own_report_and_fails_for_a_redelivery() {
    let (reach, notifier, table) = (reach(), FakeNotifier::default(), FakeTable::default());
    *table.fail_add.lock().unwrap() = 1;
    let invocation = deliver(&request(0, REGIONS[0]), 1, &reach, &notifier, &table);
    assert!(matches!(invocation.result, Err(Error::Dispatch { .. })), "{invocation:?}");
    let subjects = subjects(&notifier);
    assert_eq!(subjects.len(), 1, "the revoke is told at once: {subjects:?}");
    assert!(subjects[0].contains(REGIONS[0]), "{subjects:?}");
}

#[test]
fn a_digest_that_cannot_be_published_gives_its_claim_back_and_the_redelivery_sends_it() {
    let (reach, table) = (reach(), FakeTable::default());
    let quiet = FakeNotifier::default();
    for (i, region) in REGIONS.iter().enumerate().take(2) {
        deliver(&request(i as u32, region), 1, &reach, &quiet, &table).result.unwrap();
    }
    let down = FakeNotifier { fail: true, ..Default::default() };
    let invocation = deliver(&request(2, REGIONS[2]), 1, &reach, &down, &table);
    assert!(matches!(invocation.result, Err(Error::NotifySummary { .. })), "{invocation:?}");
    assert_eq!(*table.released.lock().unwrap(), 1, "the claim given back");
    let up = FakeNotifier::default();
    deliver(&request(2, REGIONS[2]), 2, &reach, &up, &table).result.unwrap();
    let sent = up.sent();
    assert_eq!(sent.len(), 1, "{:?}", subjects(&up));
    for region in REGIONS {
        assert!(sent[0].text.contains(region), "{region} named:\n{}", sent[0].text);
    }
}

#[test]
fn a_sweep_failing_its_last_delivery_is_named_failed_in_the_digest() {
    let (reach, notifier, table) = (reach(), FakeNotifier::default(), FakeTable::default());
    for (i, region) in REGIONS.iter().enumerate().take(2) {
        deliver(&request(i as u32, region), 1, &reach, &notifier, &table).result.unwrap();
    }
    let broken = FakeReach::default();
    // The third region's list fails: its groups cannot be read.
    let failing = std::sync::Arc::new(common::FakeGroups { fail_list: true, ..Default::default() });
    broken.places.lock().unwrap().insert(format!("own/{}", REGIONS[2]), common::SharedGroups(failing));
    let invocation = deliver(&request(2, REGIONS[2]), MAX_RECEIVES, &broken, &notifier, &table);
    assert!(invocation.result.is_err(), "the sweep itself failed: {invocation:?}");
    let sent = notifier.sent();
    assert_eq!(sent.len(), 1, "{:?}", subjects(&notifier));
    assert!(sent[0].text.contains(REGIONS[2]) && sent[0].text.to_lowercase().contains("fail"), "{}", sent[0].text);
}

#[test]
fn a_refused_request_is_counted_so_that_the_digest_is_not_held() {
    let (reach, notifier, table) = (reach(), FakeNotifier::default(), FakeTable::default());
    for (i, region) in REGIONS.iter().enumerate().take(2) {
        deliver(&request(i as u32, region), 1, &reach, &notifier, &table).result.unwrap();
    }
    let stranger = SweepRequest { account: "333333333333".into(), ..request(2, REGIONS[2]) };
    deliver(&stranger, 1, &reach, &notifier, &table).result.unwrap();
    let sent = notifier.sent();
    assert_eq!(sent.len(), 1, "{:?}", subjects(&notifier));
    assert!(sent[0].text.contains("not swept"), "{}", sent[0].text);
    assert_eq!(reach.reached().len(), 2, "the stranger's request reached nothing");
}
