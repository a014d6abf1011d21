//! The function's entry over the ports: an SQS batch of sweep requests, a Scheduled Event fanned out to one sweep per
//! (account, region) on the queue (or swept here when there is no queue), or a CloudTrail call's groups.

use crate::incoming::Incoming;
use crate::org::Home;
use crate::ports::{Accounts, Digests, History, Notifier, Reach, SweepQueue, Switch};
use crate::run::fanout::{Fanout, fan_out};
use crate::run::invocation::{Invocation, run_one};
use crate::run::queued::sweep_queued;
use crate::settings::Settings;

/// Runs one invocation's input. `home` is the function's own account, from its ARN; `has_time()` says whether a sweep
/// may start on another group.
pub async fn invoke<R: Reach, N: Notifier, H: History + Switch + Digests, Q: SweepQueue, A: Accounts>(
    incoming: Incoming,
    settings: &Settings,
    home: Option<&Home>,
    ports: (&R, &N, &H),
    fanout: Option<Fanout<'_, Q, A>>,
    has_time: impl Fn() -> bool,
) -> Invocation {
    match (incoming, fanout) {
        (Incoming::Queued(queued), fanout) => sweep_queued(queued, settings, home, ports, fanout, has_time).await,
        (Incoming::Schedule(schedule), Some(fanout)) => fan_out(&schedule, settings, home, fanout, has_time).await,
        (Incoming::Schedule(trigger) | Incoming::Event(trigger), _) => {
            run_one(&trigger, settings, home, ports, false, has_time).await
        }
    }
}
