//! `pause` and `resume` against moto, with the Lambda's handler in between: paused, an open group stays open and its
//! notice says who paused and why, and `fix` given the table leaves it open too; `resume --dry-run` changes nothing; resumed, the next event closes it; each
//! change told on the topic; a resume with nothing paused exits 1; a bad region exits 2 with no AWS call.

use egress_guard_aws::{DynamoHistory, Ec2SecurityGroups, SnsNotifier};
use egress_guard_core::{Outcome, Settings};
use egress_guard_lambda::{InvocationReport, handle};
use egress_guard_tests::{Counted, World, event_for, perm};

use super::egress_guard;

async fn event(w: &World, group: &str, table: &str, topic: &str) -> Outcome {
    let history = DynamoHistory::new(aws_sdk_dynamodb::Client::new(&w.config), table);
    let groups = Counted::new(Ec2SecurityGroups::new(aws_sdk_ec2::Client::new(&w.config)));
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&w.config), topic);
    let ports = (&groups, &notifier, &history);
    let answer =
        handle(event_for("authorize-egress-open-ipv4", group), &Settings::default(), None, ports, || true).await;
    let Ok(InvocationReport::Event(report)) = answer.result else { panic!("{:?}", answer.result) };
    report.results[0].outcome
}

#[tokio::test]
async fn pause_holds_the_function_to_a_dry_run_until_resume_and_each_change_is_told() {
    let w = World::start().await;
    let vpc = w.dual_stack_vpc().await;
    let group = w.group_with(&vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let table = w.history_table().await;
    let (topic, notices) = w.topic_with_queue().await;
    let switch = ["--history-table", &table, "--topic-arn", &topic];

    let (code, stdout, stderr) = egress_guard(&w.moto, &[&["pause", "--reason", "INC-7"][..], &switch[..]].concat());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("PAUSED in every region by arn:aws:"), "{stdout}");
    let told = w.notices(&notices).await;
    assert_eq!(told.len(), 1);
    assert!(told[0]["Subject"].as_str().unwrap().starts_with("egress-guard: PAUSED in every region by"), "{}", told[0]);

    assert_eq!(event(&w, &group, &table, &topic).await, Outcome::DryRun);
    assert!(w.egress(&group).await.iter().any(|r| r.ends_with("0.0.0.0/0")), "paused: left open");
    // The CLI's own revokes, given the table, honour the pause too.
    let (code, stdout, stderr) = egress_guard(&w.moto, &["fix", "--group-id", &group, "--history-table", &table]);
    assert_eq!(code, 1, "a dry run that finds open egress: {stderr}\n{stdout}");
    assert!(stderr.contains("PAUSED in every region") && stderr.contains("A dry run: nothing is revoked."), "{stderr}");
    assert!(w.egress(&group).await.iter().any(|r| r.ends_with("0.0.0.0/0")), "fix under a pause: left open");
    let told = w.notices(&notices).await;
    assert!(told[0]["Message"].as_str().unwrap().contains("(INC-7): nothing is revoked"), "{}", told[0]);

    let (code, stdout, _) = egress_guard(&w.moto, &[&["resume", "--dry-run"][..], &switch[..]].concat());
    assert_eq!(code, 0);
    assert!(stdout.starts_with("Dry run: would resume."), "{stdout}");
    assert_eq!(event(&w, &group, &table, &topic).await, Outcome::DryRun, "a dry-run resume changed nothing");
    w.notices(&notices).await;

    let (code, _, stderr) = egress_guard(&w.moto, &[&["resume"][..], &switch[..]].concat());
    assert_eq!(code, 0, "{stderr}");
    let told = w.notices(&notices).await;
    assert!(
        told[0]["Subject"].as_str().unwrap().starts_with("egress-guard: RESUMED in every region by"),
        "{}",
        told[0]
    );
    assert_eq!(event(&w, &group, &table, &topic).await, Outcome::Remediated);
    assert!(w.egress(&group).await.is_empty(), "resumed: revoked");

    let (code, stdout, _) = egress_guard(&w.moto, &[&["resume"][..], &switch[..]].concat());
    assert_eq!((code, stdout.trim()), (1, "Not paused: nothing to resume."));
}

#[tokio::test]
async fn pause_with_a_bad_region_is_refused_before_any_aws_call() {
    let w = World::start().await;
    let (code, _, stderr) =
        egress_guard(&w.moto, &["pause", "--history-table", "t", "--regions", "eu-west-1,Not A Region"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("\"Not A Region\" is not a region name"), "{stderr}");
    assert!(w.moto.calls().is_empty(), "{:?}", w.moto.calls());
}
