//! The sweep over in-memory fakes: every open group fixed, nothing else touched, one summary, and a clean stop
//! when time runs short.

mod common;

use std::cell::Cell;

use common::{FakeGroups, FakeNotifier, FakeOutlets, event, group, rule};
use egress_guard_core::notify::asff;
use egress_guard_core::{
    NoFlowLogs, NoHistory, NoOutlets, Outcome, Ports, Settings, SweepReport, SweepScope, parse_event, sweep,
};

const OPEN: [&str; 3] = ["sg-0000000000000000a", "sg-0000000000000000b", "sg-0000000000000000c"];
const RESTRICTED: &str = "sg-0000000000000000d";
const EXEMPT: &str = "sg-0000000000000000e";

fn world() -> FakeGroups {
    let open = || vec![rule("all traffic to 0.0.0.0/0"), rule("tcp 443 to 10.0.0.0/8")];
    let mut exempt = group(EXEMPT, vec![rule("all traffic to ::/0")]);
    exempt.tags.insert("egress-guard:exempt".into(), "proxy".into());
    let mut all: Vec<_> = OPEN.iter().map(|id| group(id, open())).collect();
    all.push(group(RESTRICTED, vec![rule("udp 53 to 10.0.0.2/32")]));
    all.push(exempt);
    FakeGroups::with(all)
}

fn run(groups: &FakeGroups, notifier: &FakeNotifier, settings: &Settings, budget: usize) -> SweepReport {
    run_in(groups, notifier, settings, &SweepScope::default(), budget)
}

/// `run` with what the function learned for the sweep (its watch, the digest).
fn run_in(
    groups: &FakeGroups,
    notifier: &FakeNotifier,
    settings: &Settings,
    scope: &SweepScope,
    budget: usize,
) -> SweepReport {
    let trigger = parse_event(&event("scheduled-sweep")).unwrap();
    let left = Cell::new(budget);
    let has_time = || {
        let ok = left.get() > 0;
        left.set(left.get().saturating_sub(1));
        ok
    };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(sweep(
        &trigger,
        settings,
        scope,
        Ports { groups, notifier, history: &NoHistory, flow_logs: &NoFlowLogs, outlets: &NoOutlets },
        has_time,
    ))
    .unwrap()
}

#[test]
fn sweep_delivers_each_remediated_and_exempt_group_to_the_outlets_in_one_call() {
    let (groups, notifier, outlets) = (world(), FakeNotifier::default(), FakeOutlets::default());
    let trigger = parse_event(&event("scheduled-sweep")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let ports =
        Ports { groups: &groups, notifier: &notifier, history: &NoHistory, flow_logs: &NoFlowLogs, outlets: &outlets };
    rt.block_on(sweep(&trigger, &Settings::default(), &SweepScope::default(), ports, || true)).unwrap();
    let delivered = outlets.delivered.lock().unwrap();
    assert_eq!(delivered.len(), 1, "one delivery for the sweep");
    let told: Vec<(&str, Outcome)> = delivered[0].iter().map(|n| (n.group.id.as_str(), n.outcome)).collect();
    let mut expected: Vec<(&str, Outcome)> = OPEN.iter().map(|id| (*id, Outcome::Remediated)).collect();
    expected.push((EXEMPT, Outcome::Exempt));
    assert_eq!(told, expected, "the list's order; the compliant group is not told");
}

/// Once its report is out, a sweep is done: outlets that fail are told in the report (and the log, each notice whole),
/// never a failure that would have SQS deliver the sweep, and its report, again.
#[test]
fn a_sweep_whose_outlets_fail_stands_and_says_so() {
    let (groups, notifier) = (world(), FakeNotifier::default());
    let outlets = FakeOutlets { fail: true, ..FakeOutlets::default() };
    let trigger = parse_event(&event("scheduled-sweep")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let ports =
        Ports { groups: &groups, notifier: &notifier, history: &NoHistory, flow_logs: &NoFlowLogs, outlets: &outlets };
    let report = rt.block_on(sweep(&trigger, &Settings::default(), &SweepScope::default(), ports, || true)).unwrap();
    assert!(report.outlets_failed.is_some(), "{report:?}");
    assert_eq!(report.count(Outcome::Remediated), 3, "the revokes stand");
    assert_eq!(notifier.sent().len(), 1, "the report went out once");
}

/// A revoke refused (an SCP, a missing permission) leaves the group open: its Security Hub finding is new, failed and
/// high, and says it was refused and by what error, as ASFF spells them.
#[test]
fn a_refused_revoke_is_a_new_failed_high_finding_naming_the_error() {
    let groups = FakeGroups { fail_revoke: Some(OPEN[1].to_owned()), ..world() };
    let (notifier, outlets) = (FakeNotifier::default(), FakeOutlets::default());
    let trigger = parse_event(&event("scheduled-sweep")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let ports =
        Ports { groups: &groups, notifier: &notifier, history: &NoHistory, flow_logs: &NoFlowLogs, outlets: &outlets };
    rt.block_on(sweep(&trigger, &Settings::default(), &SweepScope::default(), ports, || true)).unwrap();
    let delivered = outlets.delivered.lock().unwrap();
    let refused: Vec<_> = delivered[0].iter().filter(|n| n.group.id == OPEN[1]).collect();
    assert_eq!(refused.len(), 1, "the refused group is told to the outlets");
    let findings = asff::from_notice(refused[0], "2026-12-03T10:00:00Z");
    assert_eq!(findings.len(), 1, "one open destination, 0.0.0.0/0: {findings:?}");
    let json = serde_json::to_value(&findings[0]).unwrap();
    assert_eq!(
        (&json["Workflow"]["Status"], &json["Compliance"]["Status"], &json["Severity"]["Label"]),
        (&serde_json::json!("NEW"), &serde_json::json!("FAILED"), &serde_json::json!("HIGH"))
    );
    let (title, description) = (json["Title"].as_str().unwrap(), json["Description"].as_str().unwrap());
    assert!(title.contains("refused") && description.contains("UnauthorizedOperation"), "{title} / {description}");
    assert_eq!(groups.egress(OPEN[1]), [rule("all traffic to 0.0.0.0/0"), rule("tcp 443 to 10.0.0.0/8")], "as it was");
}

#[test]
fn sweep_fixes_every_open_group_touches_nothing_else_and_sends_one_summary() {
    let (groups, notifier) = (world(), FakeNotifier::default());
    let before_restricted = groups.egress(RESTRICTED);
    let before_exempt = groups.egress(EXEMPT);
    let s = run(&groups, &notifier, &Settings::default(), usize::MAX);
    assert!(s.complete);
    assert_eq!((s.count(Outcome::Remediated), s.count(Outcome::Compliant), s.count(Outcome::Exempt)), (3, 1, 1));
    for id in OPEN {
        assert_eq!(groups.egress(id), [rule("tcp 443 to 10.0.0.0/8")], "{id}");
    }
    assert_eq!(groups.egress(RESTRICTED), before_restricted);
    assert_eq!(groups.egress(EXEMPT), before_exempt);
    let sent = notifier.sent();
    assert_eq!(sent.len(), 1, "one summary, no per-group notice");
    assert!(sent[0].subject.contains("revoked open egress on 3 group(s)"), "{}", sent[0].subject);
    for id in OPEN {
        assert!(
            sent[0]
                .text
                .contains(&format!("undo: aws ec2 authorize-security-group-egress --region eu-west-1 --group-id {id}"))
        );
    }
    assert!(sent[0].attributes.contains(&("trigger", "sweep".to_owned())));
}

#[test]
fn dry_run_sweep_changes_nothing_and_reports_what_it_would_do() {
    let (groups, notifier) = (world(), FakeNotifier::default());
    let s = run(&groups, &notifier, &Settings { dry_run: true, ..Settings::default() }, usize::MAX);
    assert_eq!(s.count(Outcome::DryRun), 3);
    assert!(groups.calls().iter().all(|c| !c.starts_with("revoke")), "{:?}", groups.calls());
    let text = &notifier.sent()[0].text;
    assert_eq!(text.matches("would revoke all traffic to 0.0.0.0/0").count(), 3, "{text}");
}

#[test]
fn sweep_cut_short_stops_between_groups_and_reports_progress() {
    let (groups, notifier) = (world(), FakeNotifier::default());
    let s = run(&groups, &notifier, &Settings::default(), 1);
    assert!(!s.complete);
    assert_eq!(s.count(Outcome::Remediated), 1);
    let fixed: Vec<&str> = OPEN.iter().copied().filter(|id| groups.egress(id).len() == 1).collect();
    let untouched: Vec<&str> = OPEN.iter().copied().filter(|id| groups.egress(id).len() == 2).collect();
    assert_eq!((fixed.len(), untouched.len()), (1, 2), "each group is fully done or untouched");
    assert!(notifier.sent()[0].text.contains("stopped early"), "{}", notifier.sent()[0].text);
    assert_eq!(s.groups_checked, 1, "the groups before where it stopped");
}

#[test]
fn sweep_with_nothing_open_sends_nothing() {
    let groups = FakeGroups::with([group(RESTRICTED, vec![rule("udp 53 to 10.0.0.2/32")])]);
    let notifier = FakeNotifier::default();
    let s = run(&groups, &notifier, &Settings::default(), usize::MAX);
    assert_eq!(s.count(Outcome::Compliant), 1);
    assert!(notifier.sent().is_empty());
    assert_eq!(groups.calls(), ["list"]);
}

#[test]
fn a_failed_revoke_is_a_line_of_its_own_and_the_sweep_goes_on() {
    let groups = FakeGroups { fail_revoke: Some(OPEN[1].to_owned()), ..world() };
    let notifier = FakeNotifier::default();
    let s = run(&groups, &notifier, &Settings::default(), usize::MAX);
    assert_eq!((s.count(Outcome::Remediated), s.count(Outcome::RevokeFailed)), (2, 1));
    assert!(s.complete);
    for id in [OPEN[0], OPEN[2]] {
        assert_eq!(groups.egress(id), [rule("tcp 443 to 10.0.0.0/8")], "{id} is fixed");
    }
    let sent = notifier.sent();
    assert_eq!(sent.len(), 1, "one report");
    assert!(sent[0].subject.contains("revoked open egress on 2 group(s), ACTION NEEDED on 1"), "{}", sent[0].subject);
    let text = &sent[0].text;
    assert!(text.contains(&format!("{} \"web\": revoke_failed\n  error: ", OPEN[1])), "{text}");
    assert!(text.contains("UnauthorizedOperation"), "{text}");
    for id in [OPEN[0], OPEN[2]] {
        assert!(text.contains(&format!("--group-id {id} --ip-permissions")), "{id}'s undo: {text}");
    }
}

#[test]
fn exempt_groups_with_open_egress_are_counted_and_named_with_their_reason() {
    let (groups, notifier) = (world(), FakeNotifier::default());
    let s = run(&groups, &notifier, &Settings::default(), usize::MAX);
    assert_eq!(s.count(Outcome::Exempt), 1);
    let text = &notifier.sent()[0].text;
    assert!(
        text.contains(&format!(
            "{EXEMPT} \"web\": exempt\n  OPEN (exempt) all traffic to ::/0\n  exempt: tag egress-guard:exempt: proxy"
        )),
        "{text}"
    );
}

#[test]
fn a_sweep_cut_short_names_the_group_it_stopped_at() {
    let (groups, notifier) = (world(), FakeNotifier::default());
    let s = run(&groups, &notifier, &Settings::default(), 1);
    let stopped = s.stopped_at.clone().expect("where it stopped");
    assert!(OPEN.contains(&stopped.as_str()) && groups.egress(&stopped).len() == 2, "the first group left untouched");
    assert!(notifier.sent()[0].text.contains(&format!("stopped early at {stopped}")));
}

/// The first enforcing sweep of a region with a thousand open groups: every group's undo command reaches the topic,
/// in numbered parts that each fit SNS (subject under 100 ASCII characters, message and attributes under 256 KiB).
#[test]
fn a_thousand_open_groups_are_reported_in_parts_that_each_fit_sns() {
    let ids: Vec<String> = (0..1000).map(|n| format!("sg-{n:017x}")).collect();
    let open = || vec![rule("all traffic to 0.0.0.0/0"), rule("all traffic to ::/0"), rule("tcp 443 to 0.0.0.0/0")];
    let groups = FakeGroups::with(ids.iter().map(|id| group(id, open())));
    let notifier = FakeNotifier::default();
    let s = run(&groups, &notifier, &Settings::default(), usize::MAX);
    assert_eq!(s.count(Outcome::Remediated), 1000);
    let sent = notifier.sent();
    assert!(sent.len() >= 2, "over 256 KiB in all, so in parts: {}", sent.len());
    for (n, part) in sent.iter().enumerate() {
        let size = part.text.len() + part.attributes.iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>();
        assert!(size < 256 * 1024, "part {n}: {size} bytes");
        assert!(part.subject.len() < 100 && part.subject.is_ascii(), "{}", part.subject);
        assert!(part.subject.starts_with(&format!("[{}/{}] ", n + 1, sent.len())), "{}", part.subject);
    }
    let all: String = sent.iter().map(|p| p.text.as_str()).collect();
    for id in &ids {
        assert_eq!(all.matches(&format!("--group-id {id} ")).count(), 1, "{id}'s undo command, once");
    }
}

#[test]
fn a_report_that_cannot_be_published_travels_in_the_error() {
    let groups = world();
    let notifier = FakeNotifier { fail: true, ..Default::default() };
    let trigger = parse_event(&event("scheduled-sweep")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let ports = Ports {
        groups: &groups,
        notifier: &notifier,
        history: &NoHistory,
        flow_logs: &NoFlowLogs,
        outlets: &NoOutlets,
    };
    let err = rt.block_on(sweep(&trigger, &Settings::default(), &SweepScope::default(), ports, || true)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("1 of 1 part(s) not sent"), "{text}");
    for id in OPEN {
        assert!(text.contains(&format!("--group-id {id} --ip-permissions")), "{id}: {text}");
    }
}

/// A sweep acts on at most `sweep_concurrency` groups at once, and its report keeps the list's order whatever order
/// the revokes finish in.
#[test]
fn a_sweep_acts_on_at_most_its_concurrency_at_once_in_the_lists_order() {
    let ids: Vec<String> = (0..10).map(|i| format!("sg-{i:017x}")).collect();
    for concurrency in [1, 3] {
        let groups = FakeGroups::with(ids.iter().map(|id| group(id, vec![rule("all traffic to 0.0.0.0/0")])));
        let notifier = FakeNotifier::default();
        let settings = Settings { sweep_concurrency: concurrency, ..Settings::default() };
        let s = run(&groups, &notifier, &settings, usize::MAX);
        assert_eq!(groups.in_flight.lock().unwrap().1, concurrency, "at most {concurrency} revokes at once");
        assert_eq!(s.count(Outcome::Remediated), 10);
        let reported: Vec<&str> = s.lines.iter().map(|l| l.group_id.as_str()).collect();
        assert_eq!(reported, ids, "the report in the list's order");
    }
}

/// When time runs short with several groups under way, every one of them is finished and reported; none is dropped
/// half-way, and the first group not started is where the sweep stopped.
#[test]
fn a_concurrent_sweep_cut_short_finishes_and_reports_every_group_it_started() {
    let ids: Vec<String> = (0..10).map(|i| format!("sg-{i:017x}")).collect();
    let groups = FakeGroups::with(ids.iter().map(|id| group(id, vec![rule("all traffic to 0.0.0.0/0")])));
    let notifier = FakeNotifier::default();
    let settings = Settings { sweep_concurrency: 4, ..Settings::default() };
    let s = run(&groups, &notifier, &settings, 6);
    let revoked: Vec<&String> = ids.iter().filter(|id| groups.egress(id).is_empty()).collect();
    assert_eq!(revoked.len(), 6, "six groups started, six finished");
    assert_eq!(s.count(Outcome::Remediated), 6, "and each is reported");
    assert_eq!(s.stopped_at.as_deref(), Some(ids[6].as_str()));
    assert!(!s.complete);
}

/// A region whose changes are not seen is told, even with nothing to revoke: the subject starts `BLIND` and says why,
/// for the trigger's account and region; a region whose watch holds is told only when something was acted on.
#[test]
fn a_blind_region_is_told_first_and_a_seen_one_only_when_acted_on() {
    use egress_guard_core::Watch;
    let trigger = parse_event(&event("scheduled-sweep")).unwrap();
    let compliant = || FakeGroups::with([group(RESTRICTED, vec![rule("udp 53 to 10.0.0.2/32")])]);
    let blind = Watch {
        blind: Some("CloudTrail not logging".into()),
        trail: "trail audit is not logging".into(),
        ..Watch::default()
    };
    let notifier = FakeNotifier::default();
    let scope = SweepScope { watch: Some(blind), ..SweepScope::default() };
    let report = run_in(&compliant(), &notifier, &Settings::default(), &scope, usize::MAX);
    assert!(report.is_blind());
    let sent = notifier.sent();
    assert_eq!(sent.len(), 1, "told with nothing acted on");
    let expected =
        format!("egress-guard sweep: BLIND (CloudTrail not logging) - {} {}", trigger.account, trigger.region);
    assert_eq!(sent[0].subject, expected);
    assert!(
        sent[0].text.contains("BLIND (CloudTrail not logging): changes in") && sent[0].text.contains("trail audit"),
        "{}",
        sent[0].text
    );

    let seen = Watch { trail: "trail audit logs management write events".into(), ..Watch::default() };
    let quiet = FakeNotifier::default();
    let scope = SweepScope { watch: Some(seen.clone()), ..SweepScope::default() };
    run_in(&compliant(), &quiet, &Settings::default(), &scope, usize::MAX);
    assert!(quiet.sent().is_empty(), "nothing acted on, nothing blind: no report");

    // Blind and acting: both, BLIND first.
    let acting = FakeNotifier::default();
    let blind = Watch { blind: Some("rule disabled".into()), ..seen };
    let scope = SweepScope { watch: Some(blind), ..SweepScope::default() };
    run_in(&world(), &acting, &Settings::default(), &scope, usize::MAX);
    assert!(
        acting.sent()[0].subject.starts_with("egress-guard sweep: BLIND (rule disabled), revoked open egress on 3"),
        "{}",
        acting.sent()[0].subject
    );
}
