//! `SecurityGroups`: the security groups a flow reads and changes, and what a revoke removed.

use std::future::Future;

use crate::evaluate::RevokePlan;
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

    /// Authorizes exactly `rules` on the group (a proposal applied); a rule that already exists is not an error.
    fn authorize(&self, group_id: &str, rules: &[EgressRule]) -> impl Future<Output = Result<(), Self::Error>> + Send;

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
