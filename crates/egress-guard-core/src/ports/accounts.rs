//! `Accounts`: the organization's active accounts, for a sweep of every member, and whether the function may assume
//! a member's remediation role; and `NoAccounts`, an organization of none.

use std::future::Future;

/// The organization's active accounts, for a sweep of every member when the function acts in all of them (`*`), and
/// whether the function may assume a member's remediation role (`Ok(false)`: denied, the spoke is not there).
pub trait Accounts {
    type Error: std::error::Error + Send + Sync + 'static;
    fn list(&self) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send;
    fn can_assume(&self, role_arn: &str) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// No organization: no member, and no role to assume.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAccounts;

impl Accounts for NoAccounts {
    type Error = std::convert::Infallible;
    async fn list(&self) -> Result<Vec<String>, Self::Error> {
        Ok(Vec::new())
    }
    async fn can_assume(&self, _: &str) -> Result<bool, Self::Error> {
        Ok(false)
    }
}
