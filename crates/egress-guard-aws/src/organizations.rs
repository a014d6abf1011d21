//! The organization's accounts, for a sweep of every member when the function acts in all of them (`*`), and
//! whether each holds the remediation role the function assumes there.

use crate::error::Error;
use crate::lazy::OnFirstUse;

#[derive(Clone, Debug)]
pub struct OrganizationAccounts {
    client: OnFirstUse<aws_sdk_organizations::Client>,
    sts: OnFirstUse<aws_sdk_sts::Client>,
}

impl OrganizationAccounts {
    /// Its client made from `config` on the first call.
    pub(crate) fn from_config(config: &aws_config::SdkConfig) -> Self {
        OrganizationAccounts {
            client: OnFirstUse::new(config, aws_sdk_organizations::Client::new),
            sts: OnFirstUse::new(config, aws_sdk_sts::Client::new),
        }
    }

    pub fn new(client: aws_sdk_organizations::Client, sts: aws_sdk_sts::Client) -> Self {
        OrganizationAccounts { client: OnFirstUse::ready(client), sts: OnFirstUse::ready(sts) }
    }

    /// Whether these credentials may assume `role_arn`: `Ok(false)` when STS answers `AccessDenied` (the role is not
    /// there, or does not trust the caller: in a member without the spoke, the former), `Err` when the answer is
    /// unknown (throttled, a network error).
    pub async fn can_assume(&self, role_arn: &str) -> Result<bool, Error> {
        probe_role(self.sts.get(), role_arn, crate::config::SESSION_NAME).await.map(|answer| answer.is_ok())
    }

    /// The organization's active accounts, page by page, but its management account: the spoke StackSet (service
    /// managed) never reaches it, so it holds no remediation role to sweep with. Only the management account and a
    /// delegated administrator may call `ListAccounts`; elsewhere this is `AccessDeniedException`.
    pub async fn active(&self) -> Result<Vec<String>, Error> {
        let error = |code, message| Error::Organizations { code, message };
        let organization = self.client.get().describe_organization().send().await.map_err(|err| {
            let (code, message) = crate::error::code_and_message(&err);
            error(code, message)
        })?;
        let management = organization.organization().and_then(|o| o.master_account_id()).map(str::to_owned);
        let mut pages = self.client.get().list_accounts().into_paginator().send();
        let mut accounts = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| {
                let (code, message) = crate::error::code_and_message(&err);
                Error::Organizations { code, message }
            })?;
            for account in page.accounts() {
                // `State` replaces the deprecated `Status`; either says ACTIVE for an account that can be swept.
                #[allow(deprecated)]
                let active = match (account.state(), account.status()) {
                    (Some(state), _) => state.as_str() == "ACTIVE",
                    (None, Some(status)) => status.as_str() == "ACTIVE",
                    (None, None) => false,
                };
                if active
                    && let Some(id) = account.id()
                    && management.as_deref() != Some(id)
                {
                    accounts.push(id.to_owned());
                }
            }
        }
        Ok(accounts)
    }
}

/// One `AssumeRole` of `role_arn` as a probe, which changes nothing: the credentials, valid 15 minutes (the least STS
/// issues), are dropped. `Ok(Err(message))` when STS answers `AccessDenied` (the role does not exist, or its trust
/// policy does not admit the caller: STS does not say which), `Err` when the answer is unknown.
/// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
pub(crate) async fn probe_role(
    sts: &aws_sdk_sts::Client,
    role_arn: &str,
    session_name: &str,
) -> Result<Result<(), String>, Error> {
    let answer =
        sts.assume_role().role_arn(role_arn).role_session_name(session_name).duration_seconds(900).send().await;
    match answer {
        Ok(_) => Ok(Ok(())),
        Err(err) => {
            let (code, message) = crate::error::code_and_message(&err);
            if code == "AccessDenied" {
                return Ok(Err(message));
            }
            Err(Error::Sts { role_arn: role_arn.to_owned(), code, message })
        }
    }
}

impl egress_guard_core::Accounts for OrganizationAccounts {
    type Error = Error;
    fn list(&self) -> impl std::future::Future<Output = Result<Vec<String>, Error>> + Send {
        OrganizationAccounts::active(self)
    }
    fn can_assume(&self, role_arn: &str) -> impl std::future::Future<Output = Result<bool, Error>> + Send {
        OrganizationAccounts::can_assume(self, role_arn)
    }
}
