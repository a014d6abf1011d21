//! The kill switch on moto's DynamoDB: paused, an open group stays open and its notice says so (and who paused);
//! resumed, the next event closes it; a pause of other regions leaves this one enforcing; a switch that cannot be read
//! does nothing and fails the invocation, so that the event is kept and the alarm fires; a write from a stale read is
//! refused.

use egress_guard_aws::{DynamoHistory, Ec2SecurityGroups, SnsNotifier};
use egress_guard_core::{Outcome, Pause, Settings};
use egress_guard_lambda::{InvocationReport, handle};
use egress_guard_tests::{Counted, REGION, World, event_for, perm};

struct Case {
    world: World,
    history: DynamoHistory,
    groups: Counted<Ec2SecurityGroups>,
    notifier: SnsNotifier,
    notices: String,
    group: String,
}

impl Case {
    async fn new() -> Case {
        let world = World::start().await;
        let vpc = world.dual_stack_vpc().await;
        let group = world.group_with(&vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
        let table = world.history_table().await;
        let history = DynamoHistory::new(aws_sdk_dynamodb::Client::new(&world.config), &table);
        let (topic, notices) = world.topic_with_queue().await;
        let groups = Counted::new(Ec2SecurityGroups::new(aws_sdk_ec2::Client::new(&world.config)));
        let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&world.config), &topic);
        Case { world, history, groups, notifier, notices, group }
    }

    async fn event(&self) -> (Result<Outcome, String>, Vec<serde_json::Value>) {
        let event = event_for("authorize-egress-open-ipv4", &self.group);
        let ports = (&self.groups, &self.notifier, &self.history);
        let invocation = handle(event, &Settings::default(), None, ports, || true).await;
        let outcome = match invocation.result {
            Ok(InvocationReport::Event(report)) => Ok(report.results[0].outcome),
            Ok(other) => panic!("{other:?}"),
            Err(err) => Err(err.to_string()),
        };
        (outcome, self.world.notices(&self.notices).await)
    }

    async fn open(&self) -> bool {
        self.world.egress(&self.group).await.iter().any(|r| r.ends_with("0.0.0.0/0"))
    }
}

fn pause(regions: Option<&[&str]>) -> Pause {
    Pause {
        regions: regions.map(|r| r.iter().map(|s| s.to_string()).collect()),
        by: "arn:aws:iam::123456789012:user/oncall".into(),
        at: "2026-12-03T07:00:00Z".into(),
        reason: Some("INC-42".into()),
    }
}

#[tokio::test]
async fn paused_an_open_group_stays_open_and_says_so_then_resumed_the_next_event_closes_it() {
    let c = Case::new().await;
    c.history.set_pause(Some(&pause(None)), None).await.unwrap();
    let (outcome, notices) = c.event().await;
    assert_eq!(outcome, Ok(Outcome::DryRun));
    assert!(c.open().await, "paused: nothing revoked");
    assert_eq!(notices.len(), 1);
    assert!(notices[0]["Subject"].as_str().unwrap().contains("[paused] Would revoke 1"), "{}", notices[0]);
    let text = notices[0]["Message"].as_str().unwrap();
    assert!(text.contains("PAUSED in every region by arn:aws:iam::123456789012:user/oncall"), "{text}");
    assert!(text.contains("(INC-42)"), "{text}");

    c.history.set_pause(None, Some(&pause(None))).await.unwrap();
    let (outcome, notices) = c.event().await;
    assert_eq!(outcome, Ok(Outcome::Remediated));
    assert!(!c.open().await, "resumed: revoked");
    assert!(!notices[0]["Message"].as_str().unwrap().contains("PAUSED"));
}

#[tokio::test]
async fn a_pause_of_other_regions_leaves_this_one_enforcing() {
    let c = Case::new().await;
    assert_ne!(REGION, "us-east-1");
    c.history.set_pause(Some(&pause(Some(&["us-east-1"]))), None).await.unwrap();
    let (outcome, _) = c.event().await;
    assert_eq!(outcome, Ok(Outcome::Remediated));
    assert!(!c.open().await);
}

#[tokio::test]
async fn a_switch_that_cannot_be_read_does_nothing_and_fails_the_invocation() {
    let c = Case::new().await;
    // DynamoDB throttles every attempt the client makes.
    c.world.moto.inject_json_error("GetItem", 8, "ProvisionedThroughputExceededException");
    let (outcome, notices) = c.event().await;
    let err = outcome.unwrap_err();
    assert!(err.contains("pause switch could not be read"), "{err}");
    assert!(c.open().await, "nothing revoked while a pause may hold");
    assert!(notices.is_empty(), "{notices:?}");
}

/// Two operators at once: a write is made only if the switch still holds what its writer read, so a resume read
/// before another's pause cannot delete that pause unseen.
#[tokio::test]
async fn a_write_from_a_stale_read_is_refused_and_the_pause_stands() {
    let c = Case::new().await;
    let first = pause(Some(&["eu-west-1"]));
    c.history.set_pause(Some(&first), None).await.unwrap();
    // Another operator read "eu-west-1 paused", and meanwhile every region was paused.
    let every = pause(None);
    c.history.set_pause(Some(&every), Some(&first)).await.unwrap();
    let stale = c.history.set_pause(None, Some(&first)).await.unwrap_err();
    assert_eq!(stale.code(), "ConditionalCheckFailedException", "{stale}");
    let stale = c.history.set_pause(Some(&first), None).await.unwrap_err();
    assert_eq!(stale.code(), "ConditionalCheckFailedException", "{stale}");
    assert_eq!(c.history.paused().await.unwrap(), Some(every));
    let (outcome, _) = c.event().await;
    assert_eq!(outcome, Ok(Outcome::DryRun), "still paused");
}
