//! `History`: where revocations, what each group had open and each region's first sweep are remembered, and
//! `NoHistory`, where nothing is.

use std::future::Future;

use crate::history::{Last, Revocation};

/// Where revocations are remembered.
pub trait History {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Records `revocation` and answers, for each of its destinations in order, how many times it was revoked in the
    /// window ending at `revocation.at`, this time included. `None`: no history is kept here.
    fn record(&self, revocation: &Revocation) -> impl Future<Output = Result<Option<Vec<u32>>, Self::Error>> + Send;

    /// Records what is left open on the group `account/region/group-id` after egress-guard acted (`open_key`; empty
    /// once revoked) and answers what was recorded before.
    fn seen(&self, group_key: &str, open: &str, at: i64) -> impl Future<Output = Result<Last, Self::Error>> + Send {
        let _ = (group_key, open, at);
        std::future::ready(Ok(Last::NotKept))
    }

    /// Records a sweep of `account/region` by the schedule of `schedule_time`, and answers whether it is the
    /// region's first (every run of the first schedule is). `None`: no history kept.
    fn first_sweep(
        &self,
        region_key: &str,
        schedule_time: &str,
        at: i64,
    ) -> impl Future<Output = Result<Option<bool>, Self::Error>> + Send {
        let _ = (region_key, schedule_time, at);
        std::future::ready(Ok(None))
    }
}

/// No history kept (the CLI, or a function without a table).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHistory;

impl History for NoHistory {
    type Error = std::convert::Infallible;
    async fn record(&self, _: &Revocation) -> Result<Option<Vec<u32>>, Self::Error> {
        Ok(None)
    }
}

impl<H: History + Sync> History for Option<H> {
    type Error = H::Error;
    async fn record(&self, revocation: &Revocation) -> Result<Option<Vec<u32>>, Self::Error> {
        match self {
            Some(history) => history.record(revocation).await,
            None => Ok(None),
        }
    }
    async fn seen(&self, group_key: &str, open: &str, at: i64) -> Result<Last, Self::Error> {
        match self {
            Some(history) => history.seen(group_key, open, at).await,
            None => Ok(Last::NotKept),
        }
    }
    async fn first_sweep(&self, region_key: &str, schedule_time: &str, at: i64) -> Result<Option<bool>, Self::Error> {
        match self {
            Some(history) => history.first_sweep(region_key, schedule_time, at).await,
            None => Ok(None),
        }
    }
}
