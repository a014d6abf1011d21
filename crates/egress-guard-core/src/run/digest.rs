//! A schedule's one digest, as each of its sweeps adds its share: kept through `Digests`, and sent by the sweep that
//! completes the schedule. Nothing goes unreported: a share not kept, or a digest already sent, sends the sweep's own
//! report instead.

use crate::Error;
use crate::notify::digest::{Digest, DigestPart};
use crate::notify::message::MAX_MESSAGE_BYTES;
use crate::notify::report::SweepReport;
use crate::ports::{Digests, Gather, Notifier};
use crate::request::SweepRequest;
use crate::run::publish::publish_all;

/// Adds `share` of `request` to its schedule's digest and publishes the digest if the share completes the schedule.
/// `report` is the sweep's own (and whether this was the request's last run), `None` for a sweep that failed or was
/// refused, which is then the request's last. When the share cannot be kept, or the digest went out already (a late
/// redelivery), the sweep's own report goes out if it acted; a share not kept fails the invocation so that SQS
/// delivers the sweep again and it is counted then; a digest that cannot be published gives its claim back and fails
/// the invocation, so that the redelivery sends it.
pub async fn add_share<N: Notifier, D: Digests>(
    request: &SweepRequest,
    share: DigestPart,
    report: Option<(&SweepReport, bool)>,
    notifier: &N,
    digests: &D,
) -> Result<(), Error> {
    let last = report.is_none_or(|(_, last)| last);
    match digests.add(request, &share, last).await {
        Ok(Gather::Waiting) => Ok(()),
        Ok(Gather::AlreadySent) => {
            tracing::warn!(schedule_id = %request.schedule_id, "the schedule's digest went out already: this sweep reports on its own");
            publish_own(report.map(|(r, _)| r), notifier).await
        }
        Ok(Gather::Complete(parts)) => {
            let digest = Digest { schedule_time: request.time.clone(), sweeps: request.of as usize, parts };
            send(request, &digest, notifier, digests).await
        }
        Err(err) => {
            tracing::error!(schedule_id = %request.schedule_id, error = %err, "the sweep's share of the digest was not kept: its report goes out on its own, and the sweep is delivered again");
            publish_own(report.map(|(r, _)| r), notifier).await?;
            Err(Error::Dispatch { source: Box::new(err) })
        }
    }
}

/// Publishes the digest the claim holds: marked sent once out, its claim given back when a part is not.
async fn send<N: Notifier, D: Digests>(
    request: &SweepRequest,
    digest: &Digest,
    notifier: &N,
    digests: &D,
) -> Result<(), Error> {
    let messages = digest.messages(MAX_MESSAGE_BYTES);
    if let Err(err) = publish_all(notifier, &messages).await {
        if let Err(not_released) = digests.release(&request.schedule_id).await {
            tracing::error!(schedule_id = %request.schedule_id, error = %not_released, "the digest's claim was not given back: claimable again after its lease");
        }
        return Err(err);
    }
    tracing::info!(schedule_id = %request.schedule_id, sweeps = request.of, parts = messages.len(), "the schedule's digest sent");
    if let Err(err) = digests.published(&request.schedule_id).await {
        tracing::error!(schedule_id = %request.schedule_id, error = %err, "the digest went out but is not marked sent");
    }
    Ok(())
}

/// The sweep's own report, in parts, if it acted on anything.
async fn publish_own<N: Notifier>(report: Option<&SweepReport>, notifier: &N) -> Result<(), Error> {
    match report.filter(|r| r.acted() > 0) {
        Some(report) => publish_all(notifier, &report.parts(MAX_MESSAGE_BYTES)).await,
        None => Ok(()),
    }
}
