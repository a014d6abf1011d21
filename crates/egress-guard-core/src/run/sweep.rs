//! The sweep: every group of the region through the same evaluation and remediation as an event, with one report
//! message instead of a notice per group, and the fan-out that queues one `SweepRequest` per (account, region).

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::evaluate::evaluate;
use crate::history::{Since, open_key};
use crate::model::EgressRule;
use crate::model::SecurityGroup;
use crate::notify::message::{MAX_MESSAGE_BYTES, Message};
use crate::notify::notice::{Notice, Verification};
use crate::notify::report::{SweepLine, SweepReport};
use crate::outcome::Outcome;
use crate::ports::{History, Notifier, Outlets, Ports, SecurityGroups};
use crate::run::remediate::{act, note, refused};
use crate::settings::Settings;
use crate::trigger::{Actor, EventName, Trigger, decode, unique};

/// What became of one group of the sweep, with the notice that machines get (Security Hub, the event bus).
enum Step {
    /// Nothing to revoke: its outcome, and its line and notice when it is exempt with open egress.
    Untouched(Outcome, Option<(SweepLine, Notice)>),
    Acted(SweepLine, Option<Notice>),
    /// Not started: the time ran short.
    NoTime,
}

/// Sweeps the region: lists every group, acts on each with open egress while `has_time()` says there is time for one
/// more (a group is never left half-done; a group whose revoke fails is a line of the report and the sweep goes on),
/// and publishes the report, in numbered parts that each fit SNS, if any group was acted on or failed. A sweep cut
/// short names the group it stopped at; the next one, starting from the top, finds the groups before it fixed and
/// costs them no call, so it takes up where this one stopped.
pub async fn sweep<G, N, H, F, O>(
    trigger: &Trigger,
    settings: &Settings,
    ports: Ports<'_, G, N, H, F, O>,
    has_time: impl Fn() -> bool,
) -> Result<SweepReport, Error>
where
    G: SecurityGroups,
    N: Notifier,
    H: History,
    O: Outlets,
{
    let has_time: &dyn Fn() -> bool = &has_time;
    let all = ports
        .groups
        .list()
        .await
        .map_err(|source| Error::SecurityGroups { group_id: "(all)".into(), source: Box::new(source) })?;
    let region_key = format!("{}/{}", trigger.account, trigger.region);
    let at = chrono::DateTime::parse_from_rfc3339(&trigger.event_time)
        .map_or_else(|_| chrono::Utc::now().timestamp(), |t| t.timestamp());
    // `None`: no history kept here, so no line says how it stands; `Some(None)`: the history failed (unknown).
    let first = match ports.history.first_sweep(&region_key, &trigger.event_time, at).await {
        Ok(first) => first.map(Some),
        Err(err) => {
            tracing::warn!(event_id = %trigger.event_id, error = %err, "the region's first sweep unknown: missed events are counted as unknown");
            Some(None)
        }
    };
    let mut report = SweepReport {
        event_id: trigger.event_id.clone(),
        account: trigger.account.clone(),
        region: trigger.region.clone(),
        dry_run: settings.dry_run,
        paused: settings.paused.as_ref().map(|p| p.line()),
        groups_total: all.len(),
        groups_checked: 0,
        complete: true,
        stopped_at: None,
        counts: BTreeMap::new(),
        lines: Vec::new(),
        outlets_failed: None,
        watch: settings.watch.clone().map(Box::new),
    };
    // Up to `sweep_concurrency` groups are acted on at once, each checking the time as it starts. Every step runs to
    // its end (none is ever dropped half-way through a revoke), and the report keeps the list's order.
    // Unordered, so that one slow group does not hold the others' places; put back in the list's order after.
    let numbered = all
        .iter()
        .enumerate()
        .map(|(i, group)| async move { (i, step(trigger, settings, group, ports, first, has_time).await) });
    let mut steps: Vec<(usize, Step)> =
        stream::iter(numbered).buffer_unordered(settings.sweep_concurrency.max(1)).collect().await;
    steps.sort_by_key(|(i, _)| *i);
    let mut notices = Vec::new();
    for (group, (_, step)) in all.iter().zip(steps) {
        let outcome = match step {
            // Past the first group not started, only the groups acted on anyway (started before the time ran out)
            // are counted: "checked N" means the groups before where the sweep stopped, and those.
            _ if report.stopped_at.is_some() && !matches!(step, Step::Acted(..)) => continue,
            Step::NoTime => {
                report.complete = false;
                report.stopped_at = Some(group.id.clone());
                tracing::warn!(
                    checked = report.groups_checked,
                    total = report.groups_total,
                    stopped_at = %group.id,
                    "sweep stopped: time ran short"
                );
                continue;
            }
            Step::Untouched(outcome, exempt) => {
                if let Some((line, notice)) = exempt {
                    report.lines.push(line);
                    notices.push(notice);
                }
                outcome
            }
            Step::Acted(line, notice) => {
                let outcome = line.outcome;
                report.lines.push(line);
                notices.extend(notice);
                outcome
            }
        };
        *report.counts.entry(outcome).or_default() += 1;
        report.groups_checked += 1;
    }
    // In a digest (a scheduled fan-out), the sweep's report goes out with the others, once, from the last sweep.
    // A blind region is told even when nothing was acted on: its changes are not seen.
    if (report.acted() > 0 || report.is_blind()) && !settings.digest {
        // Every part is tried; the error carries the parts that failed (each group's undo command is also logged).
        let parts = report.parts(MAX_MESSAGE_BYTES);
        let total = parts.len();
        let mut failed = Vec::new();
        for part in &parts {
            if let Err(source) = ports.notifier.publish(part).await {
                failed.push((format!("{}\n\n{}", part.subject(), part.text()), source));
            }
        }
        if !failed.is_empty() {
            let text = format!(
                "{} of {total} part(s) not sent; each group's undo command is also in the function's log.\n\n{}",
                failed.len(),
                failed.iter().map(|(text, _)| text.as_str()).collect::<Vec<_>>().join("\n\n")
            );
            let (_, source) = failed.swap_remove(0);
            return Err(Error::NotifySummary { text, source: Box::new(source) });
        }
    }
    // Once the report is out, the sweep is done: an outlet's failure is logged (each notice whole) and counted
    // (`OutletFailures`, its alarm), never a reason to sweep again, which would send the report again.
    if !notices.is_empty()
        && let Err(source) = ports.outlets.deliver(&notices).await
    {
        for notice in &notices {
            tracing::error!(event_id = %trigger.event_id, group_id = %notice.group.id, notice = %notice.to_json(), "sweep: notice not delivered to an outlet");
        }
        tracing::error!(event_id = %trigger.event_id, error = %source, notices = notices.len(), "sweep: the outlets failed; the sweep stands");
        report.outlets_failed = Some(source.to_string());
    }
    Ok(report)
}

/// One group of the sweep: evaluated, and acted on if it has something to revoke and there is time to start.
async fn step<G: SecurityGroups, N, H: History, F, O>(
    trigger: &Trigger,
    settings: &Settings,
    group: &SecurityGroup,
    ports: Ports<'_, G, N, H, F, O>,
    first: Option<Option<bool>>,
    has_time: &dyn Fn() -> bool,
) -> Step {
    let evaluation = evaluate(group, settings);
    if evaluation.plan.is_empty() {
        let outcome = Outcome::untouched(&evaluation);
        if outcome != Outcome::Exempt || evaluation.findings.is_empty() {
            return Step::Untouched(outcome, None);
        }
        // Recorded as the plan would be without the exemption, as `act` records it: lifting the exemption then changes
        // nothing egress-guard compares.
        let unexempt = Settings { exempt_tag_key: None, exempt_group_ids: Default::default(), ..settings.clone() };
        let open: Vec<EgressRule> = evaluate(group, &unexempt).plan.rules;
        let key = format!("{}/{}/{}", trigger.account, trigger.region, group.id);
        let last = note(trigger, ports.history, &key, &open).await;
        let notice = Notice::new(trigger, settings, group, &evaluation, Verification::untouched(outcome, group));
        let line = SweepLine {
            since: first.map(|f| Since::of(f, &last, &open_key(&open))),
            ..SweepLine::exempt(group, &evaluation)
        };
        return Step::Untouched(outcome, Some((line, notice)));
    }
    if !has_time() {
        return Step::NoTime;
    }
    // One group's failure is a line of the report, never the end of the sweep.
    let (line, notice) = match act(trigger, settings, group, &evaluation, ports).await {
        Ok((notice, last)) => {
            let since = first.map(|f| Since::of(f, &last, &open_key(&evaluation.plan.rules)));
            (SweepLine { since, ..SweepLine::new(&notice) }, Some(notice))
        }
        Err(err) => {
            tracing::error!(event_id = %trigger.event_id, group_id = %group.id, error = %err, "sweep: revoke failed");
            // Its finding says so (Security Hub, the bus); the report names it.
            (SweepLine::failed(group, err.to_string()), Some(refused(trigger, settings, group, &evaluation, &err)))
        }
    };
    // The log keeps each undo command too: a report that cannot be published loses none of them.
    tracing::info!(
        event_id = %trigger.event_id,
        group_id = %group.id,
        outcome = line.outcome.as_str(),
        revoked = line.revoked.len(),
        undo = line.undo_command.as_deref().unwrap_or("-"),
        "sweep: group handled"
    );
    Step::Acted(line, notice)
}

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

/// The requests one Scheduled Event fans out to: every account × every region, in that order, deduplicated. The
/// schedule's own account and region are those of the function.
pub fn sweep_requests(schedule: &Trigger, accounts: &[String], regions: &[String]) -> Vec<SweepRequest> {
    let accounts = unique(std::iter::once(schedule.account.clone()).chain(accounts.iter().cloned()).collect());
    let regions = if regions.is_empty() { vec![schedule.region.clone()] } else { unique(regions.to_vec()) };
    let of = u32::try_from(accounts.len() * regions.len()).unwrap_or(u32::MAX);
    accounts
        .iter()
        .flat_map(|account| regions.iter().map(move |region| (account, region)))
        .enumerate()
        .map(|(index, (account, region))| SweepRequest {
            schedule_id: schedule.event_id.clone(),
            time: schedule.event_time.clone(),
            account: account.clone(),
            region: region.clone(),
            run: 1,
            index: u32::try_from(index).unwrap_or(u32::MAX),
            of,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::TriggerKind;

    fn schedule() -> Trigger {
        let mut t = SweepRequest {
            schedule_id: "s".into(),
            time: "2026-11-26T00:00:00Z".into(),
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            run: 1,
            index: 0,
            of: 1,
        }
        .trigger();
        t.event_id = "e7a0".into();
        t
    }

    #[test]
    fn a_schedule_fans_out_to_every_account_and_region_once() {
        let accounts = ["111111111111".to_owned(), "123456789012".to_owned()];
        let regions = ["eu-west-1".to_owned(), "us-east-1".to_owned(), "us-east-1".to_owned()];
        let pairs: Vec<(String, String)> =
            sweep_requests(&schedule(), &accounts, &regions).into_iter().map(|r| (r.account, r.region)).collect();
        let want = [
            ("123456789012", "eu-west-1"),
            ("123456789012", "us-east-1"),
            ("111111111111", "eu-west-1"),
            ("111111111111", "us-east-1"),
        ];
        assert_eq!(pairs, want.map(|(a, r)| (a.to_owned(), r.to_owned())));
        let places: Vec<(u32, u32)> =
            sweep_requests(&schedule(), &accounts, &regions).iter().map(|r| (r.index, r.of)).collect();
        assert_eq!(places, [(0, 4), (1, 4), (2, 4), (3, 4)], "each request's place, for the digest");
    }

    #[test]
    fn no_regions_means_the_schedules_own() {
        let requests = sweep_requests(&schedule(), &[], &[]);
        assert_eq!(requests.len(), 1);
        assert_eq!((requests[0].region.as_str(), requests[0].run), ("eu-west-1", 1));
    }

    #[test]
    fn a_request_reads_back_as_a_sweep_of_its_account_and_region() {
        let request = &sweep_requests(&schedule(), &["111111111111".into()], &["us-west-2".into()])[1];
        let back = SweepRequest::parse(&serde_json::to_string(request).unwrap()).unwrap();
        assert_eq!(&back, request);
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
        ] {
            let err = SweepRequest::parse(body).unwrap_err().to_string();
            assert!(err.contains(field), "{body}: {err}");
        }
        assert!(matches!(SweepRequest::parse("{"), Err(Error::MalformedJson(_))));
    }
}
