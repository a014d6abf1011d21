//! Organization mode: which account an event may be acted on in, and with whose credentials.
//!
//! Single-account (no remediation role set): the function's own credentials, whatever the event's account (the
//! default event bus carries only the account's own events). Organization mode:
//! the function's own account with its own credentials, a member account through its remediation role, and any
//! other account refused before any AWS call.

use crate::model::is_account_id;
use crate::settings::{Members, Organization, vars};

/// Where the function runs, from its own ARN (`arn:aws:lambda:eu-west-1:123456789012:function:egress-guard`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Home {
    pub partition: String,
    pub account: String,
    /// The function's region, where its own rule takes events (other regions forward theirs to its default bus).
    pub region: String,
    /// The function's ARN without a qualifier: what its rule targets.
    pub function_arn: String,
}

impl Home {
    pub fn from_function_arn(arn: &str) -> Option<Home> {
        match arn.split(':').collect::<Vec<_>>().as_slice() {
            ["arn", partition, "lambda", region, account, "function", name, ..]
                if is_account_id(account) && !partition.is_empty() =>
            {
                Some(Home {
                    partition: (*partition).to_owned(),
                    account: (*account).to_owned(),
                    region: (*region).to_owned(),
                    function_arn: format!("arn:{partition}:lambda:{region}:{account}:function:{name}"),
                })
            }
            _ => None,
        }
    }

    /// The organization bus the members' forwarders target: the stack names it as it names the function
    /// (`${AWS::StackName}-egress-guard`, a template test holds them equal), in the function's account and region.
    pub fn organization_bus_arn(&self) -> String {
        let name = self.function_arn.rsplit(':').next().unwrap_or_default();
        format!("arn:{}:events:{}:{}:event-bus/{name}", self.partition, self.region, self.account)
    }
}

/// With whose credentials the function acts in an event's account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Own,
    AssumeRole { account: String, role_arn: String },
}

/// A region name as EC2 spells it (`eu-west-1`, `us-gov-west-1`): it goes into an endpoint's host name.
pub fn is_region(text: &str) -> bool {
    (4..=30).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// Decides how to reach `account` in `region`; `Err` says why the event is refused. Pure: no AWS call.
pub fn access(
    organization: Option<&Organization>,
    home: Option<&Home>,
    account: &str,
    region: &str,
) -> Result<Access, String> {
    if !is_region(region) {
        return Err(format!("the event's region {region:?} is not a region name"));
    }
    let Some(org) = organization else { return Ok(Access::Own) };
    let Some(home) = home else {
        return Err("the function's own account is unknown (no function ARN), so no member account is reached".into());
    };
    if account == home.account {
        return Ok(Access::Own);
    }
    if !is_account_id(account) {
        return Err(format!("the event's account {account:?} is not a 12-digit account id"));
    }
    if let Members::Only(members) = &org.members
        && !members.contains(account)
    {
        return Err(format!(
            "account {account} is not in {} (the accounts this function acts in)",
            vars::MEMBER_ACCOUNTS
        ));
    }
    Ok(Access::AssumeRole {
        account: account.to_owned(),
        role_arn: format!("arn:{}:iam::{account}:role/{}", home.partition, org.role_name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: &str = "arn:aws:lambda:eu-west-1:123456789012:function:egress-guard";

    fn org(members: Members) -> Organization {
        Organization { role_name: "egress-guard-remediation".into(), members }
    }

    fn home() -> Home {
        Home::from_function_arn(HOME).unwrap()
    }

    #[test]
    fn home_comes_from_the_function_arn() {
        let home = home();
        assert_eq!(
            (home.partition.as_str(), home.account.as_str(), home.region.as_str()),
            ("aws", "123456789012", "eu-west-1")
        );
        assert_eq!(home.function_arn, "arn:aws:lambda:eu-west-1:123456789012:function:egress-guard");
        assert_eq!(home.organization_bus_arn(), "arn:aws:events:eu-west-1:123456789012:event-bus/egress-guard");
        let gov = Home::from_function_arn("arn:aws-us-gov:lambda:us-gov-west-1:210987654321:function:f:live").unwrap();
        assert_eq!((gov.partition.as_str(), gov.account.as_str()), ("aws-us-gov", "210987654321"));
        assert_eq!(gov.function_arn, "arn:aws-us-gov:lambda:us-gov-west-1:210987654321:function:f", "no qualifier");
        for bad in
            ["", "egress-guard", "arn:aws:sns:eu-west-1:123456789012:t", "arn:aws:lambda:eu-west-1:1234:function:f"]
        {
            assert_eq!(Home::from_function_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn single_account_mode_always_acts_with_own_credentials() {
        assert_eq!(access(None, None, "999999999999", "us-east-1"), Ok(Access::Own));
        assert!(access(None, None, "999999999999", "us-east-1.evil.example.com").is_err());
    }

    #[test]
    fn own_account_uses_own_credentials_in_organization_mode() {
        assert_eq!(access(Some(&org(Members::Any)), Some(&home()), "123456789012", "us-east-1"), Ok(Access::Own));
    }

    #[test]
    fn member_account_is_reached_through_its_role_in_the_home_partition() {
        let only = Members::Only(["111111111111".to_owned()].into());
        let want = Access::AssumeRole {
            account: "111111111111".into(),
            role_arn: "arn:aws:iam::111111111111:role/egress-guard-remediation".into(),
        };
        assert_eq!(access(Some(&org(only)), Some(&home()), "111111111111", "us-east-1"), Ok(want.clone()));
        assert_eq!(access(Some(&org(Members::Any)), Some(&home()), "111111111111", "us-east-1"), Ok(want));
    }

    #[test]
    fn account_outside_the_allow_list_is_refused_naming_it() {
        let only = Members::Only(["111111111111".to_owned()].into());
        let why = access(Some(&org(only)), Some(&home()), "222222222222", "us-east-1").unwrap_err();
        assert!(why.contains("222222222222") && why.contains("EGRESS_GUARD_MEMBER_ACCOUNTS"), "{why}");
    }

    #[test]
    fn account_or_region_that_could_bend_an_arn_or_endpoint_is_refused() {
        let org = org(Members::Any);
        for (account, region) in [
            ("1:role/admin", "us-east-1"),
            ("11111111111", "us-east-1"),
            ("111111111111", "evil.example.com/x"),
            ("111111111111", ""),
        ] {
            assert!(access(Some(&org), Some(&home()), account, region).is_err(), "{account} {region}");
        }
    }

    #[test]
    fn organization_mode_without_a_home_refuses() {
        assert!(access(Some(&org(Members::Any)), None, "111111111111", "us-east-1").is_err());
    }
}
