//! The ports the core's async work runs over, one file each with its do-nothing stand-in: the security groups it
//! reads and changes, where messages go, where revokes are remembered, the flow logs it reads, where notices also go
//! for machines, the kill switch, the digest's gathering, the sweep queue, the organization's accounts, and the reach
//! into any account and region. Adapters implement them (`egress-guard-aws`), tests fake them.

pub mod accounts;
pub mod bundle;
pub mod digests;
pub mod flow_logs;
pub mod groups;
pub mod history;
pub mod notifier;
pub mod outlets;
pub mod queue;
pub mod reach;
pub mod switch;

pub use accounts::{Accounts, NoAccounts};
pub use bundle::Ports;
pub use digests::{Digests, Gather};
pub use flow_logs::{FlowLogs, NoFlowLogs, NotRead};
pub use groups::{Revoked, SecurityGroups};
pub use history::{History, NoHistory};
pub use notifier::Notifier;
pub use outlets::{NoOutlets, Outlets};
pub use queue::{NoQueue, SweepQueue};
pub use reach::{OBSERVED_EGRESS_BUDGET, Reach};
pub use switch::Switch;
