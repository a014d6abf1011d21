//! Least-privilege egress from observed traffic, the pure part: from the records of the flow logs of the interfaces
//! that use a group, the smallest set of egress rules that allows what they started, fitted to the group's rule
//! quota, with the commands that apply it. No port, no async: `run::recommend` reads, this decides.

pub mod evidence;
pub mod fit;
pub mod flowlog;
pub mod proposal;
pub mod ranges;
pub mod tally;

pub use evidence::{Batch, FlowLog, Interface, LogDestination, Network, PrefixList, Records, Window};
pub use fit::{Fitted, allows, propose};
pub use flowlog::Flow;
pub use proposal::{
    Basis, Coverage, DEFAULT_DAYS, DEFAULT_QUOTA, Gap, Merge, Proposal, Proposed, Quota, SCHEMA, UNLOGGED,
};
pub use ranges::AwsRanges;
pub use tally::{Request, Tally};
