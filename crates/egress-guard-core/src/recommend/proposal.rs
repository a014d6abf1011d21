//! A proposal: the egress rules the observed traffic needs, how each was chosen, what was merged to fit the quota,
//! where the evidence is thin, and the commands that apply it; as JSON and as a person reads it.

use serde::Serialize;

use crate::model::EgressRule;
use crate::recommend::evidence::Window;
use crate::recommend::ranges::UNPINNED;

/// Outbound rules a group may hold per address family unless the account's quota was raised.
pub const DEFAULT_QUOTA: u32 = 60;
pub const DEFAULT_DAYS: u32 = 14;
/// The JSON schema of a proposal.
pub const SCHEMA: &str = "egress-guard.recommend/v1";
/// Traffic that needs no rule and never shows in flow logs, said once in every proposal.
pub const UNLOGGED: &str = "Traffic to the Amazon DNS resolver, instance metadata, Amazon Time Sync and Windows \
                            license activation is not in flow logs and needs no security-group rule.";

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
    NoFlowLogs {
        interface_id: String,
    },
    NoRecords {
        interface_id: String,
    },
    FewerDays {
        interface_id: String,
        days: u32,
        asked: u32,
    },
    Skipped {
        interface_id: String,
        records: u64,
    },
    Unattributed {
        records: u64,
    },
    /// Records in a shared (subnet or VPC) log of interfaces that do not carry the group now: counted, never dropped
    /// silently (some may be interfaces that carried it before, replaced since).
    OtherInterfaces {
        records: u64,
    },
    /// Every interface that carries the group now was attached within the window: the traffic of those that carried
    /// it before is not read.
    InterfacesYounger {
        hours: u32,
        days: u32,
    },
    /// Records leaving from a port the group serves, taken as replies because their connection was seen coming in,
    /// in a format without TCP flags: a connection the group started from that port looks the same.
    RepliesWithoutFlags {
        records: u64,
    },
    /// AWS's published ranges were not read (`ip_ranges: unpinned`) and some destination is proposed as the address
    /// seen: an AWS service's addresses rotate.
    RangesUnpinned,
    Unread {
        flow_log_id: String,
        why: String,
    },
    Truncated {
        flow_log_id: String,
        records: usize,
    },
    DoesNotFit {
        ipv4: u32,
        ipv6: u32,
        quota: u32,
    },
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
            Gap::OtherInterfaces { records } => format!(
                "{records} records of interfaces that do not carry the group now were left out (a shared subnet or \
                 VPC log; or interfaces replaced since)"
            ),
            Gap::InterfacesYounger { hours, days } => format!(
                "the group's interfaces cover {hours} h of the {days} days: every interface that carries it now was \
                 attached since, and the traffic of those that carried it before (replaced since) is not read"
            ),
            Gap::RepliesWithoutFlags { records } => format!(
                "{records} records leaving from a port the group serves were taken as replies to connections seen \
                 coming in, but no record showed the peer opening them (its SYN): a connection the group started \
                 from that port (active-mode FTP) looks the same; add ${{tcp-flags}} to the flow log's format"
            ),
            Gap::RangesUnpinned => "AWS's published IP ranges were not read (ip_ranges: unpinned): an AWS \
                 service's address is proposed as the one seen, and it rotates; rebuild with \
                 scripts/refresh-ip-ranges.py"
                .into(),
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
        if self.ip_ranges == UNPINNED {
            out.push_str(
                "\nAWS's published IP ranges: unpinned (the copy built in is empty or unreadable), so no destination is \
                 named by its AWS service: rebuild with scripts/refresh-ip-ranges.py.\n",
            );
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
    pub fn text(&self) -> String {
        match self {
            Basis::Vpc => "the VPC".into(),
            Basis::PrefixList { name } => name.clone(),
            Basis::AwsService { service } => format!("AWS {service} (ip-ranges.json)"),
            Basis::Observed => "observed".into(),
        }
    }

    pub fn description(&self) -> String {
        match self {
            Basis::Vpc => "egress-guard: observed, VPC".into(),
            Basis::PrefixList { name } => format!("egress-guard: observed, {name}"),
            Basis::AwsService { service } => format!("egress-guard: observed, AWS {service}"),
            Basis::Observed => "egress-guard: observed".into(),
        }
    }
}
