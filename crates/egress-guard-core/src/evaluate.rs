//! Evaluation: which egress rules of a group are open to the world, and the exact revoke plan. Pure and infallible.

use serde::{Deserialize, Serialize};

use ipnet::IpNet;

use crate::model::{Destination, EgressRule, PortRange, SecurityGroup};
use crate::settings::{AllowedPort, Settings};

/// Why a group is left alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Exemption {
    GroupId,
    Tag { key: String, value: String },
}

impl Exemption {
    pub fn reason(&self) -> String {
        match self {
            Exemption::GroupId => "its id is on the exempt list".into(),
            Exemption::Tag { key, value } if value.is_empty() => format!("tag {key}"),
            Exemption::Tag { key, value } => format!("tag {key}: {value}"),
        }
    }
}

/// What egress-guard does with one open rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Disposition {
    /// Open to the world on TCP, UDP or all traffic: revoked.
    Revoke,
    /// Open, but on an allowed port.
    Allowed { entry: AllowedPort },
    /// Open on ICMP or another protocol outside EC2-033: reported, kept unless settings say otherwise.
    ReportOnly,
    /// Open, but the group is exempt.
    Exempt,
}

/// Why a rule is a finding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Its destination is `0.0.0.0/0` or `::/0` (EC2-033).
    #[default]
    Open,
    /// No destination is `/0`, but this rule's CIDR and its siblings (same protocol and ports) add up to all of IPv4
    /// or IPv6: effectively unrestricted. Revoked only with `EGRESS_GUARD_REVOKE_SPLIT_RANGES`.
    Split,
}

/// An egress rule open to the world, and what is done with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: EgressRule,
    #[serde(default)]
    pub kind: FindingKind,
    #[serde(flatten)]
    pub disposition: Disposition,
}

/// The exact rules to revoke from one group. Every destination in it is unrestricted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokePlan {
    pub group_id: String,
    pub rules: Vec<EgressRule>,
}

impl RevokePlan {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    pub exemption: Option<Exemption>,
    pub findings: Vec<Finding>,
    pub plan: RevokePlan,
}

/// Evaluates a group's egress against the settings.
pub fn evaluate(group: &SecurityGroup, settings: &Settings) -> Evaluation {
    let exemption = exemption(group, settings);
    let mut findings: Vec<Finding> = group
        .egress
        .iter()
        .filter(|rule| rule.destination.is_unrestricted())
        .map(|rule| Finding {
            rule: rule.clone(),
            kind: FindingKind::Open,
            disposition: disposition(rule, exemption.is_some(), settings),
        })
        .collect();
    findings.extend(split_ranges(&group.egress).into_iter().map(|rule| {
        let disposition = match disposition(rule, exemption.is_some(), settings) {
            Disposition::Revoke if !settings.revoke_split_ranges => Disposition::ReportOnly,
            other => other,
        };
        Finding { rule: rule.clone(), kind: FindingKind::Split, disposition }
    }));
    let rules = findings.iter().filter(|f| f.disposition == Disposition::Revoke).map(|f| f.rule.clone()).collect();
    Evaluation { exemption, findings, plan: RevokePlan { group_id: group.id.clone(), rules } }
}

/// Rules whose CIDRs, none of them `/0`, add up with their siblings of the same protocol, ports and address family to
/// the whole address space (`0.0.0.0/1` + `128.0.0.0/1`). Returns the outermost ones: a CIDR inside another of the
/// set is left out, so that revoking the result takes no more than it must. Aggregation is `ipnet`'s.
fn split_ranges(egress: &[EgressRule]) -> Vec<&EgressRule> {
    use std::collections::BTreeMap;
    /// (protocol, ports, IPv4?): the traffic whose CIDRs add up together.
    type Traffic = (String, Option<PortRange>, bool);
    let mut sets: BTreeMap<Traffic, Vec<(&EgressRule, IpNet)>> = BTreeMap::new();
    for rule in egress {
        if let Destination::Cidr(cidr) = &rule.destination
            && !cidr.is_unrestricted()
        {
            let net = cidr.net();
            let key = (rule.protocol.as_ec2(), rule.ports, matches!(net, IpNet::V4(_)));
            sets.entry(key).or_default().push((rule, net));
        }
    }
    let mut found = Vec::new();
    for members in sets.values() {
        let nets: Vec<IpNet> = members.iter().map(|(_, net)| *net).collect();
        let whole = IpNet::aggregate(&nets);
        if whole.len() == 1 && whole[0].prefix_len() == 0 {
            found.extend(
                members
                    .iter()
                    .filter(|(_, net)| !nets.iter().any(|other| other != net && other.contains(net)))
                    .map(|(rule, _)| *rule),
            );
        }
    }
    found
}

fn exemption(group: &SecurityGroup, settings: &Settings) -> Option<Exemption> {
    if settings.exempt_group_ids.contains(&group.id) {
        return Some(Exemption::GroupId);
    }
    let key = settings.exempt_tag_key.as_ref()?;
    group.tags.get(key).map(|value| Exemption::Tag { key: key.clone(), value: value.clone() })
}

fn disposition(rule: &EgressRule, exempt: bool, settings: &Settings) -> Disposition {
    if exempt {
        return Disposition::Exempt;
    }
    if let Some(entry) = allowed_by(rule, &settings.allowed) {
        return Disposition::Allowed { entry };
    }
    if rule.protocol.is_in_scope() || settings.revoke_other_protocols {
        Disposition::Revoke
    } else {
        Disposition::ReportOnly
    }
}

/// The allowed entry whose range holds the rule's whole port range. All traffic (`-1`) is never covered.
fn allowed_by(rule: &EgressRule, allowed: &[AllowedPort]) -> Option<AllowedPort> {
    if !rule.protocol.has_ports() {
        return None;
    }
    let ports = rule.ports.unwrap_or(PortRange::ALL);
    allowed.iter().find(|entry| entry.protocol == rule.protocol && ports.is_within(&entry.ports)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> EgressRule {
        text.parse().unwrap()
    }

    fn group(egress: Vec<EgressRule>) -> SecurityGroup {
        SecurityGroup { id: "sg-0123abcd".into(), egress, ..Default::default() }
    }

    /// Evaluates one rule with default settings plus `allowed`, and returns its disposition (None: no finding).
    fn check(rule: EgressRule, allowed: &str) -> Option<Disposition> {
        let settings = Settings { allowed: AllowedPort::parse_list(allowed).unwrap(), ..Settings::default() };
        let eval = evaluate(&group(vec![rule]), &settings);
        let planned = !eval.plan.is_empty();
        let d = eval.findings.into_iter().next().map(|f| f.disposition);
        assert_eq!(planned, d == Some(Disposition::Revoke), "plan and findings disagree");
        d
    }

    macro_rules! case {
        ($name:ident, $rule:expr, $allowed:expr, $expected:expr) => {
            #[test]
            fn $name() {
                assert_eq!(check($rule, $allowed), $expected);
            }
        };
    }

    use Disposition::*;
    case!(revokes_all_traffic_to_ipv4_world, rule("all traffic to 0.0.0.0/0"), "", Some(Revoke));
    case!(revokes_all_traffic_to_ipv6_world, rule("all traffic to ::/0"), "", Some(Revoke));
    case!(revokes_tcp_port_to_world, rule("tcp 443 to 0.0.0.0/0"), "", Some(Revoke));
    case!(revokes_numeric_udp_to_world, rule("udp 53 to ::/0"), "", Some(Revoke));
    case!(revokes_non_canonical_world_spelling, rule("tcp all ports to 0:0:0:0:0:0:0:0/0"), "", Some(Revoke));
    case!(keeps_private_cidr, rule("all traffic to 10.0.0.0/8"), "", None);
    case!(keeps_half_of_the_internet, rule("all traffic to 0.0.0.0/1"), "", None);
    case!(keeps_prefix_list, rule("all traffic to pl-0123abcd"), "", None);
    case!(keeps_group_reference, rule("tcp 443 to sg-0fedcba9"), "", None);
    case!(reports_icmp_without_revoking, rule("icmp to 0.0.0.0/0"), "", Some(ReportOnly));
    case!(reports_other_protocol_number, rule("protocol 50 to 0.0.0.0/0"), "", Some(ReportOnly));
    case!(
        allows_port_inside_entry,
        rule("tcp 443 to 0.0.0.0/0"),
        "tcp:443",
        Some(Allowed { entry: "tcp:443".parse().unwrap() })
    );
    case!(
        allows_range_inside_entry,
        rule("tcp 8080-8081 to 0.0.0.0/0"),
        "tcp:8000-8100",
        Some(Allowed { entry: "tcp:8000-8100".parse().unwrap() })
    );
    case!(revokes_range_reaching_past_entry, rule("tcp 440-450 to 0.0.0.0/0"), "tcp:443", Some(Revoke));
    case!(revokes_udp_when_only_tcp_allowed, rule("udp 443 to 0.0.0.0/0"), "tcp:443", Some(Revoke));
    case!(never_allows_all_traffic_by_port, rule("all traffic to 0.0.0.0/0"), "tcp:0-65535,udp:0-65535", Some(Revoke));

    #[test]
    fn plan_names_only_the_open_sibling() {
        let g = group(vec![rule("tcp 443 to 10.0.0.0/8"), rule("tcp 443 to 0.0.0.0/0")]);
        let plan = evaluate(&g, &Settings::default()).plan;
        assert_eq!(plan.rules, vec![g.egress[1].clone()]);
    }

    #[test]
    fn exempt_by_tag_plans_nothing_and_gives_the_reason() {
        let mut g = group(vec![rule("all traffic to 0.0.0.0/0")]);
        g.tags.insert("egress-guard:exempt".into(), "NAT proxy, ticket SEC-42".into());
        let eval = evaluate(&g, &Settings::default());
        assert!(eval.plan.is_empty());
        assert_eq!(eval.findings[0].disposition, Exempt);
        assert_eq!(eval.exemption.unwrap().reason(), "tag egress-guard:exempt: NAT proxy, ticket SEC-42");
    }

    #[test]
    fn exempt_by_id_plans_nothing() {
        let g = group(vec![rule("all traffic to ::/0")]);
        let settings = Settings { exempt_group_ids: [g.id.clone()].into(), ..Settings::default() };
        let eval = evaluate(&g, &settings);
        assert!(eval.plan.is_empty());
        assert_eq!(eval.exemption, Some(Exemption::GroupId));
    }

    #[test]
    fn tag_exempts_nothing_when_no_key_is_set() {
        let mut g = group(vec![rule("all traffic to 0.0.0.0/0")]);
        g.tags.insert("egress-guard:exempt".into(), "yes".into());
        let settings = Settings { exempt_tag_key: None, ..Settings::default() };
        assert_eq!(evaluate(&g, &settings).plan.rules.len(), 1);
    }

    #[test]
    fn other_protocols_are_revoked_when_settings_say_so() {
        let g = group(vec![rule("icmp to 0.0.0.0/0")]);
        let settings = Settings { revoke_other_protocols: true, ..Settings::default() };
        assert_eq!(evaluate(&g, &settings).plan.rules.len(), 1);
    }

    fn split_findings(eval: &Evaluation) -> Vec<(String, Disposition)> {
        eval.findings
            .iter()
            .filter(|f| f.kind == FindingKind::Split)
            .map(|f| (f.rule.to_string(), f.disposition.clone()))
            .collect()
    }

    #[test]
    fn halves_that_add_up_to_the_whole_space_are_reported_not_revoked_by_default() {
        let g = group(vec![
            rule("tcp 443 to 0.0.0.0/1"),
            rule("tcp 443 to 128.0.0.0/1"),
            rule("tcp 443 to 10.0.0.0/8"),
            rule("udp 53 to ::/1"),
            rule("udp 53 to 8000::/2"),
        ]);
        let eval = evaluate(&g, &Settings::default());
        assert!(eval.plan.is_empty(), "EC2-033 names only /0: {:?}", eval.plan);
        let found = split_findings(&eval);
        assert_eq!(
            found,
            [
                ("tcp 443 to 0.0.0.0/1".to_owned(), Disposition::ReportOnly),
                ("tcp 443 to 128.0.0.0/1".to_owned(), Disposition::ReportOnly)
            ],
            "the inner 10.0.0.0/8 is not part of the finding; udp's ::/1 + 8000::/2 is not the whole space"
        );
    }

    #[test]
    fn split_ranges_are_revoked_only_when_the_setting_is_on() {
        let g =
            group(vec![rule("all traffic to ::/1"), rule("all traffic to 8000::/1"), rule("all traffic to fd00::/8")]);
        let settings = Settings { revoke_split_ranges: true, ..Settings::default() };
        let planned: Vec<String> = evaluate(&g, &settings).plan.rules.iter().map(ToString::to_string).collect();
        assert_eq!(planned, ["all traffic to ::/1", "all traffic to 8000::/1"]);
    }

    #[test]
    fn different_ports_or_families_never_add_up() {
        let g = group(vec![
            rule("tcp 443 to 0.0.0.0/1"),
            rule("tcp 80 to 128.0.0.0/1"),
            rule("all traffic to 0.0.0.0/1"),
            rule("all traffic to 8000::/1"),
        ]);
        let eval = evaluate(&g, &Settings { revoke_split_ranges: true, ..Settings::default() });
        assert!(split_findings(&eval).is_empty() && eval.plan.is_empty(), "{:?}", eval.findings);
    }

    #[test]
    fn exempt_group_split_ranges_are_exempt() {
        let g = group(vec![rule("all traffic to 0.0.0.0/1"), rule("all traffic to 128.0.0.0/1")]);
        let settings =
            Settings { revoke_split_ranges: true, exempt_group_ids: [g.id.clone()].into(), ..Settings::default() };
        let eval = evaluate(&g, &settings);
        assert!(eval.plan.is_empty());
        assert!(split_findings(&eval).iter().all(|(_, d)| *d == Disposition::Exempt));
    }
}
