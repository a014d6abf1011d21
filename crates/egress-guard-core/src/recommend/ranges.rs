//! AWS's published IP ranges (`ip-ranges.json`): which service a destination belongs to, for a proposal's rules.

use std::net::IpAddr;
use std::sync::OnceLock;

use ipnet::IpNet;
use serde::Deserialize;

use crate::Error;

/// What a proposal's `ip_ranges` says when no published ranges were read.
pub const UNPINNED: &str = "unpinned";

/// AWS's published ranges (`ip-ranges.json`) without the catch-all `AMAZON` set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsRanges {
    pub create_date: String,
    ranges: Vec<(IpNet, String)>,
}

#[derive(Deserialize)]
struct IpRangesFile {
    #[serde(rename = "createDate")]
    create_date: String,
    prefixes: Vec<IpRangesEntry>,
    ipv6_prefixes: Vec<IpRangesEntry>,
}

#[derive(Deserialize)]
struct IpRangesEntry {
    #[serde(alias = "ipv6_prefix")]
    ip_prefix: IpNet,
    service: String,
}

impl AwsRanges {
    /// Parses AWS's `ip-ranges.json` format. `AMAZON` (every AWS address) and `EC2` (every customer instance: any
    /// service hosted on EC2) tell nothing about a destination and are left out.
    pub fn parse(json: &str) -> Result<AwsRanges, Error> {
        let file: IpRangesFile = serde_json::from_str(json).map_err(|e| Error::InvalidSetting {
            variable: "ip-ranges.json",
            value: String::new(),
            why: e.to_string(),
        })?;
        let mut ranges: Vec<(IpNet, String)> = file
            .prefixes
            .into_iter()
            .chain(file.ipv6_prefixes)
            .filter(|e| e.service != "AMAZON" && e.service != "EC2")
            .map(|e| (e.ip_prefix.trunc(), e.service))
            .collect();
        // Most specific first, so that the first range containing an address is its narrowest.
        ranges.sort_by(|a, b| b.0.prefix_len().cmp(&a.0.prefix_len()).then_with(|| a.cmp(b)));
        ranges.dedup();
        Ok(AwsRanges { create_date: file.create_date, ranges })
    }

    /// The copy pinned in `data/ip-ranges.json` (refreshed by `scripts/refresh-ip-ranges.py`).
    pub fn pinned() -> &'static AwsRanges {
        static PINNED: OnceLock<AwsRanges> = OnceLock::new();
        PINNED.get_or_init(|| AwsRanges::parse(include_str!("../../../../data/ip-ranges.json")).unwrap_or_default())
    }

    /// `createDate` of the copy in use, or `unpinned` when there is none (an empty or unreadable copy): every
    /// proposal shows which.
    pub fn version(&self) -> String {
        if self.ranges.is_empty() { UNPINNED.to_owned() } else { self.create_date.clone() }
    }

    /// The narrowest published range of a service that contains `addr`.
    pub fn lookup(&self, addr: IpAddr) -> Option<(IpNet, &str)> {
        self.ranges.iter().find(|(net, _)| net.contains(&addr)).map(|(net, service)| (*net, service.as_str()))
    }
}
