//! A schedule's digest in the history table: each sweep's share as an item of its own, one marker per request done,
//! and one small item per schedule counting them, so that the sweep that completes the count sends the digest.
//!
//! - `digest#<schedule>#<index>#<run>`: a sweep run's share (JSON), written once (`attribute_not_exists`): a
//!   redelivered sweep, which finds its revokes already done, never overwrites the share that holds them.
//! - `digest#<schedule>#<index>`: the request's marker (its last run), and `digest#<schedule>`'s `count`, written
//!   together in one `TransactWriteItems` whose marker must not exist: a redelivery counts once, and the count item
//!   stays a few bytes however many sweeps there are (no hot, growing item).
//! - `digest#<schedule>`: `count`, `of`, `sent` (a lease, claimable again after `LEASE_SECS`, so that a sender that
//!   dies does not silence the schedule) and `published`.
//!
//! Everything expires with `history::SEEN_SECS`.
//! https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html (condition failures
//! cancel the whole transaction: `TransactionCanceledException`)
//! https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html (100 keys, UnprocessedKeys)

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use egress_guard_core::history::SEEN_SECS;
use egress_guard_core::notify::digest::DigestPart;
use egress_guard_core::{Digests, Gather, SweepRequest};

use crate::error::{Error, code_and_message, dynamo};
use crate::table::history::{DynamoHistory, now};

/// Keys per `BatchGetItem`: DynamoDB's limit.
const KEYS_PER_BATCH: usize = 100;

/// Times `BatchGetItem` is asked again for the keys it left unprocessed (throttled), with a pause between.
const BATCH_ATTEMPTS: u32 = 8;

/// How long a claim to send the digest holds: a sender publishes in seconds; one that died leaves the claim to the
/// next delivery after this.
pub const LEASE_SECS: i64 = 600;

fn built(table: &str) -> impl Fn(aws_sdk_dynamodb::error::BuildError) -> Error + '_ {
    move |err| Error::Dynamo {
        operation: "build",
        table: table.to_owned(),
        code: "Build".into(),
        message: err.to_string(),
    }
}

/// The key of a schedule's digest item: `digest#<schedule>` and `suffix`.
fn digest_key(schedule_id: &str, suffix: &str) -> AttributeValue {
    AttributeValue::S(format!("digest#{schedule_id}{suffix}"))
}

/// When a share's items expire: with the history's `SEEN_SECS`.
fn expiry(share: &Share<'_>) -> AttributeValue {
    AttributeValue::N((share.at + SEEN_SECS).to_string())
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
    /// Now, epoch seconds.
    pub at: i64,
}

/// Where a schedule's digest stands after a share was added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gathered {
    /// Other sweeps are still to finish, or another sweep sends the digest.
    Waiting,
    /// The digest went out already (this is a late redelivery): what this sweep did goes out on its own.
    AlreadySent,
    /// This call completed the schedule and holds the claim: every share (JSON, in request order), to send now and
    /// then `published` (or `release` if it could not be sent).
    Complete(Vec<String>),
}

impl DynamoHistory {
    /// Keeps `share`, counts its request done if it is the last run, and claims the sending when the count is
    /// complete. An error after the claim gives the claim back.
    pub async fn add_share(&self, share: &Share<'_>) -> Result<Gathered, Error> {
        self.keep_share(share).await?;
        if !share.last {
            return Ok(Gathered::Waiting);
        }
        self.count_done(share).await?;
        if let Some(standing) = self.claim(share).await? {
            return Ok(standing);
        }
        match self.all_shares(share.schedule_id, share.of).await {
            Ok(shares) => Ok(Gathered::Complete(shares)),
            Err(err) => {
                if let Err(release) = self.release_digest(share.schedule_id).await {
                    tracing::error!(error = %release, "the digest's claim was not given back: it is claimable again after its lease");
                }
                Err(err)
            }
        }
    }

    /// The run's share, written once: a redelivery finds it there and leaves it.
    async fn keep_share(&self, share: &Share<'_>) -> Result<(), Error> {
        let kept = self
            .client
            .get()
            .put_item()
            .table_name(&self.table)
            .item("pk", digest_key(share.schedule_id, &format!("#{}#{}", share.index, share.run)))
            .item("share", AttributeValue::S(share.json.clone()))
            .item("expires_at", expiry(share))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match kept {
            Err(err) if code_and_message(&err).0 == "ConditionalCheckFailedException" => Ok(()),
            other => other.map(drop).map_err(|err| dynamo("PutItem", &self.table, &err)),
        }
    }

    /// The request counted done, once: its marker (which must not exist) and the count in one transaction.
    async fn count_done(&self, share: &Share<'_>) -> Result<(), Error> {
        let table = &self.table;
        let marker = Put::builder()
            .table_name(table)
            .item("pk", digest_key(share.schedule_id, &format!("#{}", share.index)))
            .item("run", AttributeValue::N(share.run.to_string()))
            .item("expires_at", expiry(share))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(built(table))?;
        let count = Update::builder()
            .table_name(table)
            .key("pk", digest_key(share.schedule_id, ""))
            .update_expression("ADD #count :one SET #of = :of, expires_at = :ttl")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#of", "of")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":of", AttributeValue::N(share.of.to_string()))
            .expression_attribute_values(":ttl", expiry(share))
            .build()
            .map_err(built(table))?;
        let counted = self
            .client
            .get()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(marker).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await;
        match counted {
            // The marker exists: this request was counted by an earlier delivery.
            Err(err) if code_and_message(&err).0 == "TransactionCanceledException" && is_condition(&err) => Ok(()),
            other => other.map(drop).map_err(|err| dynamo("TransactWriteItems", table, &err)),
        }
    }

    /// Claims the sending once every request is counted: `None` when this call holds the claim, else where the digest
    /// stands (sent already, or still waiting: uncounted requests, or another sweep's live claim).
    async fn claim(&self, share: &Share<'_>) -> Result<Option<Gathered>, Error> {
        let table = &self.table;
        let item = self
            .client
            .get()
            .get_item()
            .table_name(table)
            .key("pk", digest_key(share.schedule_id, ""))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| dynamo("GetItem", table, &err))?;
        let item = item.item().cloned().unwrap_or_default();
        if item.contains_key("published") {
            return Ok(Some(Gathered::AlreadySent));
        }
        let count: u64 = item.get("count").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0);
        if count < u64::from(share.of) {
            return Ok(Some(Gathered::Waiting));
        }
        let claimed = self
            .client
            .get()
            .update_item()
            .table_name(table)
            .key("pk", digest_key(share.schedule_id, ""))
            .update_expression("SET sent = :now")
            .condition_expression("(attribute_not_exists(sent) OR sent < :stale) AND attribute_not_exists(published)")
            .expression_attribute_values(":now", AttributeValue::N(share.at.to_string()))
            .expression_attribute_values(":stale", AttributeValue::N((share.at - LEASE_SECS).to_string()))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(None),
            Err(err) if code_and_message(&err).0 == "ConditionalCheckFailedException" => Ok(Some(Gathered::Waiting)),
            Err(err) => Err(dynamo("UpdateItem", table, &err)),
        }
    }

    /// Marks the digest sent: a late redelivery then reports on its own.
    pub async fn digest_published(&self, schedule_id: &str, at: i64) -> Result<(), Error> {
        self.client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("digest#{schedule_id}")))
            .update_expression("SET published = :at")
            .expression_attribute_values(":at", AttributeValue::N(at.to_string()))
            .send()
            .await
            .map_err(|err| dynamo("UpdateItem", &self.table, &err))?;
        Ok(())
    }

    /// Gives the claim back (the digest could not be sent), for the sweep's redelivery.
    pub async fn release_digest(&self, schedule_id: &str) -> Result<(), Error> {
        self.client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("digest#{schedule_id}")))
            .update_expression("REMOVE sent")
            .send()
            .await
            .map_err(|err| dynamo("UpdateItem", &self.table, &err))?;
        Ok(())
    }

    /// Every request's marker (its last run), then every run's share, in request order.
    async fn all_shares(&self, schedule_id: &str, of: u32) -> Result<Vec<String>, Error> {
        let markers: Vec<String> = (0..of).map(|i| format!("digest#{schedule_id}#{i}")).collect();
        let runs = self.batch_get(&markers, "run").await?;
        let mut keys = Vec::new();
        for (index, marker) in markers.iter().enumerate() {
            let last: u32 = runs.get(marker).and_then(|n| n.parse().ok()).unwrap_or(1);
            keys.extend((1..=last).map(|run| format!("digest#{schedule_id}#{index}#{run}")));
        }
        let mut shares = self.batch_get(&keys, "share").await?;
        Ok(keys.iter().filter_map(|k| shares.remove(k)).collect())
    }

    /// The attribute `attribute` (a string or a number, as text) of each item at `pks`, 100 keys a call, asking
    /// again for what DynamoDB leaves unprocessed.
    async fn batch_get(&self, pks: &[String], attribute: &str) -> Result<HashMap<String, String>, Error> {
        let mut found = HashMap::new();
        for chunk in pks.chunks(KEYS_PER_BATCH) {
            let mut wanted: Vec<HashMap<String, AttributeValue>> =
                chunk.iter().map(|pk| HashMap::from([("pk".to_owned(), AttributeValue::S(pk.clone()))])).collect();
            for attempt in 0..BATCH_ATTEMPTS {
                if wanted.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(5))).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(wanted.clone()))
                    .consistent_read(true)
                    .build()
                    .map_err(built(&self.table))?;
                let out = self
                    .client
                    .get()
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|err| dynamo("BatchGetItem", &self.table, &err))?;
                for item in out.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                    let value = match item.get(attribute) {
                        Some(AttributeValue::S(s)) | Some(AttributeValue::N(s)) => s.clone(),
                        _ => continue,
                    };
                    if let Some(AttributeValue::S(pk)) = item.get("pk") {
                        found.insert(pk.clone(), value);
                    }
                }
                wanted = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
            }
            if !wanted.is_empty() {
                return Err(Error::Dynamo {
                    operation: "BatchGetItem",
                    table: self.table.clone(),
                    code: "UnprocessedKeys".into(),
                    message: format!("{} item(s) still unread after {BATCH_ATTEMPTS} attempts", wanted.len()),
                });
            }
        }
        Ok(found)
    }
}

/// Whether a cancelled transaction was cancelled by a condition (the marker existed), not by a conflict or throttle.
fn is_condition<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
            e.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
        }
        _ => false,
    }
}

/// The core's digest port on the table: each share kept as JSON, read back into the core's parts (an unreadable
/// one is left out and logged).
impl Digests for DynamoHistory {
    type Error = Error;
    fn gathers(&self) -> bool {
        true
    }
    async fn add(&self, request: &SweepRequest, share: &DigestPart, last: bool) -> Result<Gather, Error> {
        let json = serde_json::to_string(share).unwrap_or_default();
        let kept = Share {
            schedule_id: &request.schedule_id,
            index: request.index,
            run: request.run,
            of: request.of,
            last,
            json,
            at: now(),
        };
        Ok(match self.add_share(&kept).await? {
            Gathered::Waiting => Gather::Waiting,
            Gathered::AlreadySent => Gather::AlreadySent,
            Gathered::Complete(all) => Gather::Complete(
                all.iter()
                    .filter_map(|json| match serde_json::from_str(json) {
                        Ok(share) => Some(share),
                        Err(err) => {
                            tracing::error!(error = %err, "a sweep's share of the digest is unreadable: left out");
                            None
                        }
                    })
                    .collect(),
            ),
        })
    }
    fn published(&self, schedule_id: &str) -> impl std::future::Future<Output = Result<(), Error>> + Send {
        self.digest_published(schedule_id, now())
    }
    fn release(&self, schedule_id: &str) -> impl std::future::Future<Output = Result<(), Error>> + Send {
        self.release_digest(schedule_id)
    }
}
