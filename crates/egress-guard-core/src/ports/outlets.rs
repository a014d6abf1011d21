//! `Outlets`: where notices also go for machines (Security Hub, an event bus), and `NoOutlets`.

use std::future::Future;

use crate::notify::notice::Notice;

/// Where each group's notice also goes, for machines: Security Hub findings, an event on a bus. Called once the
/// notices are published to people, with every notice of the invocation (one for an event, the groups acted on for
/// a sweep).
pub trait Outlets {
    type Error: std::error::Error + Send + Sync + 'static;

    fn deliver(&self, notices: &[Notice]) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Notices go to people only.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoOutlets;

impl Outlets for NoOutlets {
    type Error = std::convert::Infallible;
    async fn deliver(&self, _: &[Notice]) -> Result<(), Self::Error> {
        Ok(())
    }
}
