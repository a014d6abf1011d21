//! A schedule's digest in the history table: each sweep's share as an item of its own, and one item per schedule
//! counting the sweeps done, so that the last sweep to finish, and only it, sends the digest.
//!
//! `digest#<schedule>#<index>#<run>` holds a sweep run's share (JSON). `digest#<schedule>` holds `done`, a string
//! set of `index:run` for each request's final run (`ADD` to a set is idempotent, so an SQS redelivery counts once),
//! `of`, and `sent`, claimed by a conditional write: two sweeps that both see the set complete cannot both send.
//! Everything expires with `history::SEEN_SECS`.
//! https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html (ADD to a set)
//! https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html (100 keys, UnprocessedKeys)

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use egress_guard_core::history::SEEN_SECS;

use crate::DynamoHistory;
use crate::error::{Error, code_and_message};

/// Keys per `BatchGetItem`: DynamoDB's limit.
const KEYS_PER_BATCH: usize = 100;

/// Times `BatchGetItem` is asked again for the keys it left unprocessed (throttled), with a pause between.
const BATCH_ATTEMPTS: u32 = 8;

fn failed<E>(operation: &'static str, table: &str, err: &SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, message) = code_and_message(err);
    Error::Dynamo { operation, table: table.to_owned(), code, message }
}

/// One sweep run's share, and where it stands among its schedule's.
#[derive(Clone, Debug)]
pub struct Share<'a> {
    pub schedule_id: &'a str,
    pub index: u32,
    pub run: u32,
    pub of: u32,
    /// Whether this is the request's last run (complete, or out of runs): only then is it counted done.
    pub last: bool,
    pub json: String,
    pub at: i64,
}

impl DynamoHistory {
    /// Keeps `share`; when it completes its schedule and this call claims the sending, answers every share of the
    /// schedule (JSON, in request order) for the digest. `None`: another sweep is still to finish, or sends it.
    pub async fn add_share(&self, share: &Share<'_>) -> Result<Option<Vec<String>>, Error> {
        let ttl = AttributeValue::N((share.at + SEEN_SECS).to_string());
        let key = format!("digest#{}#{}#{}", share.schedule_id, share.index, share.run);
        self.client
            .get()
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key))
            .item("share", AttributeValue::S(share.json.clone()))
            .item("expires_at", ttl.clone())
            .send()
            .await
            .map_err(|err| failed("PutItem", &self.table, &err))?;
        if !share.last {
            return Ok(None);
        }
        let schedule = AttributeValue::S(format!("digest#{}", share.schedule_id));
        let out = self
            .client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", schedule.clone())
            .update_expression("ADD done :me SET #of = :of, expires_at = :ttl")
            .expression_attribute_names("#of", "of")
            .expression_attribute_values(":me", AttributeValue::Ss(vec![format!("{}:{}", share.index, share.run)]))
            .expression_attribute_values(":of", AttributeValue::N(share.of.to_string()))
            .expression_attribute_values(":ttl", ttl)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|err| failed("UpdateItem", &self.table, &err))?;
        let item = out.attributes().cloned().unwrap_or_default();
        let done: Vec<(u32, u32)> = item
            .get("done")
            .and_then(|v| v.as_ss().ok())
            .map(|set| {
                set.iter()
                    .filter_map(|e| e.split_once(':'))
                    .filter_map(|(i, r)| Some((i.parse().ok()?, r.parse().ok()?)))
                    .collect()
            })
            .unwrap_or_default();
        let mut indices: Vec<u32> = done.iter().map(|(i, _)| *i).collect();
        indices.sort_unstable();
        indices.dedup();
        if indices.len() < share.of as usize || item.contains_key("sent") {
            return Ok(None);
        }
        let claimed = self
            .client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", schedule)
            .update_expression("SET sent = :at")
            .condition_expression("attribute_not_exists(sent)")
            .expression_attribute_values(":at", AttributeValue::N(share.at.to_string()))
            .send()
            .await;
        match claimed {
            Ok(_) => {}
            Err(err) if code_and_message(&err).0 == "ConditionalCheckFailedException" => return Ok(None),
            Err(err) => return Err(failed("UpdateItem", &self.table, &err)),
        }
        // The final run of each request, and the runs before it (a sweep cut short and taken up again).
        let mut keys: Vec<(u32, u32)> = Vec::new();
        for index in indices {
            let last = done.iter().filter(|(i, _)| *i == index).map(|(_, r)| *r).max().unwrap_or(1);
            keys.extend((1..=last).map(|run| (index, run)));
        }
        let mut shares = HashMap::new();
        for chunk in keys.chunks(KEYS_PER_BATCH) {
            shares.extend(self.shares(share.schedule_id, chunk).await?);
        }
        Ok(Some(keys.iter().filter_map(|k| shares.remove(k)).collect()))
    }

    /// Gives the sending back (its publish failed), so that the sweep's redelivery sends the digest.
    pub async fn release_digest(&self, schedule_id: &str) -> Result<(), Error> {
        self.client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("digest#{schedule_id}")))
            .update_expression("REMOVE sent")
            .send()
            .await
            .map_err(|err| {
                let (code, message) = code_and_message(&err);
                Error::Dynamo { operation: "UpdateItem", table: self.table.clone(), code, message }
            })?;
        Ok(())
    }

    /// The shares at `keys` (at most 100), asking again for what DynamoDB leaves unprocessed.
    async fn shares(&self, schedule_id: &str, keys: &[(u32, u32)]) -> Result<HashMap<(u32, u32), String>, Error> {
        let pk = |(index, run): &(u32, u32)| format!("digest#{schedule_id}#{index}#{run}");
        let by_pk: HashMap<String, (u32, u32)> = keys.iter().map(|k| (pk(k), *k)).collect();
        let mut wanted: Vec<HashMap<String, AttributeValue>> =
            keys.iter().map(|k| HashMap::from([("pk".to_owned(), AttributeValue::S(pk(k)))])).collect();
        let mut found = HashMap::new();
        for attempt in 0..BATCH_ATTEMPTS {
            if wanted.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(5))).await;
            }
            let request =
                KeysAndAttributes::builder().set_keys(Some(wanted.clone())).consistent_read(true).build().map_err(
                    |err| Error::Dynamo {
                        operation: "BatchGetItem",
                        table: self.table.clone(),
                        code: "Build".into(),
                        message: err.to_string(),
                    },
                )?;
            let out =
                self.client.get().batch_get_item().request_items(&self.table, request).send().await.map_err(|err| {
                    let (code, message) = code_and_message(&err);
                    Error::Dynamo { operation: "BatchGetItem", table: self.table.clone(), code, message }
                })?;
            for item in out.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                if let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(json))) =
                    (item.get("pk"), item.get("share"))
                    && let Some(key) = by_pk.get(pk)
                {
                    found.insert(*key, json.clone());
                }
            }
            wanted =
                out.unprocessed_keys().and_then(|u| u.get(&self.table)).map(|k| k.keys().to_vec()).unwrap_or_default();
        }
        if !wanted.is_empty() {
            return Err(Error::Dynamo {
                operation: "BatchGetItem",
                table: self.table.clone(),
                code: "UnprocessedKeys".into(),
                message: format!("{} share(s) still unread after {BATCH_ATTEMPTS} attempts", wanted.len()),
            });
        }
        Ok(found)
    }
}
