//! The remediation flow over in-memory fakes, driven by the sample events: outcomes, calls made, notices sent.

mod common;

use std::sync::Mutex;

use common::{EVENT_GROUP, FakeGroups, FakeHistory, FakeNotifier, FakeOutlets, event, group, handled, rule};
use egress_guard_core::{
    EgressRule, Error, GroupReport, History, NoFlowLogs, NoHistory, NoOutlets, Notice, Outcome, Ports, SecurityGroup,
    Settings, handle, parse_event,
};

fn default_egress() -> Vec<EgressRule> {
    vec![rule("all traffic to 0.0.0.0/0"), rule("all traffic to ::/0")]
}

struct Run {
    result: Result<Vec<GroupReport>, Error>,
    groups: FakeGroups,
    notifier: FakeNotifier,
}

impl Run {
    fn outcome(&self) -> Outcome {
        self.result.as_ref().expect("flow failed")[0].outcome
    }
    /// The notice published for the first group (the flow reports what it published).
    fn notice(&self) -> Notice {
        let notice = self.result.as_ref().expect("flow failed")[0].notice.clone().expect("no notice published");
        let sent = self.notifier.sent();
        assert_eq!(
            sent.last().map(|s| s.subject.clone()),
            Some(notice.subject()),
            "the published message is the notice"
        );
        notice
    }

    fn egress_after(&self) -> Vec<EgressRule> {
        self.groups.egress(EVENT_GROUP)
    }
}

fn run_with(event_name: &str, groups: FakeGroups, notifier: FakeNotifier, settings: &Settings) -> Run {
    run_remembering(event_name, groups, notifier, settings, &NoHistory)
}

fn run_remembering<H: History>(
    event_name: &str,
    groups: FakeGroups,
    notifier: FakeNotifier,
    settings: &Settings,
    history: &H,
) -> Run {
    let trigger = parse_event(&event(event_name)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let ports = Ports { groups: &groups, notifier: &notifier, history, flow_logs: &NoFlowLogs, outlets: &NoOutlets };
    let result = rt.block_on(handle(&trigger, settings, ports)).map(|report| report.results);
    Run { result, groups, notifier }
}

fn run(event_name: &str, egress: Vec<EgressRule>, settings: &Settings) -> Run {
    run_with(event_name, FakeGroups::with([group(EVENT_GROUP, egress)]), FakeNotifier::default(), settings)
}

const DESCRIBE: &str = "describe sg-0a1b2c3d4e5f60718";
fn revoke(n: usize) -> String {
    format!("revoke sg-0a1b2c3d4e5f60718 x{n}")
}

/// One line per sample event: the group's egress before, and what must follow.
fn check(event_name: &str, before: Vec<EgressRule>, outcome: Outcome, after: Vec<EgressRule>, revoked: usize) {
    let r = run(event_name, before, &Settings::default());
    assert_eq!(r.outcome(), outcome, "{event_name}");
    assert_eq!(r.egress_after(), after, "{event_name}");
    if revoked > 0 {
        assert_eq!(r.groups.calls(), [DESCRIBE.to_owned(), revoke(revoked), DESCRIBE.to_owned()], "{event_name}");
        let sent = r.notifier.sent();
        assert_eq!(sent.len(), 1, "{event_name}: one notice");
        assert_eq!(r.notice().revoked.len(), revoked, "{event_name}");
    } else {
        assert_eq!(r.groups.calls(), [DESCRIBE], "{event_name}: only the describe");
        assert!(r.notifier.sent().is_empty(), "{event_name}: no notice");
    }
}

#[test]
fn open_ipv4_is_revoked() {
    let keep = rule("tcp 5432 to 10.20.0.0/16");
    check(
        "authorize-egress-open-ipv4",
        vec![keep.clone(), rule("tcp 443 to 0.0.0.0/0")],
        Outcome::Remediated,
        vec![keep],
        1,
    );
}

#[test]
fn open_ipv6_is_revoked() {
    check("authorize-egress-open-ipv6", vec![rule("udp 53 to ::/0")], Outcome::Remediated, vec![], 1);
}

#[test]
fn open_ipv4_and_ipv6_in_one_call_are_revoked() {
    check("authorize-egress-open-both", default_egress(), Outcome::Remediated, vec![], 2);
}

#[test]
fn created_groups_default_allow_all_is_revoked() {
    check("create-security-group", default_egress(), Outcome::Remediated, vec![], 2);
}

#[test]
fn modified_rule_opened_to_world_is_revoked() {
    check("modify-security-group-rules", vec![rule("tcp 22 to 0.0.0.0/0")], Outcome::Remediated, vec![], 1);
}

#[test]
fn restricted_rule_is_compliant_with_one_call() {
    let egress = vec![rule("tcp 5432 to 10.20.0.0/16"), rule("all traffic to pl-0123abcd")];
    check("authorize-egress-restricted", egress.clone(), Outcome::Compliant, egress, 0);
}

#[test]
fn mixed_permission_keeps_the_restricted_sibling() {
    let private = rule("tcp 443 to 10.0.0.0/8");
    check(
        "authorize-egress-mixed-permission",
        vec![private.clone(), rule("tcp 443 to 0.0.0.0/0")],
        Outcome::Remediated,
        vec![private],
        1,
    );
}

/// Anyone who may tag a group may exempt it: a change that leaves open egress on an exempt group is always told.
#[test]
fn exempt_group_opened_by_an_event_is_left_alone_with_one_call_and_told() {
    let mut g = group(EVENT_GROUP, vec![rule("tcp 80 to 0.0.0.0/0")]);
    g.tags.insert("egress-guard:exempt".into(), "egress proxy".into());
    let r = run_with(
        "authorize-egress-exempt-group",
        FakeGroups::with([g.clone()]),
        FakeNotifier::default(),
        &Settings::default(),
    );
    assert_eq!(r.outcome(), Outcome::Exempt);
    assert_eq!(r.egress_after(), g.egress);
    assert_eq!(r.groups.calls(), [DESCRIBE]);
    let notice = r.notice();
    assert!(notice.subject().starts_with("egress-guard: Exempt sg-0a1b2c3d4e5f60718"), "{}", notice.subject());
    let text = notice.text();
    assert!(
        text.contains("is exempt (tag egress-guard:exempt: egress proxy)") && text.contains("Changed  by"),
        "{text}"
    );
    assert!(text.contains("open, exempt"), "{text}");
}

#[test]
fn exempt_group_is_not_told_by_the_sweep_or_a_fix() {
    let mut g = group(EVENT_GROUP, vec![rule("tcp 80 to 0.0.0.0/0")]);
    g.tags.insert("egress-guard:exempt".into(), "egress proxy".into());
    let groups = FakeGroups::with([g]);
    let notifier = FakeNotifier::default();
    let trigger =
        egress_guard_core::Trigger::manual(EVENT_GROUP, "eu-west-1", "", "alice", "2026-11-25T09:00:00Z").unwrap();
    let report = handled(&trigger, &Settings::default(), &groups, &notifier, &NoOutlets).unwrap();
    assert_eq!(report.results[0].outcome, Outcome::Exempt);
    assert!(notifier.sent().is_empty(), "a person asked for this group: no notice about who changed it");
}

#[test]
fn exempt_by_id_is_left_alone() {
    let settings = Settings { exempt_group_ids: [EVENT_GROUP.to_owned()].into(), ..Settings::default() };
    let r = run("authorize-egress-open-both", default_egress(), &settings);
    assert_eq!(r.outcome(), Outcome::Exempt);
    assert_eq!(r.egress_after(), default_egress());
}

#[test]
fn allowed_port_is_compliant() {
    let open443 = vec![rule("tcp 443 to 0.0.0.0/0")];
    let settings = Settings { allowed: vec!["tcp:443".parse().unwrap()], ..Settings::default() };
    let r = run("authorize-egress-open-ipv4", open443.clone(), &settings);
    assert_eq!(r.outcome(), Outcome::Compliant);
    assert_eq!(r.egress_after(), open443);
}

#[test]
fn failed_call_makes_no_call_at_all() {
    let r = run("authorize-egress-failed-call", default_egress(), &Settings::default());
    assert_eq!(r.outcome(), Outcome::CallFailed);
    assert!(r.groups.calls().is_empty());
    assert!(r.notifier.sent().is_empty());
}

#[test]
fn dry_run_revokes_nothing_and_says_so() {
    let settings = Settings { dry_run: true, ..Settings::default() };
    let r = run("authorize-egress-open-both", default_egress(), &settings);
    assert_eq!(r.outcome(), Outcome::DryRun);
    assert_eq!(r.groups.calls(), [DESCRIBE]);
    assert_eq!(r.egress_after(), default_egress());
    let notice = &r.notice();
    assert!(notice.subject().contains("[dry run] Would revoke 2"), "{}", notice.subject());
    assert!(notice.text().starts_with("DRY RUN"), "{}", notice.text());
    assert!(notice.undo_command.is_none());
}

#[test]
fn deleted_group_is_gone_not_an_error() {
    let r =
        run_with("authorize-egress-open-ipv4", FakeGroups::default(), FakeNotifier::default(), &Settings::default());
    assert_eq!(r.outcome(), Outcome::GroupGone);
    let looked: Vec<String> = (0..4)
        .flat_map(|attempt| [DESCRIBE.to_owned(), format!("settle {attempt}")])
        .chain([DESCRIBE.to_owned()])
        .collect();
    assert_eq!(r.groups.calls(), looked, "looked for again four times before it is called gone");
    assert!(r.notifier.sent().is_empty());
}

/// EC2 may not show a group just created: two answers of "not found" still end in a remediation.
#[test]
fn group_not_found_at_first_is_looked_for_again_and_remediated() {
    let groups =
        FakeGroups { hidden_describes: Mutex::new(2), ..FakeGroups::with([group(EVENT_GROUP, default_egress())]) };
    let r = run_with("create-security-group", groups, FakeNotifier::default(), &Settings::default());
    assert_eq!(r.outcome(), Outcome::Remediated);
    assert_eq!(r.groups.calls()[..5], [DESCRIBE, "settle 0", DESCRIBE, "settle 1", DESCRIBE]);
    assert_eq!(r.notice().revoked.len(), 2);
}

/// A duplicate delivery, or a second invocation racing the first: what this one's revoke did not remove is not its to
/// report. No notice, no repeat count.
#[test]
fn rules_another_invocation_removed_are_already_remediated_with_no_notice_and_no_count() {
    let groups = FakeGroups { concurrent_revoke: true, ..FakeGroups::with([group(EVENT_GROUP, default_egress())]) };
    let history = FakeHistory::default();
    let r = run_remembering("create-security-group", groups, FakeNotifier::default(), &Settings::default(), &history);
    assert_eq!(r.outcome(), Outcome::AlreadyRemediated);
    assert!(r.result.as_ref().unwrap()[0].revoked.is_empty());
    assert!(r.notifier.sent().is_empty());
    assert!(history.calls.lock().unwrap().is_empty(), "nothing removed, nothing counted");
}

#[test]
fn a_rule_still_open_after_the_revoke_is_looked_at_again_before_action_needed() {
    let groups = FakeGroups::with([group(EVENT_GROUP, default_egress())]);
    *groups.reopen_after_revoke.lock().unwrap() = Some(rule("tcp 22 to 0.0.0.0/0"));
    let r = run_with("authorize-egress-open-both", groups, FakeNotifier::default(), &Settings::default());
    assert_eq!(r.outcome(), Outcome::VerificationFailed);
    assert_eq!(
        r.groups.calls(),
        [DESCRIBE.to_owned(), revoke(2), DESCRIBE.to_owned(), "settle 0".into(), DESCRIBE.to_owned()]
    );
}

#[test]
fn group_deleted_between_describe_and_revoke_is_gone_without_a_notice() {
    let groups = FakeGroups { delete_on_revoke: true, ..FakeGroups::with([group(EVENT_GROUP, default_egress())]) };
    let r = run_with("create-security-group", groups, FakeNotifier::default(), &Settings::default());
    assert_eq!(r.outcome(), Outcome::GroupGone);
    assert_eq!(r.groups.calls(), [DESCRIBE.to_owned(), revoke(2), DESCRIBE.to_owned()]);
    assert!(r.notifier.sent().is_empty());
}

#[test]
fn rule_reopened_before_verify_is_not_reported_as_success() {
    let groups = FakeGroups::with([group(EVENT_GROUP, default_egress())]);
    *groups.reopen_after_revoke.lock().unwrap() = Some(rule("tcp 22 to 0.0.0.0/0"));
    let r = run_with("authorize-egress-open-both", groups, FakeNotifier::default(), &Settings::default());
    assert_eq!(r.outcome(), Outcome::VerificationFailed);
    let notice = &r.notice();
    assert_eq!(notice.still_open, [rule("tcp 22 to 0.0.0.0/0")]);
    assert!(notice.subject().contains("ACTION NEEDED"), "{}", notice.subject());
    assert!(notice.text().contains("ADDED, STILL OPEN"), "{}", notice.text());
}

#[test]
fn unreadable_group_after_revoke_still_reports_the_revoke() {
    let groups = FakeGroups { fail_describe_from: Some(1), ..FakeGroups::with([group(EVENT_GROUP, default_egress())]) };
    let r = run_with("authorize-egress-open-both", groups, FakeNotifier::default(), &Settings::default());
    assert_eq!(r.outcome(), Outcome::VerificationFailed);
    let notice = &r.notice();
    assert_eq!(notice.revoked.len(), 2);
    assert!(notice.text().contains("could not be re-read"), "{}", notice.text());
    assert!(notice.undo_command.is_some());
}

#[test]
fn unreadable_group_before_revoke_is_an_error_with_no_revoke() {
    let groups = FakeGroups { fail_describe_from: Some(0), ..FakeGroups::with([group(EVENT_GROUP, default_egress())]) };
    let r = run_with("authorize-egress-open-both", groups, FakeNotifier::default(), &Settings::default());
    assert!(matches!(r.result, Err(Error::SecurityGroups { .. })));
    assert_eq!(r.egress_after(), default_egress());
}

#[test]
fn undeliverable_notice_keeps_the_revoke_and_travels_in_the_error() {
    let notifier = FakeNotifier { fail: true, ..Default::default() };
    let r = run_with(
        "authorize-egress-open-both",
        FakeGroups::with([group(EVENT_GROUP, default_egress())]),
        notifier,
        &Settings::default(),
    );
    assert!(r.egress_after().is_empty(), "the revoke stands");
    let Err(Error::Notify { subject, text, .. }) = &r.result else {
        panic!("expected a notify error, got {:?}", r.result)
    };
    assert!(subject.contains("Revoked 2 open egress rules"), "{subject}");
    assert!(text.contains("REVOKED 2 egress rules") && text.contains("To undo"), "{text}");
    let message = r.result.as_ref().unwrap_err().to_string();
    assert!(message.contains("aws ec2 authorize-security-group-egress"), "{message}");
}

/// Runs `event_name` on a group with `egress`, the notices also going to `outlets`.
fn run_with_outlets(
    event_name: &str,
    egress: Vec<EgressRule>,
    outlets: &FakeOutlets,
) -> (Result<Vec<GroupReport>, Error>, FakeGroups, FakeNotifier) {
    let (groups, notifier) = (FakeGroups::with([group(EVENT_GROUP, egress)]), FakeNotifier::default());
    let trigger = parse_event(&event(event_name)).unwrap();
    let result = handled(&trigger, &Settings::default(), &groups, &notifier, outlets).map(|report| report.results);
    (result, groups, notifier)
}

#[test]
fn outlets_get_exactly_the_published_notice_and_nothing_for_an_untold_group() {
    let outlets = FakeOutlets::default();
    let (result, _, notifier) = run_with_outlets("authorize-egress-open-both", default_egress(), &outlets);
    let notice = result.unwrap()[0].notice.clone().expect("a notice");
    assert_eq!(notifier.sent().len(), 1);
    assert_eq!(*outlets.delivered.lock().unwrap(), [vec![notice]], "one delivery, the published notice");

    let quiet = FakeOutlets::default();
    let (result, ..) = run_with_outlets("authorize-egress-restricted", vec![rule("tcp 5432 to 10.20.0.0/16")], &quiet);
    assert_eq!(result.unwrap()[0].outcome, Outcome::Compliant);
    assert!(quiet.delivered.lock().unwrap().is_empty(), "no notice, nothing delivered");
}

#[test]
fn failed_outlet_fails_the_invocation_after_the_revoke_and_the_notice() {
    let outlets = FakeOutlets { fail: true, ..FakeOutlets::default() };
    let (result, groups, notifier) = run_with_outlets("authorize-egress-open-both", default_egress(), &outlets);
    let Err(Error::Outlets { group_ids, .. }) = &result else { panic!("expected an outlets error, got {result:?}") };
    assert_eq!(group_ids, EVENT_GROUP);
    let message = result.as_ref().unwrap_err().to_string();
    let json = message.split_once("as JSON:\n").expect("the notice travels in the error").1;
    let notice: Notice = serde_json::from_str(json).unwrap();
    assert_eq!(notice.undo_command, outlets.delivered.lock().unwrap()[0][0].undo_command, "nothing lost");
    assert!(groups.egress(EVENT_GROUP).is_empty(), "the revoke stands");
    assert_eq!(notifier.sent().len(), 1, "people were told");
    assert_eq!(outlets.delivered.lock().unwrap().len(), 1);
}

#[test]
fn a_failed_outlet_on_one_group_still_lets_the_next_group_be_revoked_and_told() {
    const SECOND: &str = "sg-0b1b2c3d4e5f60718";
    let groups = FakeGroups::with([group(EVENT_GROUP, default_egress()), group(SECOND, default_egress())]);
    let (notifier, outlets) = (FakeNotifier::default(), FakeOutlets { fail: true, ..FakeOutlets::default() });
    let mut trigger = parse_event(&event("authorize-egress-open-both")).unwrap();
    trigger.group_ids.push(SECOND.into());
    let result = handled(&trigger, &Settings::default(), &groups, &notifier, &outlets);
    let Err(Error::Outlets { group_ids, .. }) = &result else { panic!("expected an outlets error, got {result:?}") };
    assert_eq!(group_ids, EVENT_GROUP, "the first failure is the one told");
    assert!(groups.egress(EVENT_GROUP).is_empty() && groups.egress(SECOND).is_empty(), "both groups were closed");
    assert_eq!(notifier.sent().len(), 2, "and both were told");
    assert_eq!(outlets.delivered.lock().unwrap().len(), 2, "each notice was offered to the outlets");
}

#[test]
fn compliant_group_is_notified_when_settings_ask() {
    let settings = Settings { notify_compliant: true, ..Settings::default() };
    let r = run("authorize-egress-restricted", vec![rule("tcp 5432 to 10.20.0.0/16")], &settings);
    assert_eq!(r.outcome(), Outcome::Compliant);
    assert_eq!(r.groups.calls(), [DESCRIBE]);
    assert!(r.notice().subject().contains("compliant"));
}

#[test]
fn notice_tells_who_what_and_how_to_undo() {
    let private = rule("tcp 443 to 10.0.0.0/8");
    let r = run("authorize-egress-mixed-permission", vec![private, rule("tcp 443 to 0.0.0.0/0")], &Settings::default());
    let notice = &r.notice();
    let subject = notice.subject();
    assert_eq!(subject, "egress-guard: Revoked 1 open egress rule on sg-0a1b2c3d4e5f60718 (web) - eu-west-1");
    let text = notice.text();
    for needle in [
        "REVOKED 1 egress rule of sg-0a1b2c3d4e5f60718",
        "Changed  by arn:aws:iam::123456789012:user/alice",
        "from 203.0.113.7, aws-cli/2.22.4",
        "AuthorizeSecurityGroupEgress",
        "tcp 443  10.0.0.0/8  kept",
        "tcp 443  0.0.0.0/0   REVOKED",
        r#"aws ec2 authorize-security-group-egress --region eu-west-1 --group-id sg-0a1b2c3d4e5f60718 --ip-permissions '[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,"IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]'"#,
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(&notice.to_json()).unwrap();
    assert_eq!(json["outcome"], "remediated");
    assert_eq!(json["revoked"][0]["destination"]["cidr"], "0.0.0.0/0");
}

#[test]
fn subject_fits_sns_with_a_long_group_name() {
    let mut g: SecurityGroup = group(EVENT_GROUP, default_egress());
    g.name = "n".repeat(255);
    let r =
        run_with("authorize-egress-open-both", FakeGroups::with([g]), FakeNotifier::default(), &Settings::default());
    let subject = r.notice().subject();
    assert!(subject.len() <= 99 && subject.bytes().all(|b| (b' '..=b'~').contains(&b)), "{subject}");
    assert!(subject.ends_with("..."), "{subject}");
}

/// The tcp 443 rule opened to 0.0.0.0/0 (`authorize-egress-open-ipv4`) on a group that holds just it.
fn run_open<H: History>(settings: &Settings, history: &H) -> Run {
    let groups = FakeGroups::with([group(EVENT_GROUP, vec![rule("tcp 443 to 0.0.0.0/0")])]);
    run_remembering("authorize-egress-open-ipv4", groups, FakeNotifier::default(), settings, history)
}

#[test]
fn reopened_rule_counts_up_in_the_notice_and_its_attributes() {
    let history = FakeHistory::default();
    for expected in 1..=3u32 {
        let r = run_open(&Settings::default(), &history);
        assert_eq!(r.outcome(), Outcome::Remediated);
        let notice = r.notice();
        assert_eq!(notice.repeat.as_ref().and_then(|p| p.times()), Some(expected));
        let sent = r.notifier.sent().remove(0);
        let attr = |k: &str| sent.attributes.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(attr("revocations_in_window"), expected.to_string());
        assert_eq!(attr("repeat"), if expected >= 2 { "true" } else { "false" });
        if expected >= 2 {
            assert!(
                sent.text.contains(&format!(
                    "{expected} times in 24 h; it keeps being re-opened, last by arn:aws:iam::123456789012:user/alice"
                )),
                "{}",
                sent.text
            );
            assert!(sent.subject.contains(&format!("REPEAT x{expected}")), "{}", sent.subject);
        }
    }
    let calls = history.calls.lock().unwrap();
    assert_eq!(calls.len(), 3, "one record per remediation");
    assert_eq!(calls[0].group_key(), format!("123456789012/eu-west-1/{EVENT_GROUP}"));
    assert_eq!(calls[0].destinations, ["tcp:443-443:0.0.0.0/0"]);
}

#[test]
fn compliant_exempt_and_dry_run_make_no_history_call() {
    let history = FakeHistory::default();
    run_remembering(
        "authorize-egress-restricted",
        FakeGroups::with([group(EVENT_GROUP, vec![rule("tcp 443 to 10.0.0.0/8")])]),
        FakeNotifier::default(),
        &Settings::default(),
        &history,
    );
    let exempt = Settings { exempt_group_ids: [EVENT_GROUP.to_owned()].into(), ..Settings::default() };
    run_open(&exempt, &history);
    let dry = Settings { dry_run: true, ..Settings::default() };
    run_open(&dry, &history);
    assert!(history.calls.lock().unwrap().is_empty());
}

#[test]
fn failing_history_never_blocks_the_revoke_or_its_notice() {
    let history = FakeHistory { fail: true, ..FakeHistory::default() };
    let r = run_open(&Settings::default(), &history);
    assert_eq!(r.outcome(), Outcome::Remediated);
    assert!(r.egress_after().is_empty(), "the revoke stands");
    let sent = r.notifier.sent().remove(0);
    assert!(sent.text.contains("Repeat count unknown"), "{}", sent.text);
    assert!(sent.attributes.contains(&("repeat", "unknown".to_owned())));
}

/// Some rules removed, then an error: the notice tells what was removed (with its undo) and the error, and the
/// invocation still fails, so that the failure queue shows the rule left open.
#[test]
fn a_revoke_stopped_midway_is_told_and_fails_the_invocation() {
    let groups = FakeGroups { partial_revoke: true, ..FakeGroups::with([group(EVENT_GROUP, default_egress())]) };
    let r = run_with("create-security-group", groups, FakeNotifier::default(), &Settings::default());
    assert!(matches!(r.result, Err(Error::SecurityGroups { .. })), "{:?}", r.result);
    let sent = r.notifier.sent();
    assert_eq!(sent.len(), 1, "the removal is told");
    assert!(sent[0].subject.contains("ACTION NEEDED"), "{}", sent[0].subject);
    assert!(
        sent[0].text.contains("The revoke stopped with an error after removing the rules marked REVOKED"),
        "{}",
        sent[0].text
    );
    assert!(
        sent[0].text.contains(r#"--ip-permissions '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]'"#),
        "{}",
        sent[0].text
    );
    assert_eq!(r.egress_after(), [rule("all traffic to ::/0")]);
}

/// The default group of the VPC `events/create-vpc.json` makes, beside another VPC's default group.
fn default_groups() -> FakeGroups {
    let mut mine = group(EVENT_GROUP, default_egress());
    mine.name = "default".into();
    mine.vpc_id = Some("vpc-0c4d5e6f7a8b9c0d1".into());
    let mut other = group("sg-0b1b2c3d4e5f60719", default_egress());
    other.name = "default".into();
    FakeGroups::with([mine, other])
}

#[test]
fn create_vpc_closes_the_new_vpcs_default_group_and_no_other() {
    let r = run_with("create-vpc", default_groups(), FakeNotifier::default(), &Settings::default());
    assert_eq!(r.outcome(), Outcome::Remediated);
    assert_eq!(r.egress_after(), []);
    assert_eq!(r.groups.egress("sg-0b1b2c3d4e5f60719"), default_egress(), "another VPC's default group is untouched");
    assert_eq!(
        r.groups.calls(),
        ["default_group vpc-0c4d5e6f7a8b9c0d1".to_owned(), revoke(2), DESCRIBE.to_owned()],
        "found through its VPC, then revoked and re-read by its own id"
    );
    let notice = r.notice();
    assert_eq!(notice.group.id, EVENT_GROUP);
    assert!(notice.subject().contains(EVENT_GROUP), "{}", notice.subject());
}

#[test]
fn a_new_vpcs_default_group_not_shown_yet_is_looked_for_again() {
    let groups = default_groups();
    *groups.hidden_describes.lock().unwrap() = 2;
    let r = run_with("create-vpc", groups, FakeNotifier::default(), &Settings::default());
    assert_eq!(r.outcome(), Outcome::Remediated);
    let lookups = r.groups.calls().iter().filter(|c| c.starts_with("default_group")).count();
    assert_eq!(lookups, 3);
}

#[test]
fn a_vpc_that_never_shows_is_gone_and_nothing_is_revoked() {
    let r = run_with("create-default-vpc", default_groups(), FakeNotifier::default(), &Settings::default());
    assert_eq!(r.outcome(), Outcome::GroupGone);
    assert!(r.groups.calls().iter().all(|c| !c.starts_with("revoke")), "{:?}", r.groups.calls());
    assert!(r.notifier.sent().is_empty());
}

#[test]
fn an_ipv6_rule_that_lands_after_the_new_vpc_shows_is_not_missed() {
    let groups = default_groups();
    groups.groups.lock().unwrap().get_mut(EVENT_GROUP).unwrap().egress = vec![rule("all traffic to 0.0.0.0/0")];
    let r0 = run_with("create-vpc", groups, FakeNotifier::default(), &Settings::default());
    assert_eq!(r0.outcome(), Outcome::Remediated, "an open group is acted on at the first read");
    assert_eq!(r0.groups.calls().iter().filter(|c| c.starts_with("default_group")).count(), 1, "and read once");

    let groups = default_groups();
    groups.groups.lock().unwrap().get_mut(EVENT_GROUP).unwrap().egress = vec![];
    *groups.late_default_rule.lock().unwrap() = Some((2, rule("all traffic to ::/0")));
    let r = run_with("associate-vpc-ipv6-cidr-block", groups, FakeNotifier::default(), &Settings::default());
    assert_eq!(r.outcome(), Outcome::Remediated);
    assert_eq!(r.notice().revoked, [rule("all traffic to ::/0")]);
    assert_eq!(r.egress_after(), []);
}

/// An event whose revoke is refused (an SCP, a missing permission) changes nothing, tells it once on the topic and to
/// the outlets (Security Hub's finding), and fails the invocation, so that the failure queue holds the event.
#[test]
fn a_refused_revoke_is_told_and_delivered_then_fails_the_invocation() {
    let outlets = FakeOutlets::default();
    let groups = FakeGroups {
        fail_revoke: Some(EVENT_GROUP.to_owned()),
        ..FakeGroups::with([group(EVENT_GROUP, default_egress())])
    };
    let notifier = FakeNotifier::default();
    let trigger = parse_event(&event("create-security-group")).unwrap();
    let result = handled(&trigger, &Settings::default(), &groups, &notifier, &outlets);
    assert!(matches!(result, Err(Error::SecurityGroups { .. })), "{result:?}");
    assert_eq!(groups.egress(EVENT_GROUP), default_egress(), "nothing removed");
    let sent = notifier.sent();
    assert_eq!(sent.len(), 1, "told once");
    assert!(sent[0].subject.contains("ACTION NEEDED: revoke failed"), "{}", sent[0].subject);
    assert!(
        sent[0].text.contains("The revoke was refused; nothing was removed: ")
            && sent[0].text.contains("UnauthorizedOperation"),
        "{}",
        sent[0].text
    );
    let delivered = outlets.delivered.lock().unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        (delivered[0][0].outcome, delivered[0][0].still_open.len()),
        (Outcome::RevokeFailed, 2),
        "both rules open"
    );
}
