//! What machines get of a notice, over in-memory fakes: Security Hub findings (one per open destination, stable id,
//! status by outcome, inside the API's limits), the chat card, and the audit's findings.

mod common;

use common::{EVENT_GROUP, FakeGroups, FakeNotifier, event, group, handled, rule};
use egress_guard_core::notify::asff::{self, AsffFinding, ComplianceStatus, Label, WorkflowStatus};
use egress_guard_core::notify::chat::Card;
use egress_guard_core::{AuditReport, EgressRule, NoOutlets, Notice, Outcome, Settings, parse_event};

const NOW: &str = "2026-11-26T10:00:00.000Z";

/// The notice for `event_name` on the event's group holding `egress`, with `groups` configured by `setup`.
fn notice_with(
    event_name: &str,
    egress: Vec<EgressRule>,
    settings: &Settings,
    setup: impl FnOnce(&mut FakeGroups),
) -> Notice {
    let mut groups = FakeGroups::with([group(EVENT_GROUP, egress)]);
    setup(&mut groups);
    let trigger = parse_event(&event(event_name)).unwrap();
    let report = handled(&trigger, settings, &groups, &FakeNotifier::default(), &NoOutlets).unwrap();
    report.results[0].notice.clone().expect("a notice")
}

fn notice(event_name: &str, egress: Vec<EgressRule>, settings: &Settings) -> Notice {
    notice_with(event_name, egress, settings, |_| {})
}

fn status(f: &AsffFinding) -> (&str, WorkflowStatus, ComplianceStatus, Label) {
    (f.id.as_str(), f.workflow.status, f.compliance.status, f.severity.label)
}

fn id(destination: &str) -> String {
    format!("egress-guard/123456789012/eu-west-1/{EVENT_GROUP}/{destination}")
}

fn open_both() -> Vec<EgressRule> {
    vec![rule("all traffic to 0.0.0.0/0"), rule("all traffic to ::/0"), rule("tcp 443 to 10.0.0.0/8")]
}

#[test]
fn a_remediated_group_gives_one_resolved_finding_per_destination_with_the_undo() {
    let n = notice("authorize-egress-open-both", open_both(), &Settings::default());
    assert_eq!(n.outcome, Outcome::Remediated);
    let findings = asff::from_notice(&n, NOW);
    let got: Vec<_> = findings.iter().map(status).collect();
    use {ComplianceStatus::Passed, Label::Informational, WorkflowStatus::Resolved};
    assert_eq!(
        got,
        [(&*id("0.0.0.0/0"), Resolved, Passed, Informational), (&*id("::/0"), Resolved, Passed, Informational)]
    );
    let v4 = &findings[0];
    assert_eq!(v4.title, format!("egress-guard revoked egress to 0.0.0.0/0 on {EVENT_GROUP} (web)"));
    assert_eq!(v4.product_fields["egress-guard/revoked"], "all traffic to 0.0.0.0/0");
    assert_eq!(v4.product_fields["egress-guard/after"], "tcp 443 to 10.0.0.0/8");
    assert_eq!(v4.product_fields["egress-guard/actor"], "arn:aws:iam::123456789012:user/alice");
    // Each finding's undo restores its own destination only.
    let undo = format!(
        "aws ec2 authorize-security-group-egress --region eu-west-1 --group-id {EVENT_GROUP} --ip-permissions \
         '[{{\"IpProtocol\":\"-1\",\"IpRanges\":[{{\"CidrIp\":\"0.0.0.0/0\"}}]}}]'"
    );
    assert_eq!(v4.product_fields["egress-guard/undo_command"], undo);
    assert!(v4.remediation.recommendation.text.ends_with(&undo), "{}", v4.remediation.recommendation.text);
    assert!(findings[1].product_fields["egress-guard/undo_command"].contains("::/0"));
    assert_eq!((v4.created_at.as_str(), v4.updated_at.as_str()), (NOW, NOW), "equal, as creation wants");
    assert_eq!(v4.first_observed_at, n.cause.event_time);
}

#[test]
fn a_dry_run_gives_new_failed_findings_and_no_undo() {
    let n = notice("authorize-egress-open-both", open_both(), &Settings { dry_run: true, ..Settings::default() });
    let findings = asff::from_notice(&n, NOW);
    use {ComplianceStatus::Failed, Label::High, WorkflowStatus::New};
    let got: Vec<_> = findings.iter().map(status).collect();
    assert_eq!(got, [(&*id("0.0.0.0/0"), New, Failed, High), (&*id("::/0"), New, Failed, High)]);
    assert!(findings[0].title.ends_with("allows egress to 0.0.0.0/0 (dry run: not revoked)"), "{}", findings[0].title);
    assert!(!findings[0].product_fields.contains_key("egress-guard/undo_command"));
}

#[test]
fn a_rule_still_open_after_the_revoke_is_an_open_finding() {
    let n = notice_with("authorize-egress-open-ipv4", vec![rule("tcp 443 to 0.0.0.0/0")], &Settings::default(), |g| {
        *g.reopen_after_revoke.get_mut().unwrap() = Some(rule("tcp 443 to 0.0.0.0/0"));
    });
    assert_eq!(n.outcome, Outcome::VerificationFailed);
    let findings = asff::from_notice(&n, NOW);
    assert_eq!(findings.len(), 1);
    assert_eq!(status(&findings[0]), (&*id("0.0.0.0/0"), WorkflowStatus::New, ComplianceStatus::Failed, Label::High));
    assert!(findings[0].title.contains("still allows egress to 0.0.0.0/0"), "{}", findings[0].title);
}

#[test]
fn an_exempt_group_with_open_egress_is_suppressed_with_its_reason() {
    let n = notice_with("authorize-egress-open-both", open_both(), &Settings::default(), |g| {
        let mut groups = g.groups.lock().unwrap();
        groups.get_mut(EVENT_GROUP).unwrap().tags.insert("egress-guard:exempt".into(), "vendor proxy".into());
    });
    assert_eq!(n.outcome, Outcome::Exempt);
    let findings = asff::from_notice(&n, NOW);
    use {ComplianceStatus::Warning, Label::Low, WorkflowStatus::Suppressed};
    let got: Vec<_> = findings.iter().map(status).collect();
    assert_eq!(got, [(&*id("0.0.0.0/0"), Suppressed, Warning, Low), (&*id("::/0"), Suppressed, Warning, Low)]);
    assert!(findings[0].description.contains("vendor proxy"), "{}", findings[0].description);
}

#[test]
fn split_ranges_left_open_keep_their_destination_open_and_an_allowed_port_keeps_it_on_purpose() {
    // Compliant, but the two halves add up to all of IPv4: open, as a /0 would be.
    let halves = vec![rule("all traffic to 0.0.0.0/1"), rule("all traffic to 128.0.0.0/1")];
    let n = notice("authorize-egress-open-ipv4", halves, &Settings::default());
    assert_eq!(n.outcome, Outcome::Compliant);
    let findings = asff::from_notice(&n, NOW);
    assert_eq!(findings.len(), 1);
    assert_eq!(status(&findings[0]), (&*id("0.0.0.0/0"), WorkflowStatus::New, ComplianceStatus::Failed, Label::High));
    assert!(findings[0].title.contains("through split ranges"), "{}", findings[0].title);

    // Remediated, with tcp 443 to 0.0.0.0/0 allowed: that destination stays open on purpose, not resolved.
    let settings = Settings { allowed: vec!["tcp:443".parse().unwrap()], ..Settings::default() };
    let egress = vec![rule("all traffic to 0.0.0.0/0"), rule("tcp 443 to 0.0.0.0/0"), rule("all traffic to ::/0")];
    let n = notice("authorize-egress-open-both", egress, &settings);
    assert_eq!(n.outcome, Outcome::Remediated);
    let got: Vec<_> = asff::from_notice(&n, NOW).iter().map(|f| (f.id.clone(), f.workflow.status)).collect();
    assert_eq!(got, [(id("0.0.0.0/0"), WorkflowStatus::Suppressed), (id("::/0"), WorkflowStatus::Resolved)]);
}

#[test]
fn outcomes_security_hub_is_not_told_of_give_no_finding() {
    let settings = Settings { notify_compliant: true, ..Settings::default() };
    let n = notice("authorize-egress-restricted", vec![rule("tcp 5432 to 10.20.0.0/16")], &settings);
    assert_eq!(n.outcome, Outcome::Compliant);
    assert!(asff::from_notice(&n, NOW).is_empty());
}

#[test]
fn every_field_stays_inside_batch_import_findings_limits_for_a_group_of_many_rules() {
    let mut egress: Vec<EgressRule> = (1..=300).map(|p| rule(&format!("tcp {p} to 0.0.0.0/0"))).collect();
    egress.extend((1..=300).map(|p| rule(&format!("udp {p} to ::/0"))));
    let n = notice("authorize-egress-open-both", egress, &Settings::default());
    assert_eq!(n.revoked.len(), 600);
    for f in asff::from_notice(&n, NOW) {
        assert!(f.title.chars().count() <= asff::MAX_TITLE_CHARS);
        assert!(f.description.chars().count() <= asff::MAX_DESCRIPTION_CHARS);
        assert!(f.description.ends_with("..."), "cut, and says so");
        assert!(f.remediation.recommendation.text.chars().count() <= asff::MAX_RECOMMENDATION_CHARS);
        assert!(f.product_fields.len() <= 50);
        for (key, value) in &f.product_fields {
            assert!(key.len() <= 128 && value.chars().count() <= asff::MAX_FIELD_CHARS, "{key}");
        }
        assert!(serde_json::to_vec(&f).unwrap().len() < 240 * 1024);
    }
    // The card keeps to its size too, and points to the e-mail for an undo command too long for chat.
    let card: serde_json::Value = serde_json::from_str(&Card::of(&n).to_json()).unwrap();
    assert!(
        card["content"]["description"].as_str().unwrap().chars().count()
            <= egress_guard_core::notify::chat::MAX_DESCRIPTION_CHARS
    );
    assert_eq!(card["content"]["nextSteps"][0], "To undo: the command is in the e-mail notice.");
}

#[test]
fn the_card_of_a_dry_run_says_nothing_changed_and_how_to_narrow_the_group() {
    let n = notice(
        "authorize-egress-open-ipv4",
        vec![rule("tcp 443 to 0.0.0.0/0")],
        &Settings { dry_run: true, ..Settings::default() },
    );
    let card: serde_json::Value = serde_json::from_str(&Card::of(&n).to_json()).unwrap();
    assert_eq!(card["content"]["title"], n.subject());
    assert!(card["content"]["description"].as_str().unwrap().contains("*Would revoke*\n• tcp 443 to 0.0.0.0/0"));
    let steps: Vec<&str> =
        card["content"]["nextSteps"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(
        steps,
        [
            "Dry run: nothing was changed. Turn DryRun off to revoke.".to_owned(),
            format!("Allow only what is needed: `egress-guard recommend --region eu-west-1 --group-id {EVENT_GROUP}`"),
        ]
    );
    assert_eq!(card["metadata"]["eventType"], "dry_run");
}

#[test]
fn the_audit_gives_one_finding_per_group_and_family_open_when_anything_is_to_revoke() {
    let mut exempt = group("sg-0000000000000000e", vec![rule("all traffic to ::/0")]);
    exempt.tags.insert("egress-guard:exempt".into(), "proxy".into());
    let mixed = group(
        EVENT_GROUP,
        vec![rule("tcp 443 to 0.0.0.0/0"), rule("all traffic to 0.0.0.0/0"), rule("tcp 443 to ::/0")],
    );
    let settings = Settings { allowed: vec!["tcp:443".parse().unwrap()], ..Settings::default() };
    let report = AuditReport::new(vec![("eu-west-1".into(), Ok(vec![mixed, exempt]))], &settings);
    let findings = asff::from_audit(&report, NOW);
    let got: Vec<_> = findings.iter().map(|f| (f.id.as_str(), f.workflow.status)).collect();
    let exempt_id = "egress-guard/123456789012/eu-west-1/sg-0000000000000000e/::/0".to_owned();
    let mut want = vec![
        (id("0.0.0.0/0"), WorkflowStatus::New),
        (id("::/0"), WorkflowStatus::Suppressed),
        (exempt_id, WorkflowStatus::Suppressed),
    ];
    let mut got: Vec<(String, WorkflowStatus)> = got.into_iter().map(|(i, s)| (i.to_owned(), s)).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
}

#[test]
fn a_finding_in_an_isolated_region_names_the_isolated_partition_in_its_arns() {
    let cases = [
        (
            "us-iso-east-1",
            "aws-iso",
            "arn:aws-iso:ec2:us-iso-east-1:123456789012:security-group/",
            "arn:aws-iso:securityhub:us-iso-east-1:123456789012:product/123456789012/default",
        ),
        (
            "us-isob-east-1",
            "aws-iso-b",
            "arn:aws-iso-b:ec2:us-isob-east-1:123456789012:security-group/",
            "arn:aws-iso-b:securityhub:us-isob-east-1:123456789012:product/123456789012/default",
        ),
    ];
    for (region, partition, group_arn, product_arn) in cases {
        assert_eq!(asff::group_arn("123456789012", region, EVENT_GROUP), format!("{group_arn}{EVENT_GROUP}"));
        assert_eq!(asff::product_arn("123456789012", region), product_arn);
        let open = group(EVENT_GROUP, vec![rule("all traffic to 0.0.0.0/0")]);
        let report = AuditReport::new(vec![(region.into(), Ok(vec![open]))], &Settings::default());
        let findings = asff::from_audit(&report, NOW);
        assert_eq!(findings.len(), 1, "{region}");
        let resource = &findings[0].resources[0];
        assert_eq!((findings[0].product_arn.as_str(), resource.partition.as_str()), (product_arn, partition));
        assert_eq!(resource.id, format!("{group_arn}{EVENT_GROUP}"));
    }
}
