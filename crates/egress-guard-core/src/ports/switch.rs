//! `Switch`: the kill switch, read on every invocation: the pause in force, if any (`egress-guard pause`).

use std::future::Future;

use crate::pause::Pause;
use crate::ports::history::NoHistory;

/// The kill switch: the pause in force, if any.
pub trait Switch {
    type Error: std::error::Error + Send + Sync + 'static;
    fn paused(&self) -> impl Future<Output = Result<Option<Pause>, Self::Error>> + Send;
}

/// No table, no switch: never paused.
impl Switch for NoHistory {
    type Error = std::convert::Infallible;
    async fn paused(&self) -> Result<Option<Pause>, Self::Error> {
        Ok(None)
    }
}

impl<S: Switch + Sync> Switch for Option<S> {
    type Error = S::Error;
    async fn paused(&self) -> Result<Option<Pause>, Self::Error> {
        match self {
            Some(switch) => switch.paused().await,
            None => Ok(None),
        }
    }
}
