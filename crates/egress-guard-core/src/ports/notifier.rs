//! `Notifier`: where messages go to people (a group's notice, a sweep's report, a digest).

use std::future::Future;

use crate::notify::message::Message;

/// Delivers messages (a group's notice, a sweep's report) to people.
pub trait Notifier {
    type Error: std::error::Error + Send + Sync + 'static;

    fn publish(&self, message: &(dyn Message + Sync)) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
