//! Settings that shape a remediation: exemptions, allowed open ports, dry-run and when to notify.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::model::is_account_id;
use crate::model::{PortRange, Protocol};
use crate::pause::Pause;

/// Revokes of the same destination within this many hours count as repeats.
pub const DEFAULT_REPEAT_WINDOW_HOURS: u32 = 24;
/// Groups a sweep acts on at once: with EC2's latency (about 0.1 s a call, three calls a group) two to four keep the
/// revokes near EC2's sustained rate for one account and region (5 a second), which the adapter's pacing holds.
pub const DEFAULT_SWEEP_CONCURRENCY: usize = 4;

/// The tag key that exempts a group unless another is configured.
pub const DEFAULT_EXEMPT_TAG_KEY: &str = "egress-guard:exempt";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Plan and report, revoke nothing.
    pub dry_run: bool,
    /// A group carrying this tag is exempt; the tag's value is shown as the reason. `None`: no tag exempts.
    pub exempt_tag_key: Option<String>,
    pub exempt_group_ids: BTreeSet<String>,
    /// Open egress that is accepted, e.g. `tcp:443`.
    pub allowed: Vec<AllowedPort>,
    /// Send a notice for compliant and exempt groups too.
    pub notify_compliant: bool,
    /// Also revoke open ICMP and other non-TCP/UDP protocols; by default they are only reported.
    pub revoke_other_protocols: bool,
    /// Also revoke split ranges (CIDRs that add up to the whole space, none of them `/0`); by default only reported.
    pub revoke_split_ranges: bool,
    /// The window in which revokes of the same destination count as repeats, in hours.
    pub repeat_window_hours: u32,
    /// Groups a sweep acts on at once (1 to 16).
    pub sweep_concurrency: usize,
    /// Organization mode: act in member accounts through their remediation role. `None`: single-account.
    pub organization: Option<Organization>,
    /// Days of flow logs a notice's observed-egress section reads (1 to 14); 0: no section.
    pub observed_egress_days: u32,
    /// The kill switch, when it covers the trigger's region (read by the function on every invocation, never from a
    /// variable): a dry run that says so.
    pub paused: Option<Pause>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dry_run: false,
            exempt_tag_key: Some(DEFAULT_EXEMPT_TAG_KEY.to_owned()),
            exempt_group_ids: BTreeSet::new(),
            allowed: Vec::new(),
            notify_compliant: false,
            revoke_other_protocols: false,
            revoke_split_ranges: false,
            repeat_window_hours: DEFAULT_REPEAT_WINDOW_HOURS,
            sweep_concurrency: DEFAULT_SWEEP_CONCURRENCY,
            organization: None,
            observed_egress_days: 0,
            paused: None,
        }
    }
}

/// Organization mode, as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// The role each member account holds for egress-guard, by name (the spoke template creates it).
    pub role_name: String,
    pub members: Members,
}

/// The member accounts the function acts in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Members {
    /// Every account whose events reach the function: the hub's event bus admits only the organization's.
    Any,
    Only(BTreeSet<String>),
}

/// The environment variables that carry the settings, shared by the Lambda, the CLI and the SAM template.
pub mod vars {
    pub const DRY_RUN: &str = "EGRESS_GUARD_DRY_RUN";
    pub const EXEMPT_TAG_KEY: &str = "EGRESS_GUARD_EXEMPT_TAG_KEY";
    pub const EXEMPT_GROUP_IDS: &str = "EGRESS_GUARD_EXEMPT_GROUP_IDS";
    pub const ALLOWED_PORTS: &str = "EGRESS_GUARD_ALLOWED_PORTS";
    pub const NOTIFY_COMPLIANT: &str = "EGRESS_GUARD_NOTIFY_COMPLIANT";
    pub const REVOKE_OTHER_PROTOCOLS: &str = "EGRESS_GUARD_REVOKE_OTHER_PROTOCOLS";
    pub const REVOKE_SPLIT_RANGES: &str = "EGRESS_GUARD_REVOKE_SPLIT_RANGES";
    pub const REPEAT_WINDOW_HOURS: &str = "EGRESS_GUARD_REPEAT_WINDOW_HOURS";
    pub const REMEDIATION_ROLE: &str = "EGRESS_GUARD_REMEDIATION_ROLE";
    pub const MEMBER_ACCOUNTS: &str = "EGRESS_GUARD_MEMBER_ACCOUNTS";
    pub const SWEEP_CONCURRENCY: &str = "EGRESS_GUARD_SWEEP_CONCURRENCY";
    pub const OBSERVED_EGRESS_DAYS: &str = "EGRESS_GUARD_OBSERVED_EGRESS_DAYS";
    pub const ALL: [&str; 12] = [
        DRY_RUN,
        EXEMPT_TAG_KEY,
        EXEMPT_GROUP_IDS,
        ALLOWED_PORTS,
        NOTIFY_COMPLIANT,
        REVOKE_OTHER_PROTOCOLS,
        REVOKE_SPLIT_RANGES,
        REPEAT_WINDOW_HOURS,
        REMEDIATION_ROLE,
        MEMBER_ACCOUNTS,
        SWEEP_CONCURRENCY,
        OBSERVED_EGRESS_DAYS,
    ];
}

impl Settings {
    /// These settings while `pause` holds: a dry run that says who paused, when and why. The one way a pause turns
    /// enforcement off, for the function and the CLI alike.
    pub fn paused(&self, pause: Pause) -> Settings {
        Settings { dry_run: true, paused: Some(pause), ..self.clone() }
    }

    /// Reads the settings from variables (`lookup` is `std::env::var` in production). An unset variable takes its
    /// default; a set but invalid one is an error that names it. `EGRESS_GUARD_EXEMPT_TAG_KEY=""` turns tag exemption off.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        let lookup = &lookup as &dyn Fn(&str) -> Option<String>;
        let exempt_tag_key = match lookup(vars::EXEMPT_TAG_KEY) {
            None => Some(DEFAULT_EXEMPT_TAG_KEY.to_owned()),
            Some(key) if key.trim().is_empty() => None,
            Some(key) => Some(key.trim().to_owned()),
        };
        let ids = lookup(vars::EXEMPT_GROUP_IDS).unwrap_or_default();
        let exempt_group_ids = ids
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|id| crate::model::validate_group_id(id).map(|()| id.to_owned()))
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(vars::EXEMPT_GROUP_IDS, &ids, e.to_string()))?;
        let ports = lookup(vars::ALLOWED_PORTS).unwrap_or_default();
        let allowed =
            AllowedPort::parse_list(&ports).map_err(|e| invalid(vars::ALLOWED_PORTS, &ports, e.to_string()))?;
        Ok(Settings {
            organization: organization(lookup)?,
            observed_egress_days: number(lookup, vars::OBSERVED_EGRESS_DAYS, 0, 0..=14, "days from 0 (off) to 14")?,
            paused: None,
            repeat_window_hours: number(
                lookup,
                vars::REPEAT_WINDOW_HOURS,
                DEFAULT_REPEAT_WINDOW_HOURS,
                1..=720,
                "hours from 1 to 720",
            )?,
            sweep_concurrency: number(
                lookup,
                vars::SWEEP_CONCURRENCY,
                DEFAULT_SWEEP_CONCURRENCY,
                1..=16,
                "groups from 1 to 16",
            )?,
            dry_run: flag(lookup, vars::DRY_RUN)?,
            exempt_tag_key,
            exempt_group_ids,
            allowed,
            notify_compliant: flag(lookup, vars::NOTIFY_COMPLIANT)?,
            revoke_other_protocols: flag(lookup, vars::REVOKE_OTHER_PROTOCOLS)?,
            revoke_split_ranges: flag(lookup, vars::REVOKE_SPLIT_RANGES)?,
        })
    }
}

/// A variable set to a value it cannot take: named, with the value (at most 200 characters) and why.
fn invalid(variable: &'static str, value: &str, why: impl Into<String>) -> Error {
    Error::InvalidSetting { variable, value: value.chars().take(200).collect(), why: why.into() }
}

/// A flag: unset or empty is off; `true`/`1` and `false`/`0`, in any case.
fn flag(lookup: &dyn Fn(&str) -> Option<String>, variable: &'static str) -> Result<bool, Error> {
    match lookup(variable).as_deref().map(str::trim) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(v) => Err(invalid(variable, v, "expected true or false")),
    }
}

/// A whole number in `range` (`what` says of what, for the error); unset or empty: `default`.
fn number<T: FromStr + PartialOrd>(
    lookup: &dyn Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
    what: &str,
) -> Result<T, Error> {
    match lookup(variable).as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| invalid(variable, v, format!("expected a whole number of {what}"))),
    }
}

/// Organization mode: the remediation role's name, and the members (`*` or unset: every account).
fn organization(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<Organization>, Error> {
    let role = lookup(vars::REMEDIATION_ROLE).map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    let members = lookup(vars::MEMBER_ACCOUNTS).map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
    let role_name = match (role, &members) {
        (None, None) => return Ok(None),
        (None, Some(m)) => {
            return Err(invalid(vars::MEMBER_ACCOUNTS, m, format!("needs {} as well", vars::REMEDIATION_ROLE)));
        }
        (Some(role), _) if !is_role_name(&role) => {
            return Err(invalid(
                vars::REMEDIATION_ROLE,
                &role,
                "expected an IAM role name: 1 to 64 of letters, digits and +=,.@_-",
            ));
        }
        (Some(role), _) => role,
    };
    let members = match members.as_deref() {
        None | Some("*") => Members::Any,
        Some(list) => Members::Only(
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|a| {
                    is_account_id(a).then(|| a.to_owned()).ok_or_else(|| {
                        invalid(
                            vars::MEMBER_ACCOUNTS,
                            list,
                            format!("{a:?} is not a 12-digit account id (or use * for every account)"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(Some(Organization { role_name, members }))
}

pub(crate) fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// An allowed open port range for TCP or UDP: `tcp:443`, `udp:53`, `tcp:8000-8080`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct AllowedPort {
    pub protocol: Protocol,
    pub ports: PortRange,
}

impl AllowedPort {
    /// Parses a comma-separated list; blanks are ignored.
    pub fn parse_list(text: &str) -> Result<Vec<AllowedPort>, Error> {
        text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse).collect()
    }
}

impl FromStr for AllowedPort {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidAllowedPort { entry: text.to_owned(), why: why.to_owned() };
        let (proto, ports) =
            text.split_once(':').ok_or_else(|| bad("expected PROTOCOL:PORT or PROTOCOL:FROM-TO, e.g. tcp:443"))?;
        let protocol = match proto.trim().to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            _ => return Err(bad("only tcp and udp ports can be allowed")),
        };
        let port = |p: &str| -> Result<i32, Error> {
            p.trim().parse::<u16>().map(i32::from).map_err(|_| bad("a port is a number from 0 to 65535"))
        };
        let (from, to) = match ports.split_once('-') {
            Some((from, to)) => (port(from)?, port(to)?),
            None => (port(ports)?, port(ports)?),
        };
        if from > to {
            return Err(bad("the range's first port is above its last"));
        }
        Ok(AllowedPort { protocol, ports: PortRange { from, to } })
    }
}

impl fmt::Display for AllowedPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let PortRange { from, to } = self.ports;
        if from == to {
            write!(f, "{}:{from}", self.protocol.as_ec2())
        } else {
            write!(f, "{}:{from}-{to}", self.protocol.as_ec2())
        }
    }
}

impl From<AllowedPort> for String {
    fn from(port: AllowedPort) -> Self {
        port.to_string()
    }
}

impl TryFrom<String> for AllowedPort {
    type Error = Error;
    fn try_from(text: String) -> Result<Self, Error> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, Error> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_vars(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn unset_variables_take_safe_defaults() {
        assert_eq!(from(&[]).unwrap(), Settings::default());
    }

    #[test]
    fn reads_every_variable() {
        let s = from(&[
            (vars::DRY_RUN, "true"),
            (vars::EXEMPT_TAG_KEY, "team:keep-open"),
            (vars::EXEMPT_GROUP_IDS, "sg-0123abcd, sg-0123456789abcdef0"),
            (vars::ALLOWED_PORTS, "tcp:443,udp:53"),
            (vars::NOTIFY_COMPLIANT, "1"),
            (vars::REVOKE_OTHER_PROTOCOLS, "FALSE"),
        ])
        .unwrap();
        assert!(s.dry_run && s.notify_compliant && !s.revoke_other_protocols);
        assert_eq!(s.exempt_tag_key.as_deref(), Some("team:keep-open"));
        assert_eq!(s.exempt_group_ids.len(), 2);
        assert_eq!(s.allowed.len(), 2);
    }

    #[test]
    fn empty_tag_key_turns_tag_exemption_off() {
        assert_eq!(from(&[(vars::EXEMPT_TAG_KEY, "")]).unwrap().exempt_tag_key, None);
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (var, value) in [
            (vars::DRY_RUN, "yes please"),
            (vars::ALLOWED_PORTS, "tcp:99999"),
            (vars::EXEMPT_GROUP_IDS, "sg-0123abcd,web"),
            (vars::NOTIFY_COMPLIANT, "2"),
            (vars::REMEDIATION_ROLE, "role/with/path"),
            (vars::MEMBER_ACCOUNTS, "111111111111"),
            (vars::REPEAT_WINDOW_HOURS, "0"),
            (vars::SWEEP_CONCURRENCY, "0"),
            (vars::SWEEP_CONCURRENCY, "17"),
            (vars::REPEAT_WINDOW_HOURS, "a day"),
        ] {
            let err = from(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
        }
    }

    #[test]
    fn remediation_role_turns_organization_mode_on() {
        let any = from(&[(vars::REMEDIATION_ROLE, "egress-guard-remediation")]).unwrap();
        assert_eq!(
            any.organization,
            Some(Organization { role_name: "egress-guard-remediation".into(), members: Members::Any })
        );
        let only = from(&[(vars::REMEDIATION_ROLE, "r"), (vars::MEMBER_ACCOUNTS, "111111111111, 222222222222")])
            .unwrap()
            .organization
            .unwrap();
        assert_eq!(only.members, Members::Only(["111111111111".to_owned(), "222222222222".to_owned()].into()));
        let err = from(&[(vars::REMEDIATION_ROLE, "r"), (vars::MEMBER_ACCOUNTS, "111111111111,12345")]).unwrap_err();
        assert!(err.to_string().contains(vars::MEMBER_ACCOUNTS) && err.to_string().contains("12345"), "{err}");
    }

    #[test]
    fn parses_single_ports_and_ranges() {
        let list = AllowedPort::parse_list("tcp:443, udp:53,tcp:8000-8080,").unwrap();
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["tcp:443", "udp:53", "tcp:8000-8080"]);
    }

    #[test]
    fn rejects_bad_entries_naming_them() {
        for bad in ["tcp:99999", "icmp:8", "-1:0", "tcp", "tcp:80-20", "tcp:abc", ":443"] {
            let err = bad.parse::<AllowedPort>().unwrap_err();
            assert!(err.to_string().contains(bad), "{bad}: {err}");
        }
    }
}
