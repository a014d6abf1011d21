//! Security Hub's finding format (ASFF): one finding per open destination (`0.0.0.0/0`, `::/0`) of a group, from a
//! notice or an audit, with an id that stays the same for the same (account, region, group, destination), and every
//! field inside the limits `BatchImportFindings` enforces.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::audit::{Action, AuditReport};
use crate::evaluate::{Disposition, FindingKind};
use crate::model::{Destination, EgressRule};
use crate::notify::message::cut;
use crate::notify::notice::Notice;
use crate::outcome::Outcome;
use crate::partition::partition;
use crate::permission::undo_command;

pub const SCHEMA_VERSION: &str = "2018-10-08";
/// `BatchImportFindings` and `BatchUpdateFindings` take at most this many findings a call.
pub const MAX_FINDINGS_PER_CALL: usize = 100;
pub const GENERATOR_ID: &str = "egress-guard/EC2-033";
pub const FINDING_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices/Network Reachability";
pub const MAX_TITLE_CHARS: usize = 256;
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
pub const MAX_RECOMMENDATION_CHARS: usize = 512;
/// A `ProductFields` value; a key is at most 128 characters, and a finding holds at most 50 of them.
pub const MAX_FIELD_CHARS: usize = 2048;

/// One finding, serialized exactly as ASFF spells it (`egress-guard audit --format asff`); the adapter sends the same
/// fields through the SDK.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffFinding {
    pub schema_version: String,
    pub id: String,
    pub product_arn: String,
    pub generator_id: String,
    pub aws_account_id: String,
    pub types: Vec<String>,
    /// Security Hub wants `CreatedAt` and `UpdatedAt` equal when a finding is created: both are the import's time.
    pub created_at: String,
    pub updated_at: String,
    pub first_observed_at: String,
    pub last_observed_at: String,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    pub remediation: Remediation,
    pub product_fields: BTreeMap<String, String>,
    pub resources: Vec<Resource>,
    pub compliance: Compliance,
    pub workflow: Workflow,
    pub record_state: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Severity {
    pub label: Label,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Label {
    Informational,
    Low,
    High,
}

impl Label {
    pub fn as_str(&self) -> &'static str {
        match self {
            Label::Informational => "INFORMATIONAL",
            Label::Low => "LOW",
            Label::High => "HIGH",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Remediation {
    pub recommendation: Recommendation,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recommendation {
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Compliance {
    pub status: ComplianceStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComplianceStatus {
    Passed,
    Failed,
    Warning,
}

impl ComplianceStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ComplianceStatus::Passed => "PASSED",
            ComplianceStatus::Failed => "FAILED",
            ComplianceStatus::Warning => "WARNING",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Workflow {
    pub status: WorkflowStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkflowStatus {
    New,
    Resolved,
    Suppressed,
}

impl WorkflowStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            WorkflowStatus::New => "NEW",
            WorkflowStatus::Resolved => "RESOLVED",
            WorkflowStatus::Suppressed => "SUPPRESSED",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    #[serde(rename = "Type")]
    pub kind: String,
    pub id: String,
    pub partition: String,
    pub region: String,
    pub details: Details,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Details {
    pub aws_ec2_security_group: GroupDetails,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupDetails {
    pub group_name: String,
    pub group_id: String,
    pub owner_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vpc_id: Option<String>,
}

/// Where a group's destination stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Open, to revoke or not revoked yet (a dry run, a failed verification, an audit).
    Open,
    /// Revoked by egress-guard.
    Closed,
    /// Open and kept on purpose: an exempt group, an allowed port, a protocol outside EC2-033.
    Kept,
}

/// The two open destinations, by address family.
const DESTINATIONS: [(bool, &str); 2] = [(false, "0.0.0.0/0"), (true, "::/0")];

fn family(rule: &EgressRule) -> Option<bool> {
    match &rule.destination {
        Destination::Cidr(cidr) => Some(cidr.is_ipv6()),
        _ => None,
    }
}

/// What one finding says, before it is fitted into ASFF.
struct Draft<'a> {
    account: &'a str,
    region: &'a str,
    group_id: &'a str,
    group_name: &'a str,
    vpc_id: Option<&'a str>,
    destination: &'a str,
    state: State,
    title: String,
    description: String,
    recommendation: String,
    /// When the open egress was seen: the event's time, or the audit's.
    observed_at: &'a str,
    fields: Vec<(&'static str, String)>,
}

/// The findings of a notice: one per destination the notice names an open rule to (revoked, still open, kept or
/// adding up to the whole space), for the outcomes Security Hub is told of (remediated, dry run, verification failed,
/// revoked then deleted, exempt with open egress, split ranges reported). Others give none. `now` is the import's
/// `CreatedAt` and `UpdatedAt` (RFC 3339); the event's time is `FirstObservedAt` and `LastObservedAt`.
pub fn from_notice(notice: &Notice, now: &str) -> Vec<AsffFinding> {
    if !told(notice) {
        return vec![];
    }
    let mut findings = Vec::new();
    for (v6, destination) in DESTINATIONS {
        let rules = FamilyRules::of(notice, v6);
        if rules.is_empty() {
            continue;
        }
        findings.push(fit(draft(notice, destination, &rules), now));
    }
    findings
}

/// Whether Security Hub is told of the notice's outcome.
fn told(notice: &Notice) -> bool {
    match notice.outcome {
        Outcome::Remediated
        | Outcome::DryRun
        | Outcome::VerificationFailed
        | Outcome::GroupGone
        | Outcome::RevokeFailed => true,
        Outcome::Exempt => !notice.kept_open.is_empty(),
        Outcome::Compliant => !notice.split_ranges.is_empty(),
        _ => false,
    }
}

/// The rules of one address family a notice names: revoked, still open, split ranges reported (not revoked) and
/// kept on purpose.
struct FamilyRules {
    revoked: Vec<EgressRule>,
    still_open: Vec<EgressRule>,
    split: Vec<EgressRule>,
    kept: Vec<EgressRule>,
}

impl FamilyRules {
    fn of(notice: &Notice, v6: bool) -> FamilyRules {
        let of = |rules: &[EgressRule]| -> Vec<EgressRule> {
            rules.iter().filter(|r| family(r) == Some(v6)).cloned().collect()
        };
        let kept_of = |split: bool| -> Vec<EgressRule> {
            let reported = |f: &&crate::evaluate::Finding| {
                f.kind == FindingKind::Split && f.disposition == Disposition::ReportOnly
            };
            let rules = notice.kept_open.iter().filter(|f| family(&f.rule) == Some(v6) && reported(f) == split);
            rules.map(|f| f.rule.clone()).collect()
        };
        // Split ranges reported, not revoked, are as open as a /0; the rest is kept on purpose.
        FamilyRules {
            revoked: of(&notice.revoked),
            still_open: of(&notice.still_open),
            split: kept_of(true),
            kept: kept_of(false),
        }
    }

    fn is_empty(&self) -> bool {
        self.revoked.is_empty() && self.still_open.is_empty() && self.kept.is_empty() && self.split.is_empty()
    }

    /// Where the destination stands: open while anything to it is open or the revoke is not done (a dry run, a
    /// re-read that failed), kept when only rules kept on purpose are left, closed otherwise.
    fn state(&self, notice: &Notice) -> State {
        let unverified = notice.outcome == Outcome::VerificationFailed && notice.verify_error.is_some();
        let pending = !self.revoked.is_empty() && (notice.dry_run || unverified);
        if !self.still_open.is_empty() || !self.split.is_empty() || pending {
            State::Open
        } else if !self.kept.is_empty() {
            State::Kept
        } else {
            State::Closed
        }
    }

    /// What the revoke removed of this family and is gone: the destination's own undo restores exactly that.
    fn gone(&self) -> Vec<EgressRule> {
        self.revoked.iter().filter(|r| !self.still_open.iter().any(|s| s.same_traffic(r))).cloned().collect()
    }
}

/// What the finding of one destination of a notice says.
fn draft<'a>(notice: &'a Notice, destination: &'a str, rules: &FamilyRules) -> Draft<'a> {
    let g = &notice.group;
    let state = rules.state(notice);
    let (title, left) = headline(notice, destination, state, rules);
    let when = format!(
        "{} by {} ({} at {})",
        notice.cause.event_name.as_str(),
        notice.cause.actor.name(),
        notice.cause.event_id,
        notice.cause.event_time
    );
    let done = match (rules.revoked.is_empty(), notice.dry_run) {
        (true, _) => String::new(),
        (false, true) => format!("Would be revoked (dry run): {}. ", list(&rules.revoked)),
        (false, false) => format!("egress-guard revoked {}. ", list(&rules.revoked)),
    };
    let description = format!("{done}{left} Changed with {when}.").trim_start().to_owned();
    let gone = rules.gone();
    let undo = (notice.undo_command.is_some() && !gone.is_empty()).then(|| undo_command(&notice.region, &g.id, &gone));
    let recommendation = match (&undo, state) {
        (Some(undo), State::Closed) => format!("Nothing to do. To restore what was revoked: {undo}"),
        _ => format!(
            "Allow only the destinations the group needs: egress-guard recommend --group-id {} --region {}",
            g.id, notice.region
        ),
    };
    Draft {
        account: &notice.account,
        region: &notice.region,
        group_id: &g.id,
        group_name: &g.name,
        vpc_id: g.vpc_id.as_deref(),
        destination,
        state,
        title,
        description,
        recommendation,
        observed_at: &notice.cause.event_time,
        fields: fields(notice, rules, undo),
    }
}

/// The finding's title, and what its description says is left open to the destination, by where it stands.
fn headline(notice: &Notice, destination: &str, state: State, rules: &FamilyRules) -> (String, String) {
    let name = format!("{} ({})", notice.group.id, notice.group.name);
    match state {
        // The revoke was refused (an SCP, a missing permission): nothing was removed.
        State::Open if notice.outcome == Outcome::RevokeFailed => (
            format!("{name} allows egress to {destination}: egress-guard's revoke was refused"),
            format!(
                "The revoke was refused, nothing was removed: {}. Open: {}.",
                notice.revoke_error.as_deref().unwrap_or("no error given"),
                list(&rules.still_open)
            ),
        ),
        State::Open if !rules.still_open.is_empty() => (
            format!("{name} still allows egress to {destination} after egress-guard's revoke"),
            format!("Still open: {}.", list(&rules.still_open)),
        ),
        State::Open if !rules.split.is_empty() => (
            format!("{name} allows egress to all of {destination} through split ranges (not revoked)"),
            format!("Adding up to {destination}: {}.", list(&rules.split)),
        ),
        State::Open if notice.dry_run => {
            (format!("{name} allows egress to {destination} (dry run: not revoked)"), String::new())
        }
        State::Open => (
            format!("{name}: egress-guard's revoke of {destination} could not be verified"),
            format!("The re-read failed: {}.", notice.verify_error.as_deref().unwrap_or_default()),
        ),
        State::Kept => (
            format!("{name} allows egress to {destination}, kept on purpose"),
            format!(
                "Kept on purpose: {} ({}).",
                list(&rules.kept),
                notice
                    .exemption
                    .as_ref()
                    .map_or_else(|| "allowed by the function's settings".to_owned(), |e| e.reason())
            ),
        ),
        State::Closed => (format!("egress-guard revoked egress to {destination} on {name}"), String::new()),
    }
}

/// The finding's `ProductFields` before they are cut: the notice's outcome, cause and rules of this family, and the
/// destination's own undo command.
fn fields(notice: &Notice, rules: &FamilyRules, undo: Option<String>) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("outcome", notice.outcome.as_str().to_owned()),
        ("dry_run", notice.dry_run.to_string()),
        ("event_id", notice.cause.event_id.clone()),
        ("event_name", notice.cause.event_name.as_str().to_owned()),
        ("actor", notice.cause.actor.name().to_owned()),
        ("before", list(&notice.before)),
        ("after", list(&notice.after)),
        ("revoked", list(&rules.revoked)),
        ("still_open", list(&rules.still_open)),
        ("kept_open", list(&rules.kept)),
    ];
    if let Some(caller) = &notice.caller {
        fields.push(("caller", caller.kind.as_str().to_owned()));
    }
    if let Some(seconds) = notice.exposure_seconds {
        fields.push(("exposure_seconds", seconds.to_string()));
    }
    if let Some(undo) = undo {
        fields.push(("undo_command", undo));
    }
    fields
}

/// The findings of an audit: one per group and open destination; open when any of its rules is to be revoked,
/// kept otherwise (exempt, allowed, outside EC2-033). `now` is both `CreatedAt` and `UpdatedAt`.
pub fn from_audit(report: &AuditReport, now: &str) -> Vec<AsffFinding> {
    let mut groups: BTreeMap<(&str, &str, bool), Vec<&crate::audit::AuditFinding>> = BTreeMap::new();
    for f in &report.findings {
        groups.entry((&f.region, &f.group_id, f.destination.contains(':'))).or_default().push(f);
    }
    groups
        .into_iter()
        .map(|((region, group_id, v6), rules)| {
            let first = rules[0];
            let destination = if v6 { "::/0" } else { "0.0.0.0/0" };
            let open = rules.iter().any(|r| r.action == Action::Revoke);
            let name = format!("{group_id} ({})", first.group_name);
            let rule = |r: &&crate::audit::AuditFinding| format!("{} to {}", r.traffic, r.destination);
            let listed = rules.iter().map(rule).collect::<Vec<_>>().join(", ");
            let (state, title, description) = if open {
                (State::Open, format!("{name} allows egress to {destination}"), format!("Open egress: {listed}."))
            } else {
                let why = rules.iter().filter_map(|r| r.reason.as_deref()).next().unwrap_or("kept");
                (
                    State::Kept,
                    format!("{name} allows egress to {destination}, kept on purpose"),
                    format!("Open egress kept: {listed}. {why}."),
                )
            };
            let recommendation = format!(
                "Allow only the destinations the group needs: egress-guard recommend --group-id {group_id} --region {region}"
            );
            fit(
                Draft {
                    account: first.account.as_deref().unwrap_or_default(),
                    region,
                    group_id,
                    group_name: &first.group_name,
                    vpc_id: first.vpc_id.as_deref(),
                    destination,
                    state,
                    title,
                    description,
                    recommendation,
                    observed_at: now,
                    fields: vec![("open_rules", listed.clone()), ("outcome", "audit".to_owned())],
                },
                now,
            )
        })
        .collect()
}

/// The finding's stable id: the same group and destination always give the same finding, updated in place.
pub fn finding_id(account: &str, region: &str, group_id: &str, destination: &str) -> String {
    format!("egress-guard/{account}/{region}/{group_id}/{destination}")
}

/// A security group's ARN.
pub fn group_arn(account: &str, region: &str, group_id: &str) -> String {
    format!("arn:{}:ec2:{region}:{account}:security-group/{group_id}", partition(region))
}

/// The account's own product in its hub: what `BatchImportFindings` takes for findings of the calling account.
pub fn product_arn(account: &str, region: &str) -> String {
    format!("arn:{}:securityhub:{region}:{account}:product/{account}/default", partition(region))
}

fn fit(d: Draft<'_>, now: &str) -> AsffFinding {
    let (label, compliance, workflow) = match d.state {
        State::Open => (Label::High, ComplianceStatus::Failed, WorkflowStatus::New),
        State::Closed => (Label::Informational, ComplianceStatus::Passed, WorkflowStatus::Resolved),
        State::Kept => (Label::Low, ComplianceStatus::Warning, WorkflowStatus::Suppressed),
    };
    let partition = partition(d.region);
    let mut product_fields: BTreeMap<String, String> = d
        .fields
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| (format!("egress-guard/{key}"), cut(&value, MAX_FIELD_CHARS)))
        .collect();
    product_fields.insert("egress-guard/destination".into(), d.destination.to_owned());
    AsffFinding {
        schema_version: SCHEMA_VERSION.to_owned(),
        id: finding_id(d.account, d.region, d.group_id, d.destination),
        product_arn: product_arn(d.account, d.region),
        generator_id: GENERATOR_ID.to_owned(),
        aws_account_id: d.account.to_owned(),
        types: vec![FINDING_TYPE.to_owned()],
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
        first_observed_at: d.observed_at.to_owned(),
        last_observed_at: d.observed_at.to_owned(),
        severity: Severity { label },
        title: cut(&d.title, MAX_TITLE_CHARS),
        description: cut(&d.description, MAX_DESCRIPTION_CHARS),
        remediation: Remediation {
            recommendation: Recommendation { text: cut(&d.recommendation, MAX_RECOMMENDATION_CHARS) },
        },
        product_fields,
        resources: vec![Resource {
            kind: "AwsEc2SecurityGroup".to_owned(),
            id: group_arn(d.account, d.region, d.group_id),
            partition: partition.to_owned(),
            region: d.region.to_owned(),
            details: Details {
                aws_ec2_security_group: GroupDetails {
                    group_name: d.group_name.to_owned(),
                    group_id: d.group_id.to_owned(),
                    owner_id: d.account.to_owned(),
                    vpc_id: d.vpc_id.map(str::to_owned),
                },
            },
        }],
        compliance: Compliance { status: compliance },
        workflow: Workflow { status: workflow },
        record_state: "ACTIVE".to_owned(),
    }
}

/// The rules as one line, or `none`.
fn list(rules: &[EgressRule]) -> String {
    if rules.is_empty() {
        return "none".to_owned();
    }
    rules.iter().map(EgressRule::to_string).collect::<Vec<_>>().join(", ")
}
