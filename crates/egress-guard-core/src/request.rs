//! `SweepRequest`: one (account, region) to sweep, as the scheduled fan-out queues it (an SQS message body) and the
//! function reads it back, checked field by field before anything else can happen.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::trigger::{Actor, EventName, Trigger, decode};

/// One (account, region) to sweep, as the scheduled dispatch queues it (an SQS message body) and the function reads
/// it back: each is swept by its own invocation, with its own time budget and its own report. `run` counts the
/// invocations of one scheduled sweep of that (account, region): a sweep cut short queues the next run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepRequest {
    /// The Scheduled Event's id, shared by every request of one dispatch.
    pub schedule_id: String,
    pub time: String,
    pub account: String,
    pub region: String,
    pub run: u32,
    /// This request's place among the `of` requests of its schedule (from 0), for the schedule's one digest. A
    /// request without them (`of` 0, queued before digests) reports on its own.
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub of: u32,
}

impl SweepRequest {
    /// Reads a queued request; every field is checked before anything else can happen.
    pub fn parse(body: &str) -> Result<SweepRequest, Error> {
        let request: SweepRequest = decode(body.as_bytes(), "sweep request: ")?;
        let bad = |path: &str, message: &str| Error::InvalidField { path: path.into(), message: message.into() };
        if !crate::model::is_account_id(&request.account) {
            return Err(bad("sweep request: account", "not a 12-digit account id"));
        }
        if !crate::org::is_region(&request.region) {
            return Err(bad("sweep request: region", "not a region name"));
        }
        if request.schedule_id.is_empty() || request.schedule_id.len() > 128 {
            return Err(bad("sweep request: schedule_id", "empty or over 128 characters"));
        }
        if request.of > 0 && request.index >= request.of {
            return Err(bad("sweep request: index", "not below `of`"));
        }
        Ok(request)
    }

    /// The sweep trigger this request stands for.
    pub fn trigger(&self) -> Trigger {
        Trigger {
            event_id: format!("{}/{}/{}/{}", self.schedule_id, self.account, self.region, self.run),
            event_name: EventName::ScheduledSweep,
            event_time: self.time.clone(),
            account: self.account.clone(),
            region: self.region.clone(),
            group_ids: Vec::new(),
            vpc_ids: Vec::new(),
            actor: Actor { principal_id: Some("the EventBridge schedule".into()), ..Actor::default() },
            failed: None,
        }
    }

    /// The request for the run after this one.
    pub fn next(&self) -> SweepRequest {
        SweepRequest { run: self.run + 1, ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::TriggerKind;

    fn request() -> SweepRequest {
        SweepRequest {
            schedule_id: "e7a0".into(),
            time: "2026-11-26T00:00:00Z".into(),
            account: "111111111111".into(),
            region: "us-west-2".into(),
            run: 1,
            index: 1,
            of: 2,
        }
    }

    #[test]
    fn a_request_reads_back_as_a_sweep_of_its_account_and_region() {
        let request = request();
        let back = SweepRequest::parse(&serde_json::to_string(&request).unwrap()).unwrap();
        assert_eq!(back, request);
        let t = back.next().trigger();
        assert_eq!(
            (t.kind(), t.account.as_str(), t.region.as_str()),
            (TriggerKind::Sweep, "111111111111", "us-west-2")
        );
        assert_eq!(t.event_id, "e7a0/111111111111/us-west-2/2");
    }

    #[test]
    fn a_bad_request_names_its_field() {
        for (body, field) in [
            (r#"{"schedule_id":"s","time":"t","account":"12","region":"eu-west-1","run":1}"#, "account"),
            (r#"{"schedule_id":"s","time":"t","account":"123456789012","region":"EU WEST","run":1}"#, "region"),
            (r#"{"schedule_id":"s","time":"t","account":"123456789012","region":"eu-west-1"}"#, "run"),
            (r#"{"schedule_id":"s","time":"t","account":"123456789012","region":"eu-west-1","run":1,"x":2}"#, "x"),
            (
                r#"{"schedule_id":"s","time":"t","account":"123456789012","region":"eu-west-1","run":1,"index":2,"of":2}"#,
                "index",
            ),
        ] {
            let err = SweepRequest::parse(body).unwrap_err().to_string();
            assert!(err.contains(field), "{body}: {err}");
        }
        assert!(matches!(SweepRequest::parse("{"), Err(Error::MalformedJson(_))));
    }
}
