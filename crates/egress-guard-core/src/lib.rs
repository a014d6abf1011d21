//! egress-guard's pure core: parse the CloudTrail trigger, evaluate a group's egress against EC2-033, plan the exact
//! revoke, propose least-privilege egress from flow logs, say what happened, and run the remediation over its ports.
//! No AWS SDK, no runtime.
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

pub mod audit;
pub mod caller;
mod error;
pub mod evaluate;
pub mod history;
pub mod incoming;
pub mod model;
pub mod notify;
pub mod org;
pub mod outcome;
pub mod partition;
pub mod pause;
pub mod permission;
pub mod ports;
pub mod preflight;
pub mod recommend;
pub mod request;
pub mod run;
pub mod settings;
pub mod trigger;
pub mod undo;
pub mod verify;
pub mod watch;

pub use audit::{AuditFinding, AuditReport};
pub use error::{BoxError, Error};
pub use evaluate::{Disposition, Evaluation, Exemption, Finding, FindingKind, RevokePlan, evaluate};
pub use history::Repeat;
pub use incoming::{Incoming, Queued};
pub use model::{Cidr, Destination, EgressRule, IngressRule, PortRange, Protocol, SecurityGroup};
pub use notify::message::Message;
pub use notify::notice::Notice;
pub use notify::report::{EventReport, GroupReport, SweepReport};
pub use org::{Access, Home};
pub use outcome::Outcome;
pub use pause::Pause;
pub use ports::{
    Accounts, Digests, FlowLogs, Gather, History, NoAccounts, NoFlowLogs, NoHistory, NoOutlets, NoQueue, Notifier,
    OBSERVED_EGRESS_BUDGET, Outlets, Ports, Reach, SecurityGroups, SweepQueue, Switch,
};
pub use recommend::Proposal;
pub use request::SweepRequest;
pub use run::apply::{Applied, apply};
pub use run::fanout::{Fanout, sweep_requests};
pub use run::invocation::{DispatchReport, Invocation, InvocationReport, run_one};
pub use run::invoke::invoke;
pub use run::queued::{MAX_RECEIVES, MAX_SWEEP_RUNS};
pub use run::recommend::recommend;
pub use run::remediate::handle;
pub use run::sweep::{SweepScope, sweep};
pub use settings::{AllowedPort, Members, Organization, Settings};
pub use trigger::{Actor, EventName, Trigger, TriggerKind, parse_event, parse_value};
pub use watch::Watch;
