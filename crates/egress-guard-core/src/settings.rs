//! Settings that shape a remediation: exemptions, allowed open ports, dry-run and when to notify.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::model::{PortRange, Protocol};

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
        }
    }
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
