//! The security-group port on EC2: describe one group; revoke a plan by its exact (protocol, ports, CIDR) tuples.
//!
//! Revoking by tuple, not by `SecurityGroupRuleIds`, is what makes a race safe: a rule narrowed in between keeps its id,
//! so a revoke by id would remove the narrowed rule; a revoke by tuple fails with `InvalidPermission.NotFound`.

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::operation::revoke_security_group_egress::RevokeSecurityGroupEgressOutput;
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Ipv6Range, PrefixListId};
use egress_guard_core::permission::permissions;
use egress_guard_core::ports::Revoked;
use egress_guard_core::{
    Cidr, Destination, EgressRule, IngressRule, PortRange, Protocol, RevokePlan, SecurityGroup, SecurityGroups,
};

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use crate::error::{Error, code_and_message};

/// EC2's answer to an authorize of a rule the group holds.
const DUPLICATE: &str = "InvalidPermission.Duplicate";

const GROUP_GONE: [&str; 2] = ["InvalidGroup.NotFound", "InvalidGroupId.NotFound"];
const PERMISSION_GONE: &str = "InvalidPermission.NotFound";
const VPC_GONE: [&str; 2] = ["InvalidVpcID.NotFound", "InvalidVpcId.NotFound"];

/// EC2 refills its bucket of mutating calls (`RevokeSecurityGroupEgress` among them) at 5 a second per account and
/// region, from at most 50. One client's revokes keep to that rate, with a burst of 20 that leaves the rest of the
/// bucket to events and other tools: a sweep that acts on groups concurrently does not outrun EC2 on its own (two
/// instances sweeping the same account and region at once may; EC2 then throttles, and the attempts retry).
pub const REVOKES_PER_SECOND: f64 = 5.0;
pub const REVOKE_BURST: f64 = 20.0;

#[derive(Clone, Debug)]
pub struct Ec2SecurityGroups {
    client: aws_sdk_ec2::Client,
    pacer: Arc<Pacer>,
}

/// A token bucket for revokes: `REVOKE_BURST` at once, then `REVOKES_PER_SECOND`.
#[derive(Debug)]
struct Pacer {
    /// Tokens left, and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl Pacer {
    fn new() -> Self {
        Pacer { state: Mutex::new((REVOKE_BURST, Instant::now())) }
    }

    /// Waits for a token, then takes it.
    async fn take(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                let tokens =
                    (state.0 + now.duration_since(state.1).as_secs_f64() * REVOKES_PER_SECOND).min(REVOKE_BURST);
                *state = (if tokens >= 1.0 { tokens - 1.0 } else { tokens }, now);
                (tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - tokens) / REVOKES_PER_SECOND))
            };
            match wait {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

impl Ec2SecurityGroups {
    pub fn new(client: aws_sdk_ec2::Client) -> Self {
        Ec2SecurityGroups { client, pacer: Arc::new(Pacer::new()) }
    }

    /// The regions enabled for the account.
    pub async fn regions(&self) -> Result<Vec<String>, Error> {
        let out = self.client.describe_regions().send().await.map_err(|err| ec2_error("DescribeRegions", &err))?;
        let mut regions: Vec<String> =
            out.regions().iter().filter_map(|r| r.region_name().map(str::to_owned)).collect();
        regions.sort();
        Ok(regions)
    }

    /// One revoke of `rules`, answering which of them it removed (see `removed_by`). The SDK's retries are off for
    /// this call and `MAX_ATTEMPTS` of ours take their place, so that we know when an attempt got no clear answer
    /// (throttled, 5xx, timed out): it may have been applied, and then `unclear` is set, for the caller to count a
    /// later "already gone" as removed by this invocation rather than leave a revoke unreported.
    async fn revoke_rules(
        &self,
        group_id: &str,
        rules: &[EgressRule],
        unclear: &mut bool,
    ) -> Result<Vec<EgressRule>, Error> {
        let no_retry = aws_sdk_ec2::config::Builder::default().retry_config(RetryConfig::disabled());
        let mut attempt = 0;
        loop {
            self.pacer.take().await;
            let result = self
                .client
                .revoke_security_group_egress()
                .group_id(group_id)
                .set_ip_permissions(Some(to_permissions(rules)))
                .customize()
                .config_override(no_retry.clone())
                .send()
                .await;
            let err = match result {
                Ok(out) => {
                    if !out.unknown_ip_permissions().is_empty() {
                        tracing::warn!(group_id, unknown = ?out.unknown_ip_permissions(), "EC2 did not know some permissions");
                    }
                    return Ok(removed_by(rules, &out));
                }
                Err(err) => ec2_error("RevokeSecurityGroupEgress", &err),
            };
            attempt += 1;
            if !is_transient(err.code()) || attempt >= crate::config::MAX_ATTEMPTS {
                *unclear |= may_have_applied(err.code());
                return Err(err);
            }
            // A throttled call was refused before it ran; a timeout, a dropped connection or a 5xx may have run.
            *unclear |= may_have_applied(err.code());
            tracing::info!(group_id, attempt, code = err.code(), "revoke retried");
            tokio::time::sleep(std::time::Duration::from_millis(200 << (attempt - 1))).await;
        }
    }
}

/// Errors after which the attempt may have been applied, for all we were told.
fn may_have_applied(code: &str) -> bool {
    matches!(code, "timeout" | "transport" | "InternalError" | "InternalFailure" | "ServiceUnavailable" | "Unavailable")
        || code.starts_with("HTTP 5")
}

/// Errors after which the same call may succeed.
fn is_transient(code: &str) -> bool {
    const CODES: [&str; 9] = [
        "timeout",
        "transport",
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
    ];
    CODES.contains(&code) || code.starts_with("HTTP 5")
}

/// The rules a successful revoke removed. EC2 lists them in `RevokedSecurityGroupRules`; where that list is absent or
/// empty (older responses, moto), every rule asked for but those EC2 names in `UnknownIpPermissions`, since EC2 fails
/// the whole call with `InvalidPermission.NotFound` when a rule is missing from a VPC group.
fn removed_by(rules: &[EgressRule], out: &RevokeSecurityGroupEgressOutput) -> Vec<EgressRule> {
    let same = |rule: &EgressRule, protocol: Option<&str>, from: Option<i32>, to: Option<i32>, cidr: Option<&str>| {
        let Destination::Cidr(mine) = &rule.destination else { return false };
        let ports = if rule.protocol == Protocol::All { None } else { rule.ports };
        protocol.and_then(|p| Protocol::parse(p).ok()) == Some(rule.protocol)
            && ports.is_none_or(|p| (from, to) == (Some(p.from), Some(p.to)))
            && cidr.and_then(|c| Cidr::parse(c).ok()).is_some_and(|c| c.net().trunc() == mine.net().trunc())
    };
    match out.revoked_security_group_rules.as_deref() {
        Some(revoked) if !revoked.is_empty() => rules
            .iter()
            .filter(|rule| {
                revoked.iter().any(|r| {
                    let cidr = r.cidr_ipv4().or(r.cidr_ipv6());
                    same(rule, r.ip_protocol(), r.from_port(), r.to_port(), cidr)
                })
            })
            .cloned()
            .collect(),
        _ => rules
            .iter()
            .filter(|rule| {
                !out.unknown_ip_permissions().iter().any(|p| {
                    let cidrs =
                        p.ip_ranges().iter().map(|r| r.cidr_ip()).chain(p.ipv6_ranges().iter().map(|r| r.cidr_ipv6()));
                    cidrs.into_iter().any(|cidr| same(rule, p.ip_protocol(), p.from_port(), p.to_port(), cidr))
                })
            })
            .cloned()
            .collect(),
    }
}

pub(crate) fn ec2_error<E>(operation: &'static str, err: &aws_sdk_ec2::error::SdkError<E, HttpResponse>) -> Error
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, message) = code_and_message(err);
    Error::Ec2 { operation, code, message }
}

impl SecurityGroups for Ec2SecurityGroups {
    type Error = Error;

    async fn describe(&self, group_id: &str) -> Result<Option<SecurityGroup>, Error> {
        match self.client.describe_security_groups().group_ids(group_id).send().await {
            Ok(out) => Ok(out.security_groups().iter().find(|g| g.group_id() == Some(group_id)).map(to_domain)),
            Err(err) => {
                let err = ec2_error("DescribeSecurityGroups", &err);
                if GROUP_GONE.contains(&err.code()) { Ok(None) } else { Err(err) }
            }
        }
    }

    /// The VPC's default group: the one group named `default` in it. A VPC EC2 does not find (yet) has none.
    async fn default_group(&self, vpc_id: &str) -> Result<Option<SecurityGroup>, Error> {
        let filter = |name: &str, value: &str| Filter::builder().name(name).values(value).build();
        let request = self
            .client
            .describe_security_groups()
            .filters(filter("vpc-id", vpc_id))
            .filters(filter("group-name", "default"));
        match request.send().await {
            Ok(out) => Ok(out
                .security_groups()
                .iter()
                .find(|g| g.vpc_id() == Some(vpc_id) && g.group_name() == Some("default"))
                .map(to_domain)),
            Err(err) => {
                let err = ec2_error("DescribeSecurityGroups", &err);
                if VPC_GONE.contains(&err.code()) { Ok(None) } else { Err(err) }
            }
        }
    }

    /// Every security group the client's region holds, page by page.
    async fn list(&self) -> Result<Vec<SecurityGroup>, Error> {
        let mut pages = self.client.describe_security_groups().max_results(1000).into_paginator().items().send();
        let mut groups = Vec::new();
        while let Some(group) = pages.next().await {
            groups.push(to_domain(&group.map_err(|err| ec2_error("DescribeSecurityGroups", &err))?));
        }
        Ok(groups)
    }

    async fn revoke(&self, plan: &RevokePlan) -> Revoked<Error> {
        let rules: Vec<EgressRule> =
            plan.rules.iter().filter(|r| matches!(r.destination, Destination::Cidr(_))).cloned().collect();
        if rules.is_empty() {
            return Revoked::removed(vec![]);
        }
        let gone = |err: &Error| err.code() == PERMISSION_GONE || GROUP_GONE.contains(&err.code());
        // After an unclear attempt, "already gone" may be our own doing: such rules are reported as removed.
        let mut unclear = false;
        match self.revoke_rules(&plan.group_id, &rules, &mut unclear).await {
            Ok(removed) => Revoked::removed(removed),
            Err(err) if GROUP_GONE.contains(&err.code()) || err.code() == PERMISSION_GONE && rules.len() == 1 => {
                Revoked::removed(if unclear { rules } else { vec![] })
            }
            // EC2 refuses the whole call when one tuple is already gone (a concurrent revoke): each on its own, so
            // that this call reports exactly the rules it removed.
            Err(err) if err.code() == PERMISSION_GONE => {
                tracing::info!(group_id = %plan.group_id, "a planned rule is already gone; revoking one by one");
                let mut removed = Vec::new();
                for rule in &rules {
                    let mut rule_unclear = unclear;
                    match self.revoke_rules(&plan.group_id, std::slice::from_ref(rule), &mut rule_unclear).await {
                        Ok(gone) => removed.extend(gone),
                        Err(err) if gone(&err) => removed.extend(rule_unclear.then(|| rule.clone())),
                        Err(err) => return Revoked { removed, error: Some(err) },
                    }
                }
                Revoked::removed(removed)
            }
            // The last attempts failed, but an earlier one got no clear answer and may have been applied: the
            // planned rules the group no longer holds were removed by this call, and are reported with the error.
            Err(err) if unclear => {
                let removed = match self.describe(&plan.group_id).await {
                    Ok(Some(now)) => {
                        rules.iter().filter(|r| !now.egress.iter().any(|n| same_traffic(n, r))).cloned().collect()
                    }
                    Ok(None) | Err(_) => vec![],
                };
                Revoked { removed, error: Some(err) }
            }
            Err(err) => Revoked { removed: vec![], error: Some(err) },
        }
    }

    /// 0.25 s, then 0.5, 1 and 2 s: a few seconds in all before a group is called gone.
    async fn settle(&self, attempt: u32) {
        tokio::time::sleep(std::time::Duration::from_millis(250 << attempt.min(3))).await;
    }

    async fn authorize(&self, group_id: &str, rules: &[EgressRule]) -> Result<(), Error> {
        if rules.is_empty() {
            return Ok(());
        }
        let authorize = |rules: &[EgressRule]| {
            self.client
                .authorize_security_group_egress()
                .group_id(group_id)
                .set_ip_permissions(Some(to_sdk(rules, true)))
        };
        match authorize(rules).send().await {
            Ok(_) => Ok(()),
            // EC2 refuses the whole call when one rule exists already (a rerun, a race): each on its own, so that the
            // others are added; one that exists is what the proposal wants.
            Err(err) if code_and_message(&err).0 == DUPLICATE => {
                for rule in rules {
                    match authorize(std::slice::from_ref(rule)).send().await {
                        Err(err) if code_and_message(&err).0 != DUPLICATE => {
                            return Err(ec2_error("AuthorizeSecurityGroupEgress", &err));
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
            Err(err) => Err(ec2_error("AuthorizeSecurityGroupEgress", &err)),
        }
    }
}

/// The same protocol, ports and destination, whatever the description.
fn same_traffic(a: &EgressRule, b: &EgressRule) -> bool {
    a.protocol == b.protocol && a.ports == b.ports && a.destination == b.destination
}

/// One EC2 permission flattened into one rule per destination (for an inbound permission: per source).
fn rules(group_id: &str, perm: &IpPermission) -> Vec<EgressRule> {
    let mut flat = Vec::new();
    let Some(protocol) = perm.ip_protocol().and_then(|p| Protocol::parse(p).ok()) else {
        tracing::warn!(group_id, protocol = ?perm.ip_protocol(), "skipped a permission with an unknown protocol");
        return vec![];
    };
    let ports = match protocol {
        Protocol::All | Protocol::Number(_) => None,
        _ => Some(match (perm.from_port(), perm.to_port()) {
            (Some(from), Some(to)) => PortRange { from, to },
            _ if protocol.has_ports() => PortRange::ALL,
            _ => PortRange { from: -1, to: -1 },
        }),
    };
    let mut push = |destination: Destination, description: Option<&str>| {
        flat.push(EgressRule {
            protocol,
            ports,
            destination,
            description: description.filter(|d| !d.is_empty()).map(str::to_owned),
            rule_id: None,
        })
    };
    let cidrs = perm
        .ip_ranges()
        .iter()
        .map(|r| (r.cidr_ip(), r.description()))
        .chain(perm.ipv6_ranges().iter().map(|r| (r.cidr_ipv6(), r.description())));
    for (cidr, description) in cidrs {
        match cidr.map(Cidr::parse) {
            Some(Ok(cidr)) => push(Destination::Cidr(cidr), description),
            other => tracing::warn!(group_id, cidr = ?other, "skipped a range that is not a CIDR"),
        }
    }
    for pl in perm.prefix_list_ids() {
        push(Destination::PrefixList(pl.prefix_list_id().unwrap_or_default().to_owned()), pl.description());
    }
    for pair in perm.user_id_group_pairs() {
        let destination = Destination::SecurityGroup {
            group_id: pair.group_id().unwrap_or_default().to_owned(),
            user_id: pair.user_id().map(str::to_owned),
        };
        push(destination, pair.description());
    }
    flat
}

/// EC2's group, flattened into one rule per destination.
pub fn to_domain(g: &aws_sdk_ec2::types::SecurityGroup) -> SecurityGroup {
    let group_id = g.group_id().unwrap_or_default();
    let egress = g.ip_permissions_egress().iter().flat_map(|perm| rules(group_id, perm)).collect();
    SecurityGroup {
        id: group_id.to_owned(),
        name: g.group_name().unwrap_or_default().to_owned(),
        vpc_id: g.vpc_id().map(str::to_owned),
        owner_id: g.owner_id().map(str::to_owned),
        tags: g
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
            .collect(),
        egress,
        ingress: g
            .ip_permissions()
            .iter()
            .flat_map(|perm| rules(group_id, perm))
            .map(|r| IngressRule {
                protocol: r.protocol,
                ports: r.ports.filter(|_| r.protocol.has_ports()),
                source: r.destination,
            })
            .collect(),
    }
}

/// The exact `IpPermissions` for a plan's rules: the core's one grouping (`permission::permissions`) as SDK types,
/// with no description: EC2 matches the revoke by tuple alone (see `permission`). A plan only ever holds CIDRs.
pub fn to_permissions(rules: &[EgressRule]) -> Vec<IpPermission> {
    let cidrs: Vec<EgressRule> =
        rules.iter().filter(|r| matches!(r.destination, Destination::Cidr(_))).cloned().collect();
    to_sdk(&cidrs, false)
}

/// `rules` as SDK permissions, descriptions included when `described` (an authorize: they say who added the rule).
pub(crate) fn to_sdk(rules: &[EgressRule], described: bool) -> Vec<IpPermission> {
    let describe = |d: Option<String>| d.filter(|_| described);
    permissions(rules)
        .into_iter()
        .map(|p| {
            let v4: Vec<IpRange> = p
                .ip_ranges
                .into_iter()
                .map(|r| IpRange::builder().cidr_ip(r.cidr_ip).set_description(describe(r.description)).build())
                .collect();
            let v6: Vec<Ipv6Range> = p
                .ipv6_ranges
                .into_iter()
                .map(|r| Ipv6Range::builder().cidr_ipv6(r.cidr_ipv6).set_description(describe(r.description)).build())
                .collect();
            let lists: Vec<PrefixListId> = p
                .prefix_list_ids
                .into_iter()
                .map(|l| {
                    PrefixListId::builder()
                        .prefix_list_id(l.prefix_list_id)
                        .set_description(describe(l.description))
                        .build()
                })
                .collect();
            IpPermission::builder()
                .ip_protocol(p.ip_protocol.as_ec2())
                .set_from_port(p.from_port)
                .set_to_port(p.to_port)
                .set_ip_ranges((!v4.is_empty()).then_some(v4))
                .set_ipv6_ranges((!v6.is_empty()).then_some(v6))
                .set_prefix_list_ids((!lists.is_empty()).then_some(lists))
                .build()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past the burst, revokes wait for EC2's refill: 25 tokens take at least (25 - 20) / 5 = 1 s. (A lower bound on
    /// time only: a busy machine can make it slower, never faster.)
    #[tokio::test]
    async fn revokes_beyond_the_burst_keep_to_ec2s_rate() {
        let pacer = Pacer::new();
        let started = Instant::now();
        for _ in 0..(REVOKE_BURST as usize + 5) {
            pacer.take().await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        assert!(elapsed >= 5.0 / REVOKES_PER_SECOND - 0.05, "{elapsed} s");
    }
}
