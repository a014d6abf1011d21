//! Least-privilege egress from observed traffic: from the flow logs of the interfaces that use a group, the smallest
//! set of egress rules that allows what they started, fitted to the group's rule quota, with the commands that apply
//! it. `recommend` reads through the `FlowLogs` port; `propose` is the pure part (mapping and fitting).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::OnceLock;

use futures_util::StreamExt;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::evaluate::evaluate;
use crate::flowlog::{Flow, Format, Inbound, Kind, classify};
use crate::model::{Cidr, Destination, EgressRule, PortRange, Protocol, SecurityGroup};
use crate::permission::aws_command;
use crate::ports::{FlowLogs, SecurityGroups};
use crate::settings::Settings;

/// Outbound rules a group may hold per address family unless the account's quota was raised.
pub const DEFAULT_QUOTA: u32 = 60;
pub const DEFAULT_DAYS: u32 = 14;
/// The JSON schema of a proposal.
pub const SCHEMA: &str = "egress-guard.recommend/v1";
/// Traffic that needs no rule and never shows in flow logs, said once in every proposal.
pub const UNLOGGED: &str = "Traffic to the Amazon DNS resolver, instance metadata, Amazon Time Sync and Windows \
                            license activation is not in flow logs and needs no security-group rule.";
/// Merges never widen a range beyond these prefixes (IPv4, IPv6): past them a proposal does not fit.
const WIDEST: (u8, u8) = (8, 32);
/// Distinct observed destinations fitted one by one; beyond this they are first grouped by /24 (IPv6 /64), then
/// coarser, each grouping reported as a merge.
const MAX_FIT_INPUT: usize = 1024;
const DAY: i64 = 86_400;
/// Flow logs read at once.
const LOGS_AT_ONCE: usize = 2;
/// Lines a notice's section reads per flow log at the most.
pub const NOTICE_MAX_RECORDS: usize = 20_000;
/// Rules and gaps a notice's section lists at the most; the rest are counted.
const NOTICE_RULES: usize = 10;
const NOTICE_GAPS: usize = 3;

/// A network interface that uses the group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interface {
    pub id: String,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    /// The account that owns it (the account in its flow logs' S3 keys).
    pub owner_id: Option<String>,
    pub addresses: BTreeSet<IpAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogDestination {
    CloudWatchLogs {
        log_group: String,
    },
    S3 {
        bucket: String,
        prefix: String,
    },
    /// Kinesis Data Firehose and anything else: not read.
    Other(String),
}

/// A flow log as `DescribeFlowLogs` tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowLog {
    pub id: String,
    /// The interface, subnet or VPC it captures.
    pub resource_id: String,
    /// `ACCEPT`, `REJECT` or `ALL`.
    pub traffic_type: String,
    /// `LogFormat`; empty for AWS's default.
    pub log_format: String,
    pub destination: LogDestination,
    /// Epoch seconds.
    pub created_at: Option<i64>,
    /// Why AWS says it cannot deliver (`DeliverLogsStatus` `FAILED`), if it says so.
    pub delivery_error: Option<String>,
}

/// Epoch seconds, start included, end excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

/// What one flow log holds for some interfaces in a window: batches of lines (an S3 file's batch carries its header),
/// what could not be read, and whether the read stopped at its limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Records {
    pub batches: Vec<Batch>,
    pub unread: Vec<String>,
    pub truncated: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub header: Option<String>,
    pub lines: Vec<String>,
}

/// The VPC around the group: its CIDR blocks and the AWS-managed prefix lists of its region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    pub vpc_cidrs: Vec<IpNet>,
    pub prefix_lists: Vec<PrefixList>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixList {
    pub id: String,
    pub name: String,
    /// What a rule that references it counts against the quota (its maximum entries).
    pub weight: u32,
    pub cidrs: Vec<IpNet>,
}

/// AWS's published ranges (`ip-ranges.json`) without the catch-all `AMAZON` set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsRanges {
    pub create_date: String,
    ranges: Vec<(IpNet, String)>,
}

#[derive(Deserialize)]
struct IpRangesFile {
    #[serde(rename = "createDate")]
    create_date: String,
    prefixes: Vec<IpRangesEntry>,
    ipv6_prefixes: Vec<IpRangesEntry>,
}

#[derive(Deserialize)]
struct IpRangesEntry {
    #[serde(alias = "ipv6_prefix")]
    ip_prefix: IpNet,
    service: String,
}

impl AwsRanges {
    /// Parses AWS's `ip-ranges.json` format. `AMAZON` (every AWS address) and `EC2` (every customer instance: any
    /// service hosted on EC2) tell nothing about a destination and are left out.
    pub fn parse(json: &str) -> Result<AwsRanges, Error> {
        let file: IpRangesFile = serde_json::from_str(json).map_err(|e| Error::InvalidSetting {
            variable: "ip-ranges.json",
            value: String::new(),
            why: e.to_string(),
        })?;
        let mut ranges: Vec<(IpNet, String)> = file
            .prefixes
            .into_iter()
            .chain(file.ipv6_prefixes)
            .filter(|e| e.service != "AMAZON" && e.service != "EC2")
            .map(|e| (e.ip_prefix.trunc(), e.service))
            .collect();
        // Most specific first, so that the first range containing an address is its narrowest.
        ranges.sort_by(|a, b| b.0.prefix_len().cmp(&a.0.prefix_len()).then_with(|| a.cmp(b)));
        ranges.dedup();
        Ok(AwsRanges { create_date: file.create_date, ranges })
    }

    /// The copy pinned in `data/ip-ranges.json` (refreshed by `scripts/refresh-ip-ranges.py`).
    pub fn pinned() -> &'static AwsRanges {
        static PINNED: OnceLock<AwsRanges> = OnceLock::new();
        PINNED.get_or_init(|| AwsRanges::parse(include_str!("../../../data/ip-ranges.json")).unwrap_or_default())
    }

    /// The narrowest published range of a service that contains `addr`.
    pub fn lookup(&self, addr: IpAddr) -> Option<(IpNet, &str)> {
        self.ranges.iter().find(|(net, _)| net.contains(&addr)).map(|(net, service)| (*net, service.as_str()))
    }
}

/// What to recommend for: one group, over the last `days` before `now`.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub region: &'a str,
    pub days: u32,
    /// Epoch seconds.
    pub now: i64,
    /// Outbound rules per family the group may hold.
    pub quota: u32,
    /// Lines read per flow log at the most.
    pub max_records: usize,
    pub ranges: &'a AwsRanges,
}

/// What the flow logs of one interface said.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub interface_id: String,
    pub flow_logs: Vec<String>,
    /// Days of the window its flow logs existed for.
    pub days_covered: u32,
    /// Its records read in the window, `NODATA` included.
    pub records: u64,
    pub started: u64,
    pub replies: u64,
    pub inbound: u64,
    pub rejected: u64,
    pub skipped: u64,
    pub link_local: u64,
    pub unattributed: u64,
}

/// How a proposed rule's destination was chosen.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Basis {
    /// A CIDR block of the group's VPC.
    Vpc,
    /// An AWS-managed prefix list (S3, DynamoDB).
    PrefixList { name: String },
    /// A range AWS publishes for a service in `ip-ranges.json`.
    AwsService { service: String },
    /// Addresses seen, aggregated.
    Observed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Proposed {
    pub rule: EgressRule,
    /// Flows it allows.
    pub flows: u64,
    pub basis: Basis,
}

/// Two rules made one to fit the quota, and what that let through that was not seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Merge {
    pub from: Vec<String>,
    pub into: String,
    pub added: String,
}

/// Where the evidence is thin: told, and nothing proposed for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Gap {
    NoInterfaces,
    NoFlowLogs { interface_id: String },
    NoRecords { interface_id: String },
    FewerDays { interface_id: String, days: u32, asked: u32 },
    Skipped { interface_id: String, records: u64 },
    Unattributed { records: u64 },
    Unread { flow_log_id: String, why: String },
    Truncated { flow_log_id: String, records: usize },
    DoesNotFit { ipv4: u32, ipv6: u32, quota: u32 },
}

impl Gap {
    /// Whether an interface's traffic is unknown, or the proposal does not fit: it is never applied then.
    pub fn hides_traffic(&self) -> bool {
        matches!(
            self,
            Gap::NoFlowLogs { .. }
                | Gap::NoRecords { .. }
                | Gap::Unread { .. }
                | Gap::Truncated { .. }
                | Gap::DoesNotFit { .. }
        )
    }

    /// Whether it keeps the proposal from being applied: any gap, unless `accept_thin` accepts those that only thin
    /// the evidence (fewer days than asked, `SKIPDATA`, records not attributable, no interface).
    pub fn blocks_apply(&self, accept_thin: bool) -> bool {
        self.hides_traffic() || !accept_thin
    }

    pub fn text(&self) -> String {
        match self {
            Gap::NoInterfaces => "no network interface uses this group: nothing to observe".into(),
            Gap::NoFlowLogs { interface_id } => {
                format!("{interface_id} has no flow logs: enable them to get a proposal for it")
            }
            Gap::NoRecords { interface_id } => format!(
                "{interface_id}: its flow logs hold no record in the window (delivery, retention or a stopped instance?)"
            ),
            Gap::FewerDays { interface_id, days: 0, asked } => {
                format!("{interface_id}: its flow logs cover less than a day of the {asked} asked for")
            }
            Gap::FewerDays { interface_id, days, asked } => {
                format!("{interface_id}: its flow logs cover only {days} of the {asked} days asked for")
            }
            Gap::Skipped { interface_id, records } => {
                format!("{interface_id}: {records} records lost by the capture (SKIPDATA): traffic may be missing")
            }
            Gap::Unattributed { records } => {
                format!("{records} records could not be told inbound or outbound (no direction, no known address)")
            }
            Gap::Unread { flow_log_id, why } => format!("{flow_log_id} could not be read: {why}"),
            Gap::Truncated { flow_log_id, records } => {
                format!("{flow_log_id}: stopped after {records} records: traffic may be missing")
            }
            Gap::DoesNotFit { ipv4, ipv6, quota } => format!(
                "the rules needed do not fit the quota of {quota} per family even merged (IPv4 {ipv4}, IPv6 {ipv6}): nothing proposed"
            ),
        }
    }
}

/// Rules the group would hold per family after the proposal is applied and its open rules revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Quota {
    pub limit: u32,
    pub ipv4: u32,
    pub ipv6: u32,
}

/// The proposal: what to authorize, what to revoke, and how sure it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Proposal {
    pub schema: &'static str,
    pub group_id: String,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    pub days: u32,
    pub window: Window,
    pub ip_ranges: String,
    pub interfaces: Vec<Coverage>,
    pub rules: Vec<Proposed>,
    /// Flows the group's remaining rules already allow.
    pub already_allowed: u64,
    pub merges: Vec<Merge>,
    pub gaps: Vec<Gap>,
    pub unlogged: &'static str,
    /// The open rules the proposal replaces (revoked as every other revoke is).
    pub open_rules: Vec<EgressRule>,
    pub quota: Quota,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize_command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_command: Option<String>,
}

impl Proposal {
    /// Whether it may be applied: no gap, or (with `accept_thin`) none that hides an interface's traffic.
    pub fn applicable(&self, accept_thin: bool) -> bool {
        !self.gaps.iter().any(|g| g.blocks_apply(accept_thin))
    }

    /// Whether no interface had a flow log: the one-line answer.
    pub fn no_flow_logs(&self) -> bool {
        !self.interfaces.is_empty() && self.interfaces.iter().all(|c| c.flow_logs.is_empty())
    }

    pub fn rules(&self) -> Vec<EgressRule> {
        self.rules.iter().map(|p| p.rule.clone()).collect()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The proposal as a person reads it.
    pub fn text(&self) -> String {
        let mut out = format!(
            "Egress observed for {} in {} over {} days (flow logs of {} interface{})\n\n",
            self.group_id,
            self.region,
            self.days,
            self.interfaces.len(),
            if self.interfaces.len() == 1 { "" } else { "s" }
        );
        if self.no_flow_logs() {
            out.push_str("No flow logs: enable them to get a proposal.\n");
            return out;
        }
        for c in &self.interfaces {
            out.push_str(&format!(
                "  {}  {} started, {} replies, {} inbound, {} rejected, {} days  ({})\n",
                c.interface_id,
                c.started,
                c.replies,
                c.inbound,
                c.rejected,
                c.days_covered,
                if c.flow_logs.is_empty() { "no flow logs".into() } else { c.flow_logs.join(", ") }
            ));
        }
        out.push_str(&format!("\nProposed egress ({} rules", self.rules.len()));
        out.push_str(&format!(
            "; the group would hold IPv4 {}/{}, IPv6 {}/{}):\n",
            self.quota.ipv4, self.quota.limit, self.quota.ipv6, self.quota.limit
        ));
        if self.rules.is_empty() {
            out.push_str("  (none)\n");
        }
        for p in &self.rules {
            out.push_str(&format!("  {:<40} {} flows, {}\n", p.rule.to_string(), p.flows, p.basis.text()));
        }
        if self.already_allowed > 0 {
            out.push_str(&format!("  ({} flows already allowed by the group's other rules)\n", self.already_allowed));
        }
        for m in &self.merges {
            out.push_str(&format!("  merged {} into {}: {}\n", m.from.join(" + "), m.into, m.added));
        }
        if !self.open_rules.is_empty() {
            out.push_str("\nOpen rules it replaces:\n");
            for rule in &self.open_rules {
                out.push_str(&format!("  {rule}\n"));
            }
        }
        if !self.gaps.is_empty() {
            out.push_str("\nGaps (nothing proposed for them):\n");
            for gap in &self.gaps {
                out.push_str(&format!("  {}\n", gap.text()));
            }
        }
        out.push_str(&format!("\n{}\n", UNLOGGED));
        if let Some(command) = &self.authorize_command {
            out.push_str(&format!("\nTo apply, authorize first:\n{command}\n"));
        }
        if let Some(command) = &self.revoke_command {
            out.push_str(&format!("then revoke the open rules:\n{command}\n"));
        }
        out
    }
}

impl Basis {
    fn text(&self) -> String {
        match self {
            Basis::Vpc => "the VPC".into(),
            Basis::PrefixList { name } => name.clone(),
            Basis::AwsService { service } => format!("AWS {service} (ip-ranges.json)"),
            Basis::Observed => "observed".into(),
        }
    }

    fn description(&self) -> String {
        match self {
            Basis::Vpc => "egress-guard: observed, VPC".into(),
            Basis::PrefixList { name } => format!("egress-guard: observed, {name}"),
            Basis::AwsService { service } => format!("egress-guard: observed, AWS {service}"),
            Basis::Observed => "egress-guard: observed".into(),
        }
    }
}

/// A notice's observed-egress section: bounded, and pointing at the full proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ObservedEgress {
    /// No interface that uses the group has a flow log.
    NoFlowLogs,
    Proposed {
        days: u32,
        rules: Vec<String>,
        more: usize,
        gaps: Vec<String>,
        command: String,
    },
    /// Not read in time, or the read failed: the notice goes out without it.
    Unavailable {
        error: String,
    },
}

impl ObservedEgress {
    pub fn summary(proposal: &Proposal) -> ObservedEgress {
        if proposal.no_flow_logs() {
            return ObservedEgress::NoFlowLogs;
        }
        let rules = proposal
            .rules
            .iter()
            .take(NOTICE_RULES)
            .map(|p| format!("{}  ({} flows, {})", p.rule, p.flows, p.basis.text()));
        let gaps = proposal.gaps.iter().take(NOTICE_GAPS).map(Gap::text);
        ObservedEgress::Proposed {
            days: proposal.days,
            rules: rules.collect(),
            more: proposal.rules.len().saturating_sub(NOTICE_RULES) + proposal.gaps.len().saturating_sub(NOTICE_GAPS),
            gaps: gaps.collect(),
            command: format!(
                "egress-guard recommend --region {} --group-id {} --days {}",
                proposal.region, proposal.group_id, proposal.days
            ),
        }
    }

    /// The section as the notice prints it.
    pub fn text(&self) -> String {
        match self {
            ObservedEgress::NoFlowLogs => "Observed egress: no flow logs: enable them to get a proposal.\n".into(),
            ObservedEgress::Unavailable { error } => format!("Observed egress: not read ({error}).\n"),
            ObservedEgress::Proposed { days, rules, more, gaps, command } => {
                let mut out = format!(
                    "Observed egress (flow logs, last {days} days): {} what the group's interfaces started:\n",
                    if rules.is_empty() {
                        "no rule needed for".to_owned()
                    } else {
                        format!("{} rules would allow", rules.len())
                    }
                );
                for rule in rules {
                    out.push_str(&format!("  {rule}\n"));
                }
                for gap in gaps {
                    out.push_str(&format!("  gap: {gap}\n"));
                }
                if *more > 0 {
                    out.push_str(&format!("  and {more} more\n"));
                }
                out.push_str(&format!("  The full proposal, and the commands that apply it: {command}\n"));
                out
            }
        }
    }
}

/// Reads the group and proposes its egress: `recommend_for` on the group as EC2 holds it now.
pub async fn recommend<G: SecurityGroups, F: FlowLogs>(
    group_id: &str,
    request: &Request<'_>,
    settings: &Settings,
    groups: &G,
    logs: &F,
) -> Result<Proposal, Error> {
    crate::model::validate_group_id(group_id)?;
    let read_error =
        |source: G::Error| Error::SecurityGroups { group_id: group_id.to_owned(), source: Box::new(source) };
    let group = groups.describe(group_id).await.map_err(read_error)?.ok_or_else(|| Error::SecurityGroups {
        group_id: group_id.to_owned(),
        source: "the group does not exist".into(),
    })?;
    recommend_for(&group, request, settings, logs).await
}

/// Proposes egress for `group` as read: its interfaces, their flow logs and records over the window, kept and
/// mapped and fitted (`propose`).
pub async fn recommend_for<F: FlowLogs>(
    group: &SecurityGroup,
    request: &Request<'_>,
    settings: &Settings,
    logs: &F,
) -> Result<Proposal, Error> {
    let port_error = |source: F::Error| Error::FlowLogs { group_id: group.id.clone(), source: Box::new(source) };
    let window = Window { start: request.now - i64::from(request.days) * DAY, end: request.now };
    let interfaces = logs.interfaces(&group.id).await.map_err(port_error)?;
    let mut resources: BTreeSet<String> = BTreeSet::new();
    for i in &interfaces {
        resources.insert(i.id.clone());
        resources.extend(i.subnet_id.iter().cloned());
        resources.extend(i.vpc_id.iter().cloned());
    }
    let resources: Vec<String> = resources.into_iter().collect();
    // The flow logs and the VPC at once, then every log's records at once: a notice's budget is a few seconds.
    let flow_logs = async { if resources.is_empty() { Ok(vec![]) } else { logs.flow_logs(&resources).await } };
    let network = async {
        match &group.vpc_id {
            Some(vpc) => logs.network(vpc).await,
            None => Ok(Network::default()),
        }
    };
    let (flow_logs, network) = futures_util::future::join(flow_logs, network).await;
    let (flow_logs, network) = (flow_logs.map_err(port_error)?, network.map_err(port_error)?);

    let captures = |log: &FlowLog, i: &Interface| {
        log.traffic_type != "REJECT"
            && (log.resource_id == i.id
                || i.subnet_id.as_ref() == Some(&log.resource_id)
                || i.vpc_id.as_ref() == Some(&log.resource_id))
    };
    let mut gaps = Vec::new();
    let mut coverage: Vec<Coverage> = interfaces
        .iter()
        .map(|i| {
            let logs: Vec<&FlowLog> = flow_logs.iter().filter(|l| captures(l, i)).collect();
            let since = logs.iter().map(|l| l.created_at.unwrap_or(window.start).max(window.start)).min();
            Coverage {
                interface_id: i.id.clone(),
                flow_logs: logs.iter().map(|l| l.id.clone()).collect(),
                days_covered: since.map_or(0, |s| u32::try_from((window.end - s) / DAY).unwrap_or(0)),
                ..Coverage::default()
            }
        })
        .collect();
    if interfaces.is_empty() {
        gaps.push(Gap::NoInterfaces);
    }

    let inbound = Inbound { rules: group.ingress.clone(), vpc_cidrs: network.vpc_cidrs.clone() };
    let mut flows: BTreeMap<Flow, u64> = BTreeMap::new();
    let mut unattributed = 0;
    let mut readable = Vec::new();
    for log in flow_logs.iter().filter(|l| interfaces.iter().any(|i| captures(l, i))) {
        let covered: Vec<&Interface> = interfaces.iter().filter(|i| captures(log, i)).collect();
        if let LogDestination::Other(kind) = &log.destination {
            gaps.push(Gap::Unread { flow_log_id: log.id.clone(), why: format!("records in {kind} are not read") });
            continue;
        }
        let format = match Format::parse(&log.log_format) {
            Ok(format) => format,
            Err(err) => {
                gaps.push(Gap::Unread { flow_log_id: log.id.clone(), why: err.to_string() });
                continue;
            }
        };
        if let Some(why) = &log.delivery_error {
            gaps.push(Gap::Unread { flow_log_id: log.id.clone(), why: format!("AWS cannot deliver it: {why}") });
        }
        readable.push((log, covered, format));
    }
    // Two logs read at once, each taken in as it comes, in order: at most two logs' records held at a time.
    let reads = readable.iter().map(|(log, covered, format)| async move {
        (log, covered, format, logs.records(log, covered, window, request.max_records).await)
    });
    let mut reads = futures_util::stream::iter(reads).buffered(LOGS_AT_ONCE);
    while let Some((log, covered, format, records)) = reads.next().await {
        let records = records.map_err(port_error)?;
        for why in records.unread {
            gaps.push(Gap::Unread { flow_log_id: log.id.clone(), why });
        }
        let mut read = 0;
        for batch in &records.batches {
            let format = match batch.header.as_deref().map(Format::from_header) {
                None => format.clone(),
                Some(Ok(header)) => header,
                Some(Err(err)) => {
                    gaps.push(Gap::Unread { flow_log_id: log.id.clone(), why: err.to_string() });
                    continue;
                }
            };
            for record in batch.lines.iter().filter_map(|line| format.record(line)) {
                read += 1;
                if record.start.is_some_and(|s| s < window.start || s >= window.end) {
                    continue;
                }
                // The record's interface: named, or the one whose address it carries; others' records are noise.
                let owner = covered.iter().position(|i| match &record.interface_id {
                    Some(id) => *id == i.id,
                    None => [record.srcaddr, record.dstaddr].iter().flatten().any(|a| i.addresses.contains(a)),
                });
                let Some(index) = owner else { continue };
                let interface = covered[index];
                let Some(c) = coverage.iter_mut().find(|c| c.interface_id == interface.id) else { continue };
                c.records += 1;
                match classify(&record, &interface.addresses, &inbound) {
                    Kind::Started(flow) => {
                        c.started += 1;
                        *flows.entry(flow).or_default() += 1;
                    }
                    Kind::Reply => c.replies += 1,
                    Kind::Inbound => c.inbound += 1,
                    Kind::Rejected => c.rejected += 1,
                    Kind::Skipped => c.skipped += 1,
                    Kind::LinkLocal => c.link_local += 1,
                    Kind::NoData => {}
                    Kind::Unattributed => {
                        c.unattributed += 1;
                        unattributed += 1;
                    }
                }
            }
        }
        if records.truncated {
            gaps.push(Gap::Truncated { flow_log_id: log.id.clone(), records: read });
        }
    }
    for c in &coverage {
        if c.flow_logs.is_empty() {
            gaps.push(Gap::NoFlowLogs { interface_id: c.interface_id.clone() });
        } else if c.records == 0 {
            gaps.push(Gap::NoRecords { interface_id: c.interface_id.clone() });
        } else if c.days_covered < request.days {
            gaps.push(Gap::FewerDays {
                interface_id: c.interface_id.clone(),
                days: c.days_covered,
                asked: request.days,
            });
        }
        if c.skipped > 0 {
            gaps.push(Gap::Skipped { interface_id: c.interface_id.clone(), records: c.skipped });
        }
    }
    if unattributed > 0 {
        gaps.push(Gap::Unattributed { records: unattributed });
    }
    coverage.sort_by(|a, b| a.interface_id.cmp(&b.interface_id));

    let open_rules = evaluate(group, settings).plan.rules;
    let kept: Vec<EgressRule> = group.egress.iter().filter(|r| !open_rules.contains(r)).cloned().collect();
    let fitted = propose(&flows, &kept, &network, request.ranges, request.quota);
    if let Some(gap) = fitted.gap {
        gaps.push(gap);
    }
    let rules = fitted.rules.iter().map(|p| p.rule.clone()).collect::<Vec<_>>();
    let command = |verb: &str, rules: &[EgressRule]| {
        (!rules.is_empty()).then(|| aws_command(verb, request.region, &group.id, rules))
    };
    Ok(Proposal {
        schema: SCHEMA,
        group_id: group.id.clone(),
        region: request.region.to_owned(),
        vpc_id: group.vpc_id.clone(),
        days: request.days,
        window,
        ip_ranges: request.ranges.create_date.clone(),
        interfaces: coverage,
        authorize_command: command("authorize-security-group-egress", &rules),
        revoke_command: command("revoke-security-group-egress", &open_rules),
        rules: fitted.rules,
        already_allowed: fitted.already_allowed,
        merges: fitted.merges,
        gaps,
        unlogged: UNLOGGED,
        open_rules,
        quota: fitted.quota,
    })
}

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
    let gap = (ipv4 > quota || ipv6 > quota || opens).then_some(Gap::DoesNotFit { ipv4, ipv6, quota });
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
        for net in IpNet::aggregate(&nets) {
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
            let widest = if matches!(sup, IpNet::V4(_)) { WIDEST.0 } else { WIDEST.1 };
            if sup.prefix_len() < widest {
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
