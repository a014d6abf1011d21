//! The function's entry: an SQS batch of sweep requests, a Scheduled Event fanned out to one sweep per (account,
//! region) on the queue, or any other event through `handle`.

use egress_guard_core::notify::digest::{Digest, DigestPart};
use egress_guard_core::notify::message::MAX_MESSAGE_BYTES;
use egress_guard_core::org::{self, Access, Home};
use egress_guard_core::settings::Members;
use egress_guard_core::{
    History, Message, Notifier, Settings, SweepReport, SweepRequest, TriggerKind, parse_value, sweep_requests,
};
use futures_util::StreamExt;
use serde_json::Value;

use crate::handle::{DispatchReport, Invocation, InvocationReport, handle, run};
use crate::reach::{Accounts, Digests, Fanout, Gather, Reach, SweepQueue, Switch};

/// A scheduled sweep goes this many runs at most: a run cut short by time queues the next, up to this one.
pub const MAX_SWEEP_RUNS: u32 = 5;

/// Deliveries of a sweep request before SQS moves it to the failure queue: the template's `maxReceiveCount`.
/// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html
pub const MAX_RECEIVES: u32 = 5;

/// Members' remediation roles tried at once by the fan-out (`*`): one `AssumeRole` each, far below STS's rate.
pub const ROLE_PROBES_AT_ONCE: usize = 16;

/// The function's entry: an SQS batch of sweep requests (each swept in its own account and region; one cut short
/// by time queues its next run), a Scheduled Event fanned out to the queue when there is one, or any other event
/// through `handle`.
pub async fn invoke<R: Reach, N: Notifier, H: History + Switch + Digests, Q: SweepQueue, A: Accounts>(
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
async fn sweep_requested<R: Reach, N: Notifier, H: History + Switch + Digests, Q: SweepQueue, A: Accounts>(
    bodies: Vec<(String, u32)>,
    settings: &Settings,
    home: Option<&Home>,
    ports: (&R, &N, &H),
    fanout: Option<Fanout<'_, Q, A>>,
    has_time: impl Fn() -> bool,
) -> Invocation {
    let mut reports = Vec::with_capacity(bodies.len());
    for (body, receives) in bodies {
        let request = match SweepRequest::parse(&body) {
            Ok(request) => request,
            Err(err) => {
                tracing::warn!(error = %err, "rejected sweep request");
                return Invocation { trigger: TriggerKind::Sweep, result: Err(err) };
            }
        };
        if let Err(reason) = admissible(&request, settings, home, fanout.map(|f| f.regions)) {
            tracing::warn!(account = %request.account, region = %request.region, reason, "sweep request refused");
            // Counted in its schedule's digest all the same (named as not swept), so that the digest is not held.
            if request.of > 0 && ports.2.gathers() {
                let share = DigestPart::failed(
                    &request.trigger().event_id,
                    &request.account,
                    &request.region,
                    format!("not swept: {reason}"),
                );
                if let Err(err) = send(&request, share, None, ports.1, ports.2).await {
                    return Invocation { trigger: TriggerKind::Sweep, result: Err(err) };
                }
            }
            continue;
        }
        // One of a schedule's sweeps: its report goes into the schedule's digest, not out on its own.
        let digest = request.of > 0 && ports.2.gathers();
        let in_digest;
        let settings = if digest {
            in_digest = Settings { digest: true, ..settings.clone() };
            &in_digest
        } else {
            settings
        };
        let invocation = run(&request.trigger(), settings, home, ports, &has_time).await;
        match invocation.result {
            Ok(InvocationReport::Sweep(report)) => {
                let mut next_queued = false;
                if !report.complete
                    && request.run < MAX_SWEEP_RUNS
                    && let Some(fanout) = fanout
                {
                    let next = request.next();
                    match fanout.queue.send(std::slice::from_ref(&next)).await {
                        Ok(()) => {
                            next_queued = true;
                            tracing::info!(event_id = %report.event_id, run = next.run, "sweep cut short: next run queued")
                        }
                        Err(err) => {
                            tracing::error!(event_id = %report.event_id, error = %err, "sweep cut short: next run not queued; the next schedule takes up")
                        }
                    }
                }
                if digest && let Err(err) = gather(&request, &report, !next_queued, ports.1, ports.2).await {
                    return Invocation { trigger: TriggerKind::Sweep, result: Err(err) };
                }
                reports.push(report);
            }
            // SQS's last delivery before the failure queue: the digest names this sweep failed, rather than never
            // going out for want of it.
            Err(err) if digest && receives >= MAX_RECEIVES => {
                let share =
                    DigestPart::failed(&request.trigger().event_id, &request.account, &request.region, err.to_string());
                if let Err(not_sent) = send(&request, share, None, ports.1, ports.2).await {
                    tracing::error!(error = %not_sent, "the digest of a schedule with a failed sweep was not sent");
                }
                return Invocation { trigger: TriggerKind::Sweep, result: Err(err) };
            }
            // A refused account: told in the log, nothing else to do.
            Ok(other) => tracing::warn!(report = ?other, "sweep request not acted on"),
            Err(err) => return Invocation { trigger: TriggerKind::Sweep, result: Err(err) },
        }
    }
    Invocation { trigger: TriggerKind::Sweep, result: Ok(InvocationReport::Sweeps(reports)) }
}

/// Adds a sweep's share to its schedule's digest; the sweep that completes the schedule publishes the digest.
async fn gather<N: Notifier, D: Digests>(
    request: &SweepRequest,
    report: &SweepReport,
    last: bool,
    notifier: &N,
    digests: &D,
) -> Result<(), egress_guard_core::Error> {
    send(request, DigestPart::of(report), Some((report, last)), notifier, digests).await
}

/// Adds `share` (the request's last when `last`, or a failure) and publishes the digest if it completes the
/// schedule. Nothing goes unreported: when the share cannot be kept, or the digest went out already (a late
/// redelivery), the sweep's own report goes out if it acted, and a share not kept fails the invocation so that SQS
/// delivers the sweep again and it is counted then; a digest that cannot be published gives its claim back and fails
/// the invocation, so that the redelivery sends it.
async fn send<N: Notifier, D: Digests>(
    request: &SweepRequest,
    share: DigestPart,
    report: Option<(&SweepReport, bool)>,
    notifier: &N,
    digests: &D,
) -> Result<(), egress_guard_core::Error> {
    let last = report.is_none_or(|(_, last)| last);
    let (messages, digest, kept_error) = match digests.add(request, &share, last).await {
        Ok(Gather::Waiting) => return Ok(()),
        Ok(Gather::AlreadySent) => {
            tracing::warn!(schedule_id = %request.schedule_id, "the schedule's digest went out already: this sweep reports on its own");
            (own(report), false, None)
        }
        Ok(Gather::Complete(parts)) => {
            let digest = Digest { schedule_time: request.time.clone(), sweeps: request.of as usize, parts };
            let messages = digest
                .messages(MAX_MESSAGE_BYTES)
                .into_iter()
                .map(|m| Box::new(m) as Box<dyn Message + Sync>)
                .collect();
            (messages, true, None)
        }
        Err(err) => {
            tracing::error!(schedule_id = %request.schedule_id, error = %err, "the sweep's share of the digest was not kept: its report goes out on its own, and the sweep is delivered again");
            (own(report), false, Some(err))
        }
    };
    for message in &messages {
        if let Err(source) = notifier.publish(message.as_ref()).await {
            if digest && let Err(err) = digests.release(&request.schedule_id).await {
                tracing::error!(schedule_id = %request.schedule_id, error = %err, "the digest's claim was not given back: claimable again after its lease");
            }
            let text =
                messages.iter().map(|m| format!("{}\n\n{}", m.subject(), m.text())).collect::<Vec<_>>().join("\n\n");
            return Err(egress_guard_core::Error::NotifySummary { text, source: Box::new(source) });
        }
    }
    if digest {
        tracing::info!(schedule_id = %request.schedule_id, sweeps = request.of, parts = messages.len(), "the schedule's digest sent");
        if let Err(err) = digests.published(&request.schedule_id).await {
            tracing::error!(schedule_id = %request.schedule_id, error = %err, "the digest went out but is not marked sent");
        }
    }
    match kept_error {
        Some(err) => Err(egress_guard_core::Error::Dispatch { source: Box::new(err) }),
        None => Ok(()),
    }
}

/// The sweep's own report, in parts, if it acted on anything.
fn own<'a>(report: Option<(&'a SweepReport, bool)>) -> Vec<Box<dyn Message + Sync + 'a>> {
    match report.filter(|(r, _)| r.acted() > 0) {
        Some((report, _)) => {
            report.parts(MAX_MESSAGE_BYTES).into_iter().map(|m| Box::new(m) as Box<dyn Message + Sync + 'a>).collect()
        }
        None => Vec::new(),
    }
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

/// The message bodies of an SQS event (`Records` from `aws:sqs`), each with how many times SQS delivered it
/// (`attributes.ApproximateReceiveCount`, 1 when absent), or `None` for any other event.
fn sqs_bodies(event: &Value) -> Option<Vec<(String, u32)>> {
    let records = event.get("Records")?.as_array()?;
    if records.is_empty() || !records.iter().all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs")) {
        return None;
    }
    Some(
        records
            .iter()
            .map(|r| {
                let body = r.get("body").and_then(Value::as_str).unwrap_or_default().to_owned();
                let receives = r["attributes"]["ApproximateReceiveCount"].as_str().and_then(|n| n.parse().ok());
                (body, receives.unwrap_or(1))
            })
            .collect(),
    )
}

fn is_scheduled(event: &Value) -> bool {
    event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
        && event.get("source").and_then(Value::as_str) == Some("aws.events")
}
