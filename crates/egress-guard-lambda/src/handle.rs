//! The handler's one step: the invocation's JSON read once into the core's `Incoming` (no AWS call on bad input),
//! run by the core over the ports, and a failure logged with its AWS error code.

use egress_guard_core::org::Home;
use egress_guard_core::{
    Accounts, Digests, Fanout, History, Incoming, Invocation, NoAccounts, NoQueue, Notifier, Reach, Settings,
    SweepQueue, Switch,
};
use serde_json::Value;

use crate::error::error_code;

/// The function's entry: an SQS batch of sweep requests, a Scheduled Event fanned out to the queue when there is
/// one, or any other event through the core.
pub async fn invoke<R: Reach, N: Notifier, H: History + Switch + Digests, Q: SweepQueue, A: Accounts>(
    event: Value,
    settings: &Settings,
    home: Option<&Home>,
    ports: (&R, &N, &H),
    fanout: Option<Fanout<'_, Q, A>>,
    has_time: impl Fn() -> bool,
) -> Invocation {
    let invocation = match Incoming::parse(event) {
        Ok(incoming) => egress_guard_core::invoke(incoming, settings, home, ports, fanout, has_time).await,
        Err(err) => {
            tracing::warn!(error = %err, "rejected event");
            Invocation::failed(egress_guard_core::TriggerKind::Event, err)
        }
    };
    // The core logs each failure with its event; the AWS error code behind it is known only here.
    if let Err(err) = &invocation.result
        && let Some(code) = error_code(err)
    {
        tracing::error!(error_code = code, error = %err, "the failure's AWS error code");
    }
    invocation
}

/// One event with no fan-out: a Scheduled Event is swept in this invocation.
pub async fn handle<R: Reach, N: Notifier, H: History + Switch + Digests>(
    event: Value,
    settings: &Settings,
    home: Option<&Home>,
    ports: (&R, &N, &H),
    has_time: impl Fn() -> bool,
) -> Invocation {
    invoke(event, settings, home, ports, None::<Fanout<'_, NoQueue, NoAccounts>>, has_time).await
}
