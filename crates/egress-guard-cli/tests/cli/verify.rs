//! `verify` against moto, with the test playing CloudTrail and EventBridge: each authorize the CLI makes becomes the
//! matching `AuthorizeSecurityGroupEgress` event handed to the Lambda's handler a moment later (or never, for a region
//! whose events are lost); the handler's notices go through the real topic to the CLI's own queue. Whatever the end
//! (revoked, timed out, interrupted), no verify group, queue or subscription is left.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use egress_guard_aws::{Ec2SecurityGroups, SnsNotifier};
use egress_guard_core::{NoHistory, Settings};
use egress_guard_lambda::handle;
use egress_guard_tests::{Counted, World, event_in};
use serde_json::Value;

const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];
const TAG: &str = "egress-guard:verify";

/// The verify groups of `region` (by their tag), and which have tcp 9 open to `0.0.0.0/0`.
async fn canaries(w: &World, region: &str) -> Vec<(String, bool)> {
    let filter = aws_sdk_ec2::types::Filter::builder().name("tag-key").values(TAG).build();
    let out = w.ec2_in(region).describe_security_groups().filters(filter).send().await.unwrap();
    out.security_groups()
        .iter()
        .map(|g| {
            let open = g.ip_permissions_egress().iter().any(|p| {
                p.ip_protocol() == Some("tcp")
                    && p.from_port() == Some(9)
                    && p.ip_ranges().iter().any(|r| r.cidr_ip() == Some("0.0.0.0/0"))
            });
            (g.group_id().unwrap().to_owned(), open)
        })
        .collect()
}

/// CloudTrail and EventBridge, played for `regions` until `done`: every verify group with the probe open becomes, once,
/// the event its authorize makes, handed to the handler (which revokes and publishes to `topic`). Answers the groups
/// handed over.
async fn play(w: &World, topic: &str, regions: &[&str], done: &AtomicBool) -> BTreeSet<String> {
    let mut handed = BTreeSet::new();
    while !done.load(Ordering::SeqCst) {
        for region in regions {
            for (group, open) in canaries(w, region).await {
                if open && handed.insert(group.clone()) {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let event = event_in("authorize-egress-open-ipv4", &group, "123456789012", region);
                    let groups = Counted::new(Ec2SecurityGroups::new(w.ec2_in(region)));
                    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&w.config), topic);
                    let answer =
                        handle(event, &Settings::default(), None, (&groups, &notifier, &NoHistory), || true).await;
                    assert!(answer.result.is_ok(), "{:?}", answer.result);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    handed
}

/// Runs `egress-guard` with `args` in the background while `play` plays `regions`; `interrupt` sends it SIGINT once
/// its groups exist. Answers (exit code, stdout, stderr) and the groups handed over.
async fn verify(
    w: &World,
    topic: &str,
    regions: &[&str],
    args: &[&str],
    interrupt: bool,
) -> (i32, String, String, BTreeSet<String>) {
    let child = Command::new(env!("CARGO_BIN_EXE_egress-guard"))
        .args(args)
        .env_clear()
        .envs(w.moto.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let done = AtomicBool::new(false);
    let waited = Mutex::new(None);
    let run = async {
        if interrupt {
            while canaries(w, REGIONS[0]).await.is_empty() || canaries(w, REGIONS[1]).await.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let killed = Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
            assert!(killed.success());
        }
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
        *waited.lock().unwrap() = Some(out);
        done.store(true, Ordering::SeqCst);
    };
    let (_, handed) = tokio::join!(run, play(w, topic, regions, &done));
    let out = waited.into_inner().unwrap().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr), handed)
}

/// No verify group in either region, no verify queue, and the topic's only subscription the test's own.
async fn nothing_left(w: &World, topic: &str) {
    for region in REGIONS {
        assert_eq!(canaries(w, region).await, vec![], "a verify group left in {region}");
    }
    let queues = w.sqs.list_queues().queue_name_prefix("egress-guard-verify-").send().await.unwrap();
    assert_eq!(queues.queue_urls(), &[] as &[String], "a verify queue left");
    let subscriptions = w.sns.list_subscriptions_by_topic().topic_arn(topic).send().await.unwrap();
    assert_eq!(subscriptions.subscriptions().len(), 1, "only the test's own: {:?}", subscriptions.subscriptions());
}

fn regions_of(stdout: &str) -> Vec<Value> {
    let report: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(report["schema"], "egress-guard.verify/v1");
    report["regions"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_regions_are_revoked_with_their_figures_and_notices_and_nothing_is_left() {
    let w = World::start().await;
    let (topic, _) = w.topic_with_queue().await;
    let args =
        ["verify", "--topic-arn", &topic, "--regions", "eu-west-1,us-east-1", "--timeout", "60", "--format", "json"];
    let (code, stdout, stderr, handed) = verify(&w, &topic, &REGIONS, &args, false).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    eprintln!("verify's report:\n{stdout}");
    let regions = regions_of(&stdout);
    assert_eq!(regions.len(), 2);
    for (r, region) in regions.iter().zip(REGIONS) {
        assert_eq!(
            (r["region"].as_str(), r["outcome"].as_str(), &r["notice"]),
            (Some(region), Some("revoked"), &Value::Bool(true)),
            "{r}"
        );
        assert!(handed.contains(r["group_id"].as_str().unwrap()), "the group the test revoked: {r}");
        let seconds = r["seconds_to_revoke"].as_f64().expect("a figure");
        assert!((0.0..60.0).contains(&seconds), "{r}");
        assert_eq!(r["error"], Value::Null);
    }
    nothing_left(&w, &topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_whose_events_are_lost_is_not_revoked_within_the_timeout_and_the_other_is() {
    let w = World::start().await;
    let (topic, _) = w.topic_with_queue().await;
    let args =
        ["verify", "--topic-arn", &topic, "--regions", "eu-west-1,us-east-1", "--timeout", "8", "--format", "json"];
    // us-east-1's events never reach the function.
    let (code, stdout, stderr, handed) = verify(&w, &topic, &["eu-west-1"], &args, false).await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let regions = regions_of(&stdout);
    let outcome = |i: usize| (regions[i]["outcome"].as_str().unwrap(), regions[i]["notice"].as_bool().unwrap());
    assert_eq!((outcome(0), outcome(1)), (("revoked", true), ("not_revoked", false)), "{stdout}");
    assert_eq!(regions[1]["seconds_to_revoke"], Value::Null);
    assert_eq!(handed.len(), 1);
    nothing_left(&w, &topic).await;

    let args = ["verify", "--topic-arn", &topic, "--regions", "eu-west-1,us-east-1", "--timeout", "8"];
    let (code, stdout, _, _) = verify(&w, &topic, &["eu-west-1"], &args, false).await;
    assert_eq!(code, 1);
    assert!(
        stdout.contains("us-east-1: NOT REVOKED within the timeout") && stdout.contains("check that a trail logs"),
        "{stdout}"
    );
    nothing_left(&w, &topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_midway_leaves_nothing_and_exits_two() {
    let w = World::start().await;
    let (topic, _) = w.topic_with_queue().await;
    let args =
        ["verify", "--topic-arn", &topic, "--regions", "eu-west-1,us-east-1", "--timeout", "600", "--format", "json"];
    let (code, stdout, stderr, _) = verify(&w, &topic, &[], &args, true).await;
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(regions_of(&stdout).iter().all(|r| r["outcome"] == "error"), "{stdout}");
    nothing_left(&w, &topic).await;
}

#[test]
fn bad_input_is_an_error_before_any_aws_call() {
    let moto = egress_guard_tests::Moto::start();
    for args in [
        vec!["verify", "--topic-arn", "egress-guard"],
        vec!["verify", "--topic-arn", "arn:aws:sns:eu-west-1:123456789012:t", "--vpc-id", "vpc-zz"],
        vec!["verify", "--topic-arn", "arn:aws:sns:eu-west-1:123456789012:t", "--regions", "Mars"],
    ] {
        let from = moto.calls().len();
        let (code, _, stderr) = super::egress_guard(&moto, &args);
        assert_eq!(code, 2, "{args:?}");
        assert!(stderr.starts_with("egress-guard: --"), "{stderr}");
        assert_eq!(moto.calls().len(), from, "no AWS call: {args:?}");
    }
}
