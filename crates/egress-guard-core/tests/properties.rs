//! Property tests over random groups and settings: a plan only ever holds open `/0` destinations, never touches an
//! exempt group or an allowed port, and misses no open in-scope rule.

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

fn case() -> impl Strategy<Value = (SecurityGroup, Settings)> {
    let allowed = proptest::collection::vec(
        (prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)], ports())
            .prop_map(|(protocol, ports)| AllowedPort { protocol, ports }),
        0..3,
    );
    (proptest::collection::vec(rule(), 0..12), any::<bool>(), any::<bool>(), allowed, any::<bool>(), any::<bool>())
        .prop_map(|(egress, tagged, listed, allowed, revoke_other, dry_run)| {
            let mut group = SecurityGroup { id: GROUP_ID.into(), name: "g".into(), egress, ..Default::default() };
            if tagged {
                group.tags.insert("egress-guard:exempt".into(), "reason".into());
            }
            let settings = Settings {
                exempt_group_ids: if listed { [GROUP_ID.to_owned()].into() } else { Default::default() },
                allowed,
                revoke_other_protocols: revoke_other,
                dry_run,
                ..Settings::default()
            };
            (group, settings)
        })
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
            prop_assert_eq!(cidr.net().prefix_len(), 0, "narrow destination planned: {}", planned);
            prop_assert!(group.egress.contains(planned), "planned rule not in the group: {}", planned);
            prop_assert!(!is_allowed(planned, &settings.allowed), "allowed port planned: {}", planned);
            prop_assert!(planned.protocol.is_in_scope() || settings.revoke_other_protocols);
        }
        if exempt {
            prop_assert!(eval.plan.is_empty(), "exempt group planned");
        } else {
            for rule in &group.egress {
                let must = rule.destination.is_unrestricted()
                    && !is_allowed(rule, &settings.allowed)
                    && (rule.protocol.is_in_scope() || settings.revoke_other_protocols);
                prop_assert_eq!(eval.plan.rules.contains(rule), must, "rule {}", rule);
            }
        }
    }
}
