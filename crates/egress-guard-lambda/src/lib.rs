//! The egress-guard Lambda function as a library: the handler that turns one EventBridge event into the core's
//! flow (an event's groups, or a sweep), with its configuration, error type and metrics line in their own modules.
#![forbid(unsafe_code)]

mod config;
mod error;
mod metrics;

use std::future::Future;
use std::time::Duration;

pub use config::{
    Config, EVENT_BUS_VAR, HISTORY_TABLE_VAR, REGIONS_VAR, SECURITY_HUB_VAR, SWEEP_QUEUE_VAR, TOPIC_ARN_VAR, variables,
};
pub use error::{Error, diagnostic, error_code};
pub use metrics::metrics_line;

use egress_guard_core::org::{self, Access, Home};
use egress_guard_core::settings::Members;
use egress_guard_core::{
    EventReport, FlowLogs, History, Notifier, Outlets, Ports, SecurityGroups, Settings, SweepReport, SweepRequest,
    Trigger, TriggerKind, parse_value, sweep_requests,
};
use serde::Serialize;
use serde_json::Value;

/// What the function answers: an event's report, or a sweep's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum InvocationReport {
    Event(EventReport),
    Sweep(SweepReport),
    /// A Scheduled Event fanned out: the (account, region) sweeps it queued.
    Dispatch(DispatchReport),
    /// The sweeps of one SQS batch, one report each.
    Sweeps(Vec<SweepReport>),
}

/// What a Scheduled Event queued: one sweep per (account, region), each swept by its own invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    pub schedule_id: String,
    /// `account/region` of each sweep queued.
    pub queued: Vec<String>,
}

/// A scheduled sweep goes this many runs at most: a run cut short by time queues the next, up to this one.
pub const MAX_SWEEP_RUNS: u32 = 5;

/// Where scheduled sweeps fan out to: one request per (account, region), each swept by its own invocation.
pub trait SweepQueue {
    type Error: std::error::Error + Send + Sync + 'static;
    fn send(&self, requests: &[SweepRequest]) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

impl SweepQueue for egress_guard_aws::SqsSweepQueue {
    type Error = egress_guard_aws::Error;
    fn send(&self, requests: &[SweepRequest]) -> impl Future<Output = Result<(), Self::Error>> + Send {
        egress_guard_aws::SqsSweepQueue::send(self, requests)
    }
}

/// The organization's active accounts, for a sweep of every member when the function acts in all of them (`*`).
pub trait Accounts {
    type Error: std::error::Error + Send + Sync + 'static;
    fn list(&self) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send;
}

impl Accounts for egress_guard_aws::OrganizationAccounts {
    type Error = egress_guard_aws::Error;
    fn list(&self) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send {
        egress_guard_aws::OrganizationAccounts::active(self)
    }
}

/// How the function fans its sweeps out: the queue, the organization's accounts (asked only when every member is
/// acted in), and the regions every account is swept in (empty: the function's own).
#[derive(Debug)]
pub struct Fanout<'a, Q, A> {
    pub queue: &'a Q,
    pub accounts: &'a A,
    pub regions: &'a [String],
}

impl<Q, A> Clone for Fanout<'_, Q, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Q, A> Copy for Fanout<'_, Q, A> {}

/// One invocation as the handler saw it: the kind of trigger it handled (an event, also when the event was bad, or
/// a sweep), and its result.
#[derive(Debug)]
pub struct Invocation {
    pub trigger: TriggerKind,
    pub result: Result<InvocationReport, egress_guard_core::Error>,
}

/// A notice waits at most this long for its observed-egress section (`EGRESS_GUARD_OBSERVED_EGRESS_DAYS`): past it,
/// the section says it was not read and the notice goes out.
pub const OBSERVED_EGRESS_BUDGET: Duration = Duration::from_secs(5);

/// Where the function finds the security groups of an event's account and region, their interfaces' flow logs, and
/// where their notices also go (Security Hub, the bus).
pub trait Reach {
    type Groups: SecurityGroups + Sync;
    type FlowLogs: FlowLogs + Sync;
    type Outlets: Outlets + Sync;
    fn security_groups(&self, access: &Access, region: &str) -> impl Future<Output = Self::Groups> + Send;
    /// The flow logs, read within `OBSERVED_EGRESS_BUDGET` from now.
    fn flow_logs(&self, access: &Access, region: &str) -> impl Future<Output = Self::FlowLogs> + Send;
    fn outlets(&self, access: &Access, region: &str) -> impl Future<Output = Self::Outlets> + Send;
}

impl Reach for egress_guard_aws::Fleet {
    type Groups = egress_guard_aws::Ec2SecurityGroups;
    type FlowLogs = egress_guard_aws::AwsFlowLogs;
    type Outlets = egress_guard_aws::AwsOutlets;
    fn outlets(&self, access: &Access, region: &str) -> impl Future<Output = Self::Outlets> + Send {
        egress_guard_aws::Fleet::outlets(self, access, region)
    }
    fn security_groups(&self, access: &Access, region: &str) -> impl Future<Output = Self::Groups> + Send {
        egress_guard_aws::Fleet::security_groups(self, access, region)
    }
    async fn flow_logs(&self, access: &Access, region: &str) -> Self::FlowLogs {
        egress_guard_aws::Fleet::flow_logs(self, access, region).await.within(OBSERVED_EGRESS_BUDGET)
    }
}

/// Handles one event: parse (no AWS call on bad input); refuse an account the function does not act in (no AWS
/// call either); then the core's flow in the event's account and region. A Scheduled Event runs the sweep, which
/// acts on another group only while `has_time()`. `home` is the function's own account, from its ARN.
pub async fn handle<R: Reach, N: Notifier, H: History>(
    event: Value,
    settings: &Settings,
    home: Option<&Home>,
    (reach, notifier, history): (&R, &N, &H),
    has_time: impl Fn() -> bool,
) -> Invocation {
    let trigger = match parse_value(event) {
        Ok(trigger) => trigger,
        Err(err) => {
            tracing::warn!(error = %err, "rejected event");
            return Invocation { trigger: TriggerKind::Event, result: Err(err) };
        }
    };
    run(&trigger, settings, home, (reach, notifier, history), has_time).await
}

/// Takes one trigger through the core in its account and region: refuse an account the function does not act in
/// (no AWS call), then an event's groups or a sweep of the region.
async fn run<R: Reach, N: Notifier, H: History>(
    trigger: &Trigger,
    settings: &Settings,
    home: Option<&Home>,
    (reach, notifier, history): (&R, &N, &H),
    has_time: impl Fn() -> bool,
) -> Invocation {
    let kind = trigger.kind();
    tracing::info!(
        event_id = %trigger.event_id,
        event_name = trigger.event_name.as_str(),
        trigger = kind.as_str(),
        account = %trigger.account,
        region = %trigger.region,
        group_ids = ?trigger.group_ids,
        vpc_ids = ?trigger.vpc_ids,
        actor = trigger.actor.name(),
        "event received"
    );
    let access = match org::access(settings.organization.as_ref(), home, &trigger.account, &trigger.region) {
        Ok(access) => access,
        Err(reason) => {
            let report = InvocationReport::Event(EventReport::refused(trigger, reason));
            return Invocation { trigger: kind, result: Ok(report) };
        }
    };
    let groups = reach.security_groups(&access, &trigger.region).await;
    let flow_logs = reach.flow_logs(&access, &trigger.region).await;
    let outlets = reach.outlets(&access, &trigger.region).await;
    let ports = Ports { groups: &groups, notifier, history, flow_logs: &flow_logs, outlets: &outlets };
    let result = match kind {
        TriggerKind::Sweep => {
            egress_guard_core::sweep(trigger, settings, ports, has_time).await.map(InvocationReport::Sweep)
        }
        TriggerKind::Event => egress_guard_core::handle(trigger, settings, ports).await.map(InvocationReport::Event),
    };
    if let Err(err) = &result {
        let error_code = error_code(err).unwrap_or("-");
        tracing::error!(event_id = %trigger.event_id, error_code, error = %err, "remediation failed");
    }
    Invocation { trigger: kind, result }
}

/// The function's entry: an SQS batch of sweep requests (each swept in its own account and region; one cut short
/// by time queues its next run), a Scheduled Event fanned out to the queue when there is one, or any other event
/// through `handle`.
pub async fn invoke<R: Reach, N: Notifier, H: History, Q: SweepQueue, A: Accounts>(
    event: Value,
    settings: &Settings,
    home: Option<&Home>,
    ports: (&R, &N, &H),
    fanout: Option<Fanout<'_, Q, A>>,
    has_time: impl Fn() -> bool,
) -> Invocation {
    if let Some(records) = sqs_bodies(&event) {
        return sweep_requested(records, settings, home, ports, fanout, has_time).await;
    }
    let Some(fanout) = fanout.filter(|_| is_scheduled(&event)) else {
        return handle(event, settings, home, ports, has_time).await;
    };
    let schedule = match parse_value(event) {
        Ok(trigger) => trigger,
        Err(err) => return Invocation { trigger: TriggerKind::Sweep, result: Err(err) },
    };
    // Every member (`*`): the organization's accounts. When they cannot be listed, the function's own account is
    // still swept, and the invocation fails, so that the alarm says the members were not.
    let (accounts, unlisted) = match settings.organization.as_ref().map(|org| &org.members) {
        Some(Members::Only(members)) => (members.iter().cloned().collect(), None),
        Some(Members::Any) => match fanout.accounts.list().await {
            Ok(accounts) => (accounts, None),
            Err(err) => (vec![], Some(err)),
        },
        None => (vec![], None),
    };
    let requests = sweep_requests(&schedule, &accounts, fanout.regions);
    let queued: Vec<String> = requests.iter().map(|r| format!("{}/{}", r.account, r.region)).collect();
    let sent = fanout.queue.send(&requests).await;
    let result = match (sent, unlisted) {
        (Err(source), _) => {
            tracing::error!(event_id = %schedule.event_id, error = %source, "sweeps not queued");
            Err(egress_guard_core::Error::Dispatch { source: Box::new(source) })
        }
        (Ok(()), Some(source)) => {
            tracing::error!(event_id = %schedule.event_id, queued = ?queued, error = %source, "members not listed: only this account is swept");
            Err(egress_guard_core::Error::Dispatch { source: format!("the member accounts could not be listed, so only this account's sweeps were queued ({source}); organizations:ListAccounts works in the management account or a delegated administrator, or name the members in MemberAccounts").into() })
        }
        (Ok(()), None) => {
            tracing::info!(event_id = %schedule.event_id, sweeps = queued.len(), queued = ?queued, "sweeps queued");
            Ok(InvocationReport::Dispatch(DispatchReport { schedule_id: schedule.event_id.clone(), queued }))
        }
    };
    Invocation { trigger: TriggerKind::Sweep, result }
}

/// Each queued request swept in turn; the first failure fails the batch (SQS then moves it to the failure queue).
async fn sweep_requested<R: Reach, N: Notifier, H: History, Q: SweepQueue, A: Accounts>(
    bodies: Vec<String>,
    settings: &Settings,
    home: Option<&Home>,
    ports: (&R, &N, &H),
    fanout: Option<Fanout<'_, Q, A>>,
    has_time: impl Fn() -> bool,
) -> Invocation {
    let mut reports = Vec::with_capacity(bodies.len());
    for body in bodies {
        let request = match SweepRequest::parse(&body) {
            Ok(request) => request,
            Err(err) => {
                tracing::warn!(error = %err, "rejected sweep request");
                return Invocation { trigger: TriggerKind::Sweep, result: Err(err) };
            }
        };
        if let Err(reason) = admissible(&request, settings, home, fanout.map(|f| f.regions)) {
            tracing::warn!(account = %request.account, region = %request.region, reason, "sweep request refused");
            continue;
        }
        let invocation = run(&request.trigger(), settings, home, ports, &has_time).await;
        match invocation.result {
            Ok(InvocationReport::Sweep(report)) => {
                if !report.complete
                    && request.run < MAX_SWEEP_RUNS
                    && let Some(fanout) = fanout
                {
                    let next = request.next();
                    match fanout.queue.send(std::slice::from_ref(&next)).await {
                        Ok(()) => {
                            tracing::info!(event_id = %report.event_id, run = next.run, "sweep cut short: next run queued")
                        }
                        Err(err) => {
                            tracing::error!(event_id = %report.event_id, error = %err, "sweep cut short: next run not queued; the next schedule takes up")
                        }
                    }
                }
                reports.push(report);
            }
            // A refused account: told in the log, nothing else to do.
            Ok(other) => tracing::warn!(report = ?other, "sweep request not acted on"),
            Err(err) => return Invocation { trigger: TriggerKind::Sweep, result: Err(err) },
        }
    }
    Invocation { trigger: TriggerKind::Sweep, result: Ok(InvocationReport::Sweeps(reports)) }
}

/// Only what the dispatch itself would queue is swept: the function's own account or a member, in a guarded region.
/// Anyone else who can send to the queue gets nothing done (and no role assumed). With every member (`*`), any account
/// passes here; the remediation role is assumed only in the organization's accounts (`aws:ResourceOrgID`).
fn admissible(
    request: &SweepRequest,
    settings: &Settings,
    home: Option<&Home>,
    regions: Option<&[String]>,
) -> Result<(), &'static str> {
    let own = home.is_some_and(|h| h.account == request.account);
    let member = match settings.organization.as_ref().map(|org| &org.members) {
        Some(Members::Only(members)) => members.contains(&request.account),
        Some(Members::Any) => true,
        None => false,
    };
    if !own && !member {
        return Err("not the function's own account nor a named member");
    }
    if let Some(regions) = regions.filter(|r| !r.is_empty())
        && !regions.contains(&request.region)
    {
        return Err("not a guarded region");
    }
    Ok(())
}

/// The message bodies of an SQS event (`Records` from `aws:sqs`), or `None` for any other event.
fn sqs_bodies(event: &Value) -> Option<Vec<String>> {
    let records = event.get("Records")?.as_array()?;
    if records.is_empty() || !records.iter().all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs")) {
        return None;
    }
    Some(records.iter().map(|r| r.get("body").and_then(Value::as_str).unwrap_or_default().to_owned()).collect())
}

fn is_scheduled(event: &Value) -> bool {
    event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
        && event.get("source").and_then(Value::as_str) == Some("aws.events")
}
