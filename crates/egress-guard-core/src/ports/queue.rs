//! `SweepQueue`: where scheduled sweeps fan out to, one request per (account, region), each swept by its own
//! invocation; and `NoQueue`, where there is none (every sweep runs in the invocation that was scheduled).

use std::future::Future;

use crate::request::SweepRequest;

/// Where scheduled sweeps fan out to.
pub trait SweepQueue {
    type Error: std::error::Error + Send + Sync + 'static;
    fn send(&self, requests: &[SweepRequest]) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// No queue.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoQueue;

/// `NoQueue` takes no request.
#[derive(Debug, thiserror::Error)]
#[error("there is no sweep queue here")]
pub struct NoQueueHere;

impl SweepQueue for NoQueue {
    type Error = NoQueueHere;
    async fn send(&self, _: &[SweepRequest]) -> Result<(), Self::Error> {
        Err(NoQueueHere)
    }
}
