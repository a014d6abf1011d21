//! The sweeps an SQS batch asks for, one `SweepRequest` each: read and checked, refused unless the fan-out would
//! have queued it, swept in its account and region, its next run queued when cut short, and its share added to the
//! schedule's digest.

use crate::Error;
use crate::incoming::Queued;
use crate::notify::digest::DigestPart;
use crate::notify::report::SweepReport;
use crate::org::Home;
use crate::ports::{Accounts, Digests, History, Notifier, Reach, SweepQueue, Switch};
use crate::request::SweepRequest;
use crate::run::digest::add_share;
use crate::run::fanout::{Fanout, admissible};
use crate::run::invocation::{Invocation, InvocationReport, run_one};
use crate::settings::Settings;
use crate::trigger::TriggerKind;

/// A scheduled sweep goes this many runs at most: a run cut short by time queues the next, up to this one.
pub const MAX_SWEEP_RUNS: u32 = 5;

/// Deliveries of a sweep request before SQS moves it to the failure queue: the template's `maxReceiveCount`.
/// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html
pub const MAX_RECEIVES: u32 = 5;

/// Each queued request swept in turn; the first failure fails the batch (SQS then delivers it again, and at last
/// moves it to the failure queue).
pub async fn sweep_queued<R: Reach, N: Notifier, H: History + Switch + Digests, Q: SweepQueue, A: Accounts>(
    queued: Vec<Queued>,
    settings: &Settings,
    home: Option<&Home>,
    ports: (&R, &N, &H),
    fanout: Option<Fanout<'_, Q, A>>,
    has_time: impl Fn() -> bool,
) -> Invocation {
    let mut reports = Vec::with_capacity(queued.len());
    for Queued { body, receives } in queued {
        let request = match SweepRequest::parse(&body) {
            Ok(request) => request,
            Err(err) => {
                tracing::warn!(error = %err, "rejected sweep request");
                return Invocation::failed(TriggerKind::Sweep, err);
            }
        };
        match sweep_one(&request, receives, settings, home, ports, fanout, &has_time).await {
            Ok(Some(report)) => reports.push(report),
            Ok(None) => {}
            Err(err) => return Invocation::failed(TriggerKind::Sweep, err),
        }
    }
    Invocation { trigger: TriggerKind::Sweep, result: Ok(InvocationReport::Sweeps(reports)) }
}

/// One request: its sweep's report, `None` when it was refused or not acted on.
async fn sweep_one<R: Reach, N: Notifier, H: History + Switch + Digests, Q: SweepQueue, A: Accounts>(
    request: &SweepRequest,
    receives: u32,
    settings: &Settings,
    home: Option<&Home>,
    ports: (&R, &N, &H),
    fanout: Option<Fanout<'_, Q, A>>,
    has_time: &impl Fn() -> bool,
) -> Result<Option<SweepReport>, Error> {
    // One of a schedule's sweeps: its report goes into the schedule's digest, not out on its own.
    let digest = request.of > 0 && ports.2.gathers();
    let event_id = request.trigger().event_id;
    if let Err(reason) = admissible(request, settings, home, fanout.map(|f| f.regions)) {
        tracing::warn!(account = %request.account, region = %request.region, reason, "sweep request refused");
        // Counted in its schedule's digest all the same (named as not swept), so that the digest is not held.
        if digest {
            let share =
                DigestPart::failed(&event_id, &request.account, &request.region, format!("not swept: {reason}"));
            add_share(request, share, None, ports.1, ports.2).await?;
        }
        return Ok(None);
    }
    let invocation = run_one(&request.trigger(), settings, home, ports, digest, has_time).await;
    match invocation.result {
        Ok(InvocationReport::Sweep(report)) => {
            let next_queued = !report.complete && queue_next(request, fanout, &report.event_id).await;
            if digest {
                add_share(request, DigestPart::of(&report), Some((&report, !next_queued)), ports.1, ports.2).await?;
            }
            Ok(Some(report))
        }
        // SQS's last delivery before the failure queue: the digest names this sweep failed, rather than never going
        // out for want of it.
        Err(err) if digest && receives >= MAX_RECEIVES => {
            let share = DigestPart::failed(&event_id, &request.account, &request.region, err.to_string());
            if let Err(not_sent) = add_share(request, share, None, ports.1, ports.2).await {
                tracing::error!(error = %not_sent, "the digest of a schedule with a failed sweep was not sent");
            }
            Err(err)
        }
        // A refused account: told in the log, nothing else to do.
        Ok(other) => {
            tracing::warn!(report = ?other, "sweep request not acted on");
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Queues the run after `request`'s, if there is a queue and runs are left; whether it was queued.
async fn queue_next<Q: SweepQueue, A>(
    request: &SweepRequest,
    fanout: Option<Fanout<'_, Q, A>>,
    event_id: &str,
) -> bool {
    let Some(fanout) = fanout.filter(|_| request.run < MAX_SWEEP_RUNS) else { return false };
    let next = request.next();
    match fanout.queue.send(std::slice::from_ref(&next)).await {
        Ok(()) => {
            tracing::info!(event_id, run = next.run, "sweep cut short: next run queued");
            true
        }
        Err(err) => {
            tracing::error!(event_id, error = %err, "sweep cut short: next run not queued; the next schedule takes up");
            false
        }
    }
}
