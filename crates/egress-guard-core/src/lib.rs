//! egress-guard's pure core: parse the CloudTrail trigger, evaluate a group's egress against EC2-033,
//! plan the exact revoke and run the remediation flow over its ports. No AWS SDK, no runtime.
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

pub mod asff;
pub mod audit;
pub mod caller;
pub mod chat;
mod error;
pub mod evaluate;
pub mod flow;
pub mod flowlog;
pub mod history;
pub mod model;
pub mod notice;
pub mod org;
pub mod outcome;
pub mod permission;
pub mod ports;
pub mod recommend;
pub mod render;
pub mod report;
pub mod settings;
pub mod sweep;
pub mod trigger;

pub use audit::{AuditFinding, AuditReport};
pub use error::{BoxError, Error};
pub use evaluate::{Disposition, Evaluation, Exemption, Finding, FindingKind, RevokePlan, evaluate};
pub use flow::handle;
pub use history::Repeat;
pub use model::{Cidr, Destination, EgressRule, IngressRule, PortRange, Protocol, SecurityGroup};
pub use notice::Notice;
pub use org::{Access, Home};
pub use outcome::Outcome;
pub use ports::{
    FlowLogs, History, Message, NoFlowLogs, NoHistory, NoOutlets, Notifier, Outlets, Ports, SecurityGroups,
};
pub use recommend::{Proposal, recommend};
pub use report::{EventReport, GroupReport, SweepReport};
pub use settings::{AllowedPort, Members, Organization, Settings};
pub use sweep::sweep;
pub use trigger::{Actor, EventName, SweepRequest, Trigger, TriggerKind, parse_event, parse_value, sweep_requests};
