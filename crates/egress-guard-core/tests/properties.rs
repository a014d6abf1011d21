//! Property tests over random groups and settings: a plan only ever holds open `/0` destinations (or, with
//! `revoke_split_ranges`, the outermost CIDRs of sets that together cover the whole address space), never touches an
//! exempt group or an allowed port, and misses no open in-scope rule. Split ranges are any partition of IPv4 or IPv6
//! into blocks, whatever their sizes, duplicates and overlaps; a partition short of one block is never one. An oracle
//! of this file's own (address intervals, `std` only) says what covers the whole space. And the audit predicts
//! enforcement: on the same group, what it marks `revoke` is what a dry-run sweep reports and an enforcing one removes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use common::{FakeGroups, FakeNotifier, event};
use egress_guard_core::SweepScope;
use egress_guard_core::audit::{Action, AuditReport};
use egress_guard_core::{
    AllowedPort, Cidr, Destination, EgressRule, Evaluation, FindingKind, NoFlowLogs, NoHistory, NoOutlets, PortRange,
    Ports, Protocol, SecurityGroup, Settings, SweepReport, evaluate, parse_event, sweep,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

const GROUP_ID: &str = "sg-0123456789abcdef0";
const EXEMPT_TAG: &str = "egress-guard:exempt";

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::All),
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Icmp),
        Just(Protocol::Icmpv6),
        (2u8..=255).prop_filter("named", |n| ![6, 17, 58].contains(n)).prop_map(Protocol::Number),
    ]
}

fn ports() -> impl Strategy<Value = PortRange> {
    (0i32..=65535, 0i32..=65535).prop_map(|(a, b)| PortRange::new(a.min(b), a.max(b)))
}

/// Destinations weighted towards the edge cases: the whole space, its halves, and narrow blocks.
fn destination() -> impl Strategy<Value = Destination> {
    let v4 = (any::<u32>(), prop_oneof![Just(0u8), Just(1u8), 0u8..=32])
        .prop_map(|(a, len)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).unwrap()).trunc());
    let v6 = (any::<u128>(), prop_oneof![Just(0u8), Just(1u8), 0u8..=128])
        .prop_map(|(a, len)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), len).unwrap()).trunc());
    prop_oneof![
        4 => prop_oneof![v4, v6].prop_map(|net| Destination::Cidr(Cidr::parse(&net.to_string()).unwrap())),
        1 => "[0-9a-f]{8}".prop_map(|h| Destination::PrefixList(format!("pl-{h}"))),
        1 => "[0-9a-f]{8}".prop_map(|h| Destination::SecurityGroup { group_id: format!("sg-{h}"), user_id: None }),
    ]
}

fn rule() -> impl Strategy<Value = EgressRule> {
    (protocol(), ports(), destination()).prop_map(|(protocol, ports, destination)| EgressRule {
        ports: match protocol {
            Protocol::All | Protocol::Number(_) => None,
            Protocol::Icmp | Protocol::Icmpv6 => Some(PortRange::new(-1, -1)),
            _ => Some(ports),
        },
        protocol,
        destination,
        description: None,
        rule_id: None,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The family's last address: its first is 0.
    fn last(self) -> u128 {
        match self {
            Family::V4 => u32::MAX.into(),
            Family::V6 => u128::MAX,
        }
    }
}

/// The mask of the low `host_bits` bits of an address.
fn host_mask(host_bits: u8) -> u128 {
    if host_bits == 0 { 0 } else { u128::MAX >> (128 - u32::from(host_bits)) }
}

/// A CIDR block: its family, first address and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Block {
    family: Family,
    first: u128,
    len: u8,
}

impl Block {
    fn whole(family: Family) -> Block {
        Block { family, first: 0, len: 0 }
    }

    fn host_bits(self) -> u8 {
        self.family.bits() - self.len
    }

    fn halves(self) -> [Block; 2] {
        let len = self.len + 1;
        [Block { len, ..self }, Block { first: self.first | 1 << (self.host_bits() - 1), len, ..self }]
    }

    /// A block strictly inside this one, where `noise` and `depth` put it; none inside a single address.
    fn inside(self, noise: u128, depth: u8) -> Option<Block> {
        let room = self.host_bits();
        (room > 0).then(|| {
            let len = self.len + 1 + depth % room;
            let first = self.first | (noise & host_mask(room) & !host_mask(self.family.bits() - len));
            Block { first, len, ..self }
        })
    }

    /// A block strictly around this one and never the whole space, `depth` deciding how far out; none around a `/1`.
    fn around(self, depth: u8) -> Option<Block> {
        (self.len >= 2).then(|| {
            let len = 1 + depth % (self.len - 1);
            Block { first: self.first & !host_mask(self.family.bits() - len), len, ..self }
        })
    }

    /// The block as EC2 may spell it: IPv6 compressed (`8000::/1`) or in full (`8000:0:0:0:0:0:0:0/1`).
    fn text(self, long: bool) -> String {
        match self.family {
            Family::V4 => format!("{}/{}", Ipv4Addr::from(self.first as u32), self.len),
            Family::V6 if long => {
                let segments: Vec<String> =
                    Ipv6Addr::from(self.first).segments().iter().map(|s| format!("{s:x}")).collect();
                format!("{}/{}", segments.join(":"), self.len)
            }
            Family::V6 => format!("{}/{}", Ipv6Addr::from(self.first), self.len),
        }
    }
}

/// A random partition of the whole space of `family` into blocks. Mostly grown from `/0` by splitting a block into its
/// halves up to 15 times (2 to 16 blocks), each time a block picked anywhere or one of the two halves the step before
/// made, which gives mixed sizes (`/1 + /2 + /3 + /3`), quarters, and blocks down to `/15`. Sometimes a staircase
/// towards a random address, to a random depth or down to the single address: a `/1`, a `/2`, ... a `/n` and its
/// sibling `/n`.
fn partition(family: Family) -> impl Strategy<Value = Vec<Block>> {
    let grown = vec((any::<Index>(), any::<bool>(), any::<bool>()), 1..16).prop_map(move |steps| {
        let mut blocks = vec![Block::whole(family)];
        for (pick, follow, high) in steps {
            let at = if follow && blocks.len() >= 2 {
                blocks.len() - 1 - usize::from(high)
            } else {
                pick.index(blocks.len())
            };
            let [low, high] = blocks.swap_remove(at).halves();
            blocks.extend([low, high]);
        }
        blocks
    });
    let bits = family.bits();
    let staircase = (any::<u128>(), prop_oneof![Just(bits), 1..=bits]).prop_map(move |(address, depth)| {
        let mut blocks = Vec::new();
        let mut rest = Block::whole(family);
        for _ in 0..depth {
            let [low, high] = rest.halves();
            let (next, sibling) = if (address >> (rest.host_bits() - 1)) & 1 == 1 { (high, low) } else { (low, high) };
            blocks.push(sibling);
            rest = next;
        }
        blocks.push(rest);
        blocks
    });
    prop_oneof![4 => grown, 1 => staircase]
}

/// An extra block of the split set's traffic, besides its partition.
#[derive(Clone, Copy, Debug)]
enum Extra {
    /// The same rule again.
    Duplicate,
    /// A block strictly inside one of the set's.
    Inside,
    /// A block strictly around one of the set's (never `/0`), overlapping its neighbours.
    Around,
}

/// Rules of one protocol and port range to the blocks of a random partition of IPv4 or IPv6 (see `partition`), plus up
/// to three extra blocks of the same traffic (duplicates, blocks inside or around others), in both IPv6 spellings.
/// A `near_miss` leaves out one block of the partition, sometimes putting back a smaller block inside it, and takes no
/// extra around another block (which could fill the gap): at least one address is then not covered.
fn split_set(near_miss: bool) -> impl Strategy<Value = Vec<EgressRule>> {
    let blocks = prop_oneof![Just(Family::V4), Just(Family::V6)].prop_flat_map(partition);
    let extra = (
        prop_oneof![Just(Extra::Duplicate), Just(Extra::Inside), Just(Extra::Around)],
        any::<Index>(),
        any::<u128>(),
        any::<u8>(),
    );
    let gap = (any::<Index>(), any::<bool>(), any::<u128>(), any::<u8>());
    (blocks, rule(), vec(extra, 0..4), gap, any::<u128>()).prop_map(
        move |(mut blocks, template, extras, (missing, refill, noise, depth), spellings)| {
            if near_miss {
                let gone = blocks.swap_remove(missing.index(blocks.len()));
                blocks.extend(gone.inside(noise, depth).filter(|_| refill));
            }
            let mut all = blocks.clone();
            for (kind, pick, noise, depth) in extras {
                let block = *pick.get(&blocks);
                all.extend(match kind {
                    Extra::Duplicate => Some(block),
                    Extra::Inside => block.inside(noise, depth),
                    Extra::Around if near_miss => block.inside(noise, depth),
                    Extra::Around => block.around(depth),
                });
            }
            all.iter()
                .enumerate()
                .map(|(i, block)| to(&template, &block.text((spellings >> (i % 128)) & 1 == 1)))
                .collect()
        },
    )
}

/// `template`'s protocol and ports to `cidr`.
fn to(template: &EgressRule, cidr: &str) -> EgressRule {
    EgressRule { destination: Destination::Cidr(Cidr::parse(cidr).unwrap()), ..template.clone() }
}

/// A split set (or near miss) shuffled among up to 8 unrelated rules, and sometimes the `/0` of the set's own traffic
/// and family (which is an open rule and no part of any split range). Returns the set and the group's rules. Unrelated
/// rules of the set's traffic and family are dropped, so that the set alone decides whether that traffic is split.
fn among_others(
    set: impl Strategy<Value = Vec<EgressRule>>,
) -> impl Strategy<Value = (Vec<EgressRule>, Vec<EgressRule>)> {
    (set, vec(rule(), 0..8), proptest::bool::weighted(0.2)).prop_flat_map(|(set, mut others, world)| {
        let template = set[0].clone();
        others.retain(|r| !is_kin(r, &template));
        let mut egress = set.clone();
        egress.extend(others);
        if world {
            let v4 = interval(&template.destination).is_some_and(|i| i.family == Family::V4);
            egress.push(to(&template, if v4 { "0.0.0.0/0" } else { "::/0" }));
        }
        Just(egress).prop_shuffle().prop_map(move |egress| (set.clone(), egress))
    })
}

/// A group of `egress` and settings at random: exempt by tag or id (a fifth of the time each), allowed ports (sometimes
/// exactly those of one of the group's rules), other protocols and split ranges revoked or not, dry run or not.
fn case_with(egress: impl Strategy<Value = Vec<EgressRule>>) -> impl Strategy<Value = (SecurityGroup, Settings)> {
    let allowed = vec(
        (prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)], ports())
            .prop_map(|(protocol, ports)| AllowedPort { protocol, ports }),
        0..3,
    );
    let exempt = (proptest::bool::weighted(0.2), proptest::bool::weighted(0.2));
    (egress, exempt, allowed, proptest::option::weighted(0.3, any::<Index>()), any::<(bool, bool)>(), any::<bool>())
        .prop_map(|(egress, (tagged, listed), mut allowed, allow_own, (revoke_other, revoke_split), dry_run)| {
            if let Some(pick) = allow_own.filter(|_| !egress.is_empty()) {
                let own = pick.get(&egress);
                if let (true, Some(ports)) = (own.protocol.has_ports(), own.ports) {
                    allowed.push(AllowedPort { protocol: own.protocol, ports });
                }
            }
            let mut group = SecurityGroup { id: GROUP_ID.into(), name: "g".into(), egress, ..Default::default() };
            if tagged {
                group.tags.insert(EXEMPT_TAG.into(), "reason".into());
            }
            let settings = Settings {
                exempt_group_ids: if listed { [GROUP_ID.to_owned()].into() } else { Default::default() },
                allowed,
                revoke_other_protocols: revoke_other,
                revoke_split_ranges: revoke_split,
                dry_run,
                ..Settings::default()
            };
            (group, settings)
        })
}

/// Random rules, and three times in ten a split set or a near miss among them.
fn case() -> impl Strategy<Value = (SecurityGroup, Settings)> {
    let set = prop_oneof![split_set(false), split_set(true)];
    case_with((vec(rule(), 0..12), proptest::option::weighted(0.3, set)).prop_map(|(mut rules, set)| {
        rules.extend(set.unwrap_or_default());
        rules
    }))
}

/// A split set (or near miss) among other rules, the set, and random settings.
fn split_case(near_miss: bool) -> impl Strategy<Value = (Vec<EgressRule>, SecurityGroup, Settings)> {
    among_others(split_set(near_miss)).prop_flat_map(|(set, egress)| {
        case_with(Just(egress)).prop_map(move |(group, settings)| (set.clone(), group, settings))
    })
}

/// A CIDR destination as the oracle reads it: family, prefix length, first and last address. Parsed here with `std`.
#[derive(Clone, Copy, Debug)]
struct Interval {
    family: Family,
    len: u8,
    first: u128,
    last: u128,
}

fn interval(destination: &Destination) -> Option<Interval> {
    let Destination::Cidr(cidr) = destination else { return None };
    let (address, len) = cidr.as_str().trim().split_once('/')?;
    let (family, address) = match address.parse::<Ipv4Addr>() {
        Ok(v4) => (Family::V4, u128::from(u32::from(v4))),
        Err(_) => (Family::V6, u128::from(address.parse::<Ipv6Addr>().ok()?)),
    };
    let len: u8 = len.parse().ok().filter(|len| *len <= family.bits())?;
    let host = host_mask(family.bits() - len);
    Some(Interval { family, len, first: address & !host, last: address | host })
}

/// Whether the intervals leave no address from 0 to `last` uncovered.
fn covers(mut spans: Vec<(u128, u128)>, last: u128) -> bool {
    spans.sort();
    let mut next = 0u128;
    for (first, end) in spans {
        if first > next {
            return false;
        }
        if end >= next {
            if end == last {
                return true;
            }
            next = end + 1;
        }
    }
    false
}

/// The oracle of split ranges: the rules whose CIDRs, grouped by protocol, ports and family and leaving out `/0`, cover
/// the whole space of their family, less those strictly inside another CIDR of their set (a duplicate is not inside).
fn split_rules(egress: &[EgressRule]) -> Vec<&EgressRule> {
    type Traffic = (Protocol, Option<PortRange>, Family);
    let mut sets: BTreeMap<Traffic, Vec<(&EgressRule, Interval)>> = BTreeMap::new();
    for rule in egress {
        if let Some(i) = interval(&rule.destination).filter(|i| i.len != 0) {
            sets.entry((rule.protocol, rule.ports, i.family)).or_default().push((rule, i));
        }
    }
    let mut found = Vec::new();
    for ((_, _, family), members) in &sets {
        if covers(members.iter().map(|(_, i)| (i.first, i.last)).collect(), family.last()) {
            let inside = |m: &Interval| {
                members
                    .iter()
                    .any(|(_, o)| o.first <= m.first && m.last <= o.last && (o.first, o.last) != (m.first, m.last))
            };
            found.extend(members.iter().filter(|(_, m)| !inside(m)).map(|(rule, _)| *rule));
        }
    }
    found
}

/// Whether two rules open the same protocol and ports to CIDRs of the same family (those that can add up together).
fn is_kin(a: &EgressRule, b: &EgressRule) -> bool {
    let family = |r: &EgressRule| interval(&r.destination).map(|i| i.family);
    a.protocol == b.protocol && a.ports == b.ports && family(a).is_some() && family(a) == family(b)
}

fn is_open(rule: &EgressRule) -> bool {
    interval(&rule.destination).is_some_and(|i| i.len == 0)
}

fn is_narrow(rule: &EgressRule) -> bool {
    interval(&rule.destination).is_some_and(|i| i.len != 0)
}

fn is_allowed(rule: &EgressRule, allowed: &[AllowedPort]) -> bool {
    let ports = rule.ports.unwrap_or(PortRange::ALL);
    rule.protocol.has_ports() && allowed.iter().any(|a| a.protocol == rule.protocol && ports.is_within(&a.ports))
}

fn is_exempt(group: &SecurityGroup, settings: &Settings) -> bool {
    group.tags.contains_key(EXEMPT_TAG) || settings.exempt_group_ids.contains(&group.id)
}

/// Whether a finding on `rule` is revoked: the group is not exempt, the port not allowed, the protocol in scope.
fn is_revocable(rule: &EgressRule, group: &SecurityGroup, settings: &Settings) -> bool {
    !is_exempt(group, settings)
        && !is_allowed(rule, &settings.allowed)
        && (rule.protocol.is_in_scope() || settings.revoke_other_protocols)
}

/// The plan the oracle expects, sorted: every revocable open rule and, with split revokes on, every revocable rule of
/// a split range.
fn expected_plan<'a>(group: &'a SecurityGroup, settings: &Settings) -> Vec<&'a EgressRule> {
    let split = if settings.revoke_split_ranges { split_rules(&group.egress) } else { Vec::new() };
    sorted(group.egress.iter().filter(|r| is_open(r)).chain(split).filter(|r| is_revocable(r, group, settings)))
}

fn sorted<'a>(rules: impl IntoIterator<Item = &'a EgressRule>) -> Vec<&'a EgressRule> {
    let mut rules: Vec<&EgressRule> = rules.into_iter().collect();
    rules.sort();
    rules
}

fn split_findings(eval: &Evaluation) -> Vec<&EgressRule> {
    sorted(eval.findings.iter().filter(|f| f.kind == FindingKind::Split).map(|f| &f.rule))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn plans_hold_only_open_destinations_and_miss_none((group, settings) in case()) {
        let eval = evaluate(&group, &settings);
        let split = split_rules(&group.egress);
        for planned in &eval.plan.rules {
            prop_assert!(matches!(planned.destination, Destination::Cidr(_)), "non-CIDR destination planned: {}", planned);
            if is_narrow(planned) {
                prop_assert!(settings.revoke_split_ranges, "narrow destination planned, split revokes off: {}", planned);
                prop_assert!(split.contains(&planned), "narrow, not a split range: {}", planned);
            }
            prop_assert!(group.egress.contains(planned), "planned rule not in the group: {}", planned);
            prop_assert!(!is_allowed(planned, &settings.allowed), "allowed port planned: {}", planned);
            prop_assert!(planned.protocol.is_in_scope() || settings.revoke_other_protocols);
        }
        if is_exempt(&group, &settings) {
            prop_assert!(eval.plan.is_empty(), "exempt group planned");
        }
        prop_assert_eq!(split_findings(&eval), sorted(split.iter().copied()), "split findings");
        prop_assert_eq!(sorted(&eval.plan.rules), expected_plan(&group, &settings), "plan");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn any_partition_of_the_address_space_is_a_split_range((set, group, settings) in split_case(false)) {
        let settings = Settings { revoke_split_ranges: false, ..settings };
        let outermost = split_rules(&set);
        prop_assert!(!outermost.is_empty(), "the oracle finds no split range in the generated set");
        let eval = evaluate(&group, &settings);
        let found = split_findings(&eval);
        for rule in &outermost {
            prop_assert!(found.contains(rule), "not reported as a split range: {}", rule);
        }
        prop_assert_eq!(found, sorted(split_rules(&group.egress)), "split findings");
        let narrow: Vec<&EgressRule> = eval.plan.rules.iter().filter(|r| is_narrow(r)).collect();
        prop_assert!(narrow.is_empty(), "narrow blocks planned with split revokes off: {:?}", narrow);
    }

    #[test]
    fn with_split_revokes_on_every_outermost_block_of_a_partition_is_planned(
        (set, group, settings) in split_case(false)
    ) {
        let settings = Settings { revoke_split_ranges: true, ..settings };
        let eval = evaluate(&group, &settings);
        for rule in split_rules(&set) {
            let planned = eval.plan.rules.contains(rule);
            prop_assert_eq!(planned, is_revocable(rule, &group, &settings), "block of the split range: {}", rule);
        }
        for planned in eval.plan.rules.iter().filter(|r| is_narrow(r)) {
            prop_assert!(split_rules(&group.egress).contains(&planned), "planned, not a split range: {}", planned);
        }
        prop_assert_eq!(sorted(&eval.plan.rules), expected_plan(&group, &settings), "plan");
    }

    #[test]
    fn a_partition_short_of_one_block_is_never_a_split_range((set, group, settings) in split_case(true)) {
        prop_assert!(split_rules(&set).is_empty(), "the oracle finds the near miss covers the whole space");
        let eval = evaluate(&group, &settings);
        let found = split_findings(&eval);
        for rule in &set {
            prop_assert!(!found.contains(&rule), "near miss reported as a split range: {}", rule);
            prop_assert!(!eval.plan.rules.contains(rule), "near miss planned: {}", rule);
        }
        // Nor does its traffic make a split range with anything else, e.g. the `/0` beside it.
        let kin: Vec<&EgressRule> = found.into_iter().filter(|r| is_kin(r, &set[0])).collect();
        prop_assert!(kin.is_empty(), "the near miss's traffic reported as a split range: {:?}", kin);
    }
}

/// One scheduled sweep of `groups` with `settings`.
fn swept(groups: &FakeGroups, settings: &Settings) -> SweepReport {
    let trigger = parse_event(&event("scheduled-sweep")).unwrap();
    let notifier = FakeNotifier::default();
    let ports = Ports { groups, notifier: &notifier, history: &NoHistory, flow_logs: &NoFlowLogs, outlets: &NoOutlets };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(sweep(&trigger, settings, &SweepScope::default(), ports, || true)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// What `audit` marks `revoke` on a group is exactly the oracle's plan, exactly what a dry-run sweep of the same
    /// group says it would revoke (changing nothing), and exactly what an enforcing sweep removes from it.
    #[test]
    fn audit_predicts_what_a_dry_run_reports_and_enforcement_revokes((group, settings) in case()) {
        let plan: BTreeSet<&EgressRule> = expected_plan(&group, &settings).into_iter().collect();
        let audit = AuditReport::new(vec![("eu-west-1".to_owned(), Ok(vec![group.clone()]))], &settings);
        let audited: BTreeSet<(String, Option<PortRange>, String)> = audit
            .findings
            .iter()
            .filter(|f| f.action == Action::Revoke)
            .map(|f| (f.protocol.clone(), f.ports, f.destination.clone()))
            .collect();
        let planned: BTreeSet<(String, Option<PortRange>, String)> =
            plan.iter().map(|r| (r.protocol.as_ec2(), r.ports, r.destination.to_string())).collect();
        prop_assert_eq!(&audited, &planned, "the audit against the oracle");

        let dry = Settings { dry_run: true, ..settings.clone() };
        let groups = FakeGroups::with([group.clone()]);
        let report = swept(&groups, &dry);
        let would: BTreeSet<String> = report.lines.iter().flat_map(|l| l.revoked.iter().cloned()).collect();
        let want: BTreeSet<String> = plan.iter().map(|r| r.to_string()).collect();
        prop_assert_eq!(&would, &want, "the dry run's report against the oracle");
        prop_assert_eq!(groups.egress(GROUP_ID), group.egress.clone(), "a dry run changes nothing");

        let enforcing = Settings { dry_run: false, ..settings };
        let groups = FakeGroups::with([group.clone()]);
        swept(&groups, &enforcing);
        let after: BTreeSet<EgressRule> = groups.egress(GROUP_ID).into_iter().collect();
        let removed: BTreeSet<&EgressRule> = group.egress.iter().filter(|r| !after.contains(*r)).collect();
        prop_assert_eq!(removed, plan, "enforcement against the oracle");
    }
}
