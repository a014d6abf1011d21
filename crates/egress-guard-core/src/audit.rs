//! The audit: EC2-033's check over every group of every region, as one report with a stable JSON schema.

use serde::{Deserialize, Serialize};

use crate::evaluate::{Disposition, FindingKind, evaluate};
use crate::model::{PortRange, SecurityGroup};
use crate::settings::Settings;

/// The `schema` field of every JSON audit report; bumped on any breaking change.
pub const SCHEMA: &str = "egress-guard.audit/v1";

/// One open rule found by the audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFinding {
    pub region: String,
    /// The group's owner, as EC2 lists it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub group_id: String,
    pub group_name: String,
    pub vpc_id: Option<String>,
    /// EC2's `IpProtocol`: `-1`, `tcp`, `udp`, `icmp`, `icmpv6` or a number.
    pub protocol: String,
    pub ports: Option<PortRange>,
    /// The traffic as a person reads it: `all traffic`, `tcp 443`.
    pub traffic: String,
    pub destination: String,
    /// `open` (the destination is `/0`) or `split` (its CIDR and its siblings' add up to the whole space).
    #[serde(default)]
    pub kind: FindingKind,
    pub action: Action,
    /// Why it is kept, where it is.
    pub reason: Option<String>,
}

/// What egress-guard does with an audited rule (`action` in the JSON schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Non-compliant: the Lambda revokes it.
    Revoke,
    /// Open on an allowed port.
    Allowed,
    /// A protocol outside EC2-033, or a split range while split revokes are off.
    ReportOnly,
    /// The group is exempt.
    Exempt,
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Revoke => "revoke",
            Action::Allowed => "allowed",
            Action::ReportOnly => "report_only",
            Action::Exempt => "exempt",
        }
    }
}

/// What happened in one region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionResult {
    pub region: String,
    pub groups: usize,
    /// Why the region could not be audited; its groups are then unknown.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub regions: usize,
    pub regions_failed: usize,
    pub groups: usize,
    pub open_rules: usize,
    pub to_revoke: usize,
    /// Split-range findings, revoked or not (also counted in `open_rules`).
    #[serde(default)]
    pub split_ranges: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    pub schema: String,
    pub regions: Vec<RegionResult>,
    pub findings: Vec<AuditFinding>,
    pub summary: Summary,
}

impl AuditReport {
    /// Builds the report from each region's groups (or the error that stopped its listing). Regions and findings
    /// are sorted (region, group, rule, destination), so that the same account always gives the same report.
    pub fn new(mut scans: Vec<(String, Result<Vec<SecurityGroup>, String>)>, settings: &Settings) -> AuditReport {
        scans.sort_by(|a, b| a.0.cmp(&b.0));
        let mut regions = Vec::new();
        let mut findings = Vec::new();
        for (region, scan) in scans {
            match scan {
                Ok(groups) => {
                    regions.push(RegionResult { region: region.clone(), groups: groups.len(), error: None });
                    for group in &groups {
                        findings.extend(group_findings(&region, group, settings));
                    }
                }
                Err(error) => regions.push(RegionResult { region, groups: 0, error: Some(error) }),
            }
        }
        findings.sort_by(|a, b| {
            (&a.region, &a.group_id, &a.traffic, &a.destination).cmp(&(
                &b.region,
                &b.group_id,
                &b.traffic,
                &b.destination,
            ))
        });
        let summary = Summary {
            regions: regions.len(),
            regions_failed: regions.iter().filter(|r| r.error.is_some()).count(),
            groups: regions.iter().map(|r| r.groups).sum(),
            open_rules: findings.len(),
            to_revoke: findings.iter().filter(|f| f.action == Action::Revoke).count(),
            split_ranges: findings.iter().filter(|f| f.kind == FindingKind::Split).count(),
        };
        AuditReport { schema: SCHEMA.to_owned(), regions, findings, summary }
    }

    /// 2 when a region could not be audited, else 1 when a rule is open and not exempt or allowed (a split range
    /// counts, revoked or reported), else 0.
    pub fn exit_code(&self) -> i32 {
        if self.summary.regions_failed > 0 {
            2
        } else if self.summary.to_revoke > 0
            || self.findings.iter().any(|f| f.kind == FindingKind::Split && f.action != Action::Exempt)
        {
            1
        } else {
            0
        }
    }
}

fn group_findings(region: &str, group: &SecurityGroup, settings: &Settings) -> Vec<AuditFinding> {
    let eval = evaluate(group, settings);
    eval.findings
        .iter()
        .map(|f| {
            let (action, reason) = match &f.disposition {
                Disposition::Revoke => (Action::Revoke, None),
                Disposition::Allowed { entry } => (Action::Allowed, Some(format!("port {entry}"))),
                Disposition::ReportOnly if f.kind == FindingKind::Split => (
                    Action::ReportOnly,
                    Some("split range: with its siblings, the whole address space; not /0, so not EC2-033".to_owned()),
                ),
                Disposition::ReportOnly => (Action::ReportOnly, Some("protocol outside EC2-033".to_owned())),
                Disposition::Exempt => (Action::Exempt, eval.exemption.as_ref().map(|e| e.reason())),
            };
            AuditFinding {
                region: region.to_owned(),
                account: group.owner_id.clone(),
                group_id: group.id.clone(),
                group_name: group.name.clone(),
                vpc_id: group.vpc_id.clone(),
                protocol: f.rule.protocol.as_ec2(),
                ports: f.rule.ports,
                traffic: f.rule.traffic(),
                destination: f.rule.destination.to_string(),
                kind: f.kind,
                action,
                reason,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str, cidr: &str, exempt: bool) -> SecurityGroup {
        let rule = format!("all traffic to {cidr}").parse().unwrap();
        let mut g = SecurityGroup { id: id.into(), name: "g".into(), egress: vec![rule], ..Default::default() };
        if exempt {
            g.tags.insert("egress-guard:exempt".into(), "vendor appliance".into());
        }
        g
    }

    #[test]
    fn exit_code_is_zero_when_nothing_is_open() {
        let r = AuditReport::new(
            vec![("eu-west-1".into(), Ok(vec![group("sg-0000000a", "10.0.0.0/8", false)]))],
            &Settings::default(),
        );
        assert_eq!((r.exit_code(), r.summary.open_rules), (0, 0));
    }

    #[test]
    fn exempt_rules_are_listed_but_do_not_fail_the_audit() {
        let r = AuditReport::new(
            vec![("eu-west-1".into(), Ok(vec![group("sg-0000000a", "::/0", true)]))],
            &Settings::default(),
        );
        assert_eq!(r.exit_code(), 0);
        assert_eq!(r.findings[0].action, Action::Exempt);
        assert_eq!(r.findings[0].reason.as_deref(), Some("tag egress-guard:exempt: vendor appliance"));
    }

    #[test]
    fn exit_code_is_one_when_a_rule_is_open() {
        let r = AuditReport::new(
            vec![("eu-west-1".into(), Ok(vec![group("sg-0000000a", "0.0.0.0/0", false)]))],
            &Settings::default(),
        );
        assert_eq!((r.exit_code(), r.summary.to_revoke), (1, 1));
    }

    #[test]
    fn failed_region_is_reported_beside_the_others_and_wins_the_exit_code() {
        let scans = vec![
            ("us-east-1".into(), Err("UnauthorizedOperation: denied".into())),
            ("eu-west-1".into(), Ok(vec![group("sg-0000000a", "0.0.0.0/0", false)])),
        ];
        let r = AuditReport::new(scans, &Settings::default());
        assert_eq!(r.exit_code(), 2);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.regions[1].error.as_deref(), Some("UnauthorizedOperation: denied"));
    }
}
