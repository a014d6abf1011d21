//! The tally: the records read from a group's flow logs turned into the flows its interfaces started, each
//! interface's coverage, and the gaps in the evidence; then the proposal. Pure: the reading is `run::recommend`'s.

use std::collections::{BTreeMap, BTreeSet};

use crate::evaluate::evaluate;
use crate::model::{EgressRule, SecurityGroup};
use crate::permission::aws_command;
use crate::recommend::evidence::{FlowLog, Interface, LogDestination, Network, Records, Window};
use crate::recommend::fit::propose;
use crate::recommend::flowlog::{Connection, Flow, Format, Inbound, Kind, classify};
use crate::recommend::proposal::{Basis, Coverage, Gap, Proposal, SCHEMA, UNLOGGED};
use crate::recommend::ranges::{AwsRanges, UNPINNED};
use crate::settings::Settings;

const DAY: i64 = 86_400;
/// A flow log's longest aggregation interval (`MaxAggregationInterval`, 600 s): a record starts at most this long after
/// the traffic it holds began.
const MAX_AGGREGATION_SECS: i64 = 600;

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

impl Request<'_> {
    /// The `days` before `now`.
    pub fn window(&self) -> Window {
        Window { start: self.now - i64::from(self.days) * DAY, end: self.now }
    }
}

/// The resources whose flow logs may capture `interfaces`: the interfaces, their subnets and their VPCs.
pub fn resources(interfaces: &[Interface]) -> Vec<String> {
    let mut resources: BTreeSet<String> = BTreeSet::new();
    for i in interfaces {
        resources.insert(i.id.clone());
        resources.extend(i.subnet_id.iter().cloned());
        resources.extend(i.vpc_id.iter().cloned());
    }
    resources.into_iter().collect()
}

/// One flow log to read: the interfaces it captures, and the format of its lines.
#[derive(Debug)]
pub struct Read<'a> {
    pub log: &'a FlowLog,
    pub covered: Vec<&'a Interface>,
    pub format: Format,
}

/// The evidence gathered so far for one group.
#[derive(Debug)]
pub struct Tally<'a> {
    group: &'a SecurityGroup,
    request: Request<'a>,
    inbound: Inbound,
    coverage: Vec<Coverage>,
    flows: BTreeMap<Flow, u64>,
    /// Records leaving from a served port without TCP flags, by interface: replies if their connection came in.
    unanswered: Vec<(String, Flow, Connection)>,
    /// The connections seen coming in, over every log, and those whose peer was seen opening them (its SYN).
    answered: BTreeSet<Connection>,
    opened_by_peer: BTreeSet<Connection>,
    /// The earliest record read of each interface: before it, nothing vouches for its traffic (a log's retention, an
    /// interface that came later, one that EC2 gives no attachment time).
    first_record: BTreeMap<String, i64>,
    unattributed: u64,
    /// Records in the logs read of interfaces that are not the group's now.
    others: u64,
    gaps: Vec<Gap>,
}

fn captures(log: &FlowLog, i: &Interface) -> bool {
    log.traffic_type != "REJECT"
        && (log.resource_id == i.id
            || i.subnet_id.as_ref() == Some(&log.resource_id)
            || i.vpc_id.as_ref() == Some(&log.resource_id))
}

impl<'a> Tally<'a> {
    /// Starts the tally of `group`'s `interfaces` with the flow logs that capture them, and says which logs to read;
    /// those that cannot be read are gaps.
    pub fn new(
        group: &'a SecurityGroup,
        interfaces: &'a [Interface],
        flow_logs: &'a [FlowLog],
        network: &Network,
        request: Request<'a>,
    ) -> (Tally<'a>, Vec<Read<'a>>) {
        let window = request.window();
        let mut gaps = Vec::new();
        let coverage: Vec<Coverage> = interfaces
            .iter()
            .map(|i| {
                let logs: Vec<&FlowLog> = flow_logs.iter().filter(|l| captures(l, i)).collect();
                // Covered from the later of the log's creation and the interface's attachment: an interface
                // attached an hour ago under a month-old log holds an hour of evidence, not a month.
                let attached = i.since.unwrap_or(window.start);
                let since =
                    logs.iter().map(|l| l.created_at.unwrap_or(window.start).max(window.start).max(attached)).min();
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
        // Every interface that carries the group now came after the window began: those before it (replaced by
        // Auto Scaling, ECS, Fargate) started traffic no record read here vouches for.
        let earliest = interfaces.iter().map(|i| i.since.unwrap_or(window.start).max(window.start)).min();
        if let Some(earliest) = earliest.filter(|e| *e > window.start) {
            gaps.push(Gap::InterfacesYounger {
                hours: u32::try_from((window.end - earliest) / 3600).unwrap_or(0),
                days: request.days,
            });
        }
        let mut reads = Vec::new();
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
            reads.push(Read { log, covered, format });
        }
        let inbound = Inbound { rules: group.ingress.clone(), vpc_cidrs: network.vpc_cidrs.clone() };
        let tally = Tally {
            group,
            request,
            inbound,
            coverage,
            flows: BTreeMap::new(),
            unanswered: Vec::new(),
            answered: BTreeSet::new(),
            opened_by_peer: BTreeSet::new(),
            first_record: BTreeMap::new(),
            unattributed: 0,
            others: 0,
            gaps,
        };
        (tally, reads)
    }

    /// Takes in what one log held: each record in the window of an interface it captures, classified.
    pub fn take(&mut self, read: &Read<'_>, records: Records) {
        let window = self.request.window();
        let log = read.log;
        for why in records.unread {
            self.gaps.push(Gap::Unread { flow_log_id: log.id.clone(), why });
        }
        let mut count = 0;
        for batch in &records.batches {
            let format = match batch.header.as_deref().map(Format::from_header) {
                None => read.format.clone(),
                Some(Ok(header)) => header,
                Some(Err(err)) => {
                    self.gaps.push(Gap::Unread { flow_log_id: log.id.clone(), why: err.to_string() });
                    continue;
                }
            };
            for record in batch.lines.iter().filter_map(|line| format.record(line)) {
                count += 1;
                if record.start.is_some_and(|s| s < window.start || s >= window.end) {
                    continue;
                }
                // The record's interface: named, or the one whose address it carries; others' records are noise.
                let owner = read.covered.iter().find(|i| match &record.interface_id {
                    Some(id) => *id == i.id,
                    None => [record.srcaddr, record.dstaddr].iter().flatten().any(|a| i.addresses.contains(a)),
                });
                let Some(interface) = owner else {
                    self.others += 1;
                    continue;
                };
                let Some(c) = self.coverage.iter_mut().find(|c| c.interface_id == interface.id) else { continue };
                c.records += 1;
                if let Some(start) = record.start {
                    let first = self.first_record.entry(interface.id.clone()).or_insert(start);
                    *first = (*first).min(start);
                }
                match classify(&record, &interface.addresses, &self.inbound) {
                    Kind::Started(flow) => {
                        c.started += 1;
                        *self.flows.entry(flow).or_default() += 1;
                    }
                    Kind::Reply => c.replies += 1,
                    Kind::ReplyIfAnswered(flow, connection) => {
                        self.unanswered.push((interface.id.clone(), flow, connection));
                    }
                    Kind::Inbound(connection, peer_opened) => {
                        c.inbound += 1;
                        self.answered.extend(connection);
                        if peer_opened {
                            self.opened_by_peer.extend(connection);
                        }
                    }
                    Kind::Rejected => c.rejected += 1,
                    Kind::Skipped => c.skipped += 1,
                    Kind::LinkLocal => c.link_local += 1,
                    Kind::NoData => {}
                    Kind::Unattributed => {
                        c.unattributed += 1;
                        self.unattributed += 1;
                    }
                }
            }
        }
        if records.truncated {
            self.gaps.push(Gap::Truncated { flow_log_id: log.id.clone(), records: count });
        }
    }

    /// The proposal: the gaps each interface's coverage leaves, then the flows fitted beside the rules the group
    /// keeps (all but its open ones), with the commands that apply it.
    pub fn propose(self, network: &Network, settings: &Settings) -> Proposal {
        let Tally {
            group,
            request,
            mut coverage,
            mut flows,
            unanswered,
            answered,
            opened_by_peer,
            first_record,
            unattributed,
            others,
            mut gaps,
            ..
        } = self;
        covered_since_read(&mut coverage, &first_record, request.window());
        let unflagged = settle_replies(unanswered, &answered, &opened_by_peer, &mut coverage, &mut flows);
        gaps.extend(evidence_gaps(&coverage, request.days));
        if unattributed > 0 {
            gaps.push(Gap::Unattributed { records: unattributed });
        }
        if others > 0 {
            gaps.push(Gap::OtherInterfaces { records: others });
        }
        if unflagged > 0 {
            gaps.push(Gap::RepliesWithoutFlags { records: unflagged });
        }
        coverage.sort_by(|a, b| a.interface_id.cmp(&b.interface_id));

        let open_rules = evaluate(group, settings).plan.rules;
        let kept: Vec<EgressRule> = group.egress.iter().filter(|r| !open_rules.contains(r)).cloned().collect();
        let fitted = propose(&flows, &kept, network, request.ranges, request.quota);
        if let Some(gap) = fitted.gap {
            gaps.push(gap);
        }
        // Without AWS's published ranges, an AWS service's address is proposed as the address seen, which rotates.
        if request.ranges.version() == UNPINNED && fitted.rules.iter().any(|p| p.basis == Basis::Observed) {
            gaps.push(Gap::RangesUnpinned);
        }
        let rules = fitted.rules.iter().map(|p| p.rule.clone()).collect::<Vec<_>>();
        let command = |verb: &str, rules: &[EgressRule]| {
            (!rules.is_empty()).then(|| aws_command(verb, request.region, &group.id, rules))
        };
        Proposal {
            schema: SCHEMA,
            group_id: group.id.clone(),
            region: request.region.to_owned(),
            vpc_id: group.vpc_id.clone(),
            days: request.days,
            window: request.window(),
            ip_ranges: request.ranges.version(),
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
        }
    }
}

/// Each interface covered from its first record read at the latest (less one aggregation interval, the most a record
/// can start after its traffic): nothing before it was read.
fn covered_since_read(coverage: &mut [Coverage], first_record: &BTreeMap<String, i64>, window: Window) {
    for c in coverage {
        if let Some(first) = first_record.get(&c.interface_id) {
            let from = (first - MAX_AGGREGATION_SECS).max(window.start);
            let read = u32::try_from((window.end - from) / DAY).unwrap_or(0);
            c.days_covered = c.days_covered.min(read);
        }
    }
}

/// A record leaving from a served port without TCP flags is a reply where its connection came in within the window
/// (`answered`): for certain when the peer was seen opening it (`opened_by_peer`), else a guess; otherwise traffic
/// the interface started. Answers how many were guesses, a gap.
fn settle_replies(
    unanswered: Vec<(String, Flow, Connection)>,
    answered: &BTreeSet<Connection>,
    opened_by_peer: &BTreeSet<Connection>,
    coverage: &mut [Coverage],
    flows: &mut BTreeMap<Flow, u64>,
) -> u64 {
    let mut unflagged = 0;
    for (interface_id, flow, connection) in unanswered {
        let Some(c) = coverage.iter_mut().find(|c| c.interface_id == interface_id) else { continue };
        if opened_by_peer.contains(&connection) {
            c.replies += 1;
        } else if answered.contains(&connection) {
            c.replies += 1;
            unflagged += 1;
        } else {
            c.started += 1;
            *flows.entry(flow).or_default() += 1;
        }
    }
    unflagged
}

/// The gaps each interface's coverage leaves: no flow log, no record, fewer days than asked, records skipped.
fn evidence_gaps(coverage: &[Coverage], days: u32) -> Vec<Gap> {
    let mut gaps = Vec::new();
    for c in coverage {
        if c.flow_logs.is_empty() {
            gaps.push(Gap::NoFlowLogs { interface_id: c.interface_id.clone() });
        } else if c.records == 0 {
            gaps.push(Gap::NoRecords { interface_id: c.interface_id.clone() });
        } else if c.days_covered < days {
            gaps.push(Gap::FewerDays { interface_id: c.interface_id.clone(), days: c.days_covered, asked: days });
        }
        if c.skipped > 0 {
            gaps.push(Gap::Skipped { interface_id: c.interface_id.clone(), records: c.skipped });
        }
    }
    gaps
}
