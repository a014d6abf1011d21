//! Flow-log records from S3: the bucket's `AWSLogs/<account>/vpcflowlogs/<region>/` folders listed per month from
//! the window's first day, each file read (gunzipped) within the budget.

use std::collections::BTreeSet;
use std::io::Read;

use chrono::Datelike;
use egress_guard_core::recommend::{Batch, FlowLog, Interface, Records, Window};
use futures_util::StreamExt;

use super::{AwsFlowLogs, CodeAndMessage};
use crate::error::Error;

/// S3 files read at once.
const GETS_AT_ONCE: usize = 4;

impl AwsFlowLogs {
    pub(super) async fn s3(
        &self,
        bucket: &str,
        prefix: &str,
        log: &FlowLog,
        interfaces: &[&Interface],
        window: Window,
        limit: usize,
    ) -> Result<Records, Error> {
        let accounts = self.s3_accounts(bucket, prefix, interfaces).await?;
        let keys = self.s3_keys(bucket, prefix, &accounts, log, window).await?;
        self.s3_records(bucket, keys, limit).await
    }

    /// The accounts whose folders to read. The key's account is the flow log's owner, which in a shared VPC is not
    /// the interfaces' owner: the accounts are read from the bucket (`AWSLogs/<account>/`), the interfaces' owners
    /// added in case listing finds none.
    async fn s3_accounts(
        &self,
        bucket: &str,
        prefix: &str,
        interfaces: &[&Interface],
    ) -> Result<BTreeSet<String>, Error> {
        let mut accounts: BTreeSet<String> = interfaces.iter().filter_map(|i| i.owner_id.clone()).collect();
        let root = format!("{prefix}AWSLogs/");
        let mut pages =
            self.s3.get().list_objects_v2().bucket(bucket).prefix(&root).delimiter("/").into_paginator().send();
        while let Some(page) = self.timed(pages.next()).await? {
            let page = page.map_err(|e| s3_error("ListObjectsV2", bucket, &e))?;
            let folders = page.common_prefixes().iter().filter_map(|p| p.prefix());
            let names = folders.filter_map(|p| p.strip_prefix(root.as_str())?.strip_suffix('/'));
            accounts.extend(names.filter(|a| egress_guard_core::model::is_account_id(a)).map(str::to_owned));
        }
        Ok(accounts)
    }

    /// The keys of `log`'s files in each account's folder of the region, delivered from the window's first day to
    /// the day after it (a file lands in the folder of the day it is delivered: the day after the window may hold its
    /// last records).
    async fn s3_keys(
        &self,
        bucket: &str,
        prefix: &str,
        accounts: &BTreeSet<String>,
        log: &FlowLog,
        window: Window,
    ) -> Result<Vec<String>, Error> {
        let day = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap_or_default().date_naive();
        let (first, last) = (day(window.start), day(window.end + 86_400));
        let mut keys = Vec::new();
        for account in accounts {
            let root = format!("{prefix}AWSLogs/{account}/vpcflowlogs/{}/", self.region);
            // One listing per month, starting at the window's first day: as few calls as the files need.
            let mut month = first.with_day(1).unwrap_or(first);
            while month <= last {
                let mut listing =
                    self.s3.get().list_objects_v2().bucket(bucket).prefix(format!("{root}{}", month.format("%Y/%m/")));
                if month <= first {
                    listing = listing.start_after(format!("{root}{}", first.format("%Y/%m/%d")));
                }
                let mut pages = listing.into_paginator().send();
                while let Some(page) = self.timed(pages.next()).await? {
                    let page = page.map_err(|e| s3_error("ListObjectsV2", bucket, &e))?;
                    let newest = format!("{root}{}/~", last.format("%Y/%m/%d"));
                    let found = page.contents().iter().filter_map(|o| o.key());
                    keys.extend(
                        found
                            .filter(|k| *k < newest.as_str() && k.contains(&format!("_{}_", log.id)))
                            .map(str::to_owned),
                    );
                }
                month = month.checked_add_months(chrono::Months::new(1)).unwrap_or(last.succ_opt().unwrap_or(last));
            }
        }
        Ok(keys)
    }

    /// The files' records, `GETS_AT_ONCE` files read at once, up to `limit` lines (then `truncated`); a file that is
    /// not plain text, or cannot be inflated, is named as unread.
    async fn s3_records(&self, bucket: &str, keys: Vec<String>, limit: usize) -> Result<Records, Error> {
        let mut records = Records::default();
        let (plain, other): (Vec<String>, Vec<String>) =
            keys.into_iter().partition(|k| k.ends_with(".log.gz") || k.ends_with(".log"));
        records.unread.extend(other.iter().map(|k| format!("s3://{bucket}/{k}: only plain-text files are read")));
        let fetch = |key: String| async move {
            let call = self.s3.get().get_object().bucket(bucket).key(&key).send();
            let body = self
                .timed(async {
                    let object = call.await.map_err(|e| s3_error("GetObject", bucket, &e))?;
                    object.body.collect().await.map_err(|e| Error::S3 {
                        operation: "GetObject",
                        bucket: bucket.to_owned(),
                        code: "transport".into(),
                        message: e.to_string(),
                    })
                })
                .await??;
            Ok::<_, Error>(gunzip(&body.into_bytes()).map_err(|why| format!("s3://{bucket}/{key}: {why}")))
        };
        let mut files = futures_util::stream::iter(plain.into_iter().map(fetch)).buffered(GETS_AT_ONCE);
        let mut lines = 0;
        while let Some(file) = files.next().await {
            let text = match file? {
                Ok(text) => text,
                Err(why) => {
                    records.unread.push(why);
                    continue;
                }
            };
            let mut file = text.lines();
            let header = file.next().map(str::to_owned);
            let batch: Vec<String> = file.by_ref().take(limit - lines).map(str::to_owned).collect();
            lines += batch.len();
            records.batches.push(Batch { header, lines: batch });
            if file.next().is_some() || lines >= limit {
                records.truncated = true;
                break;
            }
        }
        Ok(records)
    }
}

/// An S3 call's failure, with its code and message.
fn s3_error(operation: &'static str, bucket: &str, err: &dyn CodeAndMessage) -> Error {
    let (code, message) = err.code_and_message();
    Error::S3 { operation, bucket: bucket.to_owned(), code, message }
}

/// A file's text, gunzipped if it starts with gzip's magic bytes (a proxy or client may already have inflated it).
fn gunzip(bytes: &[u8]) -> Result<String, String> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string());
    }
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_string(&mut text).map_err(|e| format!("not gzip text: {e}"))?;
    Ok(text)
}
