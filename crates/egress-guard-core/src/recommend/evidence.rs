//! What a proposal is made from, as the `FlowLogs` port reads it: the group's interfaces, their flow logs, the
//! records a log holds for a window, and the VPC around them.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A network interface that uses the group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interface {
    pub id: String,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    /// The account that owns it (the account in its flow logs' S3 keys).
    pub owner_id: Option<String>,
    pub addresses: BTreeSet<IpAddr>,
    /// Epoch seconds: when it was attached (`Attachment.AttachTime`), so the earliest it can have carried the
    /// group's traffic; `None` when EC2 tells no attachment time.
    pub since: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogDestination {
    CloudWatchLogs {
        log_group: String,
    },
    S3 {
        bucket: String,
        prefix: String,
    },
    /// Kinesis Data Firehose and anything else: not read.
    Other(String),
}

/// A flow log as `DescribeFlowLogs` tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowLog {
    pub id: String,
    /// The interface, subnet or VPC it captures.
    pub resource_id: String,
    /// `ACCEPT`, `REJECT` or `ALL`.
    pub traffic_type: String,
    /// `LogFormat`; empty for AWS's default.
    pub log_format: String,
    pub destination: LogDestination,
    /// Epoch seconds.
    pub created_at: Option<i64>,
    /// Why AWS says it cannot deliver (`DeliverLogsStatus` `FAILED`), if it says so.
    pub delivery_error: Option<String>,
}

/// Epoch seconds, start included, end excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

/// What one flow log holds for some interfaces in a window: batches of lines (an S3 file's batch carries its header),
/// what could not be read, and whether the read stopped at its limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Records {
    pub batches: Vec<Batch>,
    pub unread: Vec<String>,
    pub truncated: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub header: Option<String>,
    pub lines: Vec<String>,
}

/// The VPC around the group: its CIDR blocks and the AWS-managed prefix lists of its region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    pub vpc_cidrs: Vec<IpNet>,
    pub prefix_lists: Vec<PrefixList>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixList {
    pub id: String,
    pub name: String,
    /// What a rule that references it counts against the quota (its maximum entries).
    pub weight: u32,
    pub cidrs: Vec<IpNet>,
}
