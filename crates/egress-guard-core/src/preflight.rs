//! `preflight`: what would make a deploy or the guard fail, decided from read-only observations, each finding with
//! its fix. The adapter observes (the account's regions, the trails that cover each, Lambda's unreserved
//! concurrency, Security Hub, the member accounts' roles); `findings` decides. Pure: no AWS call, no runtime.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::model::is_account_id;
use crate::org::is_region;
use crate::settings::is_role_name;
use crate::trigger::EventName;

/// The `schema` field of every JSON preflight report; bumped on any breaking change.
pub const SCHEMA: &str = "egress-guard.preflight/v1";

/// `--regions all`: `template.yaml`'s `Regions` default, every region that cannot be disabled (a test holds the two
/// equal).
pub const DEFAULT_REGIONS: [&str; 17] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
];

/// Lambda keeps at least this many of an account's concurrent executions unreserved, for the functions that reserve
/// none: "You can reserve up to the Unreserved account concurrency value that is shown, minus 100"
/// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html). An account whose quota is 10 (new
/// accounts) can therefore reserve nothing.
pub const MIN_UNRESERVED_CONCURRENCY: i64 = 100;

/// The remediation role's name unless another is given (`template.yaml`'s `RemediationRoleName` default).
pub const DEFAULT_ROLE_NAME: &str = "egress-guard-remediation";

/// The session name of a member probe, as it shows in the member account's CloudTrail.
pub const SESSION_NAME: &str = "egress-guard-preflight";

/// The source of every call egress-guard acts on, as an advanced event selector's `eventSource` sees it.
const EC2_SOURCE: &str = "ec2.amazonaws.com";

/// What `egress-guard preflight` was asked to check, validated before any AWS call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Distinct, in the order given.
    pub regions: Vec<String>,
    pub member_accounts: Vec<String>,
    pub role_name: String,
    /// The reserved concurrency the deploy would ask for; `None`: not checked.
    pub function_concurrency: Option<u32>,
    pub security_hub: bool,
}

impl Request {
    /// Checks the command line's values: `regions` is `all` or comma-separated region names, `member_accounts`
    /// 12-digit ids, `role_name` an IAM role name, `function_concurrency` at least 1. The error names the flag.
    pub fn new(
        regions: &str,
        member_accounts: Option<&str>,
        role_name: &str,
        function_concurrency: Option<u32>,
        security_hub: bool,
    ) -> Result<Request, Error> {
        let bad = |flag, value: &str, why: &str| Error::InvalidArgument {
            flag,
            value: value.chars().take(64).collect(),
            why: why.to_owned(),
        };
        let regions = if regions.trim() == "all" {
            DEFAULT_REGIONS.iter().map(|r| (*r).to_owned()).collect()
        } else {
            let names = distinct(regions);
            if names.is_empty() {
                return Err(bad("--regions", regions, "no region: give `all` or region names, comma-separated"));
            }
            if let Some(wrong) = names.iter().find(|r| !is_region(r)) {
                return Err(bad(
                    "--regions",
                    wrong,
                    "not a region name: lowercase letters, digits and hyphens, like eu-west-1 (or `all`)",
                ));
            }
            names
        };
        let member_accounts = match member_accounts {
            None => Vec::new(),
            Some(text) => {
                let ids = distinct(text);
                if ids.is_empty() {
                    return Err(bad(
                        "--member-accounts",
                        text,
                        "no account: give 12-digit account ids, comma-separated",
                    ));
                }
                if let Some(wrong) = ids.iter().find(|a| !is_account_id(a)) {
                    let why = if wrong == "*" {
                        "name the accounts: preflight tries each named account's role (it lists no organization)"
                    } else {
                        "not an account id: 12 digits"
                    };
                    return Err(bad("--member-accounts", wrong, why));
                }
                ids
            }
        };
        if !is_role_name(role_name) {
            return Err(bad(
                "--remediation-role-name",
                role_name,
                "not an IAM role name: 1 to 64 of A-Z a-z 0-9 +=,.@_-",
            ));
        }
        if function_concurrency == Some(0) {
            return Err(bad(
                "--function-concurrency",
                "0",
                "0 reserves nothing, so there is nothing to check: leave the flag out, or give the reservation the deploy asks for",
            ));
        }
        Ok(Request { regions, member_accounts, role_name: role_name.to_owned(), function_concurrency, security_hub })
    }

    /// The remediation role in `account`, in the partition of `region` (the caller's home region).
    pub fn role_arn(&self, region: &str, account: &str) -> String {
        format!("arn:{}:iam::{account}:role/{}", partition(region), self.role_name)
    }
}

/// The comma-separated values of `text`, trimmed, without empty ones or repeats, in their order.
fn distinct(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in text.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        if !out.iter().any(|seen| seen == value) {
            out.push(value.to_owned());
        }
    }
    out
}

/// The partition a region belongs to: `aws-cn` for China, `aws-us-gov` for GovCloud, `aws-iso`/`aws-iso-b` for the
/// isolated regions, else `aws`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// What an observation found, or why it could not be made (the service's code and message).
pub type Seen<T> = Result<T, String>;

/// Everything the checks read, as the adapter observed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observations {
    /// The account's regions and their opt-in status (EC2 `DescribeRegions` with `AllRegions`).
    pub listed: Seen<Vec<ListedRegion>>,
    /// One per region asked, in the request's order.
    pub regions: Vec<RegionObservation>,
    /// When a reservation was asked about.
    pub concurrency: Option<ConcurrencyObservation>,
    /// One per member account asked, in the request's order.
    pub members: Vec<MemberObservation>,
}

/// A region as `DescribeRegions` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedRegion {
    pub name: String,
    pub opt_in: OptIn,
}

/// A region's `OptInStatus`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptIn {
    /// `opt-in-not-required`: enabled in every account.
    NotRequired,
    /// `opted-in`: enabled by the account.
    OptedIn,
    /// `not-opted-in`: disabled.
    NotOptedIn,
    /// Any other status EC2 may answer, taken as not enabled.
    Other(String),
}

impl OptIn {
    pub fn from_status(status: &str) -> OptIn {
        match status {
            "opt-in-not-required" => OptIn::NotRequired,
            "opted-in" => OptIn::OptedIn,
            "not-opted-in" => OptIn::NotOptedIn,
            other => OptIn::Other(other.to_owned()),
        }
    }

    pub fn is_enabled(&self) -> bool {
        matches!(self, OptIn::NotRequired | OptIn::OptedIn)
    }
}

/// What was read in one region. A region not enabled (or not a region) is not looked into: `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionObservation {
    pub region: String,
    /// The trails `DescribeTrails` (shadow trails included) lists there, each with its state read in its home region.
    pub trails: Option<Seen<Vec<TrailObservation>>>,
    /// Security Hub enabled there (`DescribeHub`), when asked.
    pub hub: Option<Seen<bool>>,
}

impl RegionObservation {
    /// Whether `region` is looked into: it is listed as enabled, or the listing itself failed (its own calls then say
    /// whether it answers).
    pub fn is_probed(listed: &Seen<Vec<ListedRegion>>, region: &str) -> bool {
        match listed {
            Ok(regions) => regions.iter().any(|r| r.name == region && r.opt_in.is_enabled()),
            Err(_) => true,
        }
    }
}

/// A trail as `DescribeTrails` lists it in a region, with its state read in its home region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailObservation {
    pub name: String,
    pub arn: String,
    pub home_region: String,
    pub multi_region: bool,
    pub organization: bool,
    /// `GetTrailStatus`'s `IsLogging`.
    pub logging: Seen<bool>,
    /// `GetEventSelectors`.
    pub selectors: Seen<Selectors>,
}

impl TrailObservation {
    /// A trail covers `region` when it is multi-region (an organization trail too: then in every member account) or
    /// when `region` is its home region; a single-region trail elsewhere does not.
    pub fn covers(&self, region: &str) -> bool {
        self.multi_region || self.home_region == region
    }
}

/// A trail's event selectors: classic or advanced (a trail has one kind or the other).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selectors {
    /// `DescribeTrails`' `HasCustomEventSelectors`: false means CloudTrail's default, every management event.
    pub custom: bool,
    pub classic: Vec<ClassicSelector>,
    pub advanced: Vec<AdvancedSelector>,
}

/// A classic `EventSelector`; absent fields take CloudTrail's defaults (`All`, management events included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassicSelector {
    pub read_write_type: Option<String>,
    pub include_management_events: Option<bool>,
    pub exclude_management_event_sources: Vec<String>,
}

/// An `AdvancedEventSelector`: its field selectors all hold for an event it logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdvancedSelector {
    pub name: Option<String>,
    pub fields: Vec<FieldSelector>,
}

/// An `AdvancedFieldSelector`: each operator given must hold (an operator holds when the value matches any of its
/// values; a `Not` operator when it matches none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub field: String,
    pub equals: Vec<String>,
    pub starts_with: Vec<String>,
    pub ends_with: Vec<String>,
    pub not_equals: Vec<String>,
    pub not_starts_with: Vec<String>,
    pub not_ends_with: Vec<String>,
}

impl FieldSelector {
    fn matches(&self, value: &str) -> bool {
        let any = |list: &[String], hit: &dyn Fn(&str) -> bool| list.iter().any(|v| hit(v));
        (self.equals.is_empty() || any(&self.equals, &|v| value == v))
            && (self.starts_with.is_empty() || any(&self.starts_with, &|v| value.starts_with(v)))
            && (self.ends_with.is_empty() || any(&self.ends_with, &|v| value.ends_with(v)))
            && !any(&self.not_equals, &|v| value == v)
            && !any(&self.not_starts_with, &|v| value.starts_with(v))
            && !any(&self.not_ends_with, &|v| value.ends_with(v))
    }
}

impl AdvancedSelector {
    /// Whether it logs the management write call `event_name` to EC2. A field preflight cannot know the value of
    /// (anything but `eventCategory`, `readOnly`, `eventSource`, `eventName`) makes it not count.
    fn logs(&self, event_name: &str) -> bool {
        self.fields.iter().all(|f| match f.field.as_str() {
            "eventCategory" => f.matches("Management"),
            "readOnly" => f.matches("false"),
            "eventSource" => f.matches(EC2_SOURCE),
            "eventName" => f.matches(event_name),
            _ => false,
        })
    }
}

impl ClassicSelector {
    fn logs_management_writes(&self) -> bool {
        self.include_management_events.unwrap_or(true)
            && matches!(self.read_write_type.as_deref().unwrap_or("All"), "All" | "WriteOnly")
            && !self.exclude_management_event_sources.iter().any(|s| s == EC2_SOURCE)
    }
}

impl Selectors {
    /// Whether the trail logs the management write events egress-guard acts on (every call of `EventName::ALL`).
    /// No custom selectors is CloudTrail's default, every management event; AWS answers it as one classic selector
    /// (`All`, management events included), moto as no selector at all: both count.
    pub fn logs_management_writes(&self) -> bool {
        if !self.custom && self.classic.is_empty() && self.advanced.is_empty() {
            return true;
        }
        let classic = self.classic.iter().any(ClassicSelector::logs_management_writes);
        // Each call by some selector: selectors log the union of what each matches.
        let advanced = EventName::ALL.iter().all(|name| self.advanced.iter().any(|s| s.logs(name.as_str())));
        classic || advanced
    }
}

/// The account's concurrency where the function would run, when a reservation was asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConcurrencyObservation {
    /// The home region, where the function is deployed.
    pub region: String,
    /// The reservation the deploy would ask for.
    pub requested: u32,
    /// `GetAccountSettings`' `AccountLimit`.
    pub limit: Seen<AccountConcurrency>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountConcurrency {
    /// `ConcurrentExecutions`: the account's quota in the region.
    pub quota: i64,
    /// `UnreservedConcurrentExecutions`: the quota less what functions reserve already.
    pub unreserved: i64,
}

/// A member account's remediation role, as `sts:AssumeRole` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberObservation {
    pub account: String,
    pub role_arn: String,
    pub assumed: Seen<Assume>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assume {
    Assumed,
    /// `AccessDenied`: no such role, or its trust policy does not admit the caller; STS does not say which.
    Denied {
        message: String,
    },
}

/// Which check a finding or an error belongs to (`check` in the JSON schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Region,
    Trail,
    Concurrency,
    SecurityHub,
    MemberRole,
}

impl Check {
    pub fn as_str(&self) -> &'static str {
        match self {
            Check::Region => "region",
            Check::Trail => "trail",
            Check::Concurrency => "concurrency",
            Check::SecurityHub => "security_hub",
            Check::MemberRole => "member_role",
        }
    }
}

/// Something that would make the deploy or the guard fail, and its fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub check: Check,
    pub region: Option<String>,
    pub account: Option<String>,
    pub problem: String,
    pub fix: String,
}

/// A check that could not run (its calls failed): never a pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unchecked {
    pub check: Check,
    pub region: Option<String>,
    pub account: Option<String>,
    pub error: String,
}

/// What was asked, as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    pub regions: Vec<String>,
    pub member_accounts: Vec<String>,
    pub function_concurrency: Option<u32>,
    pub security_hub: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub findings: Vec<Finding>,
    /// The checks that could not run; the exit code is then 2.
    pub errors: Vec<Unchecked>,
    pub checked: Checked,
}

impl Report {
    pub fn new(request: &Request, observations: &Observations) -> Report {
        Report {
            schema: SCHEMA.to_owned(),
            findings: findings(observations),
            errors: errors(observations),
            checked: Checked {
                regions: request.regions.clone(),
                member_accounts: request.member_accounts.clone(),
                function_concurrency: request.function_concurrency,
                security_hub: request.security_hub,
            },
        }
    }

    /// 2 when a check could not run, else 1 when something was found, else 0.
    pub fn exit_code(&self) -> i32 {
        if !self.errors.is_empty() {
            2
        } else if !self.findings.is_empty() {
            1
        } else {
            0
        }
    }

    /// One line per finding (`<check> <where>: <problem> — fix: <fix>`), one per check that could not run, and a last
    /// line with the count.
    pub fn text(&self) -> String {
        let place = |region: &Option<String>, account: &Option<String>| {
            [account.as_deref(), region.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ")
        };
        let head = |check: Check, region: &Option<String>, account: &Option<String>| {
            let place = place(region, account);
            if place.is_empty() { check.as_str().to_owned() } else { format!("{} {place}", check.as_str()) }
        };
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&format!("{}: {} — fix: {}\n", head(f.check, &f.region, &f.account), f.problem, f.fix));
        }
        for e in &self.errors {
            out.push_str(&format!("{}: could not check: {}\n", head(e.check, &e.region, &e.account), e.error));
        }
        let count = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut last = match self.findings.len() {
            0 => "preflight: nothing found".to_owned(),
            n => format!("preflight: {}", count(n, "finding", "findings")),
        };
        if !self.errors.is_empty() {
            last.push_str(&format!(", {} could not run", count(self.errors.len(), "check", "checks")));
        }
        out.push_str(&last);
        out.push('\n');
        out
    }
}

/// Every finding, by check (region, trail, concurrency, Security Hub, member role), then in the request's order.
pub fn findings(observations: &Observations) -> Vec<Finding> {
    let mut out = Vec::new();
    let finding = |check, region: Option<&str>, account: Option<&str>, problem: String, fix: String| Finding {
        check,
        region: region.map(str::to_owned),
        account: account.map(str::to_owned),
        problem,
        fix,
    };
    if let Ok(listed) = &observations.listed {
        for r in &observations.regions {
            let region = r.region.as_str();
            let fix = format!(
                "enable it (Account console, or `aws account enable-region --region-name {region}`) or remove it from Regions"
            );
            match listed.iter().find(|l| l.name == region).map(|l| &l.opt_in) {
                None => out.push(finding(
                    Check::Region,
                    Some(region),
                    None,
                    format!("{region} is not a region of this account's partition: DescribeRegions does not list it"),
                    "correct its name or remove it from Regions".to_owned(),
                )),
                Some(OptIn::NotOptedIn) => out.push(finding(
                    Check::Region,
                    Some(region),
                    None,
                    format!("region {region} is not enabled in this account"),
                    fix,
                )),
                Some(OptIn::Other(status)) => out.push(finding(
                    Check::Region,
                    Some(region),
                    None,
                    format!("region {region} is not enabled in this account (opt-in status {status})"),
                    fix,
                )),
                Some(OptIn::NotRequired | OptIn::OptedIn) => {}
            }
        }
    }
    for r in &observations.regions {
        if let Some(Ok(trails)) = &r.trails
            && let Some((problem, fix)) = trail_problem(&r.region, trails)
        {
            out.push(finding(Check::Trail, Some(&r.region), None, problem, fix));
        }
    }
    if let Some(c) = &observations.concurrency
        && let Ok(limit) = &c.limit
    {
        let (n, u) = (i64::from(c.requested), limit.unreserved);
        if u - n < MIN_UNRESERVED_CONCURRENCY {
            let problem = if u <= MIN_UNRESERVED_CONCURRENCY {
                format!(
                    "a reserved concurrency of {n} cannot be set in {}: the account has {u} unreserved concurrent executions (quota {}) and Lambda keeps at least {MIN_UNRESERVED_CONCURRENCY} unreserved, so it can reserve none and the deploy fails",
                    c.region, limit.quota
                )
            } else {
                format!(
                    "a reserved concurrency of {n} cannot be set in {}: it would leave {} of the account's {u} unreserved concurrent executions (quota {}), and Lambda keeps at least {MIN_UNRESERVED_CONCURRENCY} unreserved, so the deploy fails",
                    c.region,
                    u - n,
                    limit.quota
                )
            };
            let fix = format!(
                "leave FunctionConcurrency empty/0 (unreserved) or ask for a higher quota (Service Quotas, AWS Lambda \"Concurrent executions\", at least {} in {})",
                limit.quota + (n + MIN_UNRESERVED_CONCURRENCY - u),
                c.region
            );
            out.push(finding(Check::Concurrency, Some(&c.region), None, problem, fix));
        }
    }
    for r in &observations.regions {
        if let Some(Ok(false)) = r.hub {
            let region = r.region.as_str();
            out.push(finding(
                Check::SecurityHub,
                Some(region),
                None,
                format!(
                    "Security Hub is not enabled in {region}: with SecurityHubFindings=true every import there is refused (InvalidAccess) and fails the invocation"
                ),
                format!(
                    "enable it (`aws securityhub enable-security-hub --region {region}`) or set SecurityHubFindings=false"
                ),
            ));
        }
    }
    for m in &observations.members {
        if let Ok(Assume::Denied { message }) = &m.assumed {
            let account = m.account.as_str();
            out.push(finding(
                Check::MemberRole,
                None,
                Some(account),
                format!(
                    "cannot assume {} (AccessDenied: {message}): the spoke is missing in {account}, or its role does not trust these credentials; STS does not say which",
                    m.role_arn
                ),
                format!(
                    "the role trusts the hub's function role only: run preflight with that role's permissions, or check that the spoke StackSet has an instance in {account} (templates/spoke.yaml)"
                ),
            ));
        }
    }
    out
}

/// Why no trail delivers `region`'s management write events to EventBridge, and the fix; `None` when one does, or
/// when the trails that might could not be read (an error, not a finding).
fn trail_problem(region: &str, trails: &[TrailObservation]) -> Option<(String, String)> {
    let covering: Vec<&TrailObservation> = trails.iter().filter(|t| t.covers(region)).collect();
    if covering.is_empty() {
        return Some((
            format!(
                "no trail covers {region}: no trail logs its management write events, so EventBridge never sees the calls made there"
            ),
            format!(
                "deploy with CreateTrail=true or create a trail that covers {region} (a multi-region trail covers every region)"
            ),
        ));
    }
    let works = |t: &&TrailObservation| {
        t.logging == Ok(true) && t.selectors.as_ref().is_ok_and(Selectors::logs_management_writes)
    };
    let unread = |t: &&TrailObservation| t.logging.is_err() || t.selectors.is_err();
    if covering.iter().any(works) || covering.iter().any(unread) {
        return None;
    }
    let mut reasons = Vec::new();
    let mut fixes = Vec::new();
    for t in &covering {
        let stopped = t.logging == Ok(false);
        let no_writes = !t.selectors.as_ref().is_ok_and(Selectors::logs_management_writes);
        let why = match (stopped, no_writes) {
            (true, true) => "is not logging (stopped) and does not log management write events",
            (true, false) => "is not logging (stopped)",
            _ => "does not log management write events",
        };
        reasons.push(format!("trail {} covers {region} but {why}", t.name));
        if stopped {
            fixes.push(format!(
                "start logging on {}: `aws cloudtrail start-logging --name {} --region {}`",
                t.name, t.arn, t.home_region
            ));
        }
        if no_writes {
            fixes.push(format!(
                "log management write events on {} (an event selector with IncludeManagementEvents true and ReadWriteType All or WriteOnly, or an advanced selector with eventCategory Management and no readOnly true)",
                t.name
            ));
        }
    }
    fixes.push("or deploy with CreateTrail=true".to_owned());
    Some((
        format!(
            "no trail logs management write events in {region}: {}; EventBridge never sees the calls made there",
            reasons.join("; ")
        ),
        fixes.join("; "),
    ))
}

/// Every check that could not run, in the order of `findings`.
pub fn errors(observations: &Observations) -> Vec<Unchecked> {
    let mut out = Vec::new();
    let unchecked = |check, region: Option<&str>, account: Option<&str>, error: &str| Unchecked {
        check,
        region: region.map(str::to_owned),
        account: account.map(str::to_owned),
        error: error.to_owned(),
    };
    if let Err(e) = &observations.listed {
        out.push(unchecked(Check::Region, None, None, &format!("listing the account's regions: {e}")));
    }
    for r in &observations.regions {
        match &r.trails {
            Some(Err(e)) => out.push(unchecked(Check::Trail, Some(&r.region), None, e)),
            Some(Ok(trails)) => {
                let covering: Vec<&TrailObservation> = trails.iter().filter(|t| t.covers(&r.region)).collect();
                let decided = covering.iter().any(|t| {
                    t.logging == Ok(true) && t.selectors.as_ref().is_ok_and(Selectors::logs_management_writes)
                });
                if !decided {
                    for t in covering {
                        for e in [t.logging.as_ref().err(), t.selectors.as_ref().err()].into_iter().flatten() {
                            out.push(unchecked(Check::Trail, Some(&r.region), None, &format!("trail {}: {e}", t.name)));
                        }
                    }
                }
            }
            None => {}
        }
    }
    if let Some(c) = &observations.concurrency
        && let Err(e) = &c.limit
    {
        out.push(unchecked(Check::Concurrency, Some(&c.region), None, e));
    }
    for r in &observations.regions {
        if let Some(Err(e)) = &r.hub {
            out.push(unchecked(Check::SecurityHub, Some(&r.region), None, e));
        }
    }
    for m in &observations.members {
        if let Err(e) = &m.assumed {
            out.push(unchecked(Check::MemberRole, None, Some(&m.account), e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classic(read_write: Option<&str>, management: Option<bool>, excluded: &[&str]) -> Selectors {
        Selectors {
            custom: true,
            classic: vec![ClassicSelector {
                read_write_type: read_write.map(str::to_owned),
                include_management_events: management,
                exclude_management_event_sources: excluded.iter().map(|s| (*s).to_owned()).collect(),
            }],
            advanced: vec![],
        }
    }

    /// A field selector from `field op value[|value]` lines: `eventCategory = Management`, `readOnly != true`.
    fn field(text: &str) -> FieldSelector {
        let mut parts = text.splitn(3, ' ');
        let (name, op, values) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let values: Vec<String> = values.split('|').map(str::to_owned).collect();
        let mut f = FieldSelector { field: name.to_owned(), ..Default::default() };
        match op {
            "=" => f.equals = values,
            "!=" => f.not_equals = values,
            "^=" => f.starts_with = values,
            "!^=" => f.not_starts_with = values,
            "$=" => f.ends_with = values,
            "!$=" => f.not_ends_with = values,
            _ => panic!("unknown operator {op}"),
        }
        f
    }

    fn advanced(selectors: &[&[&str]]) -> Selectors {
        Selectors {
            custom: true,
            classic: vec![],
            advanced: selectors
                .iter()
                .map(|fields| AdvancedSelector { name: None, fields: fields.iter().map(|f| field(f)).collect() })
                .collect(),
        }
    }

    macro_rules! selectors {
        ($($name:ident: $selectors:expr => $logs:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!($selectors.logs_management_writes(), $logs);
            }
        )*};
    }

    selectors! {
        classic_all_logs_writes: classic(Some("All"), Some(true), &[]) => true;
        classic_write_only_logs_writes: classic(Some("WriteOnly"), Some(true), &[]) => true;
        classic_read_only_misses_writes: classic(Some("ReadOnly"), Some(true), &[]) => false;
        classic_without_management_events_misses_writes: classic(Some("All"), Some(false), &[]) => false;
        classic_defaults_are_all_and_management_included: classic(None, None, &[]) => true;
        classic_excluding_kms_still_logs_ec2: classic(Some("All"), Some(true), &["kms.amazonaws.com"]) => true;
        classic_excluding_ec2_misses_its_calls: classic(Some("All"), Some(true), &["ec2.amazonaws.com"]) => false;
        one_classic_selector_of_several_is_enough: Selectors {
            classic: [classic(Some("ReadOnly"), Some(true), &[]).classic, classic(Some("WriteOnly"), None, &[]).classic].concat(),
            ..classic(None, None, &[])
        } => true;
        no_custom_selectors_is_cloudtrails_default_every_management_event: Selectors::default() => true;
        custom_but_empty_selectors_log_nothing: Selectors { custom: true, ..Default::default() } => false;
        advanced_management_without_read_only_logs_writes: advanced(&[&["eventCategory = Management"]]) => true;
        advanced_management_read_only_false_logs_writes: advanced(&[&["eventCategory = Management", "readOnly = false"]]) => true;
        advanced_management_read_only_true_misses_writes: advanced(&[&["eventCategory = Management", "readOnly = true"]]) => false;
        advanced_read_only_not_true_logs_writes: advanced(&[&["eventCategory = Management", "readOnly != true"]]) => true;
        advanced_excluding_kms_still_logs_ec2: advanced(&[&["eventCategory = Management", "eventSource != kms.amazonaws.com|rdsdata.amazonaws.com"]]) => true;
        advanced_excluding_ec2_misses_its_calls: advanced(&[&["eventCategory = Management", "eventSource != ec2.amazonaws.com"]]) => false;
        advanced_data_only_misses_management_writes: advanced(&[
            &["eventCategory = Data", "resources.type = AWS::S3::Object"],
            &["eventCategory = Data", "resources.type = AWS::Lambda::Function"],
        ]) => false;
        advanced_data_beside_management_writes_logs_them: advanced(&[
            &["eventCategory = Data", "resources.type = AWS::S3::Object"],
            &["eventCategory = Management", "readOnly = false"],
        ]) => true;
        advanced_reads_and_writes_split_over_two_selectors_log_writes: advanced(&[
            &["eventCategory = Management", "readOnly = true"],
            &["eventCategory = Management", "readOnly = false"],
        ]) => true;
        advanced_naming_only_one_of_the_calls_misses_the_others: advanced(&[&["eventCategory = Management", "eventName = CreateSecurityGroup"]]) => false;
        advanced_prefix_operators_are_matched: advanced(&[&["eventCategory ^= Manage", "eventSource $= .amazonaws.com", "eventName !^= Delete"]]) => true;
        advanced_field_preflight_cannot_see_does_not_count: advanced(&[&["eventCategory = Management", "userIdentity.arn ^= arn:aws:iam::123456789012:role/ci"]]) => false;
    }

    fn trail(name: &str, home: &str, multi: bool, org: bool) -> TrailObservation {
        TrailObservation {
            name: name.into(),
            arn: format!("arn:aws:cloudtrail:{home}:123456789012:trail/{name}"),
            home_region: home.into(),
            multi_region: multi,
            organization: org,
            logging: Ok(true),
            selectors: Ok(Selectors::default()),
        }
    }

    fn listed(regions: &[(&str, &str)]) -> Seen<Vec<ListedRegion>> {
        Ok(regions.iter().map(|(n, s)| ListedRegion { name: (*n).into(), opt_in: OptIn::from_status(s) }).collect())
    }

    /// Observations of `regions` (all enabled), each with `trails` listed, nothing else asked.
    fn with_trails(regions: &[&str], trails: Vec<TrailObservation>) -> Observations {
        Observations {
            listed: listed(&regions.iter().map(|r| (*r, "opt-in-not-required")).collect::<Vec<_>>()),
            regions: regions
                .iter()
                .map(|r| RegionObservation { region: (*r).into(), trails: Some(Ok(trails.clone())), hub: None })
                .collect(),
            concurrency: None,
            members: vec![],
        }
    }

    /// (check, region, account) of each finding.
    fn places(o: &Observations) -> Vec<(Check, Option<String>, Option<String>)> {
        findings(o).into_iter().map(|f| (f.check, f.region, f.account)).collect()
    }

    fn trail_in(region: &str) -> (Check, Option<String>, Option<String>) {
        (Check::Trail, Some(region.to_owned()), None)
    }

    #[test]
    fn a_single_region_trail_covers_only_its_home_region() {
        let o = with_trails(&["eu-west-1", "us-west-2"], vec![trail("west", "us-west-2", false, false)]);
        assert_eq!(places(&o), [trail_in("eu-west-1")]);
        let f = &findings(&o)[0];
        assert!(f.problem.starts_with("no trail covers eu-west-1:"), "{}", f.problem);
        assert!(f.fix.contains("CreateTrail=true"), "{}", f.fix);
        assert!(errors(&o).is_empty());
    }

    #[test]
    fn a_multi_region_trail_elsewhere_covers_every_region() {
        let o = with_trails(&["eu-west-1", "ap-south-1"], vec![trail("all", "us-east-1", true, false)]);
        assert_eq!(places(&o), []);
    }

    #[test]
    fn an_organization_trail_covers_a_member_region_as_its_multi_region_flag_says() {
        let o = with_trails(&["eu-west-1"], vec![trail("org", "us-east-1", true, true)]);
        assert_eq!(places(&o), []);
        let o = with_trails(&["eu-west-1", "us-east-1"], vec![trail("org-home", "us-east-1", false, true)]);
        assert_eq!(places(&o), [trail_in("eu-west-1")]);
    }

    #[test]
    fn a_stopped_trail_is_named_with_the_command_that_starts_it() {
        let mut t = trail("main", "eu-west-1", true, false);
        t.logging = Ok(false);
        let o = with_trails(&["eu-west-1", "us-east-1"], vec![t]);
        assert_eq!(places(&o), [trail_in("eu-west-1"), trail_in("us-east-1")]);
        let f = &findings(&o)[1];
        assert!(f.problem.contains("trail main covers us-east-1 but is not logging (stopped)"), "{}", f.problem);
        let start = "aws cloudtrail start-logging --name arn:aws:cloudtrail:eu-west-1:123456789012:trail/main --region eu-west-1";
        assert!(f.fix.contains(start), "{}", f.fix);
    }

    #[test]
    fn a_trail_without_management_writes_is_told_apart_from_a_stopped_one() {
        let mut t = trail("reads", "eu-west-1", false, false);
        t.selectors = Ok(classic(Some("ReadOnly"), Some(true), &[]));
        let f = findings(&with_trails(&["eu-west-1"], vec![t])).remove(0);
        assert!(
            f.problem.contains("trail reads covers eu-west-1 but does not log management write events"),
            "{}",
            f.problem
        );
        assert!(!f.problem.contains("stopped") && !f.fix.contains("start-logging"), "{f:?}");
    }

    #[test]
    fn one_working_trail_is_enough_beside_broken_ones() {
        let mut stopped = trail("stopped", "eu-west-1", true, false);
        stopped.logging = Ok(false);
        let mut unread = trail("unread", "eu-west-1", true, false);
        unread.logging = Err("AccessDeniedException: no".into());
        let o = with_trails(&["eu-west-1"], vec![stopped, unread, trail("ok", "eu-west-1", false, false)]);
        assert_eq!((places(&o), errors(&o)), (vec![], vec![]));
    }

    #[test]
    fn a_trail_whose_state_cannot_be_read_is_an_error_not_a_pass_nor_a_finding() {
        let mut t = trail("main", "us-east-1", true, false);
        t.selectors = Err("TrailNotFoundException: Unknown trail".into());
        let o = with_trails(&["eu-west-1"], vec![t]);
        assert_eq!(places(&o), []);
        let e = errors(&o);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].check, e[0].region.as_deref()), (Check::Trail, Some("eu-west-1")));
        assert_eq!(e[0].error, "trail main: TrailNotFoundException: Unknown trail");
    }

    #[test]
    fn regions_not_enabled_or_unknown_are_findings_and_not_looked_into() {
        let l =
            listed(&[("eu-west-1", "opt-in-not-required"), ("ap-east-1", "not-opted-in"), ("me-south-1", "opted-in")]);
        assert!(RegionObservation::is_probed(&l, "eu-west-1") && RegionObservation::is_probed(&l, "me-south-1"));
        assert!(!RegionObservation::is_probed(&l, "ap-east-1") && !RegionObservation::is_probed(&l, "xx-fake-1"));
        assert!(RegionObservation::is_probed(&Err("UnauthorizedOperation".into()), "xx-fake-1"));
        let o = Observations {
            listed: l,
            regions: ["eu-west-1", "ap-east-1", "xx-fake-1", "me-south-1"]
                .iter()
                .map(|r| RegionObservation { region: (*r).into(), trails: None, hub: None })
                .collect(),
            concurrency: None,
            members: vec![],
        };
        let f = findings(&o);
        assert_eq!(
            f.iter().map(|f| (f.check, f.region.as_deref().unwrap())).collect::<Vec<_>>(),
            [(Check::Region, "ap-east-1"), (Check::Region, "xx-fake-1")]
        );
        assert_eq!(f[0].problem, "region ap-east-1 is not enabled in this account");
        assert_eq!(
            f[0].fix,
            "enable it (Account console, or `aws account enable-region --region-name ap-east-1`) or remove it from Regions"
        );
        assert!(f[1].problem.contains("not a region of this account's partition"), "{}", f[1].problem);
    }

    #[test]
    fn a_failed_region_listing_is_one_error_and_no_finding() {
        let o = Observations {
            listed: Err("UnauthorizedOperation: denied".into()),
            regions: vec![RegionObservation { region: "eu-west-1".into(), trails: None, hub: None }],
            concurrency: None,
            members: vec![],
        };
        assert_eq!(findings(&o), []);
        let e = errors(&o);
        assert_eq!((e.len(), e[0].check), (1, Check::Region));
        assert_eq!(e[0].error, "listing the account's regions: UnauthorizedOperation: denied");
    }

    fn concurrency(requested: u32, quota: i64, unreserved: i64) -> Observations {
        Observations {
            listed: Ok(vec![]),
            regions: vec![],
            concurrency: Some(ConcurrencyObservation {
                region: "eu-west-1".into(),
                requested,
                limit: Ok(AccountConcurrency { quota, unreserved }),
            }),
            members: vec![],
        }
    }

    #[test]
    fn a_reservation_that_leaves_exactly_one_hundred_unreserved_is_fine() {
        assert_eq!(findings(&concurrency(900, 1000, 1000)), []);
        assert_eq!(findings(&concurrency(10, 1000, 110)), []);
    }

    #[test]
    fn a_reservation_that_leaves_ninety_nine_unreserved_is_a_finding_with_the_quota_it_needs() {
        let f = findings(&concurrency(901, 1000, 1000));
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].check, f[0].region.as_deref()), (Check::Concurrency, Some("eu-west-1")));
        assert!(f[0].problem.contains("would leave 99 of the account's 1000 unreserved"), "{}", f[0].problem);
        assert!(f[0].fix.starts_with("leave FunctionConcurrency empty/0 (unreserved) or ask for a higher quota"));
        assert!(f[0].fix.contains("at least 1001 in eu-west-1"), "{}", f[0].fix);
    }

    #[test]
    fn an_account_with_a_quota_of_ten_can_reserve_nothing() {
        let f = findings(&concurrency(1, 10, 10));
        assert_eq!(f.len(), 1);
        assert!(f[0].problem.contains("has 10 unreserved concurrent executions (quota 10)"), "{}", f[0].problem);
        assert!(f[0].problem.contains("it can reserve none"), "{}", f[0].problem);
        assert!(f[0].fix.contains("at least 101 in eu-west-1"), "{}", f[0].fix);
        assert_eq!(findings(&concurrency(1, 1000, 100)).len(), 1, "100 unreserved: not even 1 can be reserved");
    }

    #[test]
    fn hubs_and_member_roles_give_findings_or_errors_by_what_aws_answered() {
        let o = Observations {
            listed: listed(&[("eu-west-1", "opt-in-not-required"), ("us-east-1", "opt-in-not-required")]),
            regions: vec![
                RegionObservation { region: "eu-west-1".into(), trails: None, hub: Some(Ok(true)) },
                RegionObservation { region: "us-east-1".into(), trails: None, hub: Some(Ok(false)) },
            ],
            concurrency: None,
            members: vec![
                MemberObservation {
                    account: "111111111111".into(),
                    role_arn: "r1".into(),
                    assumed: Ok(Assume::Assumed),
                },
                MemberObservation {
                    account: "222222222222".into(),
                    role_arn: "arn:aws:iam::222222222222:role/egress-guard-remediation".into(),
                    assumed: Ok(Assume::Denied { message: "not authorized".into() }),
                },
                MemberObservation {
                    account: "333333333333".into(),
                    role_arn: "r3".into(),
                    assumed: Err("Throttling".into()),
                },
            ],
        };
        assert_eq!(
            places(&o),
            [
                (Check::SecurityHub, Some("us-east-1".into()), None),
                (Check::MemberRole, None, Some("222222222222".into()))
            ]
        );
        let member = &findings(&o)[1];
        assert!(member.problem.starts_with(
            "cannot assume arn:aws:iam::222222222222:role/egress-guard-remediation (AccessDenied: not authorized): the spoke is missing in 222222222222, or its role does not trust these credentials"
        ));
        assert!(member.fix.contains("run preflight with that role's permissions"), "{}", member.fix);
        let e = errors(&o);
        assert_eq!((e.len(), e[0].check, e[0].account.as_deref()), (1, Check::MemberRole, Some("333333333333")));
    }

    #[test]
    fn request_all_is_the_default_regions_and_lists_are_trimmed_and_distinct() {
        let r = Request::new("all", None, DEFAULT_ROLE_NAME, None, false).unwrap();
        assert_eq!(r.regions, DEFAULT_REGIONS);
        let r =
            Request::new(" eu-west-1, us-east-1,eu-west-1,", Some("111111111111, 111111111111"), "r", Some(5), true);
        let r = r.unwrap();
        assert_eq!(
            (r.regions, r.member_accounts),
            (vec!["eu-west-1".to_owned(), "us-east-1".into()], vec!["111111111111".to_owned()])
        );
        assert_eq!(
            Request::new("all", None, "x", None, false).unwrap().role_arn("cn-north-1", "111111111111"),
            "arn:aws-cn:iam::111111111111:role/x"
        );
    }

    /// Each bad value: its flag and why, as the error prints.
    macro_rules! bad_request {
        ($($name:ident: ($regions:expr, $members:expr, $role:expr, $concurrency:expr) => $message:expr;)*) => {$(
            #[test]
            fn $name() {
                let err = Request::new($regions, $members, $role, $concurrency, false).unwrap_err();
                assert!(err.is_bad_input());
                assert_eq!(err.to_string(), $message);
            }
        )*};
    }

    bad_request! {
        a_region_with_a_bang_is_bad_input: ("eu-west-1,not-a-region!", None, "r", None) =>
            "--regions \"not-a-region!\": not a region name: lowercase letters, digits and hyphens, like eu-west-1 (or `all`)";
        no_region_is_bad_input: (" , ", None, "r", None) =>
            "--regions \" , \": no region: give `all` or region names, comma-separated";
        a_short_account_is_bad_input: ("all", Some("12345"), "r", None) => "--member-accounts \"12345\": not an account id: 12 digits";
        every_member_is_not_listed_by_preflight: ("all", Some("*"), "r", None) =>
            "--member-accounts \"*\": name the accounts: preflight tries each named account's role (it lists no organization)";
        a_role_name_with_a_slash_is_bad_input: ("all", None, "a/b", None) =>
            "--remediation-role-name \"a/b\": not an IAM role name: 1 to 64 of A-Z a-z 0-9 +=,.@_-";
        a_reservation_of_zero_is_bad_input: ("all", None, "r", Some(0)) =>
            "--function-concurrency \"0\": 0 reserves nothing, so there is nothing to check: leave the flag out, or give the reservation the deploy asks for";
    }

    #[test]
    fn default_regions_are_the_templates_regions_default() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let template = std::fs::read_to_string(&path).unwrap();
        let mut lines = template.lines().skip_while(|l| *l != "  Regions:");
        assert!(lines.next().is_some(), "template.yaml has no Regions parameter");
        let default = lines
            .take_while(|l| l.starts_with("    "))
            .find_map(|l| l.trim().strip_prefix("Default:"))
            .expect("Regions has a Default");
        let regions: Vec<&str> = default.trim().trim_matches('"').split(',').map(str::trim).collect();
        assert_eq!(regions, DEFAULT_REGIONS);
    }

    #[test]
    fn the_report_exits_by_what_it_holds_and_prints_a_line_each_then_the_count() {
        let request = Request::new("eu-west-1,us-west-2", None, "r", None, false).unwrap();
        let healthy = Report::new(
            &request,
            &with_trails(&["eu-west-1", "us-west-2"], vec![trail("t", "eu-west-1", true, false)]),
        );
        assert_eq!((healthy.exit_code(), healthy.text()), (0, "preflight: nothing found\n".to_owned()));
        let one = Report::new(
            &request,
            &with_trails(&["eu-west-1", "us-west-2"], vec![trail("west", "us-west-2", false, false)]),
        );
        assert_eq!(one.exit_code(), 1);
        assert_eq!(
            one.text(),
            "trail eu-west-1: no trail covers eu-west-1: no trail logs its management write events, so EventBridge never sees the calls made there — fix: deploy with CreateTrail=true or create a trail that covers eu-west-1 (a multi-region trail covers every region)\npreflight: 1 finding\n"
        );
        let mut failing = with_trails(&["eu-west-1", "us-west-2"], vec![trail("west", "us-west-2", false, false)]);
        failing.regions[1].trails = Some(Err("AccessDeniedException: denied".into()));
        let report = Report::new(&request, &failing);
        assert_eq!(report.exit_code(), 2);
        assert!(report.text().ends_with(
            "trail us-west-2: could not check: AccessDeniedException: denied\npreflight: 1 finding, 1 check could not run\n"
        ), "{}", report.text());
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["schema"], "egress-guard.preflight/v1");
        assert_eq!(
            json["checked"],
            serde_json::json!({"regions": ["eu-west-1", "us-west-2"], "member_accounts": [], "function_concurrency": null, "security_hub": false})
        );
        assert_eq!(json["findings"][0]["check"], "trail");
        assert_eq!(
            json["errors"][0],
            serde_json::json!({"check": "trail", "region": "us-west-2", "account": null, "error": "AccessDeniedException: denied"})
        );
    }
}
