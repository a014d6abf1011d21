//! Golden notices: every message a person reads (a group's notice, a sweep's report, a schedule's digest, the kill
//! switch's notice), made through the core flow over the fakes, is compared whole with its file in `tests/golden/`,
//! and so are the Security Hub findings of each notice; the sample in `docs/notices.md` is one of those files.
//! `EGRESS_GUARD_BLESS=1 cargo test -p egress-guard-core --test golden` writes the files anew, to be reviewed in the
//! diff; without it a difference fails with its first differing line, and a missing file fails.

mod common;

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use common::{EVENT_GROUP, FakeFlowLogs, FakeGroups, FakeHistory, FakeNotifier, FakeOutlets, Sent, event, group, rule};
use egress_guard_core::notify::asff;
use egress_guard_core::notify::digest::{Digest, DigestPart};
use egress_guard_core::notify::message::MAX_MESSAGE_BYTES;
use egress_guard_core::notify::switch::Switched;
use egress_guard_core::preflight::{Selectors, TrailObservation};
use egress_guard_core::recommend::{Batch, FlowLog, Interface, LogDestination, Network, Records};
use egress_guard_core::watch::RuleState;
use egress_guard_core::{
    FlowLogs, History, Message, NoFlowLogs, NoHistory, Notice, Outcome, Pause, Ports, SecurityGroup, Settings,
    SweepReport, SweepRequest, SweepScope, Trigger, Watch, handle, parse_event, sweep,
};

/// The variable that has the test write each golden file anew instead of comparing with it.
const BLESS: &str = "EGRESS_GUARD_BLESS";

/// The seconds from a change to the revoke's answer in every fixture: the one time the flow takes from the clock.
const EXPOSED_SECS: i64 = 41;

/// The import time of every Security Hub finding here.
const IMPORTED_AT: &str = "2026-11-25T09:12:00Z";

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn docs_notices() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/notices.md")
}

fn blessing() -> bool {
    std::env::var(BLESS).is_ok_and(|v| v == "1")
}

/// `actual` compared with the file at `path`: equal, or written anew when `bless`; otherwise the file's name, the
/// first line that differs (expected, then actual) and how to write it anew. A missing file is written only when
/// `bless`.
fn compare(path: &Path, actual: &str, bless: bool) -> Result<(), String> {
    if bless {
        std::fs::create_dir_all(path.parent().expect("a golden file has a folder")).map_err(|e| e.to_string())?;
        return std::fs::write(path, actual).map_err(|e| format!("{}: {e}", path.display()));
    }
    let how = format!("{BLESS}=1 cargo test -p egress-guard-core --test golden writes it anew; review the diff");
    let expected =
        std::fs::read_to_string(path).map_err(|e| format!("{} cannot be read ({e}): {how}", path.display()))?;
    match first_difference(&expected, actual) {
        None => Ok(()),
        Some((line, expected, actual)) => Err(format!(
            "{} differs from what the code prints, first at line {line}:\n  expected: {expected}\n  actual:   \
             {actual}\n{how}",
            path.display()
        )),
    }
}

/// The first line (from 1) where `expected` and `actual` differ, with each one's line there (or the end of the text).
fn first_difference(expected: &str, actual: &str) -> Option<(usize, String, String)> {
    if expected == actual {
        return None;
    }
    let shown = |line: Option<&str>| line.map_or_else(|| "(end of the text)".to_owned(), |l| format!("{l:?}"));
    let (mut e, mut a) = (expected.split_inclusive('\n'), actual.split_inclusive('\n'));
    let mut n = 1;
    loop {
        let (le, la) = (e.next(), a.next());
        if le != la {
            return Some((n, shown(le), shown(la)));
        }
        n += 1;
    }
}

/// Fails, saying where, unless `actual` is the golden file `<name>`.
fn check(name: &str, actual: &str) {
    if let Err(difference) = compare(&golden_dir().join(name), actual, blessing()) {
        panic!("{difference}");
    }
}

/// A message as its golden file holds it: the subject, the attributes when `attributes`, a blank line, the text.
/// Numbered parts follow each other, each under its own rule.
fn render(messages: &[Sent], attributes: bool) -> String {
    let total = messages.len();
    let parts = messages.iter().enumerate().map(|(i, m)| {
        let mut out = String::new();
        if total > 1 {
            out.push_str(&format!("======== message {} of {total} ========\n", i + 1));
        }
        out.push_str(&format!("Subject: {}\n", m.subject));
        if attributes {
            let pairs: Vec<String> = m.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("Attributes: {}\n", pairs.join(" ")));
        }
        out.push('\n');
        out.push_str(&m.text);
        out
    });
    parts.collect::<Vec<_>>().join("\n")
}

/// A message as a notifier publishes it.
fn sent(message: &dyn Message) -> Sent {
    Sent { subject: message.subject(), text: message.text(), attributes: message.attributes() }
}

/// The notice with the revoke's answer `EXPOSED_SECS` after the change: the flow reads that time from the clock.
fn pinned(mut notice: Notice) -> Notice {
    if notice.closed_at.is_some() {
        let opened = chrono::DateTime::parse_from_rfc3339(&notice.cause.event_time).expect("the fixture's event time");
        let closed = (opened + chrono::Duration::seconds(EXPOSED_SECS)).with_timezone(&chrono::Utc);
        notice.closed_at = Some(closed.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        notice.exposure_seconds = notice.exposure_seconds.map(|_| EXPOSED_SECS);
    }
    notice
}

/// `handle` on `trigger` over `groups`, `history` and `flow_logs`: the one notice it published, which is the one
/// its outlets got, with the revoke's time pinned; `outcome` is what the fixture must come to.
fn told<H: History + Sync, F: FlowLogs + Sync>(
    trigger: &Trigger,
    settings: &Settings,
    groups: &FakeGroups,
    history: &H,
    flow_logs: &F,
    outcome: Outcome,
) -> Notice {
    let (notifier, outlets) = (FakeNotifier::default(), FakeOutlets::default());
    let ports = Ports { groups, notifier: &notifier, history, flow_logs, outlets: &outlets };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let result = rt.block_on(handle(trigger, settings, ports));
    let delivered = outlets.delivered.into_inner().unwrap();
    let [notices] = delivered.as_slice() else { panic!("one delivery: {delivered:?} ({result:?})") };
    let [notice] = notices.as_slice() else { panic!("one notice: {notices:?}") };
    assert_eq!(notice.outcome, outcome, "{result:?}");
    assert_eq!(notifier.sent(), [sent(notice)], "the published message is the notice");
    pinned(notice.clone())
}

/// `told` for one sample event over one group, with no history and no flow logs.
fn told_of(event_name: &str, settings: &Settings, groups: FakeGroups, outcome: Outcome) -> Notice {
    let trigger = parse_event(&event(event_name)).unwrap();
    told(&trigger, settings, &groups, &NoHistory, &NoFlowLogs, outcome)
}

/// The sweep `trigger` over `groups` and `history`, never short of time: its report and what it published.
fn swept<H: History + Sync>(
    trigger: &Trigger,
    settings: &Settings,
    scope: &SweepScope,
    groups: &FakeGroups,
    history: &H,
) -> (SweepReport, Vec<Sent>) {
    let notifier = FakeNotifier::default();
    let outlets = FakeOutlets::default();
    let ports = Ports { groups, notifier: &notifier, history, flow_logs: &NoFlowLogs, outlets: &outlets };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let report = rt.block_on(sweep(trigger, settings, scope, ports, || true)).expect("the sweep runs");
    (report, notifier.sent())
}

fn named(id: &str, name: &str, egress: Vec<egress_guard_core::EgressRule>) -> SecurityGroup {
    SecurityGroup { name: name.into(), ..group(id, egress) }
}

fn exempt(mut group: SecurityGroup, reason: &str) -> SecurityGroup {
    group.tags.insert("egress-guard:exempt".into(), reason.into());
    group
}

fn pause(regions: &[&str], reason: &str) -> Pause {
    Pause {
        regions: Some(regions.iter().map(|r| (*r).to_owned()).collect::<BTreeSet<_>>()),
        by: "arn:aws:iam::123456789012:user/oncall".into(),
        at: "2026-11-25T08:00:00Z".into(),
        reason: Some(reason.into()),
    }
}

// The notices of one group, one fixture each.

fn remediated() -> Notice {
    let egress = vec![rule("all traffic to 0.0.0.0/0"), rule("all traffic to ::/0"), rule("tcp 5432 to 10.20.0.0/16")];
    let groups = FakeGroups::with([group(EVENT_GROUP, egress)]);
    told_of("authorize-egress-open-both", &Settings::default(), groups, Outcome::Remediated)
}

fn dry_run() -> Notice {
    let groups = FakeGroups::with([group(EVENT_GROUP, vec![rule("tcp 443 to 0.0.0.0/0"), rule("tcp 443 to ::/0")])]);
    let settings = Settings { dry_run: true, ..Settings::default() };
    told_of("authorize-egress-open-both", &settings, groups, Outcome::DryRun)
}

fn paused() -> Notice {
    let groups = FakeGroups::with([group(EVENT_GROUP, vec![rule("tcp 443 to 0.0.0.0/0")])]);
    let pause = pause(&["eu-west-1"], "INC-7: a deploy needs the Internet for an hour");
    let settings = Settings { dry_run: true, paused: Some(pause), ..Settings::default() };
    told_of("authorize-egress-open-ipv4", &settings, groups, Outcome::DryRun)
}

fn exempt_group() -> Notice {
    let proxy = exempt(group(EVENT_GROUP, vec![rule("tcp 80 to 0.0.0.0/0"), rule("tcp 443 to ::/0")]), "egress proxy");
    told_of("authorize-egress-exempt-group", &Settings::default(), FakeGroups::with([proxy]), Outcome::Exempt)
}

fn revoke_refused() -> Notice {
    let groups = FakeGroups {
        fail_revoke: Some(EVENT_GROUP.to_owned()),
        ..FakeGroups::with([group(EVENT_GROUP, vec![rule("tcp 443 to 0.0.0.0/0")])])
    };
    told_of("authorize-egress-open-ipv4", &Settings::default(), groups, Outcome::RevokeFailed)
}

fn verification_failed() -> Notice {
    let groups = FakeGroups::with([group(EVENT_GROUP, vec![rule("tcp 443 to 0.0.0.0/0")])]);
    *groups.reopen_after_revoke.lock().unwrap() = Some(rule("tcp 22 to 0.0.0.0/0"));
    told_of("authorize-egress-open-ipv4", &Settings::default(), groups, Outcome::VerificationFailed)
}

fn verify_unreadable() -> Notice {
    let groups = FakeGroups {
        fail_describe_from: Some(1),
        ..FakeGroups::with([group(EVENT_GROUP, vec![rule("tcp 443 to 0.0.0.0/0")])])
    };
    told_of("authorize-egress-open-ipv4", &Settings::default(), groups, Outcome::VerificationFailed)
}

fn split_egress() -> Vec<egress_guard_core::EgressRule> {
    vec![rule("tcp 443 to 0.0.0.0/1"), rule("tcp 443 to 128.0.0.0/1"), rule("udp 53 to 10.0.0.2/32")]
}

fn split_ranges() -> Notice {
    let groups = FakeGroups::with([group(EVENT_GROUP, split_egress())]);
    told_of("authorize-egress-open-ipv4", &Settings::default(), groups, Outcome::Compliant)
}

fn split_ranges_revoked() -> Notice {
    let groups = FakeGroups::with([group(EVENT_GROUP, split_egress())]);
    let settings = Settings { revoke_split_ranges: true, ..Settings::default() };
    told_of("authorize-egress-open-ipv4", &settings, groups, Outcome::Remediated)
}

/// The demo's web tier, as `docs/notices.md` shows its second revoke.
const WEB: &str = "sg-2107fd3e1de6a537e";
const WEB_VPC: &str = "vpc-fffbd729782996104";
const WEB_ENI: &str = "eni-d7e001763b080a020";
const WEB_FLOW_LOG: &str = "fl-0d3f5a7c9e1b2d4f6";

/// The web tier's interface and a day of what it did, as the demo writes it: HTTPS to two addresses and PostgreSQL
/// inside the VPC, started by it, and replies to the HTTPS it serves; its flow log was made an hour before the event.
fn web_flow_logs(now: i64) -> FakeFlowLogs {
    let seen = [
        ("10.0.1.10", "203.0.113.10", 49152, 443, 2),
        ("10.0.1.10", "203.0.113.11", 49153, 443, 3),
        ("10.0.1.10", "10.0.2.15", 49154, 5432, 2),
        ("10.0.1.10", "198.51.100.7", 443, 50123, 18),
        ("198.51.100.7", "10.0.1.10", 50123, 443, 2),
    ];
    let start = now - 3000;
    let lines = (0..3)
        .flat_map(|_| seen)
        .enumerate()
        .map(|(i, (src, dst, sport, dport, flags))| {
            let t = start + i64::try_from(i).unwrap() * 60;
            let direction = if dst == "10.0.1.10" { "ingress" } else { "egress" };
            format!("5 {WEB_ENI} {src} {dst} {sport} {dport} 6 {t} {} ACCEPT OK {flags} {direction}", t + 60)
        })
        .collect();
    FakeFlowLogs {
        interfaces: vec![Interface {
            id: WEB_ENI.into(),
            subnet_id: Some("subnet-0a3c5e7f9b1d2e4f6".into()),
            vpc_id: Some(WEB_VPC.into()),
            owner_id: Some("123456789012".into()),
            addresses: ["10.0.1.10".parse().unwrap()].into(),
            since: None,
        }],
        logs: vec![FlowLog {
            id: WEB_FLOW_LOG.into(),
            resource_id: WEB_ENI.into(),
            traffic_type: "ALL".into(),
            log_format: "${version} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} \
                         ${end} ${action} ${log-status} ${tcp-flags} ${flow-direction}"
                .into(),
            destination: LogDestination::CloudWatchLogs { log_group: "/vpc/flow-logs".into() },
            created_at: Some(now - 3600),
            delivery_error: None,
        }],
        records: [(
            WEB_FLOW_LOG.to_owned(),
            Records { batches: vec![Batch { header: None, lines }], ..Default::default() },
        )]
        .into(),
        network: Network { vpc_cidrs: vec!["10.0.0.0/16".parse().unwrap()], prefix_lists: vec![] },
    }
}

/// The demo's repeat: Terraform opens tcp 443 on the web tier, egress-guard revokes it, Terraform's next apply
/// re-opens it, egress-guard revokes it again; the second notice, with its observed egress.
fn repeat() -> Notice {
    let text = String::from_utf8(event("authorize-egress-terraform")).unwrap().replace(EVENT_GROUP, WEB);
    let trigger = parse_event(text.as_bytes()).unwrap();
    let web = SecurityGroup {
        id: WEB.into(),
        name: "web-frontend".into(),
        vpc_id: Some(WEB_VPC.into()),
        ingress: vec![https_in()],
        ..group(WEB, vec![rule("all traffic to 0.0.0.0/0"), rule("tcp 443 to 0.0.0.0/0")])
    };
    let groups = FakeGroups::with([web]);
    let history = FakeHistory::default();
    let now = chrono::DateTime::parse_from_rfc3339(&trigger.event_time).unwrap().timestamp();
    let logs = web_flow_logs(now);
    let settings = Settings { observed_egress_days: 14, ..Settings::default() };
    told(&trigger, &settings, &groups, &history, &logs, Outcome::Remediated);
    groups.groups.lock().unwrap().get_mut(WEB).unwrap().egress.push(rule("tcp 443 to 0.0.0.0/0"));
    told(&trigger, &settings, &groups, &history, &logs, Outcome::Remediated)
}

/// HTTPS accepted from anywhere: the web tier serves it.
fn https_in() -> egress_guard_core::IngressRule {
    egress_guard_core::IngressRule {
        protocol: egress_guard_core::Protocol::Tcp,
        ports: Some(egress_guard_core::PortRange::new(443, 443)),
        source: egress_guard_core::Destination::Cidr(egress_guard_core::Cidr::parse("0.0.0.0/0").unwrap()),
    }
}

fn notice_file(notice: &Notice) -> String {
    render(&[sent(notice)], true)
}

#[test]
fn a_remediated_notice_of_both_families_with_its_undo_command_is_its_golden_file() {
    check("remediated.txt", &notice_file(&remediated()));
}

#[test]
fn a_dry_run_notice_is_its_golden_file() {
    check("dry-run.txt", &notice_file(&dry_run()));
}

#[test]
fn a_dry_run_notice_of_a_paused_region_is_its_golden_file() {
    check("paused-dry-run.txt", &notice_file(&paused()));
}

#[test]
fn an_exempt_groups_notice_is_its_golden_file() {
    check("exempt.txt", &notice_file(&exempt_group()));
}

#[test]
fn a_repeat_notice_with_its_observed_egress_is_its_golden_file() {
    check("repeat.txt", &render(&[sent(&repeat())], false));
}

#[test]
fn a_refused_revokes_notice_is_its_golden_file() {
    check("revoke-refused.txt", &notice_file(&revoke_refused()));
}

#[test]
fn a_rule_reopened_before_the_verify_is_its_golden_file() {
    check("verification-failed.txt", &notice_file(&verification_failed()));
}

#[test]
fn a_group_that_cannot_be_read_again_after_its_revoke_is_its_golden_file() {
    check("verify-unreadable.txt", &notice_file(&verify_unreadable()));
}

#[test]
fn split_ranges_reported_are_their_golden_file() {
    check("split-ranges.txt", &notice_file(&split_ranges()));
}

#[test]
fn split_ranges_revoked_are_their_golden_file() {
    check("split-ranges-revoked.txt", &notice_file(&split_ranges_revoked()));
}

/// One notice's Security Hub findings, as `findings.json` holds them.
#[derive(serde::Serialize)]
struct Findings<'a> {
    case: &'a str,
    findings: Vec<asff::AsffFinding>,
}

#[test]
fn every_notices_security_hub_findings_are_their_golden_file() {
    let cases = [
        ("remediated", remediated()),
        ("dry-run", dry_run()),
        ("paused-dry-run", paused()),
        ("exempt", exempt_group()),
        ("repeat", repeat()),
        ("revoke-refused", revoke_refused()),
        ("verification-failed", verification_failed()),
        ("verify-unreadable", verify_unreadable()),
        ("split-ranges", split_ranges()),
        ("split-ranges-revoked", split_ranges_revoked()),
    ];
    // Serialized from the structs, never through `serde_json::Value`, whose key order depends on serde_json's
    // features (`preserve_order`, which the AWS SDK turns on when the adapters are built alongside).
    let all: Vec<Findings> = cases
        .iter()
        .map(|(case, notice)| Findings { case, findings: asff::from_notice(notice, IMPORTED_AT) })
        .collect();
    check("findings.json", &(serde_json::to_string_pretty(&all).unwrap() + "\n"));
}

// A sweep's report and a schedule's digest.

fn sweep_trigger() -> Trigger {
    parse_event(&event("scheduled-sweep")).unwrap()
}

const SWEPT: [&str; 5] = [
    "sg-0000000000000000a",
    "sg-0000000000000000b",
    "sg-0000000000000000c",
    "sg-0000000000000000d",
    "sg-0000000000000000e",
];

/// A region of five groups: two open (one of them the VPC's default group, open to both families), one whose revoke
/// is refused, one restricted, one exempt with open egress.
fn region() -> FakeGroups {
    FakeGroups {
        fail_revoke: Some(SWEPT[1].to_owned()),
        ..FakeGroups::with([
            named(SWEPT[0], "api", vec![rule("all traffic to 0.0.0.0/0"), rule("tcp 443 to 10.0.0.0/8")]),
            named(SWEPT[1], "legacy", vec![rule("tcp 25 to 0.0.0.0/0")]),
            named(SWEPT[2], "default", vec![rule("all traffic to 0.0.0.0/0"), rule("all traffic to ::/0")]),
            named(SWEPT[3], "db", vec![rule("udp 53 to 10.0.0.2/32")]),
            exempt(named(SWEPT[4], "proxy", vec![rule("all traffic to ::/0")]), "egress proxy, ticket SEC-42"),
        ])
    }
}

#[test]
fn a_sweeps_report_is_its_golden_file() {
    let (_, sent) = swept(&sweep_trigger(), &Settings::default(), &SweepScope::default(), &region(), &NoHistory);
    check("sweep.txt", &render(&sent, true));
}

/// The second schedule of a region egress-guard keeps a history of: a group re-opened since the first revoked it
/// and a group opened since, both missed by the events; the exempt group already reported.
#[test]
fn a_sweep_that_finds_missed_events_is_its_golden_file() {
    let (groups, history) = (region(), FakeHistory::default());
    let first = SweepRequest {
        schedule_id: "c8f1e2d3-0000-4000-8000-00000000aa01".into(),
        time: "2026-11-24T06:00:00Z".into(),
        account: "123456789012".into(),
        region: "eu-west-1".into(),
        run: 1,
        index: 0,
        of: 0,
    };
    swept(&first.trigger(), &Settings::default(), &SweepScope::default(), &groups, &history);
    {
        let mut all = groups.groups.lock().unwrap();
        all.get_mut(SWEPT[0]).unwrap().egress.push(rule("tcp 8080 to 0.0.0.0/0"));
        let opened = named("sg-0000000000000000f", "etl", vec![rule("udp 123 to 0.0.0.0/0")]);
        all.insert(opened.id.clone(), opened);
    }
    let second = SweepRequest { time: "2026-11-25T06:00:00Z".into(), ..first };
    let (_, sent) = swept(&second.trigger(), &Settings::default(), &SweepScope::default(), &groups, &history);
    check("sweep-missed.txt", &render(&sent, false));
}

/// A sweep over more groups than one part holds: the same report, cut at a small size, numbered `[i/n]`; at the
/// size SNS takes it is the one message the sweep published.
#[test]
fn a_sweep_report_in_numbered_parts_is_its_golden_file() {
    let groups = FakeGroups::with(
        (1..=6).map(|n| named(&format!("sg-{n:017x}"), "worker", vec![rule("all traffic to 0.0.0.0/0")])),
    );
    let (report, published) =
        swept(&sweep_trigger(), &Settings::default(), &SweepScope::default(), &groups, &NoHistory);
    let whole: Vec<Sent> = report.parts(MAX_MESSAGE_BYTES).iter().map(|p| sent(p)).collect();
    assert_eq!(published, whole, "one part at SNS's size, the one published");
    let parts: Vec<Sent> = report.parts(640).iter().map(|p| sent(p)).collect();
    assert!(parts.len() > 2, "{} parts", parts.len());
    check("sweep-in-parts.txt", &render(&parts, true));
}

/// A region whose only trail stopped logging and whose rule is disabled: its sweep says `BLIND` and why, with
/// nothing open to revoke.
#[test]
fn a_blind_regions_sweep_report_is_its_golden_file() {
    let trail = TrailObservation {
        name: "audit".into(),
        arn: "arn:aws:cloudtrail:us-east-1:123456789012:trail/audit".into(),
        home_region: "us-east-1".into(),
        multi_region: true,
        organization: false,
        logging: Ok(false),
        selectors: Ok(Selectors::default()),
    };
    let rule_state = RuleState::Disabled { name: "egress-guard-changes".into() };
    let watch = Watch::assess("eu-west-1", &Ok(vec![trail]), Some(Ok(rule_state)));
    assert!(watch.is_blind(), "{watch:?}");
    let groups = FakeGroups::with([named(SWEPT[3], "db", vec![rule("udp 53 to 10.0.0.2/32")])]);
    let scope = SweepScope { watch: Some(watch), ..SweepScope::default() };
    let (_, sent) = swept(&sweep_trigger(), &Settings::default(), &scope, &groups, &NoHistory);
    check("sweep-blind.txt", &render(&sent, true));
}

/// A schedule of two regions, its second: eu-west-1 enforcing (a group re-opened and one opened since the first
/// schedule, both missed), us-east-1 paused (an exempt group and a group left open, already reported and counted; a
/// group whose open egress changed, detailed); the digest cut at a small size into numbered parts.
#[test]
fn a_schedules_digest_in_numbered_parts_is_its_golden_file() {
    let history = FakeHistory::default();
    let west = FakeGroups::with([
        named("sg-0000000000000001a", "api", vec![rule("all traffic to 0.0.0.0/0")]),
        named("sg-0000000000000001b", "batch", vec![rule("tcp 443 to 0.0.0.0/0"), rule("tcp 443 to ::/0")]),
    ]);
    let east = FakeGroups::with([
        exempt(named("sg-0000000000000002a", "proxy", vec![rule("all traffic to 0.0.0.0/0")]), "egress proxy"),
        named("sg-0000000000000002b", "reports", vec![rule("tcp 443 to 0.0.0.0/0")]),
        named("sg-0000000000000002c", "worker", vec![rule("tcp 80 to 0.0.0.0/0")]),
    ]);
    let enforcing = Settings::default();
    let paused = enforcing.paused(pause(&["us-east-1"], "INC-9: proxy migration"));
    let in_digest = SweepScope { digest: true, ..SweepScope::default() };
    let request = |time: &str, region: &str, index: u32| SweepRequest {
        schedule_id: format!("schedule-{time}"),
        time: time.into(),
        account: "123456789012".into(),
        region: region.into(),
        run: 1,
        index,
        of: 2,
    };
    let schedule = |time: &str| {
        let (west_report, west_sent) =
            swept(&request(time, "eu-west-1", 0).trigger(), &enforcing, &in_digest, &west, &history);
        let (east_report, east_sent) =
            swept(&request(time, "us-east-1", 1).trigger(), &paused, &in_digest, &east, &history);
        assert!(west_sent.is_empty() && east_sent.is_empty(), "a digest's sweeps publish nothing of their own");
        Digest {
            schedule_time: time.into(),
            sweeps: 2,
            parts: vec![DigestPart::of(&west_report), DigestPart::of(&east_report)],
        }
    };
    schedule("2026-11-24T06:00:00Z");
    {
        let mut all = west.groups.lock().unwrap();
        all.get_mut("sg-0000000000000001a").unwrap().egress.push(rule("tcp 22 to 0.0.0.0/0"));
        let opened = named("sg-0000000000000001c", "etl", vec![rule("udp 123 to 0.0.0.0/0")]);
        all.insert(opened.id.clone(), opened);
    }
    east.groups.lock().unwrap().get_mut("sg-0000000000000002c").unwrap().egress.push(rule("tcp 8080 to 0.0.0.0/0"));
    let digest = schedule("2026-11-25T06:00:00Z");
    let messages: Vec<Sent> = digest.messages(1024).iter().map(|m| sent(m)).collect();
    assert!(messages.len() > 1, "{} parts", messages.len());
    check("digest.txt", &render(&messages, true));
}

// The kill switch.

#[test]
fn the_kill_switchs_paused_notice_is_its_golden_file() {
    let paused = Switched::Paused(pause(&["eu-west-1", "us-east-1"], "INC-7: a deploy needs the Internet for an hour"));
    check("switch-paused.txt", &render(&[sent(&paused)], true));
}

#[test]
fn the_kill_switchs_resumed_notice_is_its_golden_file() {
    let resumed = Switched::Resumed {
        scope: "us-east-1".into(),
        by: "arn:aws:iam::123456789012:user/oncall".into(),
        at: "2026-11-25T09:30:00Z".into(),
        left: Some(pause(&["eu-west-1"], "INC-7: a deploy needs the Internet for an hour")),
    };
    check("switch-resumed.txt", &render(&[sent(&resumed)], true));
}

// The docs' sample.

/// Where `docs/notices.md`'s sample notice is: the first fenced block under "What a notice says".
fn docs_sample(doc: &str) -> Option<Range<usize>> {
    let section = doc.find("\n## What a notice says\n")?;
    let start = section + doc[section..].find("\n```\n")? + "\n```\n".len();
    let end = start + doc[start..].find("\n```\n")? + 1;
    Some(start..end)
}

/// The e-mail `docs/notices.md` shows is exactly the repeat notice's golden file; blessing writes it there too.
#[test]
fn the_docs_sample_notice_is_the_repeat_notices_golden_file() {
    let path = docs_notices();
    let doc = std::fs::read_to_string(&path).unwrap();
    let range = docs_sample(&doc).expect("docs/notices.md has a fenced sample under \"What a notice says\"");
    if blessing() {
        let sample = render(&[sent(&repeat())], false);
        std::fs::write(&path, format!("{}{sample}{}", &doc[..range.start], &doc[range.end..])).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(golden_dir().join("repeat.txt")).unwrap();
    if let Some((line, expected, actual)) = first_difference(&golden, &doc[range]) {
        panic!(
            "docs/notices.md's sample differs from tests/golden/repeat.txt at the sample's line {line}:\n  golden: \
             {expected}\n  docs:   {actual}\n{BLESS}=1 cargo test -p egress-guard-core --test golden writes it anew"
        );
    }
}

// The comparison itself.

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("egress-guard-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn a_missing_golden_file_fails_naming_it_and_is_not_written() {
    let path = scratch("missing.txt");
    let _ = std::fs::remove_file(&path);
    let err = compare(&path, "Subject: x\n", false).unwrap_err();
    assert!(err.contains("missing.txt") && err.contains(&format!("{BLESS}=1")), "{err}");
    assert!(!path.exists(), "written without {BLESS}");
}

#[test]
fn a_difference_names_the_first_differing_line_with_both_versions() {
    let path = scratch("differs.txt");
    std::fs::write(&path, "Subject: a\n\nGroup    sg-1\nVPC      vpc-1\n").unwrap();
    let err = compare(&path, "Subject: a\n\nGroup    sg-2\nVPC      vpc-1\n", false).unwrap_err();
    assert!(
        err.contains("first at line 3")
            && err.contains(r#"expected: "Group    sg-1\n""#)
            && err.contains(r#"actual:   "Group    sg-2\n""#),
        "{err}"
    );
    let shorter = compare(&path, "Subject: a\n\n", false).unwrap_err();
    assert!(shorter.contains("line 3") && shorter.contains("actual:   (end of the text)"), "{shorter}");
    assert_eq!(compare(&path, "Subject: a\n\nGroup    sg-1\nVPC      vpc-1\n", false), Ok(()));
}

#[test]
fn blessing_writes_the_file_that_then_compares_equal() {
    let path = scratch("blessed.txt");
    compare(&path, "Subject: b\n", true).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "Subject: b\n");
    assert_eq!(compare(&path, "Subject: b\n", false), Ok(()));
}
