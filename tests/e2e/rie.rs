//! The release `bootstrap` (as `sam build` builds it) under the Lambda Runtime Interface Emulator, against moto:
//! every sample event, init failures that name the bad variable, and the sweep fan-out through SQS.

use aws_sdk_ec2::types::IpPermission;
use egress_guard_tests::{Moto, Rie, World, bootstrap, event_for, perm};
use serde_json::Value;

/// The function's environment: moto, dummy credentials, the topic, and `extra`.
fn function_env(moto: &Moto, topic: &str, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = moto.env();
    env.push(("AWS_LAMBDA_FUNCTION_TIMEOUT", "30".into()));
    env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()));
    env.push(("EGRESS_GUARD_TOPIC_ARN", topic.into()));
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

/// A dummy secret key, distinctive enough to look for in the logs.
const SECRET: &str = "dummy-secret-key-never-logged";

struct Case {
    event: &'static str,
    /// `None`: a new group with AWS's default allow-all egress.
    egress: Option<Vec<IpPermission>>,
    outcome: &'static str,
    after: Vec<&'static str>,
}

#[tokio::test]
async fn bootstrap_handles_every_sample_event_under_the_rie() {
    let w = World::start().await;
    let (topic, queue) = w.topic_with_queue().await;
    let vpc = w.dual_stack_vpc().await;
    let mut env = function_env(&w.moto, &topic, &[]);
    for (k, v) in env.iter_mut() {
        if *k == "AWS_SECRET_ACCESS_KEY" {
            *v = SECRET.into();
        }
    }
    let rie = Rie::start(&bootstrap(), &env);
    let open = |p, ports, v4: &[&str], v6: &[&str]| Some(vec![perm(p, ports, v4, v6)]);
    let cases = [
        Case {
            event: "authorize-egress-open-ipv4",
            egress: open("tcp", Some((443, 443)), &["0.0.0.0/0"], &[]),
            outcome: "remediated",
            after: vec![],
        },
        Case {
            event: "authorize-egress-open-ipv6",
            egress: open("udp", Some((53, 53)), &[], &["::/0"]),
            outcome: "remediated",
            after: vec![],
        },
        Case {
            event: "authorize-egress-open-both",
            egress: open("-1", None, &["0.0.0.0/0"], &["::/0"]),
            outcome: "remediated",
            after: vec![],
        },
        Case {
            event: "authorize-egress-mixed-permission",
            egress: open("tcp", Some((443, 443)), &["10.0.0.0/8", "0.0.0.0/0"], &[]),
            outcome: "remediated",
            after: vec!["tcp 443 to 10.0.0.0/8"],
        },
        Case {
            event: "authorize-egress-restricted",
            egress: open("tcp", Some((5432, 5432)), &["10.20.0.0/16"], &[]),
            outcome: "compliant",
            after: vec!["tcp 5432 to 10.20.0.0/16"],
        },
        Case {
            event: "authorize-egress-exempt-group",
            egress: open("tcp", Some((80, 80)), &["0.0.0.0/0"], &[]),
            outcome: "exempt",
            after: vec!["tcp 80 to 0.0.0.0/0"],
        },
        Case {
            event: "authorize-egress-failed-call",
            egress: None,
            outcome: "call_failed",
            after: vec!["all traffic to 0.0.0.0/0", "all traffic to ::/0"],
        },
        Case { event: "create-security-group", egress: None, outcome: "remediated", after: vec![] },
        Case {
            event: "modify-security-group-rules",
            egress: open("tcp", Some((22, 22)), &["10.1.0.0/16"], &[]),
            outcome: "remediated",
            after: vec![],
        },
    ];
    let mut told = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let name = format!("g{i}");
        let g = match &case.egress {
            None => w.group(&vpc, &name).await,
            Some(perms) => w.group_with(&vpc, &name, perms.clone()).await,
        };
        match case.event {
            "authorize-egress-exempt-group" => w.tag(&g, "egress-guard:exempt", "proxy").await,
            "modify-security-group-rules" => w.modify_egress(&g, "tcp", (22, 22), "0.0.0.0/0").await,
            _ => {}
        }
        let (status, body) = rie.invoke(&event_for(case.event, &g));
        assert_eq!(status, 200, "{}: {body}", case.event);
        let response: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{}: {e}: {body}", case.event));
        assert_eq!(response["results"][0]["outcome"], case.outcome, "{}: {body}", case.event);
        assert_eq!(response["results"][0]["group_id"], g.as_str(), "{}", case.event);
        assert_eq!(w.egress(&g).await, case.after, "{}", case.event);
        if matches!(case.outcome, "remediated" | "exempt") {
            told.push(g);
        }
    }
    let notified: Vec<String> = w
        .notices(&queue)
        .await
        .iter()
        .map(|n| n["MessageAttributes"]["group_id"]["Value"].as_str().unwrap().to_owned())
        .collect();
    let (mut notified, mut told) = (notified, told);
    notified.sort();
    told.sort();
    assert_eq!(notified, told, "one notice per remediated group and per exempt group a change left open, none else");

    let logs = rie.output();
    assert!(!logs.contains(SECRET), "the secret key never reaches the logs");
    assert!(!logs.contains("AKIAEXAMPLEKEYID0001"), "the event's access key id (the full event) is not logged");

    let (status, body) = rie.invoke(&event_for("malformed-no-group-id", "sg-unused"));
    assert_eq!(status, 200);
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["errorType"], "EgressGuard.BadEvent", "{body}");
    assert!(error["errorMessage"].as_str().unwrap().contains("names no security group"), "{body}");
}

/// Starts the bootstrap with a broken environment and returns what the RIE printed after one invoke.
fn init_output(env: Vec<(&'static str, String)>) -> (u16, String) {
    let rie = Rie::start(&bootstrap(), &env);
    let (status, _) = rie.invoke(&event_for("create-security-group", "sg-0123456789abcdef0"));
    (status, rie.output())
}

#[test]
fn init_fails_naming_a_missing_topic_variable() {
    let moto = Moto::start();
    let env: Vec<_> =
        function_env(&moto, "", &[]).into_iter().filter(|(k, _)| *k != "EGRESS_GUARD_TOPIC_ARN").collect();
    let (status, output) = init_output(env);
    assert_ne!(status, 200);
    assert!(output.contains("EGRESS_GUARD_TOPIC_ARN is not set"), "{output}");
}

#[test]
fn init_fails_naming_an_invalid_allowed_port() {
    let moto = Moto::start();
    let topic = "arn:aws:sns:eu-west-1:123456789012:egress-guard";
    let (status, output) = init_output(function_env(&moto, topic, &[("EGRESS_GUARD_ALLOWED_PORTS", "tcp:99999")]));
    assert_ne!(status, 200);
    assert!(output.contains("EGRESS_GUARD_ALLOWED_PORTS=\"tcp:99999\" is invalid"), "{output}");
}

#[tokio::test]
async fn undeliverable_notice_keeps_the_revoke_and_travels_in_the_error() {
    let w = World::start().await;
    let vpc = w.dual_stack_vpc().await;
    let g = w.group(&vpc, "orphan").await;
    // The topic does not exist: SNS answers NotFound, as for a deleted topic.
    let rie = Rie::start(&bootstrap(), &function_env(&w.moto, "arn:aws:sns:eu-west-1:123456789012:deleted", &[]));
    let event = event_for("create-security-group", &g);
    let (status, body) = rie.invoke(&event);
    assert_eq!(status, 200);
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["errorType"], "EgressGuard.NoticeUndelivered", "{body}");
    let message = error["errorMessage"].as_str().unwrap();
    for needle in ["REVOKED 2 egress rules", "To undo", &format!("--group-id {g} --ip-permissions")] {
        assert!(message.contains(needle), "the on-failure record must carry the notice ({needle}): {message}");
    }
    assert!(w.egress(&g).await.is_empty(), "the revoke stands");

    // Replayed, the same event revokes nothing new.
    let (_, body) = rie.invoke(&event);
    let response: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(response["results"][0]["outcome"], "compliant", "{body}");
    assert_eq!(response["results"][0]["revoked"], serde_json::json!([]));
}

#[tokio::test]
async fn each_invocation_logs_one_emf_metrics_line() {
    let w = World::start().await;
    let (topic, _) = w.topic_with_queue().await;
    let vpc = w.dual_stack_vpc().await;
    let open = w.group(&vpc, "open").await;
    let restricted = w.group_with(&vpc, "db", vec![perm("tcp", Some((5432, 5432)), &["10.20.0.0/16"], &[])]).await;
    let rie = Rie::start(&bootstrap(), &function_env(&w.moto, &topic, &[]));
    rie.invoke(&event_for("create-security-group", &open));
    rie.invoke(&event_for("authorize-egress-restricted", &restricted));
    rie.invoke(&event_for("malformed-no-group-id", "unused"));

    let lines: Vec<Value> = rie
        .output()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(lines.len(), 3, "one EMF line per invocation: {}", rie.output());
    for line in &lines {
        let spec = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], "EgressGuard");
        assert_eq!(spec["Dimensions"], serde_json::json!([["Trigger"]]));
        for metric in spec["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            let value = &line[name];
            let numbers = value.is_number() || value.as_array().is_some_and(|v| v.iter().all(Value::is_number));
            assert!(numbers, "EMF: every declared metric has a value (a number, or numbers): {name} in {line}");
        }
        assert_eq!(line["Trigger"], "event");
    }
    // How long the remediated group's egress was open: from the event's time to the revoke, by the test's own clock.
    let opened = chrono::DateTime::parse_from_rfc3339(
        event_for("create-security-group", &open)["detail"]["eventTime"].as_str().unwrap(),
    )
    .unwrap();
    let expected = (chrono::Utc::now() - opened.to_utc()).num_seconds() as f64;
    let exposure = lines[0]["ExposureSeconds"].as_array().expect("the remediation's exposure");
    assert_eq!(exposure.len(), 1, "{}", lines[0]);
    assert!((exposure[0].as_f64().unwrap() - expected).abs() < 300.0, "{exposure:?} vs {expected}");
    assert!(lines[1].get("ExposureSeconds").is_none(), "nothing closed, no exposure: {}", lines[1]);
    let counts = |l: &Value| {
        (l["Remediated"].as_f64(), l["Compliant"].as_f64(), l["Failed"].as_f64(), l["RulesRevoked"].as_f64())
    };
    assert_eq!(counts(&lines[0]), (Some(1.0), Some(0.0), Some(0.0), Some(2.0)), "remediated: {}", lines[0]);
    assert_eq!(counts(&lines[1]), (Some(0.0), Some(1.0), Some(0.0), Some(0.0)), "compliant: {}", lines[1]);
    assert_eq!(counts(&lines[2]), (Some(0.0), Some(0.0), Some(1.0), Some(0.0)), "failed: {}", lines[2]);
}

/// The deployed wiring of the sweep fan-out, in the release bootstrap: a Scheduled Event with
/// `EGRESS_GUARD_SWEEP_QUEUE_URL` set only queues (one message per account and region, through moto's SQS), and each
/// message handed back as an SQS event is swept by its own invocation. The account is named as a member, so that it is
/// swept whatever account the emulator's function ARN carries.
#[tokio::test]
async fn bootstrap_fans_a_schedule_out_on_sqs_and_sweeps_each_message() {
    let w = World::start().await;
    let (topic, notices) = w.topic_with_queue().await;
    let (sweeps, _) = w.queue("sweeps").await;
    let vpc = w.dual_stack_vpc().await;
    let open = w.group_with(&vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let env = function_env(
        &w.moto,
        &topic,
        &[
            ("EGRESS_GUARD_SWEEP_QUEUE_URL", sweeps.as_str()),
            ("EGRESS_GUARD_REGIONS", "eu-west-1,us-east-1"),
            ("EGRESS_GUARD_REMEDIATION_ROLE", "egress-guard-remediation"),
            ("EGRESS_GUARD_MEMBER_ACCOUNTS", "123456789012"),
            // The template's timeout: a sweep keeps 120 s in hand, so it takes on no group with less.
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", "300"),
        ],
    );
    let rie = Rie::start(&bootstrap(), &env);
    let (status, body) = rie.invoke(&event_for("scheduled-sweep", "-"));
    assert_eq!(status, 200, "{body}");
    let dispatch: Value = serde_json::from_str(&body).unwrap();
    let queued: Vec<&str> = dispatch["queued"].as_array().expect(&body).iter().filter_map(Value::as_str).collect();
    for region in ["eu-west-1", "us-east-1"] {
        assert!(queued.contains(&format!("123456789012/{region}").as_str()), "{queued:?}");
    }
    let messages = w.drain(&sweeps).await;
    assert_eq!(messages.len(), queued.len(), "one message per (account, region)");
    let mut swept = Vec::new();
    for message in &messages {
        let (status, body) = rie.invoke(&egress_guard_tests::sqs_event(message));
        assert_eq!(status, 200, "{body}");
        let reports: Value = serde_json::from_str(&body).unwrap();
        for report in reports.as_array().expect(&body) {
            swept.push(format!("{}/{}", report["account"].as_str().unwrap(), report["region"].as_str().unwrap()));
        }
    }
    assert!(swept.contains(&"123456789012/eu-west-1".to_owned()), "{swept:?}");
    assert!(w.egress(&open).await.is_empty(), "the open group was fixed by its region's own invocation");
    let subjects: Vec<String> =
        w.notices(&notices).await.iter().map(|n| n["Subject"].as_str().unwrap().to_owned()).collect();
    assert!(subjects.iter().any(|s| s.ends_with("123456789012 eu-west-1")), "{subjects:?}");
}
