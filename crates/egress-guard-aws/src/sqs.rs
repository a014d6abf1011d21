//! The sweep queue on SQS: the scheduled dispatch sends one message per (account, region), ten per call.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use egress_guard_core::SweepRequest;

use crate::error::Error;
use crate::lazy::OnFirstUse;

/// SQS takes at most ten messages per `SendMessageBatch`.
const BATCH: usize = 10;

#[derive(Clone, Debug)]
pub struct SqsSweepQueue {
    client: OnFirstUse<aws_sdk_sqs::Client>,
    queue_url: String,
}

impl SqsSweepQueue {
    /// Its client made from `config` on the first call.
    pub(crate) fn from_config(config: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        SqsSweepQueue { client: OnFirstUse::new(config, aws_sdk_sqs::Client::new), queue_url: queue_url.into() }
    }

    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsSweepQueue { client: OnFirstUse::ready(client), queue_url: queue_url.into() }
    }

    /// Queues every request, ten per call. An entry SQS refuses is sent once more; a batch whose call fails is sent
    /// once more whole, and the next batches are still sent. What still failed is the error, naming each
    /// (account, region) left out and the last cause.
    pub async fn send(&self, requests: &[SweepRequest]) -> Result<(), Error> {
        let mut left_out = Vec::new();
        let mut cause = String::new();
        for chunk in requests.chunks(BATCH) {
            let mut pending: Vec<&SweepRequest> = chunk.iter().collect();
            for attempt in 0..2 {
                pending = match self.send_batch(&pending).await {
                    Ok(failed) => failed.into_iter().map(|i| pending[i]).collect(),
                    Err(err) => {
                        cause = err.to_string();
                        pending
                    }
                };
                if pending.is_empty() {
                    break;
                }
                tracing::warn!(attempt, failed = pending.len(), "SQS did not take some sweep requests");
            }
            left_out.extend(pending.iter().map(|r| format!("{}/{}", r.account, r.region)));
        }
        if left_out.is_empty() {
            Ok(())
        } else {
            Err(Error::Sqs {
                queue: self.queue_url.clone(),
                code: "NotQueued".into(),
                message: format!("sweeps not queued: {} (last cause: {cause})", left_out.join(", ")),
            })
        }
    }

    /// One `SendMessageBatch`; answers the indexes of the entries SQS refused.
    async fn send_batch(&self, requests: &[&SweepRequest]) -> Result<Vec<usize>, Error> {
        let entries = requests.iter().enumerate().map(|(i, request)| {
            let body = serde_json::to_string(request).expect("a sweep request serializes");
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .build()
                .expect("id and body set")
        });
        let out = self
            .client
            .get()
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .map_err(|err| {
                let (code, message) = crate::error::code_and_message(&err);
                Error::Sqs { queue: self.queue_url.clone(), code, message }
            })?;
        Ok(out.failed().iter().filter_map(|f| f.id().parse().ok()).collect())
    }
}

impl egress_guard_core::SweepQueue for SqsSweepQueue {
    type Error = Error;
    fn send(&self, requests: &[SweepRequest]) -> impl std::future::Future<Output = Result<(), Error>> + Send {
        SqsSweepQueue::send(self, requests)
    }
}
