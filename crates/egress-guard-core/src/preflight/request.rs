//! What `egress-guard preflight` is asked to check: the `Request`, validated before any AWS call (`DEFAULT_REGIONS`,
//! the template's `Regions` default; `DEFAULT_ROLE_NAME`), and the member role's ARN.

use crate::Error;
use crate::model::is_account_id;
use crate::org::is_region;
use crate::partition::partition;
use crate::settings::is_role_name;

/// `--regions all`: `template.yaml`'s `Regions` default, every region that cannot be disabled (a test holds the two
/// equal).
pub const DEFAULT_REGIONS: [&str; 17] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
];

/// The remediation role's name unless another is given (`template.yaml`'s `RemediationRoleName` default).
pub const DEFAULT_ROLE_NAME: &str = "egress-guard-remediation";

/// What `egress-guard preflight` is asked, as the command line gives it; `validate` checks it before any AWS call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `all` (`DEFAULT_REGIONS`) or region names, comma-separated.
    pub regions: String,
    /// Organization mode: the member accounts' ids, comma-separated.
    pub member_accounts: Option<String>,
    /// The remediation role's name in each member account.
    pub role_name: String,
    /// The reserved concurrency the deploy would ask for; `None`: not checked.
    pub function_concurrency: Option<u32>,
    /// Whether Security Hub is looked at in each region.
    pub security_hub: bool,
}

/// What preflight checks: a `Request` made valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// Distinct, in the order given.
    pub regions: Vec<String>,
    /// Distinct, in the order given.
    pub member_accounts: Vec<String>,
    pub role_name: String,
    /// The reserved concurrency the deploy would ask for; `None`: not checked.
    pub function_concurrency: Option<u32>,
    pub security_hub: bool,
}

impl Request {
    /// Checks the command line's values: `regions` is `all` or comma-separated region names, `member_accounts`
    /// 12-digit ids, `role_name` an IAM role name, `function_concurrency` at least 1. The error names the flag.
    pub fn validate(&self) -> Result<Scope, Error> {
        let regions = regions(&self.regions)?;
        let member_accounts = match &self.member_accounts {
            None => Vec::new(),
            Some(text) => member_accounts(text)?,
        };
        if !is_role_name(&self.role_name) {
            return Err(bad(
                "--remediation-role-name",
                &self.role_name,
                "not an IAM role name: 1 to 64 of A-Z a-z 0-9 +=,.@_-",
            ));
        }
        if self.function_concurrency == Some(0) {
            return Err(bad(
                "--function-concurrency",
                "0",
                "0 reserves nothing, so there is nothing to check: leave the flag out, or give the reservation the deploy asks for",
            ));
        }
        Ok(Scope {
            regions,
            member_accounts,
            role_name: self.role_name.clone(),
            function_concurrency: self.function_concurrency,
            security_hub: self.security_hub,
        })
    }
}

impl Scope {
    /// The remediation role in `account`, in the partition of `region` (the caller's home region).
    pub fn role_arn(&self, region: &str, account: &str) -> String {
        format!("arn:{}:iam::{account}:role/{}", partition(region), self.role_name)
    }
}

/// A bad value of `flag`, cut to 64 characters, and why.
fn bad(flag: &'static str, value: &str, why: &str) -> Error {
    Error::InvalidArgument { flag, value: value.chars().take(64).collect(), why: why.to_owned() }
}

/// `--regions`: `all`, or distinct region names.
fn regions(text: &str) -> Result<Vec<String>, Error> {
    if text.trim() == "all" {
        return Ok(DEFAULT_REGIONS.iter().map(|r| (*r).to_owned()).collect());
    }
    let names = distinct(text);
    if names.is_empty() {
        return Err(bad("--regions", text, "no region: give `all` or region names, comma-separated"));
    }
    if let Some(wrong) = names.iter().find(|r| !is_region(r)) {
        return Err(bad(
            "--regions",
            wrong,
            "not a region name: lowercase letters, digits and hyphens, like eu-west-1 (or `all`)",
        ));
    }
    Ok(names)
}

/// `--member-accounts`: distinct account ids, at least one; `*` is refused, preflight lists no organization.
fn member_accounts(text: &str) -> Result<Vec<String>, Error> {
    let ids = distinct(text);
    if ids.is_empty() {
        return Err(bad("--member-accounts", text, "no account: give 12-digit account ids, comma-separated"));
    }
    if let Some(wrong) = ids.iter().find(|a| !is_account_id(a)) {
        let why = if wrong == "*" {
            "name the accounts: preflight tries each named account's role (it lists no organization)"
        } else {
            "not an account id: 12 digits"
        };
        return Err(bad("--member-accounts", wrong, why));
    }
    Ok(ids)
}

/// The comma-separated values of `text`, trimmed, without empty ones or repeats, in their order.
fn distinct(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in text.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        if !out.iter().any(|seen| seen == value) {
            out.push(value.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request the command line gives for these values.
    fn request(regions: &str, members: Option<&str>, role: &str, concurrency: Option<u32>) -> Request {
        Request {
            regions: regions.to_owned(),
            member_accounts: members.map(str::to_owned),
            role_name: role.to_owned(),
            function_concurrency: concurrency,
            security_hub: false,
        }
    }

    #[test]
    fn request_all_is_the_default_regions_and_lists_are_trimmed_and_distinct() {
        let r = request("all", None, DEFAULT_ROLE_NAME, None).validate().unwrap();
        assert_eq!(r.regions, DEFAULT_REGIONS);
        let r = request(" eu-west-1, us-east-1,eu-west-1,", Some("111111111111, 111111111111"), "r", Some(5));
        let r = r.validate().unwrap();
        assert_eq!(
            (r.regions, r.member_accounts),
            (vec!["eu-west-1".to_owned(), "us-east-1".into()], vec!["111111111111".to_owned()])
        );
        assert_eq!(
            request("all", None, "x", None).validate().unwrap().role_arn("cn-north-1", "111111111111"),
            "arn:aws-cn:iam::111111111111:role/x"
        );
    }

    #[test]
    fn a_valid_request_keeps_its_role_its_reservation_and_its_hub_check() {
        let asked = Request { security_hub: true, ..request("eu-west-1", None, "guard", Some(7)) };
        let scope = asked.validate().unwrap();
        assert_eq!(
            (scope.role_name.as_str(), scope.function_concurrency, scope.security_hub, scope.member_accounts.len()),
            ("guard", Some(7), true, 0)
        );
        assert_eq!(scope.role_arn("us-iso-east-1", "111111111111"), "arn:aws-iso:iam::111111111111:role/guard");
    }

    /// Each bad value: its flag and why, as the error prints.
    macro_rules! bad_request {
        ($($name:ident: ($regions:expr, $members:expr, $role:expr, $concurrency:expr) => $message:expr;)*) => {$(
            #[test]
            fn $name() {
                let err = request($regions, $members, $role, $concurrency).validate().unwrap_err();
                assert!(err.is_bad_input());
                assert_eq!(err.to_string(), $message);
            }
        )*};
    }

    bad_request! {
        a_region_with_a_bang_is_bad_input: ("eu-west-1,not-a-region!", None, "r", None) =>
            "--regions \"not-a-region!\": not a region name: lowercase letters, digits and hyphens, like eu-west-1 (or `all`)";
        no_region_is_bad_input: (" , ", None, "r", None) =>
            "--regions \" , \": no region: give `all` or region names, comma-separated";
        a_short_account_is_bad_input: ("all", Some("12345"), "r", None) => "--member-accounts \"12345\": not an account id: 12 digits";
        no_member_account_is_bad_input: ("all", Some(" , "), "r", None) =>
            "--member-accounts \" , \": no account: give 12-digit account ids, comma-separated";
        every_member_is_not_listed_by_preflight: ("all", Some("*"), "r", None) =>
            "--member-accounts \"*\": name the accounts: preflight tries each named account's role (it lists no organization)";
        a_role_name_with_a_slash_is_bad_input: ("all", None, "a/b", None) =>
            "--remediation-role-name \"a/b\": not an IAM role name: 1 to 64 of A-Z a-z 0-9 +=,.@_-";
        a_reservation_of_zero_is_bad_input: ("all", None, "r", Some(0)) =>
            "--function-concurrency \"0\": 0 reserves nothing, so there is nothing to check: leave the flag out, or give the reservation the deploy asks for";
    }

    #[test]
    fn default_regions_are_the_templates_regions_default() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let template = std::fs::read_to_string(&path).unwrap();
        let mut lines = template.lines().skip_while(|l| *l != "  Regions:");
        assert!(lines.next().is_some(), "template.yaml has no Regions parameter");
        let default = lines
            .take_while(|l| l.starts_with("    "))
            .find_map(|l| l.trim().strip_prefix("Default:"))
            .expect("Regions has a Default");
        let regions: Vec<&str> = default.trim().trim_matches('"').split(',').map(str::trim).collect();
        assert_eq!(regions, DEFAULT_REGIONS);
    }
}
