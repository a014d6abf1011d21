//! The remediation flow over the ports: read the group, evaluate, revoke, re-read and verify, record, notify.
//! `handle` takes a trigger's groups through it; `act` is the part a sweep shares.

use crate::Error;
use crate::evaluate::{Evaluation, evaluate};
use crate::history::{Repeat, Revocation, destination_key};
use crate::model::{EgressRule, SecurityGroup};
use crate::notice::{Notice, Verification};
use crate::outcome::Outcome;
use crate::ports::{History, Notifier, Ports, SecurityGroups};
use crate::report::{EventReport, GroupReport};
use crate::settings::Settings;
use crate::trigger::Trigger;

/// Handles one trigger: each of its groups read, evaluated, acted on and notified. The Lambda and the CLI both come
/// through here.
pub async fn handle<G, N, H>(
    trigger: &Trigger,
    settings: &Settings,
    ports: Ports<'_, G, N, H>,
) -> Result<EventReport, Error>
where
    G: SecurityGroups,
    N: Notifier,
    H: History,
{
    let first = trigger.group_ids.first().map(String::as_str);
    if let Some(failed) = &trigger.failed {
        tracing::info!(event_id = %trigger.event_id, error_code = %failed.error_code, outcome = "call_failed", "skipped: the call failed");
        return Ok(EventReport::new(trigger, vec![GroupReport::untouched(first, Outcome::CallFailed)]));
    }
    let mut results = Vec::with_capacity(trigger.group_ids.len());
    for group_id in &trigger.group_ids {
        let read_error =
            |source: G::Error| Error::SecurityGroups { group_id: group_id.clone(), source: Box::new(source) };
        let report = match ports.groups.describe(group_id).await.map_err(read_error)? {
            None => GroupReport::untouched(Some(group_id), Outcome::GroupGone),
            Some(before) => {
                let notice = act(trigger, settings, &before, &evaluate(&before, settings), ports).await?;
                let publish = should_notify(&notice, settings);
                if publish && let Err(source) = ports.notifier.publish(&notice).await {
                    return Err(Error::Notify {
                        group_id: group_id.clone(),
                        subject: notice.subject(),
                        text: notice.text(),
                        source: Box::new(source),
                    });
                }
                GroupReport::acted(notice, publish)
            }
        };
        tracing::info!(
            event_id = %trigger.event_id,
            group_id = %group_id,
            outcome = report.outcome.as_str(),
            revoked = report.revoked.len(),
            notified = report.notice.is_some(),
            "group handled"
        );
        results.push(report);
    }
    Ok(EventReport::new(trigger, results))
}

/// A group that is gone has no egress left to report on (the log still records the revoke); compliant and exempt
/// groups are notified only on request, or, for a compliant group, when its rules add up to the whole Internet.
fn should_notify(notice: &Notice, settings: &Settings) -> bool {
    match notice.outcome {
        Outcome::Remediated | Outcome::DryRun | Outcome::VerificationFailed => true,
        Outcome::Compliant if !notice.split_ranges.is_empty() => true,
        Outcome::Compliant | Outcome::Exempt | Outcome::GroupGone | Outcome::CallFailed => settings.notify_compliant,
        Outcome::Refused => false,
    }
}

/// Acts on a group as read and evaluated: revokes its plan (unless dry-run), re-reads and verifies, records the
/// revoke, and returns the notice that tells it (not yet published). Shared by events and sweeps.
pub(crate) async fn act<G: SecurityGroups, N, H: History>(
    trigger: &Trigger,
    settings: &Settings,
    before: &SecurityGroup,
    evaluation: &Evaluation,
    Ports { groups, history, .. }: Ports<'_, G, N, H>,
) -> Result<Notice, Error> {
    let plan = &evaluation.plan;
    let verification = if plan.is_empty() {
        let outcome = Outcome::untouched(evaluation);
        Verification { outcome, after: before.egress.clone(), still_open: vec![], verify_error: None }
    } else if settings.dry_run {
        let after = before.egress.iter().filter(|r| !plan.rules.contains(r)).cloned().collect();
        Verification { outcome: Outcome::DryRun, after, still_open: vec![], verify_error: None }
    } else {
        groups
            .revoke(plan)
            .await
            .map_err(|source| Error::SecurityGroups { group_id: before.id.clone(), source: Box::new(source) })?;
        verify(groups, before, settings).await
    };
    let mut notice = Notice::new(trigger, settings, before, evaluation, verification);
    if notice.outcome.revoked() {
        notice.repeat = remember(trigger, settings, &notice, history).await;
    }
    Ok(notice)
}

/// Re-reads the group after a revoke and re-evaluates it: a rule open again is `verification_failed`, never
/// `remediated`. A failed re-read still reports the revoke.
async fn verify<G: SecurityGroups>(groups: &G, before: &SecurityGroup, settings: &Settings) -> Verification {
    match groups.describe(&before.id).await {
        Ok(None) => Verification { outcome: Outcome::GroupGone, after: vec![], still_open: vec![], verify_error: None },
        Ok(Some(after)) => {
            let still_open = evaluate(&after, settings).plan.rules;
            let outcome = if still_open.is_empty() { Outcome::Remediated } else { Outcome::VerificationFailed };
            Verification { outcome, after: after.egress, still_open, verify_error: None }
        }
        Err(err) => Verification {
            outcome: Outcome::VerificationFailed,
            after: vec![],
            still_open: vec![],
            verify_error: Some(err.to_string()),
        },
    }
}

/// Records the revoke (one call) and says how often each destination was revoked in the window. A failing store
/// never fails the remediation: the notice says the count is unknown.
async fn remember<H: History>(trigger: &Trigger, settings: &Settings, notice: &Notice, history: &H) -> Option<Repeat> {
    let at = match chrono::DateTime::parse_from_rfc3339(&trigger.event_time) {
        Ok(time) => time.timestamp(),
        Err(err) => return Some(Repeat::Unknown { error: format!("event time {:?}: {err}", trigger.event_time) }),
    };
    let revocation = Revocation {
        group_key: format!("{}/{}/{}", notice.account, notice.region, notice.group.id),
        destinations: notice.revoked.iter().map(destination_key).collect(),
        at,
        window_secs: i64::from(settings.repeat_window_hours) * 3600,
        by: trigger.actor.name().to_owned(),
    };
    match history.record(&revocation).await {
        Ok(None) => None,
        Ok(Some(counts)) => Some(Repeat::Counted {
            window_hours: settings.repeat_window_hours,
            counts: notice.revoked.iter().map(EgressRule::to_string).zip(counts).collect(),
            by: revocation.by,
        }),
        Err(err) => {
            tracing::warn!(event_id = %trigger.event_id, group_id = %notice.group.id, error = %err, "repeat count unknown: the history failed");
            Some(Repeat::Unknown { error: err.to_string() })
        }
    }
}
