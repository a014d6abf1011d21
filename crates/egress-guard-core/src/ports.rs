//! The ports the flow runs over, and nothing else: the security groups it reads and changes, where messages go, and
//! where revokes are remembered. Adapters implement them (`egress-guard-aws`), tests fake them.

use std::future::Future;

use crate::evaluate::RevokePlan;
use crate::history::Revocation;
use crate::model::{EgressRule, SecurityGroup};

/// Reads and changes security groups. Speaks domain types only.
pub trait SecurityGroups {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The group as EC2 holds it now; `None` if it does not exist (any more).
    fn describe(&self, group_id: &str) -> impl Future<Output = Result<Option<SecurityGroup>, Self::Error>> + Send;

    /// The default group of a VPC as EC2 holds it now; `None` if the VPC is not found (yet, or any more).
    fn default_group(&self, vpc_id: &str) -> impl Future<Output = Result<Option<SecurityGroup>, Self::Error>> + Send;

    /// Every group of the region, for the sweep.
    fn list(&self) -> impl Future<Output = Result<Vec<SecurityGroup>, Self::Error>> + Send;

    /// Revokes exactly the plan's rules and answers which of them this call removed. A rule already gone (a
    /// concurrent revoke, a duplicate delivery) is not an error and not in the answer; nor is a group that is gone.
    /// An error that stops the revoke after some rules were removed still reports them (`Revoked::error`).
    fn revoke(&self, plan: &RevokePlan) -> impl Future<Output = Revoked<Self::Error>> + Send;

    /// Waits before another look at a group (EC2 is eventually consistent: a group just created may not be found
    /// yet, a rule just revoked may still show), longer with each `attempt` from 0. Fakes return at once.
    fn settle(&self, attempt: u32) -> impl Future<Output = ()> + Send;
}

/// What a revoke did: the plan's rules this call removed, and the error that stopped it, if one did.
#[derive(Debug)]
pub struct Revoked<E> {
    pub removed: Vec<EgressRule>,
    pub error: Option<E>,
}

impl<E> Revoked<E> {
    pub fn removed(removed: Vec<EgressRule>) -> Self {
        Revoked { removed, error: None }
    }
}

/// Something a person reads: a one-line subject, a body, and attributes that subscribers can filter on.
pub trait Message {
    fn subject(&self) -> String;
    fn text(&self) -> String;
    fn attributes(&self) -> Vec<(&'static str, String)>;
}

/// Delivers messages (a group's notice, a sweep's report) to people.
pub trait Notifier {
    type Error: std::error::Error + Send + Sync + 'static;

    fn publish(&self, message: &(dyn Message + Sync)) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Where revocations are remembered.
pub trait History {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Records `revocation` and answers, for each of its destinations in order, how many times it was revoked in the
    /// window ending at `revocation.at`, this time included. `None`: no history is kept here.
    fn record(&self, revocation: &Revocation) -> impl Future<Output = Result<Option<Vec<u32>>, Self::Error>> + Send;
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
}

/// The ports the flow runs over: the groups it reads and changes, where notices go, and where revokes are remembered.
#[derive(Debug)]
pub struct Ports<'a, G, N, H> {
    pub groups: &'a G,
    pub notifier: &'a N,
    pub history: &'a H,
}

impl<G, N, H> Clone for Ports<'_, G, N, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<G, N, H> Copy for Ports<'_, G, N, H> {}
