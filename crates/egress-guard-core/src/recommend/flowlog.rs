//! VPC Flow Log records: a log's own format (`LogFormat`, or an S3 file's header line), its records parsed, and
//! which of them are traffic a network interface started (the only traffic an egress rule is needed for).

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::Error;
use crate::model::{Destination, IngressRule, Protocol};

/// AWS's default format (version 2), used when a flow log names none.
pub const DEFAULT_FORMAT: &str = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} \
                                  ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}";

/// The fields a record must carry to tell a destination, its protocol and port.
const REQUIRED: [&str; 4] = ["srcaddr", "dstaddr", "dstport", "protocol"];

/// TCP flags as flow logs report them (OR-ed over the aggregation interval; a bare ACK is not reported).
const SYN: u16 = 2;
const SYN_ACK: u16 = 18;

/// Where each field sits in a record of one log: found once, not for each record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    width: usize,
    at: Positions,
}

/// The position of each field a record is read for; `None`: the format has no such field.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Positions {
    interface_id: Option<usize>,
    srcaddr: Option<usize>,
    dstaddr: Option<usize>,
    pkt_srcaddr: Option<usize>,
    pkt_dstaddr: Option<usize>,
    srcport: Option<usize>,
    dstport: Option<usize>,
    protocol: Option<usize>,
    start: Option<usize>,
    action: Option<usize>,
    log_status: Option<usize>,
    tcp_flags: Option<usize>,
    flow_direction: Option<usize>,
    aws_service: Option<usize>,
}

impl Format {
    /// Parses a flow log's `LogFormat` (`${field} ${field} …`); an empty one is AWS's default.
    pub fn parse(log_format: &str) -> Result<Format, Error> {
        let text = if log_format.trim().is_empty() { DEFAULT_FORMAT } else { log_format };
        let fields = text
            .split_whitespace()
            .map(|token| {
                token.strip_prefix("${").and_then(|t| t.strip_suffix('}')).map(str::to_owned).ok_or_else(|| {
                    Error::InvalidFlowLogFormat { format: text.chars().take(200).collect(), why: format!("{token:?}") }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Format::checked(fields, text)
    }

    /// Parses the header line that starts each plain-text file a flow log writes to S3 (`version account-id …`).
    pub fn from_header(line: &str) -> Result<Format, Error> {
        Format::checked(line.split_whitespace().map(str::to_owned).collect(), line)
    }

    fn checked(fields: Vec<String>, text: &str) -> Result<Format, Error> {
        match REQUIRED.iter().find(|name| !fields.iter().any(|f| f == *name)) {
            Some(missing) => Err(Error::InvalidFlowLogFormat {
                format: text.chars().take(200).collect(),
                why: format!("it has no `{missing}`, which a proposal needs"),
            }),
            None => {
                let at = |name: &str| fields.iter().position(|f| f == name);
                let at = Positions {
                    interface_id: at("interface-id"),
                    srcaddr: at("srcaddr"),
                    dstaddr: at("dstaddr"),
                    pkt_srcaddr: at("pkt-srcaddr"),
                    pkt_dstaddr: at("pkt-dstaddr"),
                    srcport: at("srcport"),
                    dstport: at("dstport"),
                    protocol: at("protocol"),
                    start: at("start"),
                    action: at("action"),
                    log_status: at("log-status"),
                    tcp_flags: at("tcp-flags"),
                    flow_direction: at("flow-direction"),
                    aws_service: at("pkt-dst-aws-service"),
                };
                Ok(Format { width: fields.len(), at })
            }
        }
    }

    /// One record (a line of space-separated values, `-` for none). `None`: the line does not have the format's
    /// shape (a header repeated, a truncated line).
    pub fn record(&self, line: &str) -> Option<Record> {
        let values: Vec<&str> = line.split_whitespace().collect();
        if values.len() != self.width {
            return None;
        }
        let at = &self.at;
        let get = |position: Option<usize>| position.map(|i| values[i]).filter(|v| *v != "-");
        let addr = |position| get(position).and_then(|v| v.parse::<IpAddr>().ok());
        let number = |position| get(position).and_then(|v| v.parse::<u32>().ok());
        let log_status = match get(at.log_status) {
            Some("NODATA") => LogStatus::NoData,
            Some("SKIPDATA") => LogStatus::SkipData,
            _ => LogStatus::Ok,
        };
        // A NODATA or SKIPDATA record carries no protocol.
        let protocol = match number(at.protocol).map(u8::try_from) {
            Some(Ok(protocol)) => protocol,
            None if log_status != LogStatus::Ok => 0,
            _ => return None,
        };
        Some(Record {
            interface_id: get(at.interface_id).map(str::to_owned),
            srcaddr: addr(at.srcaddr),
            dstaddr: addr(at.dstaddr),
            pkt_srcaddr: addr(at.pkt_srcaddr),
            pkt_dstaddr: addr(at.pkt_dstaddr),
            srcport: number(at.srcport).and_then(|p| u16::try_from(p).ok()),
            dstport: number(at.dstport).and_then(|p| u16::try_from(p).ok()),
            protocol,
            start: get(at.start).and_then(|v| v.parse().ok()),
            action: match get(at.action) {
                Some("ACCEPT") => Some(Action::Accept),
                Some("REJECT") => Some(Action::Reject),
                _ => None,
            },
            log_status,
            tcp_flags: number(at.tcp_flags).and_then(|f| u16::try_from(f).ok()),
            flow_direction: match get(at.flow_direction) {
                Some("egress") => Some(Direction::Egress),
                Some("ingress") => Some(Direction::Ingress),
                _ => None,
            },
            aws_service: get(at.aws_service).map(str::to_owned),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Accept,
    Reject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStatus {
    Ok,
    NoData,
    SkipData,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

/// One flow log record, as far as its format tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub interface_id: Option<String>,
    pub srcaddr: Option<IpAddr>,
    pub dstaddr: Option<IpAddr>,
    pub pkt_srcaddr: Option<IpAddr>,
    pub pkt_dstaddr: Option<IpAddr>,
    pub srcport: Option<u16>,
    pub dstport: Option<u16>,
    pub protocol: u8,
    pub start: Option<i64>,
    pub action: Option<Action>,
    pub log_status: LogStatus,
    pub tcp_flags: Option<u16>,
    pub flow_direction: Option<Direction>,
    pub aws_service: Option<String>,
}

/// Traffic an interface started: what an egress rule has to allow.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Flow {
    pub protocol: Protocol,
    /// The destination port, for TCP and UDP.
    pub port: Option<u16>,
    pub destination: IpAddr,
    /// `pkt-dst-aws-service`, where the format has it.
    pub aws_service: Option<String>,
}

/// What a record is to the interface it was read for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Accepted traffic the interface started.
    Started(Flow),
    /// The interface's answer to a connection someone else started: security groups are stateful, it needs no rule.
    Reply,
    /// Leaving from a port the group serves, to a peer it admits, with no handshake in the record: a reply only if
    /// the window holds the connection coming in (`Connection`), and told for certain only by the peer's SYN; else
    /// traffic the interface started (an active-mode FTP server's data connection leaves from port 20 to its client).
    ReplyIfAnswered(Flow, Connection),
    /// Traffic into the interface: the connection, when the record names ports, and whether the record shows the
    /// peer opening it (a SYN without ACK, so the peer started it).
    Inbound(Option<Connection>, bool),
    /// Rejected: evidence of what was tried, never of what is needed.
    Rejected,
    /// `SKIPDATA`: records the capture window lost.
    Skipped,
    /// `NODATA`: nothing flowed.
    NoData,
    /// To an address flow logs never record and no rule governs (DNS resolver, metadata, time sync).
    LinkLocal,
    /// Neither the interface's address nor a direction tells which way it went.
    Unattributed,
}

/// A connection as the interface's side sees it: its own address and port, the peer and its port, the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Connection {
    pub local: IpAddr,
    pub peer: IpAddr,
    pub peer_port: u16,
    pub port: u16,
    pub protocol: u8,
}

/// Inbound ranges wider than this name no service: a reply is never told by them.
pub const MAX_SERVICE_PORTS: i32 = 1024;
/// The ports clients connect from (Linux 32768-60999, Windows and IANA 49152-65535): a served range that reaches
/// into them cannot tell a reply from a connection that happened to leave from one of its ports.
pub const EPHEMERAL_PORTS: (i32, i32) = (32768, 65535);

/// What a group serves: its inbound rules, and the VPC's blocks (where a group or prefix-list source may be).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inbound {
    pub rules: Vec<IngressRule>,
    pub vpc_cidrs: Vec<IpNet>,
}

impl Inbound {
    /// Whether a record leaving from `port` to `peer_port` on `peer` answers a connection the group accepts: a TCP or
    /// UDP rule of at most `MAX_SERVICE_PORTS` ports, outside the ephemeral ports, holding `port`, whose source holds
    /// `peer` (a group or prefix-list source: a peer inside the VPC), to another port than its own (protocols that
    /// speak from the port they listen on, as IKE, WireGuard or gossip do, start their own flows that way). All
    /// traffic, wide ranges and portless protocols tell nothing: in doubt, a record is traffic started, which at
    /// worst proposes a rule too many, never one too few.
    fn serves(&self, protocol: Protocol, port: Option<u16>, peer: IpAddr, peer_port: Option<u16>) -> bool {
        let Some(port) = port.filter(|p| Some(*p) != peer_port).map(i32::from) else { return false };
        self.rules.iter().any(|rule| {
            let ports = rule.ports.is_some_and(|r| {
                r.to - r.from < MAX_SERVICE_PORTS && r.to < EPHEMERAL_PORTS.0 && r.from <= port && port <= r.to
            });
            let source = match &rule.source {
                Destination::Cidr(cidr) => cidr.net().contains(&peer),
                Destination::PrefixList(_) | Destination::SecurityGroup { .. } => {
                    self.vpc_cidrs.iter().any(|net| net.contains(&peer))
                }
            };
            rule.protocol == protocol && protocol.has_ports() && ports && source
        })
    }
}

/// Tells what `record` is to an interface with `addresses`, in a group that accepts `inbound`.
pub fn classify(record: &Record, addresses: &BTreeSet<IpAddr>, inbound: &Inbound) -> Kind {
    match record.log_status {
        LogStatus::SkipData => return Kind::Skipped,
        LogStatus::NoData => return Kind::NoData,
        LogStatus::Ok => {}
    }
    let (Some(src), Some(dst)) = (record.pkt_srcaddr.or(record.srcaddr), record.pkt_dstaddr.or(record.dstaddr)) else {
        return Kind::Unattributed;
    };
    if record.action == Some(Action::Reject) {
        return Kind::Rejected;
    }
    let direction = record.flow_direction.or_else(|| {
        let mine = |a: &IpAddr| addresses.contains(a);
        match (mine(&src) || record.srcaddr.is_some_and(|a| mine(&a)), mine(&dst)) {
            (true, false) => Some(Direction::Egress),
            (false, true) => Some(Direction::Ingress),
            _ => None,
        }
    });
    match direction {
        None => return Kind::Unattributed,
        Some(Direction::Ingress) => {
            let connection = match (record.srcport, record.dstport) {
                (Some(peer_port), Some(port)) => {
                    Some(Connection { local: dst, peer: src, peer_port, port, protocol: record.protocol })
                }
                _ => None,
            };
            let tcp_flags = record.tcp_flags.filter(|_| record.protocol == 6).unwrap_or(0);
            return Kind::Inbound(connection, tcp_flags & SYN_ACK == SYN);
        }
        Some(Direction::Egress) => {}
    }
    let protocol = Protocol::parse(&record.protocol.to_string()).unwrap_or(Protocol::Number(record.protocol));
    let flags = record.tcp_flags.filter(|_| protocol == Protocol::Tcp).unwrap_or(0);
    if flags & SYN_ACK == SYN_ACK {
        return Kind::Reply;
    }
    let port = if protocol.has_ports() { record.dstport } else { None };
    let flow = Flow { protocol, port, destination: dst, aws_service: record.aws_service.clone() };
    // No handshake in this record: a reply leaves from a port the group serves, to a source it admits, on a
    // connection seen coming in. Flags are OR-ed over an aggregation interval and only the first shows the SYN, which
    // may lie before the window: the tally decides over the whole window, from the connection's inbound records.
    if flags & SYN == 0
        && inbound.serves(protocol, record.srcport, dst, record.dstport)
        && let (Some(port), Some(peer_port)) = (record.srcport, record.dstport)
    {
        let connection = Connection { local: src, peer: dst, peer_port, port, protocol: record.protocol };
        return Kind::ReplyIfAnswered(flow, connection);
    }
    if is_link_local_service(dst) {
        return Kind::LinkLocal;
    }
    Kind::Started(flow)
}

/// The addresses of the Amazon DNS resolver, instance metadata, Amazon Time Sync and Windows activation on the
/// instance's own link: flow logs do not record them and security groups do not govern them.
pub fn is_link_local_service(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] == 0xfd00 && v6.segments()[1] == 0x0ec2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PortRange;

    fn format() -> Format {
        Format::parse(
            "${version} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${action} \
             ${log-status} ${tcp-flags} ${flow-direction} ${pkt-dstaddr} ${pkt-dst-aws-service}",
        )
        .unwrap()
    }

    fn mine() -> BTreeSet<IpAddr> {
        ["10.0.1.5".parse().unwrap()].into()
    }

    fn inbound_https() -> Inbound {
        let from = |protocol, ports, source: &str| IngressRule {
            protocol,
            ports,
            source: if source.starts_with("sg-") {
                Destination::SecurityGroup { group_id: source.into(), user_id: None }
            } else {
                Destination::Cidr(crate::model::Cidr::parse(source).unwrap())
            },
        };
        Inbound {
            rules: vec![
                from(Protocol::Tcp, Some(PortRange::new(443, 443)), "0.0.0.0/0"),
                from(Protocol::Tcp, Some(PortRange::new(5432, 5432)), "sg-0fedcba9"),
                // The default group's rule, and a wide range: neither names a service.
                from(Protocol::All, None, "sg-0a1b2c3d"),
                from(Protocol::Udp, Some(PortRange::new(1024, 65535)), "0.0.0.0/0"),
                from(Protocol::Udp, Some(PortRange::new(51820, 51820)), "0.0.0.0/0"),
                from(Protocol::Udp, Some(PortRange::new(500, 500)), "0.0.0.0/0"),
            ],
            vpc_cidrs: vec!["10.0.0.0/16".parse().unwrap()],
        }
    }

    fn kind(line: &str) -> Kind {
        classify(&format().record(line).unwrap(), &mine(), &inbound_https())
    }

    #[test]
    fn the_default_format_is_used_when_a_log_names_none() {
        let format = Format::parse("").unwrap();
        let record = format
            .record(
                "2 123456789012 eni-0a1b2c3d 10.0.1.5 203.0.113.9 49152 443 6 10 840 1700000000 1700000060 ACCEPT OK",
            )
            .unwrap();
        assert_eq!(record.dstport, Some(443));
        assert_eq!(record.start, Some(1_700_000_000));
        let flow = Flow {
            protocol: Protocol::Tcp,
            port: Some(443),
            destination: "203.0.113.9".parse().unwrap(),
            aws_service: None,
        };
        assert_eq!(classify(&record, &mine(), &Inbound::default()), Kind::Started(flow));
    }

    #[test]
    fn an_s3_header_line_is_a_format() {
        let format =
            Format::from_header("version account-id interface-id srcaddr dstaddr srcport dstport protocol").unwrap();
        assert!(format.record("2 123456789012 eni-0a1b2c3d 10.0.1.5 10.0.2.7 40000 5432 6").is_some());
    }

    #[test]
    fn a_format_without_a_destination_port_is_refused_by_name() {
        let err = Format::parse("${srcaddr} ${dstaddr} ${protocol}").unwrap_err();
        assert!(err.to_string().contains("dstport"), "{err}");
        assert!(Format::parse("${srcaddr} dstaddr").is_err());
    }

    #[test]
    fn handshake_flags_tell_who_started_a_connection() {
        let started = kind("5 eni-0a1b2c3d 10.0.1.5 203.0.113.9 49152 443 6 ACCEPT OK 3 egress - -");
        assert!(matches!(started, Kind::Started(Flow { port: Some(443), .. })), "{started:?}");
        // SYN-ACK leaving the interface: it answered someone, even from a port it does not accept inbound.
        assert_eq!(kind("5 eni-0a1b2c3d 10.0.1.5 198.51.100.4 8080 50000 6 ACCEPT OK 19 egress - -"), Kind::Reply);
    }

    #[test]
    fn without_flags_a_reply_leaves_from_a_port_the_group_accepts() {
        let answer = kind("5 eni-0a1b2c3d 10.0.1.5 198.51.100.4 443 50000 6 ACCEPT OK 0 egress - -");
        assert!(matches!(answer, Kind::ReplyIfAnswered(..)), "{answer:?}");
        let started = kind("5 eni-0a1b2c3d 10.0.1.5 198.51.100.4 50000 443 6 ACCEPT OK 0 egress - -");
        assert!(matches!(started, Kind::Started(_)), "{started:?}");
    }

    /// AWS's default format has no TCP flags: leaving from a served port is a reply only if the connection was seen
    /// coming in, which the tally decides over the whole window.
    #[test]
    fn without_the_flags_field_a_reply_waits_for_the_connection_coming_in() {
        let format = Format::parse("").unwrap();
        let record = format
            .record(
                "2 123456789012 eni-0a1b2c3d 10.0.1.5 198.51.100.4 443 50000 6 10 840 1700000000 1700000060 ACCEPT OK",
            )
            .unwrap();
        let Kind::ReplyIfAnswered(flow, connection) = classify(&record, &mine(), &inbound_https()) else { panic!() };
        assert_eq!((flow.port, flow.destination), (Some(50000), "198.51.100.4".parse().unwrap()));
        let into = format
            .record(
                "2 123456789012 eni-0a1b2c3d 198.51.100.4 10.0.1.5 50000 443 6 10 840 1700000000 1700000060 ACCEPT OK",
            )
            .unwrap();
        assert_eq!(classify(&into, &mine(), &inbound_https()), Kind::Inbound(Some(connection), false), "the same");
    }

    #[test]
    fn without_flags_only_a_service_port_and_an_admitted_peer_make_a_reply() {
        // tcp 5432 from a group: a peer inside the VPC is answered, one outside is not.
        let answer = kind("5 eni-0a1b2c3d 10.0.1.5 10.0.7.7 5432 50000 6 ACCEPT OK 0 egress - -");
        assert!(matches!(answer, Kind::ReplyIfAnswered(..)), "{answer:?}");
        let outside = kind("5 eni-0a1b2c3d 10.0.1.5 198.51.100.4 5432 50000 6 ACCEPT OK 0 egress - -");
        assert!(matches!(outside, Kind::Started(_)), "{outside:?}");
        // All traffic from the group itself (the default group) and udp 1024-65535 name no service: started.
        for line in [
            "5 eni-0a1b2c3d 10.0.1.5 10.0.7.7 40000 53 17 ACCEPT OK - egress - -",
            "5 eni-0a1b2c3d 10.0.1.5 198.51.100.4 40000 123 17 ACCEPT OK - egress - -",
            "5 eni-0a1b2c3d 10.0.1.5 10.0.7.7 - - 1 ACCEPT OK - egress - -",
            // A served port in the ephemeral range, and IKE speaking from its own port to a peer's.
            "5 eni-0a1b2c3d 10.0.1.5 198.51.100.4 51820 40000 17 ACCEPT OK - egress - -",
            "5 eni-0a1b2c3d 10.0.1.5 198.51.100.4 500 500 17 ACCEPT OK - egress - -",
        ] {
            assert!(matches!(kind(line), Kind::Started(_)), "{line}: {:?}", kind(line));
        }
    }

    #[test]
    fn rejected_skipped_inbound_and_link_local_records_are_not_need() {
        assert_eq!(kind("5 eni-0a1b2c3d 10.0.1.5 203.0.113.9 49152 443 6 REJECT OK 2 egress - -"), Kind::Rejected);
        assert_eq!(kind("5 eni-0a1b2c3d - - - - 6 - SKIPDATA - - - -"), Kind::Skipped);
        assert!(matches!(
            kind("5 eni-0a1b2c3d 203.0.113.9 10.0.1.5 49152 22 6 ACCEPT OK 2 ingress - -"),
            Kind::Inbound(Some(_), true)
        ));
        assert_eq!(kind("5 eni-0a1b2c3d 10.0.1.5 169.254.169.254 49152 80 6 ACCEPT OK 2 egress - -"), Kind::LinkLocal);
        assert_eq!(kind("5 eni-0a1b2c3d 2001:db8::5 fd00:ec2::254 49152 80 6 ACCEPT OK 2 egress - -"), Kind::LinkLocal);
    }

    #[test]
    fn without_a_direction_the_interface_address_tells_it() {
        let format = Format::parse("").unwrap();
        let record = |line: &str| format.record(line).unwrap();
        let out = record("2 1 eni-0a1b2c3d 10.0.1.5 203.0.113.9 49152 443 6 1 1 1 1 ACCEPT OK");
        assert!(matches!(classify(&out, &mine(), &Inbound::default()), Kind::Started(_)));
        let into = record("2 1 eni-0a1b2c3d 203.0.113.9 10.0.1.5 49152 22 6 1 1 1 1 ACCEPT OK");
        assert!(matches!(classify(&into, &mine(), &Inbound::default()), Kind::Inbound(..)));
        let neither = record("2 1 eni-0a1b2c3d 10.9.9.9 203.0.113.9 49152 443 6 1 1 1 1 ACCEPT OK");
        assert_eq!(classify(&neither, &mine(), &Inbound::default()), Kind::Unattributed);
    }

    #[test]
    fn the_packet_destination_and_service_are_kept() {
        let Kind::Started(flow) = kind("5 eni-0a1b2c3d 10.0.1.5 10.0.0.9 49152 443 6 ACCEPT OK 2 egress 52.218.1.1 S3")
        else {
            panic!("not started")
        };
        assert_eq!(flow.destination, "52.218.1.1".parse::<IpAddr>().unwrap());
        assert_eq!(flow.aws_service.as_deref(), Some("S3"));
    }
}
