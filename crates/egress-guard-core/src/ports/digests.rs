//! `Digests`: where a schedule's one digest is gathered: each sweep's share kept, each request counted once, and
//! every share handed to the one sweep that completes the schedule and claims the sending.

use std::future::Future;

use crate::notify::digest::DigestPart;
use crate::ports::history::NoHistory;
use crate::request::SweepRequest;

/// Where a schedule's digest stands after a sweep added its share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gather {
    /// Other sweeps are still to finish, or another sweep sends the digest.
    Waiting,
    /// The digest went out already (a late redelivery): what this sweep did goes out on its own.
    AlreadySent,
    /// This sweep completed the schedule and holds the claim: every share, in request order.
    Complete(Vec<DigestPart>),
}

/// Where a schedule's digest is gathered.
pub trait Digests {
    type Error: std::error::Error + Send + Sync + 'static;
    /// Whether shares are kept here at all; where they are not, each sweep reports on its own.
    fn gathers(&self) -> bool;
    /// Keeps `share` of `request` (`last`: the request's last run) and says where the digest stands.
    fn add(
        &self,
        request: &SweepRequest,
        share: &DigestPart,
        last: bool,
    ) -> impl Future<Output = Result<Gather, Self::Error>> + Send;
    /// The digest went out: later deliveries report on their own.
    fn published(&self, schedule_id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Gives the claim back (the digest could not be sent), for the sweep's redelivery.
    fn release(&self, schedule_id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// No table: each sweep reports on its own.
impl Digests for NoHistory {
    type Error = std::convert::Infallible;
    fn gathers(&self) -> bool {
        false
    }
    async fn add(&self, _: &SweepRequest, _: &DigestPart, _: bool) -> Result<Gather, Self::Error> {
        Ok(Gather::Waiting)
    }
    async fn published(&self, _: &str) -> Result<(), Self::Error> {
        Ok(())
    }
    async fn release(&self, _: &str) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl<D: Digests + Sync> Digests for Option<D> {
    type Error = D::Error;
    fn gathers(&self) -> bool {
        self.as_ref().is_some_and(D::gathers)
    }
    async fn add(&self, request: &SweepRequest, share: &DigestPart, last: bool) -> Result<Gather, Self::Error> {
        match self {
            Some(digests) => digests.add(request, share, last).await,
            None => Ok(Gather::Waiting),
        }
    }
    async fn published(&self, schedule_id: &str) -> Result<(), Self::Error> {
        match self {
            Some(digests) => digests.published(schedule_id).await,
            None => Ok(()),
        }
    }
    async fn release(&self, schedule_id: &str) -> Result<(), Self::Error> {
        match self {
            Some(digests) => digests.release(schedule_id).await,
            None => Ok(()),
        }
    }
}
