//! An event per outcome on an EventBridge bus: `source` egress-guard, `detail-type` per outcome, the notice's JSON as
//! `detail`, the group's ARN as the resource. Entries go 10 at a time within PutEvents' 256 KB; failed entries are
//! sent once more.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use egress_guard_core::Notice;
use egress_guard_core::notify::asff::group_arn;

use crate::error::{Error, code_and_message};
use crate::lazy::OnFirstUse;

/// The `source` of every event egress-guard puts (EventBridge reserves `aws.` for AWS).
pub const EVENT_SOURCE: &str = "egress-guard";
/// PutEvents takes at most 10 entries a call.
pub const MAX_ENTRIES: usize = 10;
/// An entry, and a whole call, is at most 256 KB, counted as EventBridge does: 14 bytes for the time, then the
/// source, detail-type, detail and resources in UTF-8.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct EventBus {
    client: OnFirstUse<aws_sdk_eventbridge::Client>,
    bus: String,
}

/// One entry and its size.
struct Entry {
    entry: PutEventsRequestEntry,
    bytes: usize,
}

impl EventBus {
    /// Its client made from `config` on the first call.
    pub(crate) fn from_config(config: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        EventBus { client: OnFirstUse::new(config, aws_sdk_eventbridge::Client::new), bus: bus.into() }
    }

    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        EventBus { client: OnFirstUse::ready(client), bus: bus.into() }
    }

    /// Puts one event per notice, in order.
    pub async fn put(&self, notices: &[Notice]) -> Result<(), Error> {
        let entries: Vec<Entry> = notices.iter().map(|n| self.entry(n)).collect();
        let mut start = 0;
        while start < entries.len() {
            let mut end = start;
            let mut bytes = 0;
            // At least one entry a call: an entry is never over the limit (see `entry`).
            while end < entries.len()
                && end - start < MAX_ENTRIES
                && (end == start || bytes + entries[end].bytes <= MAX_ENTRY_BYTES)
            {
                bytes += entries[end].bytes;
                end += 1;
            }
            let batch: Vec<PutEventsRequestEntry> = entries[start..end].iter().map(|e| e.entry.clone()).collect();
            self.send(batch).await?;
            start = end;
        }
        Ok(())
    }

    /// Sends a batch; entries that failed with a retryable code are sent once more, then any failure is an error.
    async fn send(&self, mut batch: Vec<PutEventsRequestEntry>) -> Result<(), Error> {
        for attempt in 0..2 {
            let out = self.client.get().put_events().set_entries(Some(batch.clone())).send().await.map_err(|err| {
                let (code, message) = code_and_message(&err);
                Error::Events { bus: self.bus.clone(), code, message }
            })?;
            if out.failed_entry_count() == 0 {
                return Ok(());
            }
            let failed: Vec<(PutEventsRequestEntry, String, String)> = batch
                .iter()
                .zip(out.entries())
                .filter_map(|(entry, result)| {
                    let code = result.error_code()?;
                    Some((entry.clone(), code.to_owned(), result.error_message().unwrap_or_default().to_owned()))
                })
                .collect();
            let retryable =
                failed.iter().all(|(_, code, _)| code == "InternalFailure" || code == "ThrottlingException");
            if attempt == 0 && retryable && !failed.is_empty() {
                batch = failed.into_iter().map(|(entry, ..)| entry).collect();
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
            let message = failed
                .iter()
                .map(|(entry, code, message)| {
                    format!("{} {}: {code}: {message}", entry.detail_type().unwrap_or("-"), entry.resources().join(","))
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Error::Events { bus: self.bus.clone(), code: "FailedEntries".into(), message });
        }
        Ok(())
    }

    /// The notice's event. A detail over the size limit (a group of hundreds of rules) drops its `before` and `after`
    /// rule lists and the observed-egress section, then if need be every rule list and the undo command, and names
    /// what it dropped in `truncated` (the SNS notice has it all).
    fn entry(&self, notice: &Notice) -> Entry {
        let resource = group_arn(&notice.account, &notice.region, &notice.group.id);
        let detail_type = notice.outcome.detail_type();
        let fixed = 14 + EVENT_SOURCE.len() + detail_type.len() + resource.len();
        let mut detail = serde_json::to_string(notice).unwrap_or_default();
        let mut dropped: Vec<&str> = Vec::new();
        let levels: [&[&str]; 2] = [
            &["before", "after", "observed_egress"],
            &["revoked", "still_open", "kept_open", "split_ranges", "undo_command"],
        ];
        for level in levels {
            if fixed + detail.len() <= MAX_ENTRY_BYTES {
                break;
            }
            dropped.extend(level);
            let mut value = serde_json::to_value(notice).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                for key in &dropped {
                    map.remove(*key);
                }
                map.insert("truncated".into(), serde_json::json!(dropped));
            }
            detail = value.to_string();
        }
        let bytes = fixed + detail.len();
        let entry = PutEventsRequestEntry::builder()
            .source(EVENT_SOURCE)
            .detail_type(detail_type)
            .resources(resource)
            .detail(detail)
            .event_bus_name(&self.bus)
            .build();
        Entry { entry, bytes }
    }
}
