//! `publish_all`: every part of a report or a digest tried in turn; the error carries the parts that were not sent,
//! whole, so that nothing they told is lost.

use crate::Error;
use crate::notify::message::Message;
use crate::ports::Notifier;

/// Publishes every message; when any fails, the error (`NotifySummary`) holds the text of each one not sent and the
/// first failure's cause.
pub async fn publish_all<N: Notifier, M: Message + Sync>(notifier: &N, messages: &[M]) -> Result<(), Error> {
    let mut failed = Vec::new();
    for message in messages {
        if let Err(source) = notifier.publish(message).await {
            failed.push((format!("{}\n\n{}", message.subject(), message.text()), source));
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    let text = format!(
        "{} of {} part(s) not sent; each group's undo command is also in the function's log.\n\n{}",
        failed.len(),
        messages.len(),
        failed.iter().map(|(text, _)| text.as_str()).collect::<Vec<_>>().join("\n\n")
    );
    let (_, source) = failed.swap_remove(0);
    Err(Error::NotifySummary { text, source: Box::new(source) })
}
