//! The function's entry: an SQS batch of sweep requests, a Scheduled Event fanned out to one sweep per (account,
//! region) on the queue, or any other event through `handle`.

use egress_guard_core::org::{self, Access, Home};
use egress_guard_core::settings::Members;
use egress_guard_core::{History, Notifier, Settings, SweepRequest, TriggerKind, parse_value, sweep_requests};
use futures_util::StreamExt;
use serde_json::Value;

use crate::handle::{DispatchReport, Invocation, InvocationReport, handle, run};
use crate::reach::{Accounts, Fanout, Reach, SweepQueue, Switch};

/// A scheduled sweep goes this many runs at most: a run cut short by time queues the next, up to this one.
pub const MAX_SWEEP_RUNS: u32 = 5;

/// Members' remediation roles tried at once by the fan-out (`*`): one `AssumeRole` each, far below STS's rate.
pub const ROLE_PROBES_AT_ONCE: usize = 16;

/// The function's entry: an SQS batch of sweep requests (each swept in its own account and region; one cut short
/// by time queues its next run), a Scheduled Event fanned out to the queue when there is one, or any other event
/// through `handle`.
pub async fn invoke<R: Reach, N: Notifier, H: History + Switch, Q: SweepQueue, A: Accounts>(
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
    let (accounts, without_role) = match settings.organization.as_ref().map(|org| &org.members) {
        Some(Members::Any) => with_role(accounts, settings, home, &schedule.region, fanout.accounts, &has_time).await,
        _ => (accounts, vec![]),
    };
    // Every member denied: not members without the spoke but the hub's side (its role, its policy, an SCP, the role
    // name): the hub is swept and the invocation fails, so that the alarm says the members were not.
    let reached = accounts.iter().filter(|a| home.is_none_or(|h| &h.account != *a)).count();
    let unlisted = match unlisted {
        Some(source) => Some(format!(
            "the member accounts could not be listed, so only this account's sweeps were queued ({source}); organizations:ListAccounts works in the management account or a delegated administrator, or name the members in MemberAccounts"
        )),
        None if reached == 0 && !without_role.is_empty() => Some(format!(
            "no member's remediation role could be assumed ({} denied), so only this account's sweeps were queued: check RemediationRoleName, the spoke StackSet's instances and its trust of this function's role, and any SCP denying sts:AssumeRole",
            without_role.len()
        )),
        None => None,
    };
    if !without_role.is_empty() {
        tracing::warn!(
            event_id = %schedule.event_id,
            count = without_role.len(),
            accounts = ?without_role,
            "members without the remediation role are not swept: deploy templates/spoke.yaml to them, or name the members in MemberAccounts"
        );
    }
    let requests = sweep_requests(&schedule, &accounts, fanout.regions);
    let queued: Vec<String> = requests.iter().map(|r| format!("{}/{}", r.account, r.region)).collect();
    let sent = fanout.queue.send(&requests).await;
    let result = match (sent, unlisted) {
        (Err(source), _) => {
            tracing::error!(event_id = %schedule.event_id, error = %source, "sweeps not queued");
            Err(egress_guard_core::Error::Dispatch { source: Box::new(source) })
        }
        (Ok(()), Some(reason)) => {
            tracing::error!(event_id = %schedule.event_id, queued = ?queued, error = %reason, "members not swept: only this account is");
            Err(egress_guard_core::Error::Dispatch { source: reason.into() })
        }
        (Ok(()), None) => {
            tracing::info!(event_id = %schedule.event_id, sweeps = queued.len(), queued = ?queued, "sweeps queued");
            Ok(InvocationReport::Dispatch(DispatchReport {
                schedule_id: schedule.event_id.clone(),
                queued,
                without_role,
            }))
        }
    };
    Invocation { trigger: TriggerKind::Sweep, result }
}

/// The members whose remediation role the function may assume, and those it may not (AssumeRole denied: the spoke
/// is not there), tried `ROLE_PROBES_AT_ONCE` at a time, in order. An account whose answer is unknown (throttled, a
/// network error), or not tried for lack of time, is kept: its sweeps run, and fail loudly if the role is missing.
async fn with_role<A: Accounts>(
    accounts: Vec<String>,
    settings: &Settings,
    home: Option<&Home>,
    region: &str,
    probe: &A,
    has_time: &impl Fn() -> bool,
) -> (Vec<String>, Vec<String>) {
    let answers: Vec<(String, bool)> = futures_util::stream::iter(accounts)
        .map(|account| async move {
            if !has_time() {
                return (account, true);
            }
            let role_arn = match org::access(settings.organization.as_ref(), home, &account, region) {
                Ok(Access::AssumeRole { role_arn, .. }) => role_arn,
                _ => return (account, true),
            };
            match probe.can_assume(&role_arn).await {
                Ok(assumable) => (account, assumable),
                Err(err) => {
                    tracing::warn!(account = %account, role_arn = %role_arn, error = %err, "remediation role not tried: its sweeps are queued");
                    (account, true)
                }
            }
        })
        .buffered(ROLE_PROBES_AT_ONCE)
        .collect()
        .await;
    let (with, without): (Vec<_>, Vec<_>) = answers.into_iter().partition(|(_, assumable)| *assumable);
    (with.into_iter().map(|(a, _)| a).collect(), without.into_iter().map(|(a, _)| a).collect())
}

/// Each queued request swept in turn; the first failure fails the batch (SQS then moves it to the failure queue).
async fn sweep_requested<R: Reach, N: Notifier, H: History + Switch, Q: SweepQueue, A: Accounts>(
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
