//! The history port on DynamoDB: one item per group, one `UpdateItem` per remediation (per 20 destinations: the
//! expression limit), nothing read before.
//!
//! Item: `pk` = `account/region/group-id`; for each destination ever revoked, the attributes `<key>#0` … `<key>#4`
//! hold the times (seconds since the epoch) of its last five revokes, newest in `#0`; `expires_at`, the table's TTL
//! attribute, is one window after the latest revoke, so that a quiet group's item goes away by itself. The update
//! shifts each revoked destination's slots down by one (highest first, so that it reads the same whether the service
//! applies the clauses at once or in order), writes the new time in `#0`, and returns the item, from which the
//! counts follow.
//!
//! Each revoke also gets an item of its own for `egress-guard undo`: `pk` = `revoke#account/region/group-id#event-id`
//! (a duplicate delivery of the same event writes the same item), the rules removed as JSON, kept 90 days
//! (`undo::RETENTION_SECS`). `revokes` reads them back with a `Scan`: `undo` is an operator's command, and the table
//! holds one item per group revoked lately and one per revoke (about 1 KB each), so a scan of it is a few reads.
//! https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Scan.html (1 MB a page, `LastEvaluatedKey`)

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use egress_guard_core::History;
use egress_guard_core::history::{Last, Revocation, SEEN_SECS, SLOTS};
use egress_guard_core::undo::{RETENTION_SECS, RevokeRecord};

use crate::error::{Error, dynamo};
use crate::lazy::OnFirstUse;

/// The function's history table.
#[derive(Clone, Debug)]
pub struct DynamoHistory {
    pub(crate) client: OnFirstUse<aws_sdk_dynamodb::Client>,
    pub(crate) table: String,
}

impl DynamoHistory {
    /// Its client made from `config` on the first call.
    pub(crate) fn from_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        DynamoHistory { client: OnFirstUse::new(config, aws_sdk_dynamodb::Client::new), table: table.into() }
    }

    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoHistory { client: OnFirstUse::ready(client), table: table.into() }
    }
}

/// Destinations per `UpdateItem`: each adds about 160 bytes to the update expression, and DynamoDB refuses an
/// expression over 4 KB, so a remediation of more destinations (a group with many open ranges) takes several calls.
pub const DESTINATIONS_PER_UPDATE: usize = 20;

impl History for DynamoHistory {
    type Error = Error;

    async fn record(&self, r: &Revocation) -> Result<Option<Vec<u32>>, Error> {
        let mut counts = Vec::with_capacity(r.destinations.len());
        for destinations in r.destinations.chunks(DESTINATIONS_PER_UPDATE) {
            counts.extend(self.update(r, destinations).await?);
        }
        self.keep(&r.record()).await?;
        Ok(Some(counts))
    }

    /// `seen` on the group's item: what is left open (in brackets, never an empty string), answered as it was.
    async fn seen(&self, group_key: &str, open: &str, at: i64) -> Result<Last, Error> {
        let out = self
            .client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(group_key.to_owned()))
            .update_expression("SET seen = :open, #exp = :ttl")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":open", AttributeValue::S(format!("[{open}]")))
            .expression_attribute_values(":ttl", AttributeValue::N((at + SEEN_SECS).to_string()))
            // The whole item as it was: `UPDATED_OLD` may leave out an attribute set to the value it had (moto does).
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|err| dynamo("UpdateItem", &self.table, &err))?;
        let was = out.attributes().and_then(|a| a.get("seen")).and_then(|v| v.as_s().ok());
        Ok(match was.and_then(|w| w.strip_prefix('[')?.strip_suffix(']')) {
            Some(was) => Last::Was(was.to_owned()),
            None => Last::Never,
        })
    }

    /// `sweep#account/region`: `first` is the time of the first schedule that swept it, kept for good (no TTL: a
    /// baseline that expired would make every later sweep a first one, and the missed-events alarm silent).
    async fn first_sweep(&self, region_key: &str, schedule_time: &str, at: i64) -> Result<Option<bool>, Error> {
        let out = self
            .client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("sweep#{region_key}")))
            .update_expression("SET #first = if_not_exists(#first, :time), #last = :at")
            .expression_attribute_names("#first", "first")
            .expression_attribute_names("#last", "last_swept")
            .expression_attribute_values(":time", AttributeValue::S(schedule_time.to_owned()))
            .expression_attribute_values(":at", AttributeValue::N(at.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|err| dynamo("UpdateItem", &self.table, &err))?;
        let first = out.attributes().and_then(|a| a.get("first")).and_then(|v| v.as_s().ok());
        Ok(Some(first.is_none_or(|first| first == schedule_time)))
    }
}

impl DynamoHistory {
    /// One `UpdateItem` for `destinations` of `r`; answers their counts in the window.
    async fn update(&self, r: &Revocation, destinations: &[String]) -> Result<Vec<u32>, Error> {
        let mut names =
            HashMap::from([("#exp".to_owned(), "expires_at".to_owned()), ("#by".to_owned(), "by".to_owned())]);
        let values = HashMap::from([
            (":now".to_owned(), AttributeValue::N(r.at.to_string())),
            (":z".to_owned(), AttributeValue::N("0".into())),
            (":ttl".to_owned(), AttributeValue::N((r.at + r.window_secs).to_string())),
            (":by".to_owned(), AttributeValue::S(r.by.clone())),
        ]);
        let mut clauses = Vec::new();
        for (i, destination) in destinations.iter().enumerate() {
            for slot in 0..SLOTS {
                names.insert(format!("#d{i}_{slot}"), slot_name(destination, slot));
            }
            for slot in (1..SLOTS).rev() {
                clauses.push(format!("#d{i}_{slot} = if_not_exists(#d{i}_{}, :z)", slot - 1));
            }
            clauses.push(format!("#d{i}_0 = :now"));
        }
        clauses.extend(["#exp = :ttl".to_owned(), "#by = :by".to_owned()]);
        let out = self
            .client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(r.group_key()))
            .update_expression(format!("SET {}", clauses.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|err| dynamo("UpdateItem", &self.table, &err))?;
        let item = out.attributes().cloned().unwrap_or_default();
        let since = r.at - r.window_secs;
        let counts = destinations
            .iter()
            .map(|destination| {
                (0..SLOTS)
                    .filter_map(|slot| item.get(&slot_name(destination, slot)))
                    .filter_map(|v| v.as_n().ok()?.parse::<i64>().ok())
                    .filter(|t| *t > since)
                    .count() as u32
            })
            .collect();
        Ok(counts)
    }
}

/// The prefix of every revoke's item.
const REVOKE: &str = "revoke#";

impl DynamoHistory {
    /// Writes one revoke's item for `undo`.
    async fn keep(&self, record: &RevokeRecord) -> Result<(), Error> {
        let rules = serde_json::to_string(&record.rules).map_err(|err| Error::Dynamo {
            operation: "PutItem",
            table: self.table.clone(),
            code: "Serialization".into(),
            message: err.to_string(),
        })?;
        let pk = format!("{REVOKE}{}/{}/{}#{}", record.account, record.region, record.group_id, record.event_id);
        let s = |v: &str| AttributeValue::S(v.to_owned());
        self.client
            .get()
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("account", s(&record.account))
            .item("region", s(&record.region))
            .item("group_id", s(&record.group_id))
            .item("event_id", s(&record.event_id))
            .item("by", s(&record.by))
            .item("at", AttributeValue::N(record.at.to_string()))
            .item("rules", s(&rules))
            .item("expires_at", AttributeValue::N((record.at + RETENTION_SECS).to_string()))
            .send()
            .await
            .map_err(|err| dynamo("PutItem", &self.table, &err))?;
        Ok(())
    }

    /// Every revoke recorded at `since..=until` (seconds since the epoch), in no particular order. An item that
    /// cannot be read back is an error naming it: `undo` never restores from half a record.
    pub async fn revokes(&self, since: i64, until: i64) -> Result<Vec<RevokeRecord>, Error> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .get()
                .scan()
                .table_name(&self.table)
                // DynamoDB deletes an expired item within days, not at once: one past its time is not read.
                .filter_expression("begins_with(pk, :revoke) AND #at BETWEEN :since AND :until AND expires_at > :now")
                .expression_attribute_names("#at", "at")
                .expression_attribute_values(":now", AttributeValue::N(now().to_string()))
                .expression_attribute_values(":revoke", AttributeValue::S(REVOKE.into()))
                .expression_attribute_values(":since", AttributeValue::N(since.to_string()))
                .expression_attribute_values(":until", AttributeValue::N(until.to_string()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|err| dynamo("Scan", &self.table, &err))?;
            for item in page.items() {
                records.push(revoke_record(item).map_err(|why| Error::Dynamo {
                    operation: "Scan",
                    table: self.table.clone(),
                    code: "UnreadableItem".into(),
                    message: format!("{:?}: {why}", item.get("pk").and_then(|v| v.as_s().ok())),
                })?);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(records),
            }
        }
    }
}

/// Now, in seconds since the epoch: the time every item of the table is written with.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn revoke_record(item: &HashMap<String, AttributeValue>) -> Result<RevokeRecord, String> {
    let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().ok_or(format!("no {name}"));
    let at = item.get("at").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).ok_or("no at")?;
    let rules = serde_json::from_str(&s("rules")?).map_err(|err| format!("rules: {err}"))?;
    Ok(RevokeRecord {
        account: s("account")?,
        region: s("region")?,
        group_id: s("group_id")?,
        at,
        by: s("by")?,
        event_id: s("event_id")?,
        rules,
    })
}

fn slot_name(destination: &str, slot: u32) -> String {
    format!("{destination}#{slot}")
}
