//! Flow-log records from CloudWatch Logs: `FilterLogEvents` over the interfaces' streams, at most
//! `LOGS_CALLS_AT_ONCE` calls in flight per account and region.

use egress_guard_core::recommend::{Batch, Interface, Records, Window};

use super::{AwsFlowLogs, CodeAndMessage};
use crate::error::Error;

/// `FilterLogEvents` takes at most 100 stream names a call.
const STREAMS_PER_CALL: usize = 100;

impl AwsFlowLogs {
    pub(super) async fn cloudwatch(
        &self,
        log_group: &str,
        interfaces: &[&Interface],
        window: Window,
        limit: usize,
    ) -> Result<Records, Error> {
        let logs_error = |operation, err: &dyn CodeAndMessage| {
            let (code, message) = err.code_and_message();
            Error::Logs { operation, code, message }
        };
        // One stream per interface, named after it (`eni-…-all`, `eni-…-accept`); the interfaces' at once.
        let streams_of = |interface: &Interface| {
            let mut pages = self
                .logs
                .get()
                .describe_log_streams()
                .log_group_name(log_group)
                .log_stream_name_prefix(&interface.id)
                .into_paginator()
                .send();
            async move {
                let mut names = Vec::new();
                while let Some(page) = self.logs_call(pages.next()).await? {
                    let page = page.map_err(|e| logs_error("DescribeLogStreams", &e))?;
                    names.extend(page.log_streams().iter().filter_map(|s| s.log_stream_name().map(str::to_owned)));
                }
                Ok::<_, Error>(names)
            }
        };
        let found = futures_util::future::join_all(interfaces.iter().map(|i| streams_of(i))).await;
        let streams: Vec<String> = found.into_iter().collect::<Result<Vec<_>, _>>()?.concat();
        let mut records = Records::default();
        let mut batch = Batch::default();
        'streams: for names in streams.chunks(STREAMS_PER_CALL) {
            let mut token: Option<String> = None;
            loop {
                let call = self
                    .logs
                    .get()
                    .filter_log_events()
                    .log_group_name(log_group)
                    .set_log_stream_names(Some(names.to_vec()))
                    .start_time(window.start * 1000)
                    .end_time(window.end * 1000 - 1)
                    .set_next_token(token.clone())
                    .send();
                let page = self.logs_call(call).await?.map_err(|e| logs_error("FilterLogEvents", &e))?;
                for event in page.events() {
                    if batch.lines.len() >= limit {
                        records.truncated = true;
                        break 'streams;
                    }
                    batch.lines.extend(event.message().map(str::to_owned));
                }
                // A page may be empty and still carry a token: the search goes on until none comes back.
                match page.next_token() {
                    Some(next) if token.as_deref() != Some(next) => token = Some(next.to_owned()),
                    _ => break,
                }
            }
        }
        records.batches.push(batch);
        Ok(records)
    }
}
