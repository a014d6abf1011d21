//! What the function is invoked with, read once: an SQS batch of queued sweep requests (`aws_lambda_events`'
//! `SqsEvent`), a Scheduled Event, or a CloudTrail call.

use aws_lambda_events::event::sqs::SqsEvent;
use serde::Deserialize;

use crate::Error;
use crate::trigger::{Trigger, TriggerKind, parse_value};

/// One invocation's input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// An SQS batch from the sweep queue: each message's body (a `SweepRequest`, read one by one, so that a bad one
    /// fails alone) and how many times SQS delivered it.
    Queued(Vec<Queued>),
    /// A Scheduled Event: the schedule, fanned out to the queue or swept here.
    Schedule(Trigger),
    /// A CloudTrail call: its groups.
    Event(Trigger),
}

/// One message of an SQS batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    pub body: String,
    /// `attributes.ApproximateReceiveCount`, 1 when absent.
    pub receives: u32,
}

impl Incoming {
    /// Reads an invocation's JSON: a batch whose every record comes from `aws:sqs` is queued requests; anything else
    /// is an EventBridge event, checked as `parse_value` checks it (no AWS call on bad input).
    pub fn parse(value: serde_json::Value) -> Result<Incoming, Error> {
        if let Some(queued) = queued(&value) {
            return Ok(Incoming::Queued(queued));
        }
        let trigger = parse_value(value)?;
        Ok(match trigger.kind() {
            TriggerKind::Sweep => Incoming::Schedule(trigger),
            TriggerKind::Event => Incoming::Event(trigger),
        })
    }

    /// The kind of work it asks for: queued requests and a schedule are sweeps.
    pub fn kind(&self) -> TriggerKind {
        match self {
            Incoming::Event(_) => TriggerKind::Event,
            Incoming::Queued(_) | Incoming::Schedule(_) => TriggerKind::Sweep,
        }
    }
}

/// The messages of an SQS event, or `None` for any other event.
fn queued(value: &serde_json::Value) -> Option<Vec<Queued>> {
    value.get("Records")?;
    let event = SqsEvent::deserialize(value).ok()?;
    if event.records.is_empty() || !event.records.iter().all(|r| r.event_source.as_deref() == Some("aws:sqs")) {
        return None;
    }
    Some(
        event
            .records
            .into_iter()
            .map(|r| Queued {
                receives: r.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1),
                body: r.body.unwrap_or_default(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_sqs_batch_is_its_bodies_with_their_delivery_counts() {
        let batch = json!({"Records": [
            {"eventSource": "aws:sqs", "body": "a", "attributes": {"ApproximateReceiveCount": "3"}},
            {"eventSource": "aws:sqs", "body": "b"},
        ]});
        let want = vec![Queued { body: "a".into(), receives: 3 }, Queued { body: "b".into(), receives: 1 }];
        assert_eq!(Incoming::parse(batch).unwrap(), Incoming::Queued(want));
    }

    #[test]
    fn records_from_another_source_are_not_queued_requests() {
        let s3 = json!({"Records": [{"eventSource": "aws:s3", "body": "a"}]});
        assert!(Incoming::parse(s3).is_err(), "not an EventBridge event either");
        let empty = json!({"Records": []});
        assert!(Incoming::parse(empty).is_err());
    }

    #[test]
    fn a_scheduled_event_is_a_schedule_and_a_call_an_event() {
        let schedule = json!({
            "version": "0", "id": "e7a0", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-26T00:00:00Z", "region": "eu-west-1",
            "resources": [], "detail": {}
        });
        let incoming = Incoming::parse(schedule).unwrap();
        assert_eq!(incoming.kind(), TriggerKind::Sweep);
        assert!(matches!(incoming, Incoming::Schedule(t) if t.event_id == "e7a0"));
        let call: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string("../../events/authorize-egress-open-ipv4.json").unwrap())
                .unwrap();
        assert!(matches!(Incoming::parse(call).unwrap(), Incoming::Event(_)));
    }
}
