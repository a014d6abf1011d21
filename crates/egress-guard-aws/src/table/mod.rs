//! The history table on DynamoDB, one adapter in one folder: `DynamoHistory` behind the core's `History` (repeat
//! counts, undo records, what each group had open, each region's first sweep), `Switch` (the kill switch) and
//! `Digests` (a schedule's digest), each in its own file.

mod digest;
mod history;
mod switch;

pub use digest::{Gathered, LEASE_SECS, Share};
pub use history::DynamoHistory;
pub use switch::PAUSE_KEY;
