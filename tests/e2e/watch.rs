//! Blind regions named: before it sweeps, a sweep reads whether its region's changes can still be seen (a trail
//! logging them, the rule that takes them enabled) on moto's CloudTrail and EventBridge; a blind region's report says
//! `BLIND` and why in its subject and its `watch`, and counts in `BlindRegions`; a healthy one does not.

use egress_guard_aws::{Clients, Integrations, SnsNotifier};
use egress_guard_core::{Home, NoHistory, SweepReport};
use egress_guard_lambda::{InvocationReport, handle, metrics_line};
use egress_guard_tests::{REGION, World, event_for, perm};
use serde_json::Value;

const ACCOUNT: &str = "123456789012";
const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:egress-guard";

/// The function's rule as the template writes it: security-group changes, targeting the function.
async fn rule(world: &World, enabled: bool) {
    let events = aws_sdk_eventbridge::Client::new(&world.config);
    let pattern = serde_json::json!({"source": ["aws.ec2"], "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["ec2.amazonaws.com"], "eventName": ["AuthorizeSecurityGroupEgress", "CreateSecurityGroup"]}});
    let state = if enabled {
        aws_sdk_eventbridge::types::RuleState::Enabled
    } else {
        aws_sdk_eventbridge::types::RuleState::Disabled
    };
    events
        .put_rule()
        .name("egress-guard-changes")
        .event_pattern(pattern.to_string())
        .state(state)
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder().id("function").arn(FUNCTION_ARN).build().unwrap();
    events.put_targets().rule("egress-guard-changes").targets(target).send().await.unwrap();
}

/// One scheduled sweep of the region through the handler, with the real adapters; its report, its EMF line's
/// `BlindRegions`, and the notices it published.
async fn sweep(world: &World, topic: &str, queue: &str) -> (SweepReport, f64, Vec<Value>) {
    let clients = Clients { ec2: aws_sdk_ec2::Client::new(&world.config), config: world.config.clone() };
    let fleet = clients.fleet(Integrations::default());
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&world.config), topic);
    let home = Home::from_function_arn(FUNCTION_ARN).unwrap();
    let settings = egress_guard_core::Settings::default();
    let schedule = event_for("scheduled-sweep", "-");
    let invocation = handle(schedule, &settings, Some(&home), (&fleet, &notifier, &NoHistory), || true).await;
    let line: Value = serde_json::from_str(&metrics_line(&invocation, 1.0, 0)).unwrap();
    let blind = line["BlindRegions"].as_f64().expect("BlindRegions in the EMF line");
    let Ok(InvocationReport::Sweep(report)) = invocation.result else { panic!("{:?}", invocation.result) };
    (report, blind, world.notices(queue).await)
}

#[tokio::test]
async fn a_sweep_of_a_region_whose_only_trail_stopped_logging_says_blind_and_a_healthy_one_does_not() {
    let world = World::start().await;
    let (topic, queue) = world.topic_with_queue().await;
    let vpc = world.dual_stack_vpc().await;
    world.group_with(&vpc, "open", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    world.trail(REGION, "audit", true).await;
    rule(&world, true).await;

    let (healthy, blind, notices) = sweep(&world, &topic, &queue).await;
    let watch = healthy.watch.expect("the sweep looked");
    assert_eq!((watch.blind.as_deref(), watch.unread.len(), blind), (None, 0, 0.0), "{watch:?}");
    assert_eq!(watch.rule.as_deref(), Some("enabled egress-guard-changes"));
    assert_eq!(notices.len(), 1, "the summary of what it revoked");
    let subject = notices[0]["Subject"].as_str().unwrap();
    assert!(
        subject.starts_with("egress-guard sweep: revoked open egress on") && !subject.contains("BLIND"),
        "{subject}"
    );

    // The only trail stops: nothing is open any more, and the sweep still reports, BLIND first.
    world.cloudtrail_in(REGION).stop_logging().name("audit").send().await.unwrap();
    let (stopped, blind, notices) = sweep(&world, &topic, &queue).await;
    assert_eq!(stopped.watch.as_ref().and_then(|w| w.blind.as_deref()), Some("CloudTrail not logging"));
    assert_eq!(blind, 1.0, "BlindRegions counts it");
    assert_eq!(notices.len(), 1, "a blind region is told even with nothing revoked");
    assert_eq!(
        notices[0]["Subject"],
        format!("egress-guard sweep: BLIND (CloudTrail not logging) - {ACCOUNT} {REGION}")
    );
    let text = notices[0]["Message"].as_str().unwrap();
    assert!(text.contains("aws cloudtrail start-logging --name arn:aws:cloudtrail:"), "the fix: {text}");
    let json = serde_json::to_value(&stopped).unwrap();
    assert_eq!(json["watch"]["blind"], "CloudTrail not logging", "the report's JSON carries its watch: {json}");

    // Logging again, and the function's rule disabled: blind again, for that reason.
    world.cloudtrail_in(REGION).start_logging().name("audit").send().await.unwrap();
    rule(&world, false).await;
    let (disabled, blind, notices) = sweep(&world, &topic, &queue).await;
    assert_eq!((disabled.watch.and_then(|w| w.blind), blind), (Some("rule disabled".to_owned()), 1.0));
    assert_eq!(notices[0]["Subject"], format!("egress-guard sweep: BLIND (rule disabled) - {ACCOUNT} {REGION}"));
}

/// In organization mode a member's region is read through its remediation role: its trail, and its spoke's forwarder
/// to the organization bus. A forwarder turned off makes the member's region BLIND; turned on again, it is seen.
#[tokio::test]
async fn a_members_region_whose_forwarder_is_off_is_blind() {
    const MEMBER: &str = "111111111111";
    let hub = World::start().await;
    let (topic, queue) = hub.topic_with_queue().await;
    let member = hub.as_account(MEMBER, REGION).await;
    member.watched(REGION, &[REGION.to_owned()], None).await;
    let settings = egress_guard_core::Settings::from_vars(|name| match name {
        egress_guard_core::settings::vars::REMEDIATION_ROLE => Some("egress-guard-remediation".into()),
        egress_guard_core::settings::vars::MEMBER_ACCOUNTS => Some(MEMBER.into()),
        _ => None,
    })
    .unwrap();
    let clients = Clients { ec2: aws_sdk_ec2::Client::new(&hub.config), config: hub.config.clone() };
    let fleet = clients.fleet(Integrations::default());
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&hub.config), &topic);
    let home = Home::from_function_arn(FUNCTION_ARN).unwrap();
    let sweep = async || {
        let schedule = egress_guard_tests::event_in("scheduled-sweep", "-", MEMBER, REGION);
        let invocation = handle(schedule, &settings, Some(&home), (&fleet, &notifier, &NoHistory), || true).await;
        let Ok(InvocationReport::Sweep(report)) = invocation.result else { panic!("{:?}", invocation.result) };
        report.watch.expect("the sweep looked")
    };
    let seen = sweep().await;
    assert_eq!((seen.blind.as_deref(), seen.rule.as_deref()), (None, Some("enabled egress-guard")), "{seen:?}");
    let events = aws_sdk_eventbridge::Client::new(&member.config);
    events.disable_rule().name("egress-guard").send().await.unwrap();
    assert_eq!(sweep().await.blind.as_deref(), Some("rule disabled"));
    let notices = hub.notices(&queue).await;
    let subject = notices.last().unwrap()["Subject"].as_str().unwrap().to_owned();
    assert_eq!(subject, format!("egress-guard sweep: BLIND (rule disabled) - {MEMBER} {REGION}"));
}
