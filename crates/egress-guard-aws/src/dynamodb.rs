//! The history port on DynamoDB: one item per group, one `UpdateItem` per remediation (per 20 destinations: the
//! expression limit), nothing read before.
//!
//! Item: `pk` = `account/region/group-id`; for each destination ever revoked, the attributes `<key>#0` … `<key>#4`
//! hold the times (seconds since the epoch) of its last five revokes, newest in `#0`; `expires_at`, the table's TTL
//! attribute, is one window after the latest revoke, so that a quiet group's item goes away by itself. The update
//! shifts each revoked destination's slots down by one (highest first, so that it reads the same whether the service
//! applies the clauses at once or in order), writes the new time in `#0`, and returns the item, from which the
//! counts follow.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use egress_guard_core::History;
use egress_guard_core::history::{Revocation, SLOTS};

use crate::error::{Error, code_and_message};
use crate::lazy::OnFirstUse;

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
        Ok(Some(counts))
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
            .key("pk", AttributeValue::S(r.group_key.clone()))
            .update_expression(format!("SET {}", clauses.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|err| {
                let (code, message) = code_and_message(&err);
                Error::Dynamo { operation: "UpdateItem", table: self.table.clone(), code, message }
            })?;
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

fn slot_name(destination: &str, slot: u32) -> String {
    format!("{destination}#{slot}")
}
