//! Domain values: security groups, their egress rules and the destinations those rules open.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::Error;

/// An IP protocol as EC2 names it. Numeric spellings of the named protocols are folded into them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Protocol {
    /// `-1`: every protocol and every port.
    All,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// Any other IANA protocol number, e.g. `50` (ESP).
    Number(u8),
}

impl Protocol {
    /// Parses EC2's `IpProtocol`: `-1`, a name, or a protocol number.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let protocol = match text.trim().to_ascii_lowercase().as_str() {
            "-1" | "all" => Protocol::All,
            "tcp" | "6" => Protocol::Tcp,
            "udp" | "17" => Protocol::Udp,
            "icmp" | "1" => Protocol::Icmp,
            "icmpv6" | "58" => Protocol::Icmpv6,
            other => match other.parse::<u8>() {
                Ok(number) => Protocol::Number(number),
                Err(_) => return Err(Error::InvalidProtocol(text.to_owned())),
            },
        };
        Ok(protocol)
    }

    /// The spelling EC2 accepts in `IpProtocol`.
    pub fn as_ec2(&self) -> String {
        match self {
            Protocol::All => "-1".into(),
            Protocol::Tcp => "tcp".into(),
            Protocol::Udp => "udp".into(),
            Protocol::Icmp => "icmp".into(),
            Protocol::Icmpv6 => "icmpv6".into(),
            Protocol::Number(n) => n.to_string(),
        }
    }

    /// Whether EC2-033 covers this protocol: all traffic, TCP or UDP.
    pub fn is_in_scope(&self) -> bool {
        matches!(self, Protocol::All | Protocol::Tcp | Protocol::Udp)
    }

    /// Whether EC2 applies a port range to this protocol (ICMP's "ports" are type and code).
    pub fn has_ports(&self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
}

impl From<Protocol> for String {
    fn from(protocol: Protocol) -> Self {
        protocol.as_ec2()
    }
}

impl TryFrom<String> for Protocol {
    type Error = Error;
    fn try_from(text: String) -> Result<Self, Error> {
        Protocol::parse(&text)
    }
}

/// EC2's `FromPort`/`ToPort` pair (for ICMP: type and code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortRange {
    pub from: i32,
    pub to: i32,
}

impl PortRange {
    pub const ALL: PortRange = PortRange { from: 0, to: 65535 };

    pub fn new(from: i32, to: i32) -> Self {
        PortRange { from, to }
    }

    /// Whether every port of `self` lies inside `outer`.
    pub fn is_within(&self, outer: &PortRange) -> bool {
        outer.from <= self.from && self.to <= outer.to
    }
}

/// A CIDR block, parsed once. `text` keeps EC2's own spelling so that API calls name exactly what EC2 holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Cidr {
    net: IpNet,
    text: String,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Self, Error> {
        let net = text.trim().parse::<IpNet>().map_err(|_| Error::InvalidCidr(text.to_owned()))?;
        Ok(Cidr { net, text: text.to_owned() })
    }

    pub fn net(&self) -> IpNet {
        self.net
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_ipv6(&self) -> bool {
        matches!(self.net, IpNet::V6(_))
    }

    /// True for `0.0.0.0/0` and `::/0` however they are spelled: a prefix of length zero spans the whole family.
    pub fn is_unrestricted(&self) -> bool {
        self.net.prefix_len() == 0
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<Cidr> for String {
    fn from(cidr: Cidr) -> Self {
        cidr.text
    }
}

impl TryFrom<String> for Cidr {
    type Error = Error;
    fn try_from(text: String) -> Result<Self, Error> {
        Cidr::parse(&text)
    }
}

/// Where an egress rule lets traffic go.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    Cidr(Cidr),
    PrefixList(String),
    SecurityGroup {
        group_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
    },
}

impl Destination {
    /// Only an IPv4 or IPv6 block with prefix length zero is unrestricted; prefix lists and group
    /// references never are, whatever they contain.
    pub fn is_unrestricted(&self) -> bool {
        matches!(self, Destination::Cidr(cidr) if cidr.is_unrestricted())
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Cidr(cidr) => cidr.fmt(f),
            Destination::PrefixList(id) => f.write_str(id),
            Destination::SecurityGroup { group_id, .. } => f.write_str(group_id),
        }
    }
}

/// One egress rule: a protocol and port range to exactly one destination.
/// An EC2 permission with several ranges becomes several rules.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EgressRule {
    pub protocol: Protocol,
    /// `None` where the protocol has no ports (all traffic, or a protocol number without ports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<PortRange>,
    pub destination: Destination,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// EC2's `sgr-…` id, where the source of the rule knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
}

impl EgressRule {
    /// Whether `other` opens the same traffic to the same destination (ids and descriptions aside).
    pub fn same_traffic(&self, other: &EgressRule) -> bool {
        self.protocol == other.protocol && self.ports == other.ports && self.destination == other.destination
    }

    /// The traffic as a person reads it: `all traffic`, `tcp 443`, `udp 1000-2000`, `icmp 8/0`.
    pub fn traffic(&self) -> String {
        match (&self.protocol, self.ports) {
            (Protocol::All, _) => "all traffic".into(),
            (p, Some(PortRange { from, to })) if p.has_ports() && from == 0 && to == 65535 => {
                format!("{} all ports", p.as_ec2())
            }
            (p, Some(PortRange { from, to })) if p.has_ports() && from == to => {
                format!("{} {from}", p.as_ec2())
            }
            (p, Some(PortRange { from, to })) if p.has_ports() => format!("{} {from}-{to}", p.as_ec2()),
            (Protocol::Number(n), _) => format!("protocol {n}"),
            (p, Some(PortRange { from: -1, .. }) | None) => p.as_ec2(),
            (p, Some(PortRange { from, to })) => format!("{} {from}/{to}", p.as_ec2()),
        }
    }
}

impl fmt::Display for EgressRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {}", self.traffic(), self.destination)
    }
}

/// Parses what `Display` prints: `all traffic to ::/0`, `tcp 443 to 0.0.0.0/0`, `udp 1000-2000 to 10.0.0.0/8`,
/// `tcp all ports to pl-0123abcd`, `icmp 8/0 to sg-0123abcd`, `protocol 50 to 0.0.0.0/0`. A bare `icmp` is EC2's
/// every type and code (`-1`). The description and rule id are left empty.
impl FromStr for EgressRule {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::InvalidRule { text: text.chars().take(200).collect(), why: why.to_owned() };
        let (traffic, to) =
            text.trim().rsplit_once(" to ").ok_or_else(|| invalid("expected `<traffic> to <destination>`"))?;
        let destination = if to.starts_with("pl-") {
            Destination::PrefixList(to.to_owned())
        } else if to.starts_with("sg-") {
            validate_group_id(to)?;
            Destination::SecurityGroup { group_id: to.to_owned(), user_id: None }
        } else {
            Destination::Cidr(Cidr::parse(to)?)
        };
        let (protocol, ports) = match traffic.split_once(' ') {
            _ if traffic == "all traffic" => (Protocol::All, None),
            Some(("protocol", number)) => match Protocol::parse(number)? {
                protocol @ Protocol::Number(_) => (protocol, None),
                _ => return Err(invalid("`protocol N` is for protocols without a name")),
            },
            Some((name, "all ports")) => (Protocol::parse(name)?, Some(PortRange::ALL)),
            Some((name, ports)) => {
                let protocol = Protocol::parse(name)?;
                let separator = if protocol.has_ports() { '-' } else { '/' };
                let (from, to) = ports.split_once(separator).unwrap_or((ports, ports));
                let number = |n: &str| n.parse::<i32>().map_err(|_| invalid("ports are numbers"));
                (protocol, Some(PortRange { from: number(from)?, to: number(to)? }))
            }
            None => {
                let protocol = Protocol::parse(traffic)?;
                let ports =
                    matches!(protocol, Protocol::Icmp | Protocol::Icmpv6).then_some(PortRange { from: -1, to: -1 });
                (protocol, ports)
            }
        };
        Ok(EgressRule { protocol, ports, destination, description: None, rule_id: None })
    }
}

/// A security group as egress-guard sees it, read fresh from EC2.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub egress: Vec<EgressRule>,
    /// What the group accepts inbound: replies to those connections need no egress rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressRule>,
}

/// One inbound rule: a protocol and ports from one source (a CIDR, a prefix list or a group, as a `Destination`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressRule {
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<PortRange>,
    pub source: Destination,
}

/// An AWS account id: 12 digits.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Checks the shape of an EC2 security group id: `sg-` and 8 or 17 lowercase hex digits.
pub fn validate_group_id(id: &str) -> Result<(), Error> {
    if is_resource_id(id, "sg-") { Ok(()) } else { Err(Error::InvalidGroupId(id.chars().take(64).collect())) }
}

/// A VPC id: `vpc-` and 8 or 17 lowercase hex digits.
pub fn validate_vpc_id(id: &str) -> Result<(), Error> {
    if is_resource_id(id, "vpc-") { Ok(()) } else { Err(Error::InvalidVpcId(id.chars().take(64).collect())) }
}

fn is_resource_id(id: &str, prefix: &str) -> bool {
    let hex = id.strip_prefix(prefix).unwrap_or("");
    matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unrestricted_whatever_the_spelling() {
        for text in ["0.0.0.0/0", "::/0", "0:0:0:0:0:0:0:0/0", "::0/0", "10.0.0.0/0"] {
            assert!(Cidr::parse(text).unwrap().is_unrestricted(), "{text}");
        }
        for text in ["0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8", "::/1", "2001:db8::/32", "0.0.0.0/32"] {
            assert!(!Cidr::parse(text).unwrap().is_unrestricted(), "{text}");
        }
    }

    #[test]
    fn rejects_text_that_is_not_a_cidr() {
        for text in ["", "0.0.0.0", "0.0.0.0/33", "any", "::/129"] {
            assert!(matches!(Cidr::parse(text), Err(Error::InvalidCidr(_))), "{text}");
        }
    }

    #[test]
    fn numeric_protocols_fold_into_names() {
        assert_eq!(Protocol::parse("6").unwrap(), Protocol::Tcp);
        assert_eq!(Protocol::parse("17").unwrap(), Protocol::Udp);
        assert_eq!(Protocol::parse("-1").unwrap(), Protocol::All);
        assert_eq!(Protocol::parse("58").unwrap(), Protocol::Icmpv6);
        assert_eq!(Protocol::parse("50").unwrap(), Protocol::Number(50));
        assert!(Protocol::parse("tcpx").is_err());
    }

    #[test]
    fn group_id_shape() {
        assert!(validate_group_id("sg-0123abcd").is_ok());
        assert!(validate_group_id("sg-0123456789abcdef0").is_ok());
        for bad in ["sg-xyz", "sg-0123ABCD", "0123abcd", "sg-", "sg-0123abcd0", "vpc-0123abcd"] {
            assert!(validate_group_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefix_lists_and_group_references_are_never_unrestricted() {
        assert!(!Destination::PrefixList("pl-12345678".into()).is_unrestricted());
        let sg = Destination::SecurityGroup { group_id: "sg-0123abcd".into(), user_id: None };
        assert!(!sg.is_unrestricted());
    }

    #[test]
    fn traffic_reads_plainly() {
        let rule = |p, ports| EgressRule {
            protocol: p,
            ports,
            destination: Destination::Cidr(Cidr::parse("0.0.0.0/0").unwrap()),
            description: None,
            rule_id: None,
        };
        assert_eq!(rule(Protocol::All, None).traffic(), "all traffic");
        assert_eq!(rule(Protocol::Tcp, Some(PortRange::new(443, 443))).traffic(), "tcp 443");
        assert_eq!(rule(Protocol::Udp, Some(PortRange::new(1000, 2000))).traffic(), "udp 1000-2000");
        assert_eq!(rule(Protocol::Tcp, Some(PortRange::ALL)).traffic(), "tcp all ports");
        assert_eq!(rule(Protocol::Icmp, Some(PortRange::new(-1, -1))).traffic(), "icmp");
        assert_eq!(rule(Protocol::Icmp, Some(PortRange::new(8, 0))).traffic(), "icmp 8/0");
    }

    #[test]
    fn a_rule_parses_from_what_display_prints() {
        for text in [
            "all traffic to 0.0.0.0/0",
            "all traffic to ::/0",
            "tcp 443 to 0.0.0.0/0",
            "udp 1000-2000 to 10.0.0.0/8",
            "tcp all ports to pl-0123abcd",
            "tcp 443 to sg-0fedcba9",
            "icmp to 0.0.0.0/0",
            "icmp 8/0 to ::/0",
            "icmpv6 to ::/0",
            "protocol 50 to 0.0.0.0/0",
        ] {
            let rule: EgressRule = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(rule.to_string(), text);
        }
        let rule: EgressRule = "udp 53 to ::/0".parse().unwrap();
        assert_eq!((rule.protocol, rule.ports), (Protocol::Udp, Some(PortRange::new(53, 53))));
    }

    #[test]
    fn a_rule_that_does_not_parse_says_why() {
        for text in
            ["tcp 443", "tcp x to 0.0.0.0/0", "tcpx 443 to 0.0.0.0/0", "tcp 443 to 0.0.0.0/33", "protocol 6 to ::/0"]
        {
            assert!(text.parse::<EgressRule>().is_err(), "{text}");
        }
    }
}
