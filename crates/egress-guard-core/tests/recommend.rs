//! The recommendation over in-memory flow logs: what is kept, how destinations are mapped, how the proposal is fitted
//! to the quota and what it says about gaps; then properties over random flows (every kept flow allowed, the quota
//! held, the same proposal whatever the order, and no reply ever making a rule), and properties judged by the test's
//! own reading of a rule: both families, past 1,024 destinations, the /8 (IPv6 /32) bound, a fleet replaced daily.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{FakeFlowLogs, group, rule};
use egress_guard_core::notify::observed::ObservedEgress;
use egress_guard_core::recommend::{
    self, AwsRanges, Batch, FlowLog, Gap, Interface, LogDestination, Network, PrefixList, Proposal, Records, Request,
};
use egress_guard_core::run::recommend::recommend_for;
use egress_guard_core::{EgressRule, Protocol, SecurityGroup, Settings};
use proptest::prelude::*;

const NOW: i64 = 1_790_000_000;
const DAY: i64 = 86_400;
const A: &str = "eni-0a0a0a0a0a0a0a0a0";
const FORMAT: &str = "${version} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} \
                      ${action} ${log-status} ${tcp-flags} ${flow-direction}";

fn interface(id: &str, ip: &str) -> Interface {
    Interface {
        id: id.into(),
        subnet_id: Some("subnet-0a0a0a0a".into()),
        vpc_id: Some("vpc-0f1e2d3c4b5a69788".into()),
        owner_id: Some("123456789012".into()),
        addresses: [ip.parse().unwrap()].into(),
        since: None,
    }
}

fn log(id: &str, resource: &str) -> FlowLog {
    FlowLog {
        id: id.into(),
        resource_id: resource.into(),
        traffic_type: "ALL".into(),
        log_format: FORMAT.into(),
        destination: LogDestination::CloudWatchLogs { log_group: "/flow".into() },
        created_at: Some(NOW - 30 * DAY),
        delivery_error: None,
    }
}

fn network() -> Network {
    Network {
        vpc_cidrs: vec!["10.0.0.0/16".parse().unwrap()],
        prefix_lists: vec![PrefixList {
            id: "pl-6da54004".into(),
            name: "com.amazonaws.eu-west-1.s3".into(),
            weight: 1,
            cidrs: vec!["52.218.0.0/17".parse().unwrap()],
        }],
    }
}

/// An open group, HTTPS accepted inbound.
fn open_group() -> SecurityGroup {
    SecurityGroup {
        ingress: vec![egress_guard_core::IngressRule {
            protocol: Protocol::Tcp,
            ports: Some(egress_guard_core::PortRange::new(443, 443)),
            source: egress_guard_core::Destination::Cidr(egress_guard_core::Cidr::parse("0.0.0.0/0").unwrap()),
        }],
        ..group("sg-0123456789abcdef0", vec![rule("all traffic to 0.0.0.0/0"), rule("all traffic to ::/0")])
    }
}

/// A record of interface A started by it: `started("tcp", "203.0.113.7", 443)`.
fn started(protocol: &str, dst: &str, port: u16) -> String {
    let (number, flags) = if protocol == "tcp" { (6, "2") } else { (17, "-") };
    format!("5 {A} 10.0.1.10 {dst} 40000 {port} {number} {} ACCEPT OK {flags} egress", NOW - 3600)
}

/// Interface A's records: a `NODATA` record at the window's start (its log covered it all along), then `lines`.
fn flows(lines: Vec<String>) -> FakeFlowLogs {
    let covered = format!("5 {A} - - - - - {} - NODATA - -", NOW - 14 * DAY + 60);
    let lines = std::iter::once(covered).chain(lines).collect();
    FakeFlowLogs {
        interfaces: vec![interface(A, "10.0.1.10")],
        logs: vec![log("fl-0a0a0a0a0a0a0a0a0", A)],
        records: [(
            "fl-0a0a0a0a0a0a0a0a0".to_owned(),
            Records { batches: vec![Batch { header: None, lines }], ..Default::default() },
        )]
        .into(),
        network: network(),
    }
}

fn request(quota: u32, ranges: &AwsRanges) -> Request<'_> {
    Request { region: "eu-west-1", days: 14, now: NOW, quota, max_records: 100_000, ranges }
}

fn propose_with(logs: &FakeFlowLogs, group: &SecurityGroup, quota: u32, ranges: &AwsRanges) -> Proposal {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(recommend_for(group, &request(quota, ranges), &Settings::default(), logs)).unwrap()
}

/// AWS's published ranges, as a small copy read: one range no test destination is in.
fn ranges() -> AwsRanges {
    AwsRanges::parse(r#"{"createDate":"2026-11-30-12-00-00","prefixes":[{"ip_prefix":"192.0.2.0/24","service":"ROUTE53"}],"ipv6_prefixes":[]}"#)
        .unwrap()
}

fn propose(logs: &FakeFlowLogs, quota: u32) -> Proposal {
    propose_with(logs, &open_group(), quota, &ranges())
}

fn rules(p: &Proposal) -> Vec<String> {
    p.rules.iter().map(|r| r.rule.to_string()).collect()
}

#[test]
fn destinations_map_to_the_vpc_the_prefix_list_and_aggregated_addresses() {
    let p = propose(
        &flows(vec![
            started("tcp", "10.0.7.7", 5432),
            started("tcp", "52.218.12.1", 443),
            started("tcp", "203.0.113.4", 443),
            started("tcp", "203.0.113.5", 443),
            started("udp", "198.51.100.53", 53),
        ]),
        60,
    );
    assert_eq!(
        rules(&p),
        [
            "tcp 443 to 203.0.113.4/31",
            "tcp 443 to pl-6da54004",
            "tcp 5432 to 10.0.0.0/16",
            "udp 53 to 198.51.100.53/32"
        ]
    );
    assert_eq!(p.rules[0].rule.description.as_deref(), Some("egress-guard: observed"));
    assert_eq!(p.open_rules.len(), 2);
    assert!(p.applicable(false), "{:?}", p.gaps);
    let authorize = p.authorize_command.as_deref().unwrap();
    assert!(
        authorize
            .starts_with("aws ec2 authorize-security-group-egress --region eu-west-1 --group-id sg-0123456789abcdef0")
    );
    assert!(authorize.contains(r#""PrefixListIds":[{"PrefixListId":"pl-6da54004""#), "{authorize}");
    assert!(p.revoke_command.as_deref().unwrap().contains(r#""CidrIp":"0.0.0.0/0""#));
}

#[test]
fn a_published_aws_range_is_used_for_a_service_without_a_prefix_list_and_ec2_never_is() {
    let ranges = AwsRanges::parse(
        r#"{"syncToken":"1","createDate":"2026-08-22-21-17-05",
            "prefixes":[{"ip_prefix":"3.5.0.0/16","region":"eu-west-1","service":"EC2","network_border_group":"eu-west-1"},
                        {"ip_prefix":"3.5.72.0/23","region":"eu-west-1","service":"S3","network_border_group":"eu-west-1"},
                        {"ip_prefix":"3.0.0.0/8","region":"GLOBAL","service":"AMAZON","network_border_group":"GLOBAL"},
                        {"ip_prefix":"35.71.64.0/22","region":"eu-west-1","service":"API_GATEWAY","network_border_group":"eu-west-1"}],
            "ipv6_prefixes":[]}"#,
    )
    .unwrap();
    let p = propose_with(
        &flows(vec![
            started("tcp", "35.71.65.9", 443),
            started("tcp", "3.5.9.9", 443),
            started("tcp", "3.5.73.1", 443),
        ]),
        &open_group(),
        60,
        &ranges,
    );
    assert_eq!(rules(&p), ["tcp 443 to 3.5.9.9/32", "tcp 443 to 3.5.72.0/23", "tcp 443 to 35.71.64.0/22"]);
    assert_eq!(p.ip_ranges, "2026-08-22-21-17-05");
}

#[test]
fn replies_rejected_inbound_and_link_local_records_make_no_rule() {
    let t = NOW - 3600;
    let p = propose(
        &flows(vec![
            format!("5 {A} 10.0.1.10 198.51.100.7 8080 50000 6 {t} ACCEPT OK 18 egress"),
            format!("5 {A} 10.0.1.10 198.51.100.8 443 50001 6 {t} ACCEPT OK 0 egress"),
            format!("5 {A} 198.51.100.8 10.0.1.10 50001 443 6 {t} ACCEPT OK 2 ingress"),
            format!("5 {A} 10.0.1.10 192.0.2.25 40000 25 6 {t} REJECT OK 2 egress"),
            format!("5 {A} 10.0.1.10 169.254.169.123 40000 123 17 {t} ACCEPT OK - egress"),
        ]),
        60,
    );
    assert!(p.rules.is_empty(), "{:?}", rules(&p));
    let c = &p.interfaces[0];
    assert_eq!((c.replies, c.inbound, c.rejected, c.link_local, c.started), (2, 1, 1, 1, 0));
    assert!(p.text().contains("Amazon DNS resolver, instance metadata, Amazon Time Sync"), "{}", p.text());
}

#[test]
fn flows_the_remaining_rules_allow_are_not_proposed_again() {
    let mut g = open_group();
    g.egress.push(rule("tcp 443 to 203.0.113.0/24"));
    let p = propose_with(&flows(vec![started("tcp", "203.0.113.4", 443)]), &g, 60, &AwsRanges::default());
    assert!(p.rules.is_empty());
    assert_eq!(p.already_allowed, 1);
}

#[test]
fn over_quota_the_closest_addresses_merge_first_and_the_added_space_is_told() {
    // Two near neighbours (2 apart) and one far one: with room for two rules, the near ones merge.
    let p = propose(
        &flows(vec![
            started("tcp", "203.0.113.4", 443),
            started("tcp", "203.0.113.6", 443),
            started("tcp", "198.51.100.200", 443),
        ]),
        2,
    );
    assert_eq!(rules(&p), ["tcp 443 to 198.51.100.200/32", "tcp 443 to 203.0.113.4/30"]);
    assert_eq!(p.merges.len(), 1);
    assert_eq!(p.merges[0].into, "tcp 443 to 203.0.113.4/30");
    assert_eq!(p.merges[0].added, "+2 addresses");
    assert_eq!((p.quota.ipv4, p.quota.limit), (2, 2));
}

#[test]
fn ports_to_one_address_merge_when_addresses_cannot() {
    let p = propose(
        &flows(vec![
            started("tcp", "203.0.113.4", 8080),
            started("tcp", "203.0.113.4", 8081),
            started("tcp", "203.0.113.4", 9000),
        ]),
        2,
    );
    assert_eq!(rules(&p), ["tcp 8080-8081 to 203.0.113.4/32", "tcp 9000 to 203.0.113.4/32"]);
    assert_eq!(p.merges[0].added, "+0 ports");
}

#[test]
fn a_proposal_that_cannot_fit_proposes_nothing_and_says_so() {
    // Seven /8s apart: with one rule allowed they could only merge past /8, which is never done.
    let lines = (1..=7).map(|i| started("tcp", &format!("{}.1.1.1", i * 30), 443)).collect();
    let p = propose(&flows(lines), 1);
    assert!(p.rules.is_empty());
    assert!(p.gaps.iter().any(|g| matches!(g, Gap::DoesNotFit { quota: 1, .. })), "{:?}", p.gaps);
    assert!(!p.applicable(true), "a proposal that does not fit is never applied");
}

#[test]
fn a_prefix_list_counts_its_weight_against_the_quota() {
    let mut logs = flows(vec![started("tcp", "52.218.12.1", 443), started("tcp", "203.0.113.4", 443)]);
    logs.network.prefix_lists[0].weight = 55;
    let p = propose(&logs, 60);
    assert_eq!((p.quota.ipv4, p.quota.ipv6), (56, 55), "a prefix list counts in both families");
}

#[test]
fn gaps_are_told_and_only_those_that_hide_traffic_block_apply() {
    let b = "eni-0b0b0b0b0b0b0b0b0";
    let mut logs =
        flows(vec![started("tcp", "203.0.113.4", 443), format!("5 {A} - - - - - {} - SKIPDATA - -", NOW - 60)]);
    logs.interfaces.push(interface(b, "10.0.1.11"));
    logs.logs[0].created_at = Some(NOW - 3 * DAY);
    let p = propose(&logs, 60);
    let kinds: Vec<String> =
        p.gaps.iter().map(|g| serde_json::to_value(g).unwrap()["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["fewer_days", "skipped", "no_flow_logs"], "{:?}", p.gaps);
    assert_eq!(rules(&p), ["tcp 443 to 203.0.113.4/32"], "what was seen is still proposed");
    assert!(!p.applicable(true), "an interface without flow logs blocks --apply, gaps accepted or not");
    logs.interfaces.pop();
    let thin = propose(&logs, 60);
    assert!(!thin.applicable(false) && thin.applicable(true), "fewer days and SKIPDATA only thin the evidence");
    assert!(p.text().contains(&format!("{b} has no flow logs: enable them to get a proposal for it")), "{}", p.text());

    let mut parquet = flows(vec![]);
    parquet.logs[0].destination = LogDestination::Other("S3 with Hive-compatible or per-hour partitions".into());
    assert!(matches!(&propose(&parquet, 60).gaps[0], Gap::Unread { .. }));

    let mut silent = flows(vec![]);
    silent.logs[0].delivery_error = Some("Access error".into());
    silent.records.clear();
    let kinds: Vec<String> = propose(&silent, 60).gaps.iter().map(Gap::text).collect();
    assert_eq!(
        kinds,
        [
            "fl-0a0a0a0a0a0a0a0a0 could not be read: AWS cannot deliver it: Access error".to_owned(),
            format!("{A}: its flow logs hold no record in the window (delivery, retention or a stopped instance?)")
        ]
    );
}

#[test]
fn a_group_none_of_whose_interfaces_has_flow_logs_gets_the_one_line_answer() {
    let mut logs = flows(vec![]);
    logs.logs.clear();
    let p = propose(&logs, 60);
    assert!(p.no_flow_logs());
    let summary = ObservedEgress::summary(&p);
    assert_eq!(summary.text(), "Observed egress: no flow logs: enable them to get a proposal.\n");
}

#[test]
fn the_notice_section_is_bounded() {
    let lines = (0..40).map(|i| started("tcp", &format!("198.51.{i}.9", i = i * 3), 443)).collect();
    let p = propose(&flows(lines), 60);
    let text = ObservedEgress::summary(&p).text();
    assert_eq!(text.lines().filter(|l| l.contains(" flows, ")).count(), 10, "{text}");
    assert!(text.contains("and 30 more"), "{text}");
    assert!(text.contains("egress-guard recommend --region eu-west-1 --group-id sg-0123456789abcdef0 --days 14"));
}

#[test]
fn an_s3_file_is_read_with_its_own_header() {
    let mut logs = flows(vec![]);
    logs.records.insert(
        "fl-0a0a0a0a0a0a0a0a0".into(),
        Records {
            batches: vec![Batch {
                header: Some("version interface-id srcaddr dstaddr srcport dstport protocol action".into()),
                lines: vec![format!("2 {A} 10.0.1.10 203.0.113.9 40000 443 6 ACCEPT")],
            }],
            ..Default::default()
        },
    );
    assert_eq!(rules(&propose(&logs, 60)), ["tcp 443 to 203.0.113.9/32"]);
}

// Properties over random flows.

/// A flow interface A started: protocol, destination and port. Destinations come from a few small pools (so that
/// they aggregate and merge), the VPC, the S3 list, and anywhere.
fn flow() -> impl Strategy<Value = (bool, Ipv4Addr, u16)> {
    let dst = prop_oneof![
        (0u32..64).prop_map(|i| Ipv4Addr::from(0xcb00_7100 + i)), // 203.0.113.0/26
        (0u32..256).prop_map(|i| Ipv4Addr::from(0xc633_6400 + i)), // 198.51.100.0/24
        (0u32..65536).prop_map(|i| Ipv4Addr::from(0x0a00_0000 + i)), // 10.0.0.0/16, the VPC
        (0u32..32768).prop_map(|i| Ipv4Addr::from(0x34da_0000 + i)), // the S3 list
        any::<u32>()
            .prop_map(Ipv4Addr::from)
            .prop_filter("not link-local", |a| !a.is_link_local() && !a.is_unspecified()),
    ];
    (any::<bool>(), dst, prop_oneof![Just(443u16), Just(53), Just(5432), 1u16..=65535])
}

/// A reply leaving interface A: a SYN-ACK from any port, or anything from the port the group accepts inbound on a
/// connection the peer was seen opening (its SYN coming in).
fn reply() -> impl Strategy<Value = Vec<String>> {
    let t = NOW - 3600;
    // A reply without flags goes from the served port (443) to a different peer port: 443 to 443 may just as well
    // be a connection the server started, and counts as one (the safe side: a rule for it).
    let peer_port = (1u16..=65535).prop_filter("a reply's peer port is not the served port", |p| *p != 443);
    (any::<u32>(), peer_port, any::<bool>()).prop_map(move |(dst, port, syn_ack)| {
        let dst = Ipv4Addr::from(dst);
        if syn_ack {
            vec![format!("5 {A} 10.0.1.10 {dst} {port} 50000 6 {t} ACCEPT OK 19 egress")]
        } else {
            vec![
                format!("5 {A} {dst} 10.0.1.10 {port} 443 6 {t} ACCEPT OK 2 ingress"),
                format!("5 {A} 10.0.1.10 {dst} 443 {port} 6 {t} ACCEPT OK 0 egress"),
            ]
        }
    })
}

fn line((tcp, dst, port): &(bool, Ipv4Addr, u16)) -> String {
    started(if *tcp { "tcp" } else { "udp" }, &dst.to_string(), *port)
}

fn allowed(p: &Proposal, kept: &[EgressRule], (tcp, dst, port): &(bool, Ipv4Addr, u16)) -> bool {
    let flow = egress_guard_core::recommend::flowlog::Flow {
        protocol: if *tcp { Protocol::Tcp } else { Protocol::Udp },
        port: Some(*port),
        destination: IpAddr::V4(*dst),
        aws_service: None,
    };
    let lists = network().prefix_lists;
    p.rules.iter().map(|r| &r.rule).chain(kept).any(|r| recommend::allows(r, &flow, &lists))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn every_kept_flow_is_allowed_within_the_quota(flows_seen in prop::collection::vec(flow(), 0..200), quota in 1u32..60) {
        let p = propose(&flows(flows_seen.iter().map(line).collect()), quota);
        prop_assert!(p.quota.ipv4 <= quota && p.quota.ipv6 <= quota, "{:?}", p.quota);
        prop_assert!(p.rules.iter().all(|r| !matches!(&r.rule.destination, egress_guard_core::Destination::Cidr(c) if c.is_unrestricted())));
        if p.gaps.iter().any(|g| matches!(g, Gap::DoesNotFit { .. })) {
            prop_assert!(p.rules.is_empty());
        } else {
            for f in &flows_seen {
                prop_assert!(allowed(&p, &[], f), "{f:?} not allowed by {:?}", rules(&p));
            }
        }
    }

    #[test]
    fn the_proposal_is_the_same_whatever_the_order_of_the_records(
        flows_seen in prop::collection::vec(flow(), 1..120),
        quota in 1u32..60,
        seed in any::<u64>(),
    ) {
        let lines: Vec<String> = flows_seen.iter().map(line).collect();
        let mut shuffled = lines.clone();
        // A deterministic shuffle from the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let (a, b) = (propose(&flows(lines), quota), propose(&flows(shuffled), quota));
        prop_assert_eq!(a.to_json(), b.to_json());
    }

    #[test]
    fn no_reply_ever_makes_a_rule(
        flows_seen in prop::collection::vec(flow(), 0..80),
        replies in prop::collection::vec(reply(), 1..80),
        quota in 1u32..60,
    ) {
        let lines: Vec<String> = flows_seen.iter().map(line).collect();
        let with_replies: Vec<String> = lines.iter().cloned().chain(replies.into_iter().flatten()).collect();
        let (alone, mixed) = (propose(&flows(lines), quota), propose(&flows(with_replies), quota));
        prop_assert_eq!(rules(&alone), rules(&mixed));
        prop_assert_eq!(&alone.merges, &mixed.merges);
    }
}

#[test]
fn recommend_refuses_a_bad_group_id_with_no_call() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let groups = common::FakeGroups::default();
    let ranges = AwsRanges::default();
    let err = rt
        .block_on(egress_guard_core::recommend(
            "sg-XYZ",
            &request(60, &ranges),
            &Settings::default(),
            &groups,
            &flows(vec![]),
        ))
        .unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    assert!(groups.calls().is_empty());
}

// Properties judged by an oracle of the test's own (not `recommend::allows`), over IPv4 and IPv6, past the 1,024
// destinations where fitting first groups them, and over a fleet whose interfaces are replaced every day.

/// A flow of either family: TCP or UDP, to a destination from small pools (so that they aggregate and merge) or
/// anywhere.
fn any_flow() -> impl Strategy<Value = (bool, IpAddr, u16)> {
    let dst = prop_oneof![
        (0u32..64).prop_map(|i| IpAddr::V4(Ipv4Addr::from(0xcb00_7100 + i))),
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        (0u128..4096)
            .prop_map(|i| IpAddr::V6(std::net::Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000 + (i << 16)))),
        any::<u128>().prop_map(|a| IpAddr::V6(std::net::Ipv6Addr::from(a))),
    ]
    .prop_filter("an address a flow log records", |a| match a {
        IpAddr::V4(v4) => !v4.is_link_local() && !v4.is_unspecified() && !v4.is_loopback(),
        IpAddr::V6(v6) => {
            !v6.is_unspecified()
                && !v6.is_loopback()
                && (v6.segments()[0] & 0xffc0) != 0xfe80
                && v6.segments()[0] != 0xfd00
        }
    });
    (any::<bool>(), dst, prop_oneof![Just(443u16), Just(53), 1u16..=65535])
}

/// A record of `interface` (with `v4`/`v6` addresses) starting `flow` at `at`.
fn started_by(interface: &str, (tcp, dst, port): &(bool, IpAddr, u16), at: i64) -> String {
    let src = if dst.is_ipv4() { "10.0.1.10" } else { "2001:db8:1::10" };
    let (number, flags) = if *tcp { (6, "2") } else { (17, "-") };
    format!("5 {interface} {src} {dst} 40000 {port} {number} {at} ACCEPT OK {flags} egress")
}

/// The test's own reading of a rule: does it let `flow` out? Protocol, port range and destination block compared
/// as EC2 would, the rule read back from what it prints.
fn lets_out(rule: &EgressRule, (tcp, dst, port): &(bool, IpAddr, u16)) -> bool {
    let text = rule.to_string();
    let (traffic, destination) = text.split_once(" to ").unwrap();
    let protocol_ok = traffic == "all traffic" || traffic.starts_with(if *tcp { "tcp " } else { "udp " });
    let port_ok = match traffic.split(' ').nth(1) {
        None | Some("all") => true,
        Some(range) => {
            let (from, to) = range.split_once('-').unwrap_or((range, range));
            (from.parse::<u16>().unwrap()..=to.parse::<u16>().unwrap()).contains(port)
        }
    };
    let destination_ok = match destination.parse::<ipnet::IpNet>() {
        Ok(net) => net.contains(dst),
        // A prefix list: the test's network holds one, the S3 list.
        Err(_) => network().prefix_lists[0].cidrs.iter().any(|c| c.contains(dst)),
    };
    protocol_ok && port_ok && destination_ok
}

fn bounded(p: &Proposal) -> bool {
    p.rules.iter().all(|r| match (&r.basis, &r.rule.destination) {
        (recommend::Basis::Observed, egress_guard_core::Destination::Cidr(c)) => {
            let net: ipnet::IpNet = c.to_string().parse().unwrap();
            net.prefix_len() >= if net.addr().is_ipv4() { 8 } else { 32 }
        }
        _ => true,
    })
}

fn fleet(interfaces: Vec<Interface>, lines: Vec<String>) -> FakeFlowLogs {
    FakeFlowLogs {
        interfaces,
        // The subnet's log, a month old: it holds every interface's records, the replaced ones' too.
        logs: vec![log("fl-0a0a0a0a0a0a0a0a0", "subnet-0a0a0a0a")],
        records: [(
            "fl-0a0a0a0a0a0a0a0a0".to_owned(),
            Records { batches: vec![Batch { header: None, lines }], ..Default::default() },
        )]
        .into(),
        network: network(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Both families: every flow is let out by the proposal (the test's oracle), within the quota, never wider than
    /// /8 (IPv6 /32) for what was observed, or nothing is proposed and it says it does not fit.
    #[test]
    fn every_flow_of_either_family_is_let_out_or_nothing_fits(
        flows_seen in prop::collection::vec(any_flow(), 0..300),
        quota in 1u32..60,
    ) {
        let lines = flows_seen.iter().map(|f| started_by(A, f, NOW - 3600)).collect();
        let mut logs = flows(lines);
        logs.interfaces[0].addresses.insert("2001:db8:1::10".parse().unwrap());
        let p = propose(&logs, quota);
        prop_assert!(bounded(&p), "{:?}", rules(&p));
        prop_assert!(p.quota.ipv4 <= quota && p.quota.ipv6 <= quota, "{:?}", p.quota);
        if p.gaps.iter().any(|g| matches!(g, Gap::DoesNotFit { .. })) {
            prop_assert!(p.rules.is_empty());
        } else {
            for f in &flows_seen {
                prop_assert!(p.rules.iter().any(|r| lets_out(&r.rule, f)), "{f:?} not let out by {:?}", rules(&p));
            }
        }
    }

    /// An interface replaced every day (Auto Scaling, ECS), each starting flows of its own, the group's interface now
    /// the last: the proposal lets out every flow any of them started in the window, or a gap refuses --apply.
    #[test]
    fn a_fleet_replaced_daily_is_let_out_whole_or_apply_refuses(
        daily in prop::collection::vec(prop::collection::vec(any_flow(), 1..6), 2..10),
    ) {
        let days = daily.len() as i64;
        let eni = |d: i64| format!("eni-{:017x}", d);
        let mut lines = Vec::new();
        for (d, flows_of_day) in daily.iter().enumerate() {
            let attached = NOW - (days - d as i64) * DAY;
            for f in flows_of_day {
                lines.push(started_by(&eni(d as i64), f, attached + 600));
            }
        }
        let mut now = interface(&eni(days - 1), "10.0.1.10");
        now.addresses.insert("2001:db8:1::10".parse().unwrap());
        now.since = Some(NOW - DAY);
        let p = propose(&fleet(vec![now], lines), 60);
        let refused = p.gaps.iter().any(|g| g.blocks_apply(false));
        let all: Vec<&(bool, IpAddr, u16)> = daily.iter().flatten().collect();
        prop_assert!(
            refused || all.iter().all(|f| p.rules.iter().any(|r| lets_out(&r.rule, f))),
            "applied without every flow of the fleet: {:?}, gaps {:?}", rules(&p), p.gaps
        );
        prop_assert!(p.gaps.iter().any(|g| matches!(g, Gap::InterfacesYounger { .. })), "{:?}", p.gaps);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Past 1,024 distinct destinations fitting first groups them by /24 (/64), then coarser: still every flow let
    /// out, still within /8 (/32), or nothing fits.
    #[test]
    fn past_1024_destinations_grouping_keeps_every_flow_and_the_bound(
        flows_seen in prop::collection::vec(any_flow(), 1100..1600),
        quota in 20u32..60,
    ) {
        let lines = flows_seen.iter().map(|f| started_by(A, f, NOW - 3600)).collect();
        let mut logs = flows(lines);
        logs.interfaces[0].addresses.insert("2001:db8:1::10".parse().unwrap());
        let p = propose(&logs, quota);
        prop_assert!(bounded(&p), "{:?}", rules(&p));
        if !p.gaps.iter().any(|g| matches!(g, Gap::DoesNotFit { .. })) {
            for f in &flows_seen {
                prop_assert!(p.rules.iter().any(|r| lets_out(&r.rule, f)), "{f:?} not let out by {:?}", rules(&p));
            }
        }
    }
}

/// A proposal made without AWS's published ranges says so, in its JSON and its text.
#[test]
fn without_published_ranges_every_proposal_says_unpinned() {
    let p = propose_with(&flows(vec![started("tcp", "203.0.113.9", 443)]), &open_group(), 60, &AwsRanges::default());
    assert!(
        p.gaps.contains(&Gap::RangesUnpinned),
        "an address seen may be an AWS service's, which rotates: {:?}",
        p.gaps
    );
    assert!(!p.applicable(false) && p.applicable(true));
    assert_eq!(p.ip_ranges, "unpinned");
    let json: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
    assert_eq!(json["ip_ranges"], "unpinned");
    assert!(p.text().contains("AWS's published IP ranges: unpinned"), "{}", p.text());
    let json = r#"{"createDate":"2026-11-30-12-00-00","prefixes":[{"ip_prefix":"52.95.0.0/16","service":"S3"}],"ipv6_prefixes":[]}"#;
    let read = AwsRanges::parse(json).unwrap();
    let pinned = propose_with(&flows(vec![started("tcp", "203.0.113.9", 443)]), &open_group(), 60, &read);
    assert_eq!(pinned.ip_ranges, "2026-11-30-12-00-00");
    assert!(!pinned.text().contains("unpinned"));
    // A copy whose file parses but holds no range names nothing either: unpinned too.
    let empty = AwsRanges::parse(r#"{"createDate":"2026-11-30-12-00-00","prefixes":[],"ipv6_prefixes":[]}"#).unwrap();
    assert_eq!(empty.version(), "unpinned");
}

/// Past 1,024 destinations grouped to their /8s, neighbouring /8s stay one rule each: aggregation never makes the /6
/// that adds nothing, which the /8 bound forbids.
#[test]
fn neighbouring_blocks_never_aggregate_past_the_widest() {
    // 1,100 destinations, one in each /16 from 12.0.0.0 on: 12/8 to 15/8 whole, and part of 16/8.
    let lines: Vec<String> =
        (0..1100u32).map(|i| started("tcp", &Ipv4Addr::from(0x0c00_0000 + (i << 16)).to_string(), 443)).collect();
    let p = propose(&flows(lines), 60);
    assert!(bounded(&p), "{:?}", rules(&p));
    let want: Vec<String> = (12..=15).map(|a| format!("tcp 443 to {a}.0.0.0/8")).collect();
    assert_eq!(rules(&p)[..4], want, "not 12.0.0.0/6");
    assert!(rules(&p)[4..].iter().all(|r| r.starts_with("tcp 443 to 16.")), "{:?}", rules(&p));
}
