//! Where the notices go, end to end on moto behind the limits proxy (which runs Security Hub as AWS does): findings
//! imported and read back with GetFindings, the SNS message per protocol as e-mail and the chat integration get it,
//! and an event per outcome routed by rules into SQS.

use aws_sdk_securityhub::types::AwsSecurityFinding;
use egress_guard_aws::{DynamoHistory, Fleet, Integrations, SnsNotifier};
use egress_guard_core::{Outcome, Settings};
use egress_guard_lambda::{InvocationReport, handle};
use egress_guard_tests::{Capture, World, event_for, on_a_large_stack, perm};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";

struct Case {
    world: World,
    topic: String,
    queue: String,
    vpc: String,
    hub: aws_sdk_securityhub::Client,
}

impl Case {
    async fn new() -> Case {
        let world = World::start().await;
        let (topic, queue) = world.topic_with_queue().await;
        let vpc = world.dual_stack_vpc().await;
        let hub = aws_sdk_securityhub::Client::new(&world.config);
        Case { world, topic, queue, vpc, hub }
    }

    /// The handler on `event` with the real adapters and `integrations`: the outcome, or the error.
    async fn invoke(
        &self,
        event: Value,
        settings: &Settings,
        integrations: Integrations,
        history: Option<&DynamoHistory>,
    ) -> Result<Outcome, egress_guard_core::Error> {
        let fleet = Fleet::new(self.world.config.clone(), integrations);
        let notifier = SnsNotifier::new(self.world.sns.clone(), &self.topic);
        let history = history.cloned();
        let invocation = handle(event, settings, None, (&fleet, &notifier, &history), || true).await;
        invocation.result.map(|report| match report {
            InvocationReport::Event(report) => report.results[0].outcome,
            other => panic!("an event answered as a sweep: {other:?}"),
        })
    }

    /// Every finding in the hub, by id.
    async fn findings(&self) -> Vec<AwsSecurityFinding> {
        let mut found = self.hub.get_findings().send().await.unwrap().findings().to_vec();
        found.sort_by(|a, b| a.id().cmp(&b.id()));
        found
    }
}

fn hub_on() -> Integrations {
    Integrations { security_hub: true, event_bus: None }
}

fn status(f: &AwsSecurityFinding) -> (&str, &str, &str) {
    (
        f.id().unwrap(),
        f.workflow().and_then(|w| w.status()).map_or("-", |s| s.as_str()),
        f.compliance().and_then(|c| c.status()).map_or("-", |s| s.as_str()),
    )
}

#[test]
fn findings_keep_their_ids_across_runs_and_resolve_when_the_dry_run_group_is_remediated() {
    on_a_large_stack(findings_lifecycle);
}

#[test]
fn a_suppressed_finding_reopens_when_its_group_loses_the_exemption() {
    on_a_large_stack(exemption_lifecycle);
}

/// Security Hub keeps a finding's status on a re-import and reopens by itself only a resolved one: a suppressed
/// finding whose group is open again is set back to `NEW` by egress-guard.
async fn exemption_lifecycle() {
    let c = Case::new().await;
    c.hub.enable_security_hub().send().await.unwrap();
    let g = c.world.group(&c.vpc, "proxy").await;
    c.world.tag(&g, "egress-guard:exempt", "vendor proxy").await;
    let event = || event_for("authorize-egress-open-both", &g);
    let dry_run = Settings { dry_run: true, ..Settings::default() };
    let statuses = |found: Vec<AwsSecurityFinding>| -> Vec<(String, String)> {
        found.iter().map(|f| (status(f).0.to_owned(), format!("{} {}", status(f).1, status(f).2))).collect()
    };
    let ids =
        [format!("egress-guard/{ACCOUNT}/{REGION}/{g}/0.0.0.0/0"), format!("egress-guard/{ACCOUNT}/{REGION}/{g}/::/0")];
    let all = |s: &str| ids.iter().map(|id| (id.clone(), s.to_owned())).collect::<Vec<_>>();

    assert_eq!(c.invoke(event(), &dry_run, hub_on(), None).await.unwrap(), Outcome::Exempt);
    assert_eq!(statuses(c.findings().await), all("SUPPRESSED WARNING"));
    let untag = aws_sdk_ec2::types::Tag::builder().key("egress-guard:exempt").build();
    c.world.ec2.delete_tags().resources(&g).tags(untag).send().await.unwrap();
    assert_eq!(c.invoke(event(), &dry_run, hub_on(), None).await.unwrap(), Outcome::DryRun);
    assert_eq!(statuses(c.findings().await), all("NEW FAILED"), "open again, and shown as new");
    assert_eq!(c.invoke(event(), &Settings::default(), hub_on(), None).await.unwrap(), Outcome::Remediated);
    assert_eq!(statuses(c.findings().await), all("RESOLVED PASSED"));
    assert_eq!(c.world.moto.rejected(), Vec::<Value>::new(), "every call kept AWS's limits");
}

async fn findings_lifecycle() {
    let c = Case::new().await;
    c.hub.enable_security_hub().send().await.unwrap();
    let g = c.world.group(&c.vpc, "web").await;
    let event = || event_for("authorize-egress-open-both", &g);
    let dry_run = Settings { dry_run: true, ..Settings::default() };
    let ids =
        [format!("egress-guard/{ACCOUNT}/{REGION}/{g}/0.0.0.0/0"), format!("egress-guard/{ACCOUNT}/{REGION}/{g}/::/0")];

    assert_eq!(c.invoke(event(), &dry_run, hub_on(), None).await.unwrap(), Outcome::DryRun);
    let first = c.findings().await;
    let open: Vec<_> = first.iter().map(status).collect();
    assert_eq!(open, [(&*ids[0], "NEW", "FAILED"), (&*ids[1], "NEW", "FAILED")]);
    let f = &first[0];
    assert_eq!(f.product_arn(), Some(&*format!("arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default")));
    assert_eq!(f.resources()[0].id(), Some(&*format!("arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{g}")));
    assert!(f.title().unwrap().contains("dry run"), "{:?}", f.title());
    let fields = f.product_fields().unwrap();
    assert_eq!(fields["egress-guard/actor"], "arn:aws:iam::123456789012:user/alice");
    assert_eq!(fields["egress-guard/revoked"], "all traffic to 0.0.0.0/0");

    // The same change again: the same two findings, updated in place.
    assert_eq!(c.invoke(event(), &dry_run, hub_on(), None).await.unwrap(), Outcome::DryRun);
    let second = c.findings().await;
    assert_eq!(second.iter().map(status).collect::<Vec<_>>(), open, "stable ids, still new");
    assert!(second[0].updated_at() > first[0].updated_at(), "re-imported with a later UpdatedAt");

    // Remediated: Security Hub ignores Workflow on a re-import, so the status must come from BatchUpdateFindings.
    assert_eq!(c.invoke(event(), &Settings::default(), hub_on(), None).await.unwrap(), Outcome::Remediated);
    let closed = c.findings().await;
    assert_eq!(
        closed.iter().map(status).collect::<Vec<_>>(),
        [(&*ids[0], "RESOLVED", "PASSED"), (&*ids[1], "RESOLVED", "PASSED")]
    );
    let undo = &closed[0].product_fields().unwrap()["egress-guard/undo_command"];
    assert!(undo.starts_with(&format!("aws ec2 authorize-security-group-egress --region {REGION} --group-id {g}")));
    let exposed: i64 = closed[0].product_fields().unwrap()["egress-guard/exposure_seconds"].parse().unwrap();
    assert!(
        exposed >= 0 && fields.get("egress-guard/exposure_seconds").is_none(),
        "closed: exposed {exposed} s; open: none"
    );
    assert_eq!(c.world.moto.rejected(), Vec::<Value>::new(), "every call kept AWS's limits");
}

#[tokio::test]
async fn a_hub_not_enabled_fails_the_invocation_naming_it_after_the_revoke_and_the_notice() {
    let c = Case::new().await;
    let g = c.world.group(&c.vpc, "web").await;
    let err = c.invoke(event_for("authorize-egress-open-both", &g), &Settings::default(), hub_on(), None).await;
    let message = err.unwrap_err().to_string();
    assert!(message.contains("InvalidAccess") && message.contains(&g), "{message}");
    assert!(c.world.egress(&g).await.is_empty(), "the revoke stands");
    assert_eq!(c.world.notices(&c.queue).await.len(), 1, "people were told");
}

#[tokio::test]
async fn the_notice_is_text_for_email_and_a_card_for_chat() {
    let c = Case::new().await;
    let chat = Capture::start();
    // moto delivers an `https` subscription's message to any URL: here, a capture on 127.0.0.1.
    c.world.sns.subscribe().topic_arn(&c.topic).protocol("https").endpoint(&chat.url).send().await.unwrap();
    let g = c.world.group_with(&c.vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let settings = Settings::default();
    let outcome = c.invoke(event_for("authorize-egress-open-ipv4", &g), &settings, Integrations::default(), None).await;
    assert_eq!(outcome.unwrap(), Outcome::Remediated);

    // As sent: one message per protocol; e-mail (and SQS, and any protocol not named) gets `default`.
    let published = c.world.moto.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["MessageStructure"], "json");
    let structure: Value = serde_json::from_str(published[0]["Message"].as_str().unwrap()).unwrap();
    let keys: Vec<&String> = structure.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["default", "https"]);
    let email = structure["default"].as_str().unwrap();
    assert!(email.starts_with("egress-guard REVOKED 1 egress rule of"), "{email}");
    assert!(email.contains("To undo"), "{email}");
    let queued = c.world.notices(&c.queue).await;
    assert_eq!(queued[0]["Message"], email, "the queue got the e-mail text");

    // The chat subscriber's envelope carries the card.
    let bodies = chat.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let envelope: Value = serde_json::from_str(&bodies[0]).unwrap();
    let card: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!((&card["version"], &card["source"]), (&json!("1.0"), &json!("custom")));
    assert_eq!(card["content"]["textType"], "client-markdown");
    assert_eq!(card["content"]["title"], format!("egress-guard: Revoked 1 open egress rule on {g} (web) - {REGION}"));
    let description = card["content"]["description"].as_str().unwrap();
    assert!(description.contains("*Revoked*\n• tcp 443 to 0.0.0.0/0"), "{description}");
    assert!(description.contains("*Changed by* arn:aws:iam::123456789012:user/alice"), "{description}");
    let steps = card["content"]["nextSteps"].as_array().unwrap();
    assert!(
        steps[0]
            .as_str()
            .unwrap()
            .contains(&format!("aws ec2 authorize-security-group-egress --region {REGION} --group-id {g}")),
        "{steps:?}"
    );
    assert_eq!(card["metadata"]["threadId"], format!("egress-guard/{ACCOUNT}/{REGION}/{g}"));
    assert_eq!(card["metadata"]["eventType"], "remediated");
}

#[tokio::test]
async fn each_outcome_is_an_event_that_rules_route_and_repeats_reach_the_ticket_queue() {
    let c = Case::new().await;
    let events = aws_sdk_eventbridge::Client::new(&c.world.config);
    let route = |name: &'static str, pattern: Value, queue_arn: String| {
        let events = events.clone();
        async move {
            events.put_rule().name(name).event_pattern(pattern.to_string()).send().await.unwrap();
            let target = aws_sdk_eventbridge::types::Target::builder().id("q").arn(queue_arn).build().unwrap();
            events.put_targets().rule(name).targets(target).send().await.unwrap();
        }
    };
    let (remediated, remediated_arn) = c.world.queue("remediated").await;
    let (tickets, tickets_arn) = c.world.queue("tickets").await;
    route(
        "remediated",
        json!({"source": ["egress-guard"], "detail-type": ["Security Group Egress Remediated"]}),
        remediated_arn,
    )
    .await;
    // The README's rule: a destination revoked again within the window opens a ticket.
    let repeats = json!({"source": ["egress-guard"], "detail": {"repeat": {"times": [{"numeric": [">=", 2]}]}}});
    route("repeats", repeats, tickets_arn).await;

    let bus = Integrations { security_hub: false, event_bus: Some("default".into()) };
    let history = DynamoHistory::new(aws_sdk_dynamodb::Client::new(&c.world.config), c.world.history_table().await);
    let g = c.world.group_with(&c.vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let event = || event_for("authorize-egress-open-ipv4", &g);
    let dry_run = Settings { dry_run: true, ..Settings::default() };
    assert_eq!(c.invoke(event(), &dry_run, bus.clone(), None).await.unwrap(), Outcome::DryRun);
    assert_eq!(
        c.invoke(event(), &Settings::default(), bus.clone(), Some(&history)).await.unwrap(),
        Outcome::Remediated
    );
    c.world.authorize(&g, vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    assert_eq!(
        c.invoke(event(), &Settings::default(), bus.clone(), Some(&history)).await.unwrap(),
        Outcome::Remediated
    );

    let routed: Vec<Value> =
        c.world.drain(&remediated).await.iter().map(|b| serde_json::from_str(b).unwrap()).collect();
    assert_eq!(routed.len(), 2, "the two remediations, not the dry run: {routed:?}");
    let e = &routed[0];
    assert_eq!((&e["source"], &e["detail-type"]), (&json!("egress-guard"), &json!("Security Group Egress Remediated")));
    assert_eq!(e["resources"], json!([format!("arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{g}")]));
    assert_eq!((&e["detail"]["outcome"], &e["detail"]["group"]["id"]), (&json!("remediated"), &json!(g)));
    assert_eq!(e["detail"]["revoked"][0]["destination"], json!({"cidr": "0.0.0.0/0"}));
    assert!(e["detail"]["undo_command"].as_str().unwrap().starts_with("aws ec2 authorize-security-group-egress"));
    // The exposure it ended, from the change CloudTrail recorded to the revoke's answer.
    let seconds = e["detail"]["exposure_seconds"].as_i64().expect("exposure_seconds");
    let (opened, closed) =
        (e["detail"]["cause"]["event_time"].as_str().unwrap(), e["detail"]["closed_at"].as_str().unwrap());
    let between =
        chrono::DateTime::parse_from_rfc3339(closed).unwrap() - chrono::DateTime::parse_from_rfc3339(opened).unwrap();
    assert_eq!(seconds, between.num_seconds(), "{}", e["detail"]);

    let ticketed: Vec<Value> = c.world.drain(&tickets).await.iter().map(|b| serde_json::from_str(b).unwrap()).collect();
    assert_eq!(ticketed.len(), 1, "only the second revoke is a repeat: {ticketed:?}");
    assert_eq!(ticketed[0]["detail"]["repeat"]["times"], 2);
    assert_eq!(c.world.moto.rejected(), Vec::<Value>::new(), "every call kept AWS's limits");
}

/// The largest group moto allows (60 outbound rules; AWS's default quota is 60 per family), each rule described in
/// 255 characters and naming a full IPv6 address, remediated with every outlet on: its rule lists are past Security Hub's 2,048
/// characters a field, and the limits proxy, whose limits are its own, refuses nothing.
#[test]
fn a_group_at_the_default_rule_quota_is_told_everywhere_within_each_services_own_limits() {
    on_a_large_stack(rule_quota);
}

async fn rule_quota() {
    let c = Case::new().await;
    c.hub.enable_security_hub().send().await.unwrap();
    let description = "quota-".repeat(42) + "abc";
    assert_eq!(description.len(), 255);
    let v4: Vec<String> = (0..29).map(|i| format!("10.{i}.0.0/24")).collect();
    let v6: Vec<String> = (0..29).map(|i| format!("2001:db8:1234:5678:9abc:def0:{:x}:5678/128", 0x1000 + i)).collect();
    let narrow = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(1024)
        .to_port(65535)
        .set_ip_ranges(Some(
            v4.iter()
                .map(|c| aws_sdk_ec2::types::IpRange::builder().cidr_ip(c).description(&description).build())
                .collect(),
        ))
        .set_ipv6_ranges(Some(
            v6.iter()
                .map(|c| aws_sdk_ec2::types::Ipv6Range::builder().cidr_ipv6(c).description(&description).build())
                .collect(),
        ))
        .build();
    let g = c.world.group_with(&c.vpc, "quota", vec![narrow, perm("-1", None, &["0.0.0.0/0"], &["::/0"])]).await;
    let before = c.world.egress(&g).await;
    assert_eq!(before.len(), 60);
    let everything = Integrations { security_hub: true, event_bus: Some("default".into()) };
    let outcome = c.invoke(event_for("authorize-egress-open-both", &g), &Settings::default(), everything, None).await;
    assert_eq!(outcome.unwrap(), Outcome::Remediated);
    assert_eq!(c.world.egress(&g).await.len(), 58, "only the two open rules went");
    assert_eq!(c.world.moto.rejected(), Vec::<Value>::new(), "every call kept AWS's limits");
    // The finding's list of the rules before was longer than a field may be, and was cut to it.
    assert!(before.join(", ").len() > 2048);
    for finding in c.findings().await {
        let listed = &finding.product_fields().unwrap()["egress-guard/before"];
        assert_eq!(listed.chars().count(), 2048, "{listed}");
        assert!(listed.ends_with("..."), "{listed}");
    }
}
