//! The Lambda handler end to end against moto server: every sample event on real groups, checked by a fresh
//! describe of the group and by the notice read back through an SQS queue subscribed to the topic.

use egress_guard_aws::{DynamoHistory, Ec2SecurityGroups, SnsNotifier};
use egress_guard_core::{EventReport, NoHistory, Outcome, Settings, TriggerKind};
use egress_guard_lambda::{InvocationReport, handle};
use egress_guard_tests::{Counted, Gated, World, event_for, perm};
use serde_json::Value;

struct Case {
    world: World,
    topic: String,
    queue: String,
    vpc: String,
}

impl Case {
    async fn new() -> Case {
        let world = World::start().await;
        let (topic, queue) = world.topic_with_queue().await;
        let vpc = world.dual_stack_vpc().await;
        Case { world, topic, queue, vpc }
    }

    /// Runs the handler on `event` with real adapters; returns its result and the port calls it made.
    async fn invoke(
        &self,
        event: Value,
        settings: &Settings,
    ) -> (Result<EventReport, egress_guard_core::Error>, Vec<&'static str>) {
        let groups = Counted::new(Ec2SecurityGroups::new(aws_sdk_ec2::Client::new(&self.world.config)));
        let notifier = Counted::new(SnsNotifier::new(aws_sdk_sns::Client::new(&self.world.config), &self.topic));
        let result =
            handle(event, settings, None, (&groups, &notifier, &NoHistory), || true).await.result.map(|answer| {
                match answer {
                    InvocationReport::Event(response) => response,
                    other => panic!("a CloudTrail event answered with a sweep: {other:?}"),
                }
            });
        let mut calls = groups.calls();
        calls.extend(notifier.calls());
        (result, calls)
    }

    /// Runs the handler and expects one group's report with `outcome`.
    async fn expect(&self, event: Value, settings: &Settings, outcome: Outcome) -> (EventReport, Vec<&'static str>) {
        let (result, calls) = self.invoke(event, settings).await;
        let response = result.expect("handler failed");
        assert_eq!(response.results.len(), 1);
        assert_eq!(response.results[0].outcome, outcome, "{response:?}");
        (response, calls)
    }
}

fn only_outcome(report: InvocationReport) -> Outcome {
    match report {
        InvocationReport::Event(report) => report.results[0].outcome,
        other => panic!("an event answered as a sweep: {other:?}"),
    }
}

const REMEDIATION_CALLS: [&str; 4] = ["describe", "revoke", "describe", "publish"];

#[tokio::test]
async fn open_ipv4_is_revoked_and_notified() {
    let c = Case::new().await;
    let g = c.world.group_with(&c.vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let (response, calls) =
        c.expect(event_for("authorize-egress-open-ipv4", &g), &Settings::default(), Outcome::Remediated).await;
    assert_eq!(calls, REMEDIATION_CALLS);
    assert_eq!(response.results[0].revoked, ["tcp 443 to 0.0.0.0/0"]);
    assert!(c.world.egress(&g).await.is_empty());
    let notices = c.world.notices(&c.queue).await;
    assert_eq!(notices.len(), 1);
    let n = &notices[0];
    assert_eq!(n["Subject"], format!("egress-guard: Revoked 1 open egress rule on {g} (web) - eu-west-1"));
    let text = n["Message"].as_str().unwrap();
    assert!(text.contains("Changed  by arn:aws:iam::123456789012:user/alice"), "{text}");
    assert!(text.contains(&format!("--group-id {g} --ip-permissions")), "{text}");
    assert_eq!(n["MessageAttributes"]["outcome"]["Value"], "remediated");
    assert_eq!(n["MessageAttributes"]["group_id"]["Value"], g.as_str());
}

/// The notice's undo command re-creates exactly what the revoke removed: several ranges per permission, their
/// descriptions, IPv4 and IPv6; the private ranges beside them were never touched.
#[tokio::test]
async fn undo_command_restores_exactly_what_the_revoke_removed() {
    use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range};
    let v4 = |cidr: &str, description: Option<&str>| {
        IpRange::builder().cidr_ip(cidr).set_description(description.map(Into::into)).build()
    };
    let v6 = |cidr: &str, description: Option<&str>| {
        Ipv6Range::builder().cidr_ipv6(cidr).set_description(description.map(Into::into)).build()
    };
    let c = Case::new().await;
    let permissions = vec![
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .ip_ranges(v4("0.0.0.0/0", Some("https out")))
            .ip_ranges(v4("10.0.0.0/8", Some("internal")))
            .ipv6_ranges(v6("::/0", Some("https out v6")))
            .build(),
        IpPermission::builder()
            .ip_protocol("udp")
            .from_port(53)
            .to_port(53)
            .ip_ranges(v4("0.0.0.0/0", None))
            .ip_ranges(v4("10.0.0.2/32", Some("resolver")))
            .ipv6_ranges(v6("::/0", Some("dns v6")))
            .build(),
        IpPermission::builder().ip_protocol("-1").ip_ranges(v4("0.0.0.0/0", Some("legacy (all)"))).build(),
    ];
    let g = c.world.group_with(&c.vpc, "web", permissions).await;
    let sorted = |mut rules: Vec<egress_guard_core::EgressRule>| {
        rules.sort();
        rules
    };
    let before = sorted(c.world.describe(&g).await.egress);
    assert_eq!(before.len(), 7);
    let (response, _) =
        c.expect(event_for("authorize-egress-open-both", &g), &Settings::default(), Outcome::Remediated).await;
    assert_eq!(response.results[0].revoked.len(), 5);
    assert_eq!(c.world.egress(&g).await, ["tcp 443 to 10.0.0.0/8", "udp 53 to 10.0.0.2/32"]);
    let notice = c.world.notices(&c.queue).await.remove(0);
    let text = notice["Message"].as_str().unwrap();
    let undo =
        text.lines().find(|l| l.starts_with("aws ec2 authorize-security-group-egress")).expect("an undo command");
    c.world.run_undo(undo);
    assert_eq!(sorted(c.world.describe(&g).await.egress), before, "the undo restores every rule and description");
}

#[tokio::test]
async fn open_ipv6_is_revoked() {
    let c = Case::new().await;
    let keep = perm("udp", Some((53, 53)), &["10.0.0.2/32"], &[]);
    let g = c.world.group_with(&c.vpc, "dns", vec![keep, perm("udp", Some((53, 53)), &[], &["::/0"])]).await;
    c.expect(event_for("authorize-egress-open-ipv6", &g), &Settings::default(), Outcome::Remediated).await;
    assert_eq!(c.world.egress(&g).await, ["udp 53 to 10.0.0.2/32"]);
    assert_eq!(c.world.notices(&c.queue).await.len(), 1);
}

#[tokio::test]
async fn open_ipv4_and_ipv6_in_one_call_are_both_revoked() {
    let c = Case::new().await;
    let g = c.world.group_with(&c.vpc, "both", vec![perm("-1", None, &["0.0.0.0/0"], &["::/0"])]).await;
    let (response, calls) =
        c.expect(event_for("authorize-egress-open-both", &g), &Settings::default(), Outcome::Remediated).await;
    assert_eq!(calls, REMEDIATION_CALLS, "one revoke call for both ranges");
    assert_eq!(response.results[0].revoked.len(), 2);
    assert!(c.world.egress(&g).await.is_empty());
}

#[tokio::test]
async fn mixed_permission_keeps_the_restricted_sibling() {
    let c = Case::new().await;
    let g = c
        .world
        .group_with(&c.vpc, "mixed", vec![perm("tcp", Some((443, 443)), &["10.0.0.0/8", "0.0.0.0/0"], &[])])
        .await;
    c.expect(event_for("authorize-egress-mixed-permission", &g), &Settings::default(), Outcome::Remediated).await;
    assert_eq!(c.world.egress(&g).await, ["tcp 443 to 10.0.0.0/8"]);
}

#[tokio::test]
async fn created_groups_default_allow_all_is_revoked() {
    let c = Case::new().await;
    let g = c.world.group(&c.vpc, "web-frontend").await;
    assert_eq!(c.world.egress(&g).await, ["all traffic to 0.0.0.0/0", "all traffic to ::/0"]);
    c.expect(event_for("create-security-group", &g), &Settings::default(), Outcome::Remediated).await;
    assert!(c.world.egress(&g).await.is_empty());
    let text = c.world.notices(&c.queue).await[0]["Message"].as_str().unwrap().to_owned();
    assert!(text.contains("no egress rule left"), "{text}");
}

#[tokio::test]
async fn modified_rule_opened_to_world_is_revoked() {
    let c = Case::new().await;
    let g = c.world.group_with(&c.vpc, "ssh", vec![perm("tcp", Some((22, 22)), &["10.1.0.0/16"], &[])]).await;
    let rules = c
        .world
        .ec2
        .describe_security_group_rules()
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-id").values(&g).build())
        .send()
        .await
        .unwrap();
    let rule_id = rules
        .security_group_rules()
        .iter()
        .find(|r| r.is_egress() == Some(true))
        .unwrap()
        .security_group_rule_id()
        .unwrap()
        .to_owned();
    let update = aws_sdk_ec2::types::SecurityGroupRuleRequest::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ipv4("0.0.0.0/0")
        .build();
    let change = aws_sdk_ec2::types::SecurityGroupRuleUpdate::builder()
        .security_group_rule_id(rule_id)
        .security_group_rule(update)
        .build();
    c.world.ec2.modify_security_group_rules().group_id(&g).security_group_rules(change).send().await.unwrap();
    assert_eq!(c.world.egress(&g).await, ["tcp 22 to 0.0.0.0/0"]);
    c.expect(event_for("modify-security-group-rules", &g), &Settings::default(), Outcome::Remediated).await;
    assert!(c.world.egress(&g).await.is_empty());
}

#[tokio::test]
async fn restricted_rule_makes_no_call_beyond_describe_and_no_notice() {
    let c = Case::new().await;
    let g = c.world.group_with(&c.vpc, "db", vec![perm("tcp", Some((5432, 5432)), &["10.20.0.0/16"], &[])]).await;
    let (_, calls) =
        c.expect(event_for("authorize-egress-restricted", &g), &Settings::default(), Outcome::Compliant).await;
    assert_eq!(calls, ["describe"]);
    assert_eq!(c.world.egress(&g).await, ["tcp 5432 to 10.20.0.0/16"]);
    assert!(c.world.notices(&c.queue).await.is_empty());
}

#[tokio::test]
/// Anyone who may tag a group may exempt it: the change that leaves it open is told, with the tag's value and who
/// made the change.
async fn group_exempt_by_tag_is_left_open_and_the_change_is_told() {
    let c = Case::new().await;
    let g = c.world.group_with(&c.vpc, "proxy", vec![perm("tcp", Some((80, 80)), &["0.0.0.0/0"], &[])]).await;
    c.world.tag(&g, "egress-guard:exempt", "egress proxy, SEC-42").await;
    let (_, calls) =
        c.expect(event_for("authorize-egress-exempt-group", &g), &Settings::default(), Outcome::Exempt).await;
    assert_eq!(calls, ["describe", "publish"]);
    assert_eq!(c.world.egress(&g).await, ["tcp 80 to 0.0.0.0/0"]);
    let notices = c.world.notices(&c.queue).await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0]["Subject"], format!("egress-guard: Exempt {g} (proxy) has open egress - eu-west-1"));
    let text = notices[0]["Message"].as_str().unwrap();
    assert!(text.contains("is exempt (tag egress-guard:exempt: egress proxy, SEC-42)"), "{text}");
    assert!(text.contains("Changed  by arn:aws:"), "{text}");
    assert_eq!(notices[0]["MessageAttributes"]["outcome"]["Value"], "exempt");
}

#[tokio::test]
async fn group_exempt_by_id_is_left_open() {
    let c = Case::new().await;
    let g = c.world.group(&c.vpc, "nat").await;
    let settings = Settings { exempt_group_ids: [g.clone()].into(), ..Settings::default() };
    c.expect(event_for("create-security-group", &g), &settings, Outcome::Exempt).await;
    assert_eq!(c.world.egress(&g).await.len(), 2);
}

#[tokio::test]
async fn allowed_port_is_left_open_and_the_rest_revoked() {
    let c = Case::new().await;
    let g = c
        .world
        .group_with(
            &c.vpc,
            "api",
            vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[]), perm("tcp", Some((25, 25)), &["0.0.0.0/0"], &[])],
        )
        .await;
    let settings = Settings { allowed: vec!["tcp:443".parse().unwrap()], ..Settings::default() };
    c.expect(event_for("authorize-egress-open-ipv4", &g), &settings, Outcome::Remediated).await;
    assert_eq!(c.world.egress(&g).await, ["tcp 443 to 0.0.0.0/0"]);
    let text = c.world.notices(&c.queue).await[0]["Message"].as_str().unwrap().to_owned();
    assert!(text.contains("open, allowed (tcp:443)"), "{text}");
}

#[tokio::test]
async fn dry_run_revokes_nothing_and_the_notice_says_so() {
    let c = Case::new().await;
    let g = c.world.group(&c.vpc, "trial").await;
    let settings = Settings { dry_run: true, ..Settings::default() };
    let (_, calls) = c.expect(event_for("create-security-group", &g), &settings, Outcome::DryRun).await;
    assert_eq!(calls, ["describe", "publish"]);
    assert_eq!(c.world.egress(&g).await.len(), 2);
    let n = &c.world.notices(&c.queue).await[0];
    assert!(n["Subject"].as_str().unwrap().contains("[dry run] Would revoke 2"), "{n}");
    assert_eq!(n["MessageAttributes"]["dry_run"]["Value"], "true");
}

#[tokio::test]
async fn failed_call_makes_no_aws_call() {
    let c = Case::new().await;
    let g = c.world.group(&c.vpc, "denied").await;
    let (_, calls) =
        c.expect(event_for("authorize-egress-failed-call", &g), &Settings::default(), Outcome::CallFailed).await;
    assert!(calls.is_empty(), "{calls:?}");
    assert_eq!(c.world.egress(&g).await.len(), 2);
}

#[tokio::test]
async fn group_deleted_before_the_event_is_gone_not_an_error() {
    let c = Case::new().await;
    let g = c.world.group(&c.vpc, "ephemeral").await;
    c.world.ec2.delete_security_group().group_id(&g).send().await.unwrap();
    let (_, calls) = c.expect(event_for("create-security-group", &g), &Settings::default(), Outcome::GroupGone).await;
    assert_eq!(calls, ["describe"; 5], "looked for again four times (EC2 is eventually consistent), then gone");
    assert!(c.world.notices(&c.queue).await.is_empty());
}

#[tokio::test]
async fn malformed_event_is_rejected_with_no_aws_call() {
    let c = Case::new().await;
    let (result, calls) = c.invoke(event_for("malformed-no-group-id", "sg-unused"), &Settings::default()).await;
    let err = result.unwrap_err();
    assert!(err.to_string().contains("names no security group"), "{err}");
    assert_eq!(egress_guard_lambda::diagnostic(err).error_type, "EgressGuard.BadEvent");
    assert!(calls.is_empty());
}

#[tokio::test]
async fn rule_narrowed_between_describe_and_revoke_is_not_revoked() {
    use egress_guard_core::{SecurityGroups, evaluate};
    let c = Case::new().await;
    let g = c.world.group_with(&c.vpc, "race", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let ec2 = Ec2SecurityGroups::new(aws_sdk_ec2::Client::new(&c.world.config));
    let plan = evaluate(&ec2.describe(&g).await.unwrap().unwrap(), &Settings::default()).plan;
    assert_eq!(plan.rules.len(), 1);

    // Someone narrows the open rule in place: ModifySecurityGroupRules keeps its rule id.
    c.world.modify_egress(&g, "tcp", (443, 443), "10.0.0.0/8").await;

    // The stale plan is revoked by its exact tuple: EC2 no longer has it, so nothing is removed.
    let revoked = ec2.revoke(&plan).await;
    assert!(revoked.error.is_none(), "a tuple that is gone is not an error: {:?}", revoked.error);
    assert!(revoked.removed.is_empty(), "and this call removed nothing");
    assert_eq!(c.world.egress(&g).await, ["tcp 443 to 10.0.0.0/8"], "the narrowed rule survives");
}

#[tokio::test]
async fn two_invocations_for_one_group_at_once_both_succeed() {
    let c = Case::new().await;
    let g = c.world.group(&c.vpc, "twice").await;
    let event = event_for("create-security-group", &g);
    let settings = Settings::default();
    let mut open = c.world.egress(&g).await;
    open.sort();
    assert!(!open.is_empty(), "a new group starts with AWS's default open egress");
    let (a, b) = tokio::join!(c.invoke(event.clone(), &settings), c.invoke(event, &settings));
    let mut remediated = 0;
    let mut removed: Vec<String> = Vec::new();
    for (result, _) in [a, b] {
        let report = result.expect("neither invocation errors");
        let result = &report.results[0];
        assert!(
            matches!(result.outcome, Outcome::Remediated | Outcome::Compliant | Outcome::AlreadyRemediated),
            "{:?}",
            result.outcome
        );
        remediated += usize::from(result.outcome == Outcome::Remediated);
        removed.extend(result.revoked.iter().cloned());
    }
    removed.sort();
    assert_eq!(removed, open, "each open rule removed exactly once, by one of the two");
    assert!((1..=2).contains(&remediated), "{remediated} remediated");
    assert!(c.world.egress(&g).await.is_empty());
    assert_eq!(c.world.notices(&c.queue).await.len(), remediated, "a notice only from the invocation that removed");
}

#[tokio::test]
async fn large_group_loses_every_open_rule_in_one_revoke_and_keeps_the_rest() {
    let c = Case::new().await;
    // 56 narrow ranges on tcp/443 and 4 open rules: 60 rules, EC2's default limit for one direction.
    let narrow: Vec<String> = (0..56).map(|i| format!("10.{i}.0.0/16")).collect();
    let mut mixed: Vec<&str> = narrow.iter().map(String::as_str).collect();
    mixed.push("0.0.0.0/0");
    let perms = vec![
        perm("tcp", Some((443, 443)), &mixed, &[]),
        perm("udp", Some((53, 53)), &[], &["::/0"]),
        perm("-1", None, &["0.0.0.0/0"], &["::/0"]),
    ];
    let g = c.world.group_with(&c.vpc, "big", perms).await;
    assert_eq!(c.world.egress(&g).await.len(), 60);
    let (response, calls) =
        c.expect(event_for("authorize-egress-open-both", &g), &Settings::default(), Outcome::Remediated).await;
    assert_eq!(calls, REMEDIATION_CALLS, "one revoke call for all four open rules");
    assert_eq!(response.results[0].revoked.len(), 4);
    let mut expected: Vec<String> = narrow.iter().map(|n| format!("tcp 443 to {n}")).collect();
    expected.sort();
    assert_eq!(c.world.egress(&g).await, expected);
}

#[tokio::test]
async fn bad_input_is_a_clear_error_with_no_aws_call() {
    let c = Case::new().await;
    let valid = event_for("authorize-egress-open-ipv4", "sg-0123456789abcdef0");
    let with = |path: &[&str], value: Value| {
        let mut e = valid.clone();
        let (last, parents) = path.split_last().unwrap();
        let mut at = &mut e;
        for p in parents {
            at = &mut at[*p];
        }
        at[*last] = value;
        e
    };
    let huge = with(&["detail", "padding"], Value::String("x".repeat(1024 * 1024)));
    let cases: [(&str, Value, &str); 7] = [
        ("not an object", Value::String("{not json".into()), "invalid type"),
        ("not CloudTrail", serde_json::json!({"hello": "world"}), "missing field"),
        ("another service", with(&["detail", "eventSource"], "s3.amazonaws.com".into()), "s3.amazonaws.com"),
        ("no group id", event_for("malformed-no-group-id", "unused"), "names no security group"),
        (
            "wrong id shape",
            with(&["detail", "requestParameters", "groupId"], "sg-../../etc".into()),
            "not a security group id",
        ),
        ("1 MiB event", huge, "over the 262144 bytes"),
        ("wrong type", with(&["detail", "userIdentity", "arn"], serde_json::json!(["x"])), "detail.userIdentity.arn"),
    ];
    for (what, event, needle) in cases {
        let (result, calls) = c.invoke(event, &Settings::default()).await;
        let err = result.expect_err(what);
        assert!(err.to_string().contains(needle), "{what}: {err}");
        assert_eq!(egress_guard_lambda::diagnostic(err).error_type, "EgressGuard.BadEvent", "{what}");
        assert!(calls.is_empty(), "{what}: no AWS call, got {calls:?}");
    }
}

impl Case {
    /// Runs the handler on the scheduled event: a sweep of the region.
    async fn sweep(&self, settings: &Settings) -> egress_guard_core::SweepReport {
        let groups = Ec2SecurityGroups::new(aws_sdk_ec2::Client::new(&self.world.config));
        let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&self.world.config), &self.topic);
        let invocation = handle(
            event_for("scheduled-sweep", "unused"),
            settings,
            None,
            (&Counted::new(groups), &notifier, &NoHistory),
            || true,
        )
        .await;
        assert_eq!(invocation.trigger, TriggerKind::Sweep, "the handler says it swept");
        match invocation.result.unwrap() {
            InvocationReport::Sweep(summary) => summary,
            other => panic!("a scheduled event answered as an event: {other:?}"),
        }
    }

    /// Every group of the region with its egress lines.
    async fn all_egress(&self) -> Vec<(String, Vec<String>)> {
        let out = self.world.ec2.describe_security_groups().send().await.unwrap();
        let mut all = Vec::new();
        for g in out.security_groups() {
            let id = g.group_id().unwrap().to_owned();
            all.push((id.clone(), self.world.egress(&id).await));
        }
        all.sort();
        all
    }
}

/// Groups whose events were lost: three open, one restricted, one exempt. Returns (open, restricted, exempt).
async fn lost_events(c: &Case) -> (Vec<String>, String, String) {
    let mut open = Vec::new();
    for name in ["lost-1", "lost-2", "lost-3"] {
        open.push(c.world.group(&c.vpc, name).await);
    }
    let restricted =
        c.world.group_with(&c.vpc, "db", vec![perm("tcp", Some((5432, 5432)), &["10.20.0.0/16"], &[])]).await;
    let exempt = c.world.group_with(&c.vpc, "proxy", vec![perm("tcp", Some((80, 80)), &["0.0.0.0/0"], &[])]).await;
    c.world.tag(&exempt, "egress-guard:exempt", "proxy").await;
    (open, restricted, exempt)
}

#[tokio::test]
async fn sweep_fixes_groups_whose_events_were_lost_and_sends_one_summary() {
    let c = Case::new().await;
    let (open, restricted, exempt) = lost_events(&c).await;
    let before = c.all_egress().await;
    let summary = c.sweep(&Settings::default()).await;
    assert!(summary.complete);
    // The default VPC's default group is open too (all traffic to 0.0.0.0/0), as in AWS.
    let open_before: Vec<&String> =
        before.iter().filter(|(_, e)| e.iter().any(|r| r.ends_with("/0"))).map(|(id, _)| id).collect();
    assert_eq!(summary.count(Outcome::Remediated), open_before.len() - 1, "every open group but the exempt one");
    for (id, egress) in c.all_egress().await {
        if id == exempt {
            assert_eq!(egress, ["tcp 80 to 0.0.0.0/0"]);
        } else {
            assert!(egress.iter().all(|r| !r.ends_with("/0")), "{id} still open: {egress:?}");
        }
    }
    assert_eq!(c.world.egress(&restricted).await, ["tcp 5432 to 10.20.0.0/16"]);
    assert!(open.iter().all(|g| summary.lines.iter().any(|l| &l.group_id == g)));
    let notices = c.world.notices(&c.queue).await;
    assert_eq!(notices.len(), 1, "exactly one summary");
    assert!(notices[0]["Subject"].as_str().unwrap().starts_with("egress-guard sweep: revoked open egress on"));
    assert_eq!(notices[0]["MessageAttributes"]["trigger"]["Value"], "sweep");
}

#[tokio::test]
async fn dry_run_sweep_changes_nothing_and_reports_what_it_would_do() {
    let c = Case::new().await;
    let (open, _, _) = lost_events(&c).await;
    let before = c.all_egress().await;
    let summary = c.sweep(&Settings { dry_run: true, ..Settings::default() }).await;
    assert_eq!(c.all_egress().await, before, "nothing changed");
    assert!(open.iter().all(|g| summary.lines.iter().any(|l| &l.group_id == g && l.outcome == Outcome::DryRun)));
    let notices = c.world.notices(&c.queue).await;
    assert_eq!(notices.len(), 1);
    assert!(notices[0]["Message"].as_str().unwrap().contains("would revoke all traffic to 0.0.0.0/0"));
}

/// Each tool's real CloudTrail shape (`events/`), on a real group: the notice's owner line and its `caller` attribute.
#[tokio::test]
async fn notice_says_which_tool_opened_the_rule_and_what_to_change() {
    let c = Case::new().await;
    for (event, kind, needle) in [
        ("create-security-group-cloudformation", "cloudformation", "CloudFormation (stack web-prod)"),
        ("create-security-group-cdk", "cdk", "allowAllOutbound: false"),
        ("authorize-egress-terraform", "terraform", "next terraform apply re-opens it"),
        ("authorize-egress-pulumi", "pulumi", "next pulumi up re-opens it"),
        (
            "authorize-egress-console",
            "console",
            "by hand in the AWS console by arn:aws:sts::123456789012:assumed-role/",
        ),
        ("authorize-egress-open-ipv4", "aws-cli", "Opened with the AWS CLI by arn:aws:iam::123456789012:user/alice"),
        (
            "authorize-egress-sdk",
            "sdk",
            "using Boto3/1.35.76 as arn:aws:sts::123456789012:assumed-role/inventory-sync/",
        ),
        ("create-security-group", "unknown", "Opened by arn:aws:sts::123456789012:assumed-role/ci-deployer/deploy-bot"),
    ] {
        let g = c.world.group(&c.vpc, event).await;
        if kind == "cloudformation" || kind == "cdk" {
            c.world.tag(&g, "aws:cloudformation:stack-name", "web-prod").await;
        }
        c.expect(event_for(event, &g), &Settings::default(), Outcome::Remediated).await;
        let notices = c.world.notices(&c.queue).await;
        assert_eq!(notices.len(), 1, "{event}");
        let text = notices[0]["Message"].as_str().unwrap();
        let owner = text.lines().find(|l| l.starts_with("Owner ")).unwrap_or_else(|| panic!("{event}: {text}"));
        assert!(owner.contains(needle), "{event}: {owner}");
        assert_eq!(notices[0]["MessageAttributes"]["caller"]["Value"], kind, "{event}");
    }
}

/// `0.0.0.0/1` + `128.0.0.0/1`: reported (result and notice) and kept by default; revoked when the setting is on, the
/// narrower block inside one half kept.
#[tokio::test]
async fn split_ranges_are_reported_and_revoked_only_when_asked() {
    let c = Case::new().await;
    let halves = || vec![perm("tcp", Some((443, 443)), &["0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8"], &[])];
    let g = c.world.group_with(&c.vpc, "sneaky", halves()).await;
    let before = c.world.egress(&g).await;

    let (response, calls) =
        c.expect(event_for("authorize-egress-open-ipv4", &g), &Settings::default(), Outcome::Compliant).await;
    assert_eq!(response.results[0].split_ranges, ["tcp 443 to 0.0.0.0/1", "tcp 443 to 128.0.0.0/1"]);
    assert_eq!(calls, ["describe", "publish"], "reported, nothing revoked");
    assert_eq!(c.world.egress(&g).await, before);
    let notice = c.world.notices(&c.queue).await.remove(0);
    assert!(notice["Subject"].as_str().unwrap().contains("adds up to the whole Internet (not revoked)"), "{notice}");
    let text = notice["Message"].as_str().unwrap();
    assert!(text.contains("0.0.0.0/1 + 128.0.0.0/1 add up to all of IPv4 or IPv6"), "{text}");
    assert!(text.contains("SPLIT RANGE, not revoked"), "{text}");
    assert_eq!(notice["MessageAttributes"]["split_ranges"]["Value"], "2");

    let revoke = Settings { revoke_split_ranges: true, ..Settings::default() };
    let (response, _) = c.expect(event_for("authorize-egress-open-ipv4", &g), &revoke, Outcome::Remediated).await;
    assert_eq!(response.results[0].revoked, ["tcp 443 to 0.0.0.0/1", "tcp 443 to 128.0.0.0/1"]);
    assert_eq!(c.world.egress(&g).await, ["tcp 443 to 10.0.0.0/8"]);
    let text = c.world.notices(&c.queue).await.remove(0)["Message"].as_str().unwrap().to_owned();
    assert!(text.contains("They were revoked (EGRESS_GUARD_REVOKE_SPLIT_RANGES)"), "{text}");
}

/// The same rule re-opened three times, as infrastructure-as-code does: the notices count 1, 2, 3 from the real
/// DynamoDB history (moto), one `UpdateItem` per remediation.
#[tokio::test]
async fn reopened_rule_is_counted_one_two_three_in_the_notices() {
    let c = Case::new().await;
    let table = c.world.history_table().await;
    let history = DynamoHistory::new(aws_sdk_dynamodb::Client::new(&c.world.config), &table);
    let g = c.world.group_with(&c.vpc, "web", vec![]).await;
    let groups = Counted::new(Ec2SecurityGroups::new(aws_sdk_ec2::Client::new(&c.world.config)));
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&c.world.config), &c.topic);
    for expected in 1..=3 {
        c.world.authorize(&g, vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
        let event = event_for("authorize-egress-terraform", &g);
        let invocation = handle(event, &Settings::default(), None, (&groups, &notifier, &history), || true).await;
        let metrics: Value = serde_json::from_str(&egress_guard_lambda::metrics_line(&invocation, 1.0, 0)).unwrap();
        assert_eq!(metrics["Repeats"], if expected == 1 { 0.0 } else { 1.0 }, "the EMF line counts repeats");
        assert_eq!((invocation.trigger, &metrics["Trigger"]), (TriggerKind::Event, &Value::from("event")));
        let answer = invocation.result.unwrap();
        let InvocationReport::Event(response) = answer else { panic!("not an event answer") };
        assert_eq!(response.results[0].outcome, Outcome::Remediated);
        assert!(c.world.egress(&g).await.is_empty(), "revoked again, every time");
        let notice = c.world.notices(&c.queue).await.remove(0);
        let attr = |k: &str| notice["MessageAttributes"][k]["Value"].as_str().unwrap().to_owned();
        assert_eq!(attr("revocations_in_window"), expected.to_string(), "{notice}");
        assert_eq!(attr("repeat"), if expected == 1 { "false" } else { "true" });
        let text = notice["Message"].as_str().unwrap();
        if expected == 1 {
            assert!(text.contains("First revoke of this rule in 24 h."), "{text}");
        } else {
            let line =
                format!("revoked this rule {expected} times in 24 h; it keeps being re-opened, last by arn:aws:sts::");
            assert!(text.contains(&line), "{text}");
            assert!(notice["Subject"].as_str().unwrap().contains(&format!("REPEAT x{expected}")), "{notice}");
        }
    }
}

/// The history's table is missing: the revoke and its notice happen all the same, and the notice says the count is
/// unknown.
#[tokio::test]
async fn unavailable_history_never_blocks_the_revoke_or_its_notice() {
    let c = Case::new().await;
    let history = DynamoHistory::new(aws_sdk_dynamodb::Client::new(&c.world.config), "no-such-table");
    let g = c.world.group_with(&c.vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let groups = Ec2SecurityGroups::new(aws_sdk_ec2::Client::new(&c.world.config));
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&c.world.config), &c.topic);
    let event = event_for("authorize-egress-open-ipv4", &g);
    let fleet = Counted::new(groups);
    let answer =
        handle(event, &Settings::default(), None, (&fleet, &notifier, &history), || true).await.result.unwrap();
    let InvocationReport::Event(response) = answer else { panic!("not an event answer") };
    assert_eq!(response.results[0].outcome, Outcome::Remediated);
    assert!(c.world.egress(&g).await.is_empty());
    let notice = c.world.notices(&c.queue).await.remove(0);
    assert_eq!(notice["MessageAttributes"]["repeat"]["Value"], "unknown");
    let text = notice["Message"].as_str().unwrap();
    assert!(text.contains("Repeat count unknown") && text.contains("ResourceNotFoundException"), "{text}");
}

/// EventBridge delivers at least once: the same event twice at once, both reading the group before either revokes,
/// gives one notice, one `already_remediated`, and a repeat count of one.
#[tokio::test]
async fn the_same_event_delivered_twice_at_once_gives_exactly_one_notice() {
    let c = Case::new().await;
    let table = c.world.history_table().await;
    let history = DynamoHistory::new(aws_sdk_dynamodb::Client::new(&c.world.config), &table);
    let g = c.world.group_with(&c.vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let groups = Gated::new(Ec2SecurityGroups::new(aws_sdk_ec2::Client::new(&c.world.config)), 2);
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&c.world.config), &c.topic);
    let event = event_for("authorize-egress-open-ipv4", &g);
    let settings = Settings::default();
    let run = || handle(event.clone(), &settings, None, (&groups, &notifier, &history), || true);
    let (a, b) = tokio::join!(run(), run());
    let mut outcomes = [a, b].map(|invocation| only_outcome(invocation.result.unwrap()));
    outcomes.sort();
    assert_eq!(outcomes, [Outcome::Remediated, Outcome::AlreadyRemediated]);
    assert!(c.world.egress(&g).await.is_empty());
    let notices = c.world.notices(&c.queue).await;
    assert_eq!(notices.len(), 1, "one removal, one notice");
    assert_eq!(notices[0]["MessageAttributes"]["repeat"]["Value"], "false", "no repeat mark");
    assert_eq!(notices[0]["MessageAttributes"]["revocations_in_window"]["Value"], "1");
}

/// Terraform's `aws_security_group`: CreateSecurityGroup and AuthorizeSecurityGroupEgress a moment apart, handled at
/// once: each rule is removed once and told once.
#[tokio::test]
async fn create_and_authorize_handled_at_once_tell_each_removal_once() {
    let c = Case::new().await;
    let g = c.world.group(&c.vpc, "web").await;
    c.world.authorize(&g, vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let groups = Gated::new(Ec2SecurityGroups::new(aws_sdk_ec2::Client::new(&c.world.config)), 2);
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&c.world.config), &c.topic);
    let settings = Settings::default();
    let run = |name| handle(event_for(name, &g), &settings, None, (&groups, &notifier, &NoHistory), || true);
    let (a, b) = tokio::join!(run("create-security-group"), run("authorize-egress-open-ipv4"));
    let reports = [a, b].map(|invocation| match invocation.result.unwrap() {
        InvocationReport::Event(report) => report.results[0].clone(),
        other => panic!("an event answered as a sweep: {other:?}"),
    });
    let mut revoked: Vec<String> = reports.iter().flat_map(|r| r.revoked.clone()).collect();
    revoked.sort();
    assert_eq!(revoked, ["all traffic to 0.0.0.0/0", "all traffic to ::/0", "tcp 443 to 0.0.0.0/0"], "each once");
    let notices = c.world.notices(&c.queue).await;
    let told: usize = notices.len();
    assert_eq!(
        told,
        reports.iter().filter(|r| !r.revoked.is_empty()).count(),
        "one notice per invocation that removed"
    );
    assert!(notices.iter().all(|n| !n["Subject"].as_str().unwrap().contains("REPEAT")));
    assert!(c.world.egress(&g).await.is_empty());
}

/// Right after CreateSecurityGroup EC2 may answer InvalidGroup.NotFound: two such answers before the group appears
/// still end in a remediation.
#[tokio::test]
async fn a_group_not_found_twice_before_it_appears_is_still_remediated() {
    let c = Case::new().await;
    let g = c.world.group(&c.vpc, "web").await;
    c.world.moto.inject_ec2_error("DescribeSecurityGroups", &g, 2, "InvalidGroup.NotFound");
    let (response, _) =
        c.expect(event_for("create-security-group", &g), &Settings::default(), Outcome::Remediated).await;
    assert_eq!(response.results[0].revoked.len(), 2);
    assert!(c.world.egress(&g).await.is_empty());
    let faults = c.world.moto.faults();
    let injected: Vec<&Value> = faults.iter().filter(|f| f["contains"] == g.as_str()).collect();
    assert_eq!(injected.len(), 1, "{faults:?}");
    assert_eq!(injected[0]["times"], 0, "both InvalidGroup.NotFound answers were given: {faults:?}");
}

/// An SCP or a protected group denies one revoke: the sweep fixes every other group and its report names each fixed
/// group with its undo command, and the failed one with its error.
#[tokio::test]
async fn a_sweep_with_one_revoke_denied_fixes_the_others_and_reports_the_failure() {
    let c = Case::new().await;
    let (open, _, _) = lost_events(&c).await;
    let denied = open[0].clone();
    c.world.moto.inject_ec2_error("RevokeSecurityGroupEgress", &denied, 10, "UnauthorizedOperation");
    let summary = c.sweep(&Settings::default()).await;
    assert_eq!(summary.count(Outcome::RevokeFailed), 1);
    assert!(!c.world.egress(&denied).await.is_empty(), "the denied group is as it was");
    for id in &open[1..] {
        assert!(c.world.egress(id).await.iter().all(|r| !r.ends_with("/0")), "{id} fixed");
    }
    let notices = c.world.notices(&c.queue).await;
    assert_eq!(notices.len(), 1);
    let text = notices[0]["Message"].as_str().unwrap();
    assert!(
        text.contains(&format!("{denied} "))
            && text.contains("revoke_failed")
            && text.contains("UnauthorizedOperation"),
        "{text}"
    );
    for id in &open[1..] {
        assert!(text.contains(&format!("--group-id {id} --ip-permissions")), "{id}: {text}");
    }
}

/// The first enforcing sweep of a region with a thousand open groups: every group's undo command reaches the topic,
/// each part through the limits proxy (SNS's subject and size limits).
#[tokio::test]
async fn a_sweep_over_a_thousand_open_groups_delivers_every_undo_command() {
    let c = Case::new().await;
    let mut ids = Vec::new();
    for n in 0..1000 {
        ids.push(c.world.group(&c.vpc, &format!("g{n}")).await);
    }
    let summary = c.sweep(&Settings::default()).await;
    assert!(summary.count(Outcome::Remediated) >= 1000, "{:?}", summary.counts);
    let notices = c.world.notices(&c.queue).await;
    assert!(notices.len() >= 2, "in parts: {}", notices.len());
    let all: String = notices.iter().map(|n| n["Message"].as_str().unwrap()).collect();
    for id in &ids {
        assert_eq!(all.matches(&format!("--group-id {id} ")).count(), 1, "{id}");
    }
}

/// DynamoDB refuses an update expression over 4 KB (the limits proxy does too): a group with thirty open
/// destinations still gets its repeat count.
#[tokio::test]
async fn thirty_revoked_destinations_are_counted_within_dynamodb_limits() {
    let c = Case::new().await;
    let table = c.world.history_table().await;
    let history = DynamoHistory::new(aws_sdk_dynamodb::Client::new(&c.world.config), &table);
    let open: Vec<_> = (1..=30).map(|port| perm("tcp", Some((port, port)), &["0.0.0.0/0"], &[])).collect();
    let g = c.world.group_with(&c.vpc, "web", open).await;
    let groups = Counted::new(Ec2SecurityGroups::new(aws_sdk_ec2::Client::new(&c.world.config)));
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&c.world.config), &c.topic);
    let event = event_for("authorize-egress-open-ipv4", &g);
    let invocation = handle(event, &Settings::default(), None, (&groups, &notifier, &history), || true).await;
    assert_eq!(only_outcome(invocation.result.unwrap()), Outcome::Remediated);
    let notice = c.world.notices(&c.queue).await.remove(0);
    assert_eq!(notice["MessageAttributes"]["repeat"]["Value"], "false", "{notice}");
    assert_eq!(notice["MessageAttributes"]["revocations_in_window"]["Value"], "1");
}

/// Many teams send every region's alerts to one topic: a topic in another region than the function's still receives
/// the notice (SNS wants each request in the topic's own region).
#[tokio::test]
async fn a_central_topic_in_another_region_receives_the_notice() {
    let c = Case::new().await;
    let east = aws_sdk_sns::config::Builder::from(&c.world.config).region(aws_config::Region::new("us-east-1")).build();
    let east = aws_sdk_sns::Client::from_conf(east);
    let topic = east.create_topic().name("central").send().await.unwrap().topic_arn().unwrap().to_owned();
    assert!(topic.starts_with("arn:aws:sns:us-east-1:"), "{topic}");
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&c.world.config).region(aws_config::Region::new("us-east-1")).build(),
    );
    let queue = sqs.create_queue().queue_name("central").send().await.unwrap().queue_url().unwrap().to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    east.subscribe().topic_arn(&topic).protocol("sqs").endpoint(arn).send().await.unwrap();

    let g = c.world.group_with(&c.vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let groups = Counted::new(Ec2SecurityGroups::new(aws_sdk_ec2::Client::new(&c.world.config)));
    let notifier = SnsNotifier::for_topic(&c.world.config, &topic);
    let event = event_for("authorize-egress-open-ipv4", &g);
    let invocation = handle(event, &Settings::default(), None, (&groups, &notifier, &NoHistory), || true).await;
    assert_eq!(only_outcome(invocation.result.unwrap()), Outcome::Remediated);
    let got = sqs.receive_message().queue_url(&queue).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(got.messages().len(), 1, "the notice reached the central topic in us-east-1");
}

/// One schedule, three regions of one account: the Scheduled Event only queues, each (account, region) is swept by
/// an invocation of its own, and each region that acted sends its own summary naming the account and region.
#[tokio::test]
async fn a_schedule_sweeps_three_regions_each_in_its_own_invocation() {
    let home = World::start().await;
    let (topic, notices) = home.topic_with_queue().await;
    let (sweeps, _) = home.queue("sweeps").await;
    let regions: Vec<String> = ["eu-west-1", "us-east-1", "us-west-2"].map(str::to_owned).into();
    let mut open = Vec::new();
    for region in &regions {
        let world = home.as_account("123456789012", region).await;
        let vpc = world.dual_stack_vpc().await;
        open.push((
            world.group_with(&vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await,
            world,
        ));
    }
    let fleet = egress_guard_aws::Fleet::new(home.config.clone(), Default::default());
    let notifier = SnsNotifier::new(home.sns.clone(), &topic);
    let (settings, ports) = (Settings::default(), (&fleet, &notifier, &NoHistory));
    let me = own();
    home.watched("eu-west-1", &regions, Some(&me.function_arn)).await;
    let (dispatch, invocations) =
        egress_guard_tests::run_schedule(&home, &sweeps, &regions, &settings, Some(&me), ports, || true).await;

    let pairs = |it: &mut dyn Iterator<Item = (String, String)>| it.collect::<std::collections::BTreeSet<_>>();
    let want = pairs(&mut regions.iter().map(|r| ("123456789012".to_owned(), r.clone())));
    assert_eq!(dispatch.queued.len(), 3, "{dispatch:?}");
    assert_eq!(invocations.len(), 3, "one invocation per (account, region)");
    assert!(invocations.iter().all(|reports| reports.len() == 1 && reports[0].complete));
    assert_eq!(pairs(&mut invocations.iter().map(|r| (r[0].account.clone(), r[0].region.clone()))), want);
    for (group, world) in &open {
        assert!(world.egress(group).await.iter().all(|r| !r.ends_with("/0")), "{group} still open");
    }
    let summaries = home.notices(&notices).await;
    let told = |n: &Value, k: &str| n["MessageAttributes"][k]["Value"].as_str().unwrap().to_owned();
    assert_eq!(summaries.len(), 3, "one summary per (account, region) that acted");
    assert_eq!(pairs(&mut summaries.iter().map(|n| (told(n, "account"), told(n, "region")))), want);
    for n in &summaries {
        let subject = n["Subject"].as_str().unwrap();
        assert!(subject.ends_with(&format!("123456789012 {}", told(n, "region"))), "{subject}");
    }
}

/// A sweep cut short by time queues its own next run (up to `MAX_SWEEP_RUNS`), so that a region with more open groups
/// than one invocation can fix is finished within minutes, not at the next schedule.
#[tokio::test]
async fn a_sweep_cut_short_queues_its_next_run_until_the_region_is_done() {
    let home = World::start().await;
    let (topic, _notices) = home.topic_with_queue().await;
    let (sweeps, _) = home.queue("sweeps").await;
    let vpc = home.dual_stack_vpc().await;
    for name in ["a", "b", "c"] {
        home.group_with(&vpc, name, vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    }
    let fleet = egress_guard_aws::Fleet::new(home.config.clone(), Default::default());
    let notifier = SnsNotifier::new(home.sns.clone(), &topic);
    // Time for two groups per invocation.
    let budget = std::sync::atomic::AtomicUsize::new(0);
    let has_time = || budget.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 3 != 2;
    let (settings, ports) = (Settings::default(), (&fleet, &notifier, &NoHistory));
    let me = own();
    let (_, invocations) =
        egress_guard_tests::run_schedule(&home, &sweeps, &[], &settings, Some(&me), ports, &has_time).await;
    let runs: Vec<(bool, usize)> =
        invocations.iter().map(|r| (r[0].complete, r[0].count(Outcome::Remediated))).collect();
    // Five open groups (three, and the default groups of the two VPCs), two per run.
    assert_eq!(runs.iter().map(|r| r.1).sum::<usize>(), 5, "{runs:?}");
    assert!(runs.len() == 3 && !runs[0].0 && !runs[1].0, "two runs cut short, then the last: {runs:?}");
    assert!(runs.last().unwrap().0, "the last run finished the region: {runs:?}");
    assert!(runs.len() <= egress_guard_lambda::MAX_SWEEP_RUNS as usize);
    assert!(home.all_groups_closed().await, "no open group left");
}

/// `CreateVpc` makes a default group that allows all egress, IPv4 and IPv6; the event closes it, and only it.
#[tokio::test]
async fn create_vpc_event_closes_the_new_vpcs_default_group() {
    let c = Case::new().await;
    let default = c.world.default_group(&c.vpc).await;
    assert_eq!(c.world.egress(&default).await, ["all traffic to 0.0.0.0/0", "all traffic to ::/0"]);
    let other = c.world.group(&c.vpc, "web").await;
    let other_before = c.world.egress(&other).await;
    let event = serde_json::from_str(
        &std::fs::read_to_string(egress_guard_tests::repo_root().join("events/create-vpc.json"))
            .unwrap()
            .replace("vpc-0c4d5e6f7a8b9c0d1", &c.vpc),
    )
    .unwrap();
    let (result, _) = c.invoke(event, &Settings::default()).await;
    let report = result.unwrap();
    assert_eq!(report.results[0].outcome, Outcome::Remediated);
    assert_eq!(report.results[0].group_id.as_deref(), Some(default.as_str()));
    assert!(c.world.egress(&default).await.is_empty(), "the default group is closed");
    assert_eq!(c.world.egress(&other).await, other_before, "the VPC's other group is untouched");
    let notices = c.world.notices(&c.queue).await;
    assert_eq!(notices.len(), 1);
    assert!(notices[0]["Subject"].as_str().unwrap().contains(&default), "{}", notices[0]["Subject"]);
}

/// The function's own account, from its ARN, as the Lambda runtime hands it over.
fn own() -> egress_guard_core::Home {
    egress_guard_core::Home::from_function_arn("arn:aws:lambda:eu-west-1:123456789012:function:egress-guard").unwrap()
}

/// Anyone who can send to the sweep queue gets no more than the schedule would do: a request for another account,
/// or for a region not guarded, is refused before any AWS call; the same request for a guarded one is swept.
#[tokio::test]
async fn a_sweep_request_outside_the_guarded_accounts_and_regions_is_refused_with_no_aws_call() {
    let c = Case::new().await;
    let (queue_url, _) = c.world.queue("sweeps").await;
    let queue = egress_guard_aws::SqsSweepQueue::new(c.world.sqs.clone(), &queue_url);
    let (regions, accounts) = (vec!["eu-west-1".to_owned()], c.world.organization_accounts());
    let groups = Counted::new(Ec2SecurityGroups::new(c.world.ec2.clone()));
    let notifier = SnsNotifier::new(c.world.sns.clone(), &c.topic);
    let (me, settings) = (own(), Settings::default());
    let sweep = async |account: &str, region: &str| {
        let body = serde_json::json!({"schedule_id": "s", "time": "2026-11-26T06:00:00Z", "account": account,
            "region": region, "run": 1});
        let fanout = Some(egress_guard_lambda::Fanout { queue: &queue, accounts: &accounts, regions: &regions });
        let ports = (&groups, &notifier, &NoHistory);
        let event = egress_guard_tests::sqs_event(&body.to_string());
        let answer = egress_guard_lambda::invoke(event, &settings, Some(&me), ports, fanout, || true);
        let Ok(InvocationReport::Sweeps(reports)) = answer.await.result else { panic!("not a sweep answer") };
        reports
    };
    assert!(sweep("999999999999", "eu-west-1").await.is_empty(), "another account");
    assert!(sweep("123456789012", "us-east-1").await.is_empty(), "a region not guarded");
    assert!(groups.calls().is_empty(), "no AWS call: {:?}", groups.calls());
    let reports = sweep("123456789012", "eu-west-1").await;
    assert_eq!((reports.len(), groups.calls()[0]), (1, "list"), "the guarded account and region is swept");
}

/// With `EGRESS_GUARD_OBSERVED_EGRESS_DAYS` on, the notice of a group whose interface has flow logs carries what the
/// interface was seen to start, as rules; a group whose interfaces have none gets one line, and both are remediated.
#[tokio::test]
async fn a_notice_carries_the_egress_the_groups_interfaces_were_seen_to_need() {
    let c = Case::new().await;
    let w = &c.world;
    let subnet = w.subnet(&c.vpc, "10.0.1.0/24").await;
    let seen = w.group(&c.vpc, "app").await;
    let eni = w.interface(&subnet, &[&seen], "10.0.1.10").await;
    let dark = w.group(&c.vpc, "dark").await;
    w.interface(&subnet, &[&dark], "10.0.1.11").await;
    w.cloudwatch_flow_log(&eni, "/vpc/flow/notice", None).await;
    let t = chrono::Utc::now().timestamp() - 600;
    let record = |dst: &str, sport: u16, dport: u16| {
        format!("2 123456789012 {eni} 10.0.1.10 {dst} {sport} {dport} 6 10 840 {t} {} ACCEPT OK", t + 60)
    };
    w.put_flow_records(
        "/vpc/flow/notice",
        &eni,
        &[record("10.0.9.9", 40000, 5432), record("203.0.113.10", 40001, 443)],
    )
    .await;

    let settings = Settings { observed_egress_days: 7, ..Settings::default() };
    let fleet = egress_guard_aws::Fleet::new(w.config.clone(), Default::default());
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&w.config), &c.topic);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for group in [&seen, &dark] {
        let mut event = event_for("authorize-egress-open-both", group);
        event["time"] = now.clone().into();
        event["detail"]["eventTime"] = now.clone().into();
        let report = handle(event, &settings, None, (&fleet, &notifier, &NoHistory), || true).await.result.unwrap();
        assert_eq!(only_outcome(report), Outcome::Remediated);
    }
    let notices = c.world.notices(&c.queue).await;
    let text_of = |group: &str| {
        let n = notices.iter().find(|n| n["MessageAttributes"]["group_id"]["Value"] == group).unwrap();
        n["Message"].as_str().unwrap().to_owned()
    };
    let text = text_of(&seen);
    assert!(
        text.contains("Observed egress (flow logs, last 7 days): 2 rules would allow what the group's interfaces started:\n  tcp 443 to 203.0.113.10/32  (1 flows, observed)\n  tcp 5432 to 10.0.0.0/16  (1 flows, the VPC)\n"),
        "{text}"
    );
    assert!(text.contains(&format!("egress-guard recommend --region eu-west-1 --group-id {seen} --days 7")), "{text}");
    let dark_text = text_of(&dark);
    let section: Vec<&str> = dark_text.lines().filter(|l| l.contains("Observed egress")).collect();
    assert_eq!(section, ["Observed egress: no flow logs: enable them to get a proposal."], "{dark_text}");
    assert!(w.egress(&seen).await.is_empty() && w.egress(&dark).await.is_empty());
}
