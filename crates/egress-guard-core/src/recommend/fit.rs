//! Fitting, the pure heart of a proposal: flows mapped to the VPC's blocks, a prefix list, a published AWS range or
//! the address, aggregated, then merged closest first until the group's rule quota holds, never wider than /8
//! (IPv6 /32) and never open.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::evaluate::evaluate;
use crate::model::{Cidr, Destination, EgressRule, PortRange, Protocol, SecurityGroup};
use crate::recommend::evidence::{Network, PrefixList};
use crate::recommend::flowlog::Flow;
use crate::recommend::proposal::{Basis, Gap, Merge, Proposed, Quota};
use crate::recommend::ranges::AwsRanges;
use crate::settings::Settings;

/// Merges never widen a range beyond these prefixes (IPv4, IPv6): past them a proposal does not fit.
const WIDEST: (u8, u8) = (8, 32);
/// Distinct observed destinations fitted one by one; beyond this they are first grouped by /24 (IPv6 /64), then
/// coarser, each grouping reported as a merge.
const MAX_FIT_INPUT: usize = 1024;

/// The pure part: the rules that allow `flows` beside the group's `kept` rules, within `quota` per family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fitted {
    pub rules: Vec<Proposed>,
    pub already_allowed: u64,
    pub merges: Vec<Merge>,
    pub quota: Quota,
    /// `Some(DoesNotFit)` when even merged the rules exceed the quota: then `rules` is empty.
    pub gap: Option<Gap>,
}

/// One rule being fitted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Unit {
    protocol: Protocol,
    ports: Option<PortRange>,
    target: Target,
    basis: Basis,
    flows: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Net(IpNet),
    PrefixList { id: String, weight: u32 },
}

impl Unit {
    fn net(&self) -> Option<IpNet> {
        match self.target {
            Target::Net(net) if self.basis != Basis::Vpc => Some(net),
            _ => None,
        }
    }

    fn family_key(&self) -> (Protocol, Option<PortRange>, bool) {
        (self.protocol, self.ports, matches!(self.target, Target::Net(IpNet::V6(_))))
    }

    fn rule(&self) -> EgressRule {
        let destination = match &self.target {
            Target::Net(net) => Destination::Cidr(Cidr::parse(&net.to_string()).expect("an IpNet prints as a CIDR")),
            Target::PrefixList { id, .. } => Destination::PrefixList(id.clone()),
        };
        EgressRule {
            protocol: self.protocol,
            ports: self.ports,
            destination,
            description: Some(self.basis.description()),
            rule_id: None,
        }
    }
}

/// Whether `rule` allows `flow` (`lists`: the prefix lists whose entries are known).
pub fn allows(rule: &EgressRule, flow: &Flow, lists: &[PrefixList]) -> bool {
    let protocol = rule.protocol == Protocol::All || rule.protocol == flow.protocol;
    let ports = match (rule.protocol, rule.ports, flow.port) {
        (Protocol::All, _, _) | (_, None, _) => true,
        (p, Some(range), Some(port)) if p.has_ports() => range.from <= i32::from(port) && i32::from(port) <= range.to,
        (_, Some(PortRange { from: -1, .. }), None) => true,
        _ => false,
    };
    let destination = match &rule.destination {
        Destination::Cidr(cidr) => cidr.net().contains(&flow.destination),
        Destination::PrefixList(id) => {
            lists.iter().any(|l| l.id == *id && l.cidrs.iter().any(|c| c.contains(&flow.destination)))
        }
        Destination::SecurityGroup { .. } => false,
    };
    protocol && ports && destination
}

fn ports_of(flow: &Flow) -> Option<PortRange> {
    match (flow.protocol, flow.port) {
        (p, Some(port)) if p.has_ports() => Some(PortRange::new(i32::from(port), i32::from(port))),
        (Protocol::Icmp | Protocol::Icmpv6, _) => Some(PortRange::new(-1, -1)),
        _ => None,
    }
}

/// Where a flow's destination goes: the VPC's block, an AWS-managed prefix list, a published AWS range, or the
/// address itself.
fn place(flow: &Flow, network: &Network, ranges: &AwsRanges) -> (Target, Basis) {
    let addr = flow.destination;
    if let Some(net) = network.vpc_cidrs.iter().find(|n| n.contains(&addr)) {
        return (Target::Net(net.trunc()), Basis::Vpc);
    }
    if let Some(list) = network.prefix_lists.iter().find(|l| l.cidrs.iter().any(|c| c.contains(&addr))) {
        let target = Target::PrefixList { id: list.id.clone(), weight: list.weight };
        return (target, Basis::PrefixList { name: list.name.clone() });
    }
    if let Some((net, service)) = ranges.lookup(addr) {
        return (Target::Net(net), Basis::AwsService { service: service.to_owned() });
    }
    (Target::Net(IpNet::from(addr)), Basis::Observed)
}

/// Rules each family would hold: the kept rules and the units, a prefix list counted by its weight.
/// A rule that references a group or a prefix list counts in both families (AWS: "one rule for IPv4 and one rule
/// for IPv6"), a prefix list by its weight.
fn count(kept: &[EgressRule], units: &[Unit], lists: &[PrefixList]) -> (u32, u32) {
    let (mut v4, mut v6) = (0u32, 0u32);
    let mut both = |n: u32| {
        v4 += n;
        v6 += n;
    };
    let mut cidrs = Vec::new();
    for rule in kept {
        match &rule.destination {
            Destination::Cidr(c) => cidrs.push(c.is_ipv6()),
            Destination::PrefixList(id) => both(lists.iter().find(|l| l.id == *id).map_or(1, |l| l.weight)),
            Destination::SecurityGroup { .. } => both(1),
        }
    }
    for unit in units {
        match unit.target {
            Target::Net(net) => cidrs.push(matches!(net, IpNet::V6(_))),
            Target::PrefixList { weight, .. } => both(weight),
        }
    }
    let v6_cidrs = cidrs.iter().filter(|&&v6| v6).count() as u32;
    (v4 + cidrs.len() as u32 - v6_cidrs, v6 + v6_cidrs)
}

/// Maps `flows` to rules, drops those `kept` rules already allow, aggregates, and merges the closest ranges (then
/// ports) first until each family fits `quota`. Deterministic: the same flows give the same proposal.
pub fn propose(
    flows: &BTreeMap<Flow, u64>,
    kept: &[EgressRule],
    network: &Network,
    ranges: &AwsRanges,
    quota: u32,
) -> Fitted {
    let mut already_allowed = 0;
    let mut placed: BTreeMap<(Protocol, Option<PortRange>, Target), (Basis, u64)> = BTreeMap::new();
    for (flow, n) in flows {
        if kept.iter().any(|r| allows(r, flow, &network.prefix_lists)) {
            already_allowed += n;
            continue;
        }
        let (target, basis) = place(flow, network, ranges);
        placed.entry((flow.protocol, ports_of(flow), target)).or_insert((basis, 0)).1 += n;
    }
    let mut units: Vec<Unit> = placed
        .into_iter()
        .map(|((protocol, ports, target), (basis, flows))| Unit { protocol, ports, target, basis, flows })
        .collect();
    let mut merges = Vec::new();
    aggregate(&mut units);
    coarsen(&mut units, &mut merges);
    let over = |units: &[Unit]| {
        let (v4, v6) = count(kept, units, &network.prefix_lists);
        (v4 > quota, v6 > quota)
    };
    loop {
        let (v4, v6) = over(&units);
        if !v4 && !v6 {
            break;
        }
        if !merge_closest(&mut units, (v4, v6), &mut merges) {
            break;
        }
    }
    let (ipv4, ipv6) = count(kept, &units, &network.prefix_lists);
    let mut rules: Vec<Proposed> =
        units.iter().map(|u| Proposed { rule: u.rule(), flows: u.flows, basis: u.basis.clone() }).collect();
    // What the rules let through must never be open, nor add up to the whole space with what stays.
    let after = SecurityGroup {
        egress: kept.iter().cloned().chain(rules.iter().map(|p| p.rule.clone())).collect(),
        ..SecurityGroup::default()
    };
    let strict = Settings {
        exempt_tag_key: None,
        revoke_other_protocols: true,
        revoke_split_ranges: true,
        ..Settings::default()
    };
    let opens = evaluate(&after, &strict).plan.rules.iter().any(|r| !kept.contains(r));
    // The bound holds whatever path led here: an observed or merged block wider than /8 (IPv6 /32) does not fit.
    let too_wide =
        units.iter().any(|u| u.basis == Basis::Observed && u.net().is_some_and(|n| n.prefix_len() < widest(&n)));
    let gap = (ipv4 > quota || ipv6 > quota || opens || too_wide).then_some(Gap::DoesNotFit { ipv4, ipv6, quota });
    if gap.is_some() {
        rules.clear();
    }
    rules.sort_by(|a, b| {
        (a.rule.protocol, a.rule.ports, &a.rule.destination).cmp(&(b.rule.protocol, b.rule.ports, &b.rule.destination))
    });
    let (ipv4, ipv6) = if gap.is_some() { count(kept, &[], &network.prefix_lists) } else { (ipv4, ipv6) };
    Fitted { rules, already_allowed, merges, quota: Quota { limit: quota, ipv4, ipv6 }, gap }
}

/// Observed addresses of one (protocol, ports, family) made one range where they are siblings (no space added).
fn aggregate(units: &mut Vec<Unit>) {
    let mut keep: Vec<Unit> = Vec::new();
    let mut groups: BTreeMap<(Protocol, Option<PortRange>, bool), Vec<Unit>> = BTreeMap::new();
    for unit in units.drain(..) {
        if unit.basis == Basis::Observed && unit.net().is_some() {
            groups.entry(unit.family_key()).or_default().push(unit);
        } else {
            keep.push(unit);
        }
    }
    for ((protocol, ports, _), group) in groups {
        let nets: Vec<IpNet> = group.iter().filter_map(Unit::net).collect();
        // Siblings add up without adding space, but never past the widest block a proposal may hold: 10.0.0.0/8 and
        // 11.0.0.0/8 stay two rules, not 10.0.0.0/7.
        let bounded = IpNet::aggregate(&nets).into_iter().flat_map(|net| {
            let widest = widest(&net);
            match net.prefix_len() < widest {
                true => net.subnets(widest).map(Iterator::collect).unwrap_or_else(|_| vec![net]),
                false => vec![net],
            }
        });
        for net in bounded {
            let flows = group.iter().filter(|u| u.net().is_some_and(|n| net.contains(&n))).map(|u| u.flows).sum();
            keep.push(Unit { protocol, ports, target: Target::Net(net), basis: Basis::Observed, flows });
        }
    }
    keep.sort();
    *units = keep;
}

/// Past `MAX_FIT_INPUT` observed destinations, each is widened to its /24 (IPv6 /64), then /16 (/48), then /8
/// (/32), until they are few enough to fit one by one.
fn coarsen(units: &mut Vec<Unit>, merges: &mut Vec<Merge>) {
    for (v4, v6) in [(24u8, 64u8), (16, 48), (8, 32)] {
        let observed = units.iter().filter(|u| u.basis == Basis::Observed).count();
        if observed <= MAX_FIT_INPUT {
            return;
        }
        for unit in units.iter_mut().filter(|u| u.basis == Basis::Observed) {
            if let Target::Net(net) = unit.target {
                let len = if matches!(net, IpNet::V4(_)) { v4 } else { v6 };
                if net.prefix_len() > len {
                    unit.target = Target::Net(IpNet::new(net.addr(), len).expect("a shorter prefix").trunc());
                }
            }
        }
        merges.push(Merge {
            from: vec![format!("{observed} observed destinations")],
            into: format!("their /{v4} (IPv6 /{v6}) blocks"),
            added: "grouped before fitting".into(),
        });
        let mut merged: BTreeMap<(Protocol, Option<PortRange>, Target, Basis), u64> = BTreeMap::new();
        for u in units.drain(..) {
            *merged.entry((u.protocol, u.ports, u.target, u.basis)).or_default() += u.flows;
        }
        *units = merged
            .into_iter()
            .map(|((protocol, ports, target, basis), flows)| Unit { protocol, ports, target, basis, flows })
            .collect();
        aggregate(units);
    }
}

/// The widest block a proposal may hold in `net`'s family.
fn widest(net: &IpNet) -> u8 {
    if matches!(net, IpNet::V4(_)) { WIDEST.0 } else { WIDEST.1 }
}

fn size(net: &IpNet) -> u128 {
    let bits = u32::from(net.max_prefix_len() - net.prefix_len());
    1u128.checked_shl(bits).unwrap_or(u128::MAX)
}

fn port_count(ports: Option<PortRange>) -> u128 {
    ports.map_or(1, |p| u128::try_from(p.to - p.from + 1).unwrap_or(1).max(1))
}

/// The smallest block holding both `a` and `b` (same family).
fn supernet(a: IpNet, b: IpNet) -> Option<IpNet> {
    let common = match (a, b) {
        (IpNet::V4(x), IpNet::V4(y)) => (u32::from(x.network()) ^ u32::from(y.network())).leading_zeros() as u8,
        (IpNet::V6(x), IpNet::V6(y)) => (u128::from(x.network()) ^ u128::from(y.network())).leading_zeros() as u8,
        _ => return None,
    };
    let len = common.min(a.prefix_len()).min(b.prefix_len());
    IpNet::new(a.addr(), len).ok().map(|n| n.trunc())
}

/// Makes the cheapest merge in a family that is over quota (the one that lets through the least unseen
/// address-ports): two ranges of one (protocol, ports) into their smallest common block, or two port ranges to one
/// address block into one range. False when there is none left to make.
fn merge_closest(units: &mut Vec<Unit>, (v4_over, v6_over): (bool, bool), merges: &mut Vec<Merge>) -> bool {
    let over = |u: &Unit| match u.net() {
        Some(IpNet::V4(_)) => v4_over,
        Some(IpNet::V6(_)) => v6_over,
        None => false,
    };
    // (cost, index a, index b, merged unit)
    let mut best: Option<(f64, usize, usize, Unit, String)> = None;
    let mut consider = |cost: f64, a: usize, b: usize, unit: Unit, added: String| {
        if best.as_ref().is_none_or(|(c, ..)| cost < *c) {
            best = Some((cost, a, b, unit, added));
        }
    };
    let candidates: Vec<usize> = (0..units.len()).filter(|&i| over(&units[i])).collect();
    // Ranges of one (protocol, ports): neighbours in address order.
    let mut by_ports: BTreeMap<(Protocol, Option<PortRange>, bool), Vec<usize>> = BTreeMap::new();
    for &i in &candidates {
        by_ports.entry(units[i].family_key()).or_default().push(i);
    }
    for list in by_ports.values() {
        for pair in list.windows(2) {
            let (a, b) = (&units[pair[0]], &units[pair[1]]);
            let (Some(na), Some(nb)) = (a.net(), b.net()) else { continue };
            let Some(sup) = supernet(na, nb) else { continue };
            if sup.prefix_len() < widest(&sup) {
                continue;
            }
            let added = size(&sup).saturating_sub(size(&na)).saturating_sub(size(&nb));
            let cost = added as f64 * port_count(a.ports) as f64;
            let unit = Unit { target: Target::Net(sup), basis: Basis::Observed, flows: a.flows + b.flows, ..a.clone() };
            consider(cost, pair[0], pair[1], unit, format!("+{added} addresses"));
        }
    }
    // Port ranges to one block: neighbours in port order.
    let mut by_net: BTreeMap<(Protocol, IpNet), Vec<usize>> = BTreeMap::new();
    for &i in &candidates {
        if let (Some(net), Some(_)) = (units[i].net(), units[i].ports.filter(|_| units[i].protocol.has_ports())) {
            by_net.entry((units[i].protocol, net)).or_default().push(i);
        }
    }
    for list in by_net.values_mut() {
        list.sort_by_key(|&i| units[i].ports);
        for pair in list.windows(2) {
            let (a, b) = (&units[pair[0]], &units[pair[1]]);
            let (Some(pa), Some(pb)) = (a.ports, b.ports) else { continue };
            let range = PortRange::new(pa.from.min(pb.from), pa.to.max(pb.to));
            let added =
                port_count(Some(range)).saturating_sub(port_count(Some(pa))).saturating_sub(port_count(Some(pb)));
            let cost = added as f64 * a.net().map_or(1.0, |n| size(&n) as f64);
            let unit = Unit { ports: Some(range), basis: Basis::Observed, flows: a.flows + b.flows, ..a.clone() };
            consider(cost, pair[0], pair[1], unit, format!("+{added} ports"));
        }
    }
    let Some((_, a, b, merged, added)) = best else { return false };
    merges.push(Merge {
        from: vec![units[a].rule().to_string(), units[b].rule().to_string()],
        into: merged.rule().to_string(),
        added,
    });
    let (hi, lo) = (a.max(b), a.min(b));
    units.remove(hi);
    units.remove(lo);
    // Whatever the merged rule now covers goes into it.
    let covers = |u: &Unit| {
        u.protocol == merged.protocol
            && u.basis != Basis::Vpc
            && matches!((u.ports, merged.ports), (Some(p), Some(m)) if p.is_within(&m))
            && matches!((u.net(), merged.net()), (Some(n), Some(m)) if m.contains(&n))
    };
    let absorbed: u64 = units.iter().filter(|u| covers(u)).map(|u| u.flows).sum();
    units.retain(|u| !covers(u));
    units.push(Unit { flows: merged.flows + absorbed, ..merged });
    units.sort();
    true
}
