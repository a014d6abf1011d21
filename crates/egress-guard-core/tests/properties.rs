//! Property tests over random groups and settings: a plan only ever holds open `/0` destinations (or, with
//! `revoke_split_ranges`, CIDRs that with their siblings cover the whole address space), never touches an exempt group
//! or an allowed port, and misses no open in-scope rule.

use std::net::{Ipv4Addr, Ipv6Addr};

use egress_guard_core::{
    AllowedPort, Cidr, Destination, EgressRule, PortRange, Protocol, SecurityGroup, Settings, evaluate,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;

const GROUP_ID: &str = "sg-0123456789abcdef0";

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

/// Rules of one protocol and port range whose CIDRs, none `/0`, cover all of IPv4 or IPv6: the two halves, and
/// sometimes a quarter and a narrow block besides.
fn split_set() -> impl Strategy<Value = Vec<EgressRule>> {
    (rule(), any::<bool>(), any::<bool>()).prop_map(|(template, v6, extra)| {
        let mut cidrs = if v6 { vec!["::/1", "8000::/1"] } else { vec!["0.0.0.0/1", "128.0.0.0/1"] };
        if extra {
            cidrs.extend(if v6 { ["4000::/2", "2001:db8::/32"] } else { ["64.0.0.0/2", "10.0.0.0/8"] });
        }
        cidrs
            .into_iter()
            .map(|c| EgressRule { destination: Destination::Cidr(Cidr::parse(c).unwrap()), ..template.clone() })
            .collect()
    })
}

fn case() -> impl Strategy<Value = (SecurityGroup, Settings)> {
    let allowed = proptest::collection::vec(
        (prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)], ports())
            .prop_map(|(protocol, ports)| AllowedPort { protocol, ports }),
        0..3,
    );
    let egress = (proptest::collection::vec(rule(), 0..12), proptest::option::weighted(0.3, split_set())).prop_map(
        |(mut rules, split)| {
            rules.extend(split.unwrap_or_default());
            rules
        },
    );
    (egress, any::<bool>(), any::<bool>(), allowed, (any::<bool>(), any::<bool>()), any::<bool>()).prop_map(
        |(egress, tagged, listed, allowed, (revoke_other, revoke_split), dry_run)| {
            let mut group = SecurityGroup { id: GROUP_ID.into(), name: "g".into(), egress, ..Default::default() };
            if tagged {
                group.tags.insert("egress-guard:exempt".into(), "reason".into());
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
        },
    )
}

/// True when the CIDRs of `rule`'s siblings (same protocol, ports and family; none `/0`) cover the whole address
/// space, checked by interval arithmetic, independently of the code under test.
fn covered_by_siblings(rule: &EgressRule, egress: &[EgressRule]) -> bool {
    let Destination::Cidr(cidr) = &rule.destination else { return false };
    let v4 = matches!(cidr.net(), IpNet::V4(_));
    let span = |net: IpNet| -> (u128, u128) {
        match net {
            IpNet::V4(n) => (u32::from(n.network()) as u128, u32::from(n.broadcast()) as u128),
            IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
        }
    };
    let mut spans: Vec<(u128, u128)> = egress
        .iter()
        .filter(|r| r.protocol == rule.protocol && r.ports == rule.ports)
        .filter_map(|r| match &r.destination {
            Destination::Cidr(c) if !c.is_unrestricted() && matches!(c.net(), IpNet::V4(_)) == v4 => {
                Some(span(c.net()))
            }
            _ => None,
        })
        .collect();
    spans.sort();
    let end = if v4 { u32::MAX as u128 } else { u128::MAX };
    let mut next = 0u128;
    for (from, to) in spans {
        if from > next {
            return false;
        }
        if to >= next {
            if to == end {
                return true;
            }
            next = to + 1;
        }
    }
    false
}

fn is_allowed(rule: &EgressRule, allowed: &[AllowedPort]) -> bool {
    let ports = rule.ports.unwrap_or(PortRange::ALL);
    rule.protocol.has_ports() && allowed.iter().any(|a| a.protocol == rule.protocol && ports.is_within(&a.ports))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn plans_hold_only_open_destinations_and_miss_none((group, settings) in case()) {
        let eval = evaluate(&group, &settings);
        let exempt = group.tags.contains_key("egress-guard:exempt") || settings.exempt_group_ids.contains(&group.id);
        for planned in &eval.plan.rules {
            let Destination::Cidr(cidr) = &planned.destination else {
                return Err(TestCaseError::fail(format!("non-CIDR destination planned: {planned}")));
            };
            if cidr.net().prefix_len() != 0 {
                prop_assert!(settings.revoke_split_ranges, "narrow destination planned, split revokes off: {}", planned);
                prop_assert!(covered_by_siblings(planned, &group.egress), "narrow, not a split range: {}", planned);
            }
            prop_assert!(group.egress.contains(planned), "planned rule not in the group: {}", planned);
            prop_assert!(!is_allowed(planned, &settings.allowed), "allowed port planned: {}", planned);
            prop_assert!(planned.protocol.is_in_scope() || settings.revoke_other_protocols);
        }
        if exempt {
            prop_assert!(eval.plan.is_empty(), "exempt group planned");
        } else {
            for rule in &group.egress {
                if !rule.destination.is_unrestricted() {
                    continue;
                }
                let must = rule.destination.is_unrestricted()
                    && !is_allowed(rule, &settings.allowed)
                    && (rule.protocol.is_in_scope() || settings.revoke_other_protocols);
                prop_assert_eq!(eval.plan.rules.contains(rule), must, "rule {}", rule);
            }
        }
        // With split revokes on, a generated pair of halves is planned unless exempt, allowed or out of scope.
        for rule in &group.egress {
            let Destination::Cidr(cidr) = &rule.destination else { continue };
            let half = cidr.net().prefix_len() == 1;
            let eligible = settings.revoke_split_ranges
                && !exempt
                && !is_allowed(rule, &settings.allowed)
                && (rule.protocol.is_in_scope() || settings.revoke_other_protocols);
            if half && eligible && covered_by_siblings(rule, &group.egress) {
                prop_assert!(eval.plan.rules.contains(rule), "split half not planned: {}", rule);
            }
        }
    }
}
