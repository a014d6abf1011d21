//! Remediate: a trigger's groups over the ports: read the group, evaluate, revoke, re-read and verify, record,
//! notify. `handle` takes a trigger's groups through it; `act` is the part a sweep shares.

use crate::Error;
use crate::evaluate::{Evaluation, evaluate};
use crate::history::{Last, Repeat, Revocation, destination_key, open_key};
use crate::model::{EgressRule, SecurityGroup};
use crate::notify::notice::{Notice, Verification};
use crate::notify::observed::{NOTICE_MAX_RECORDS, ObservedEgress};
use crate::notify::report::{EventReport, GroupReport};
use crate::outcome::Outcome;
use crate::ports::{FlowLogs, History, Notifier, Outlets, Ports, Revoked, SecurityGroups};
use crate::recommend::proposal::DEFAULT_QUOTA;
use crate::recommend::ranges::AwsRanges;
use crate::recommend::tally::Request;
use crate::run::recommend::recommend_for;
use crate::settings::Settings;
use crate::trigger::Trigger;

/// Handles one trigger: each of its groups read, evaluated, acted on and notified. The Lambda and the CLI both come
/// through here.
pub async fn handle<G, N, H, F, O>(
    trigger: &Trigger,
    settings: &Settings,
    ports: Ports<'_, G, N, H, F, O>,
) -> Result<EventReport, Error>
where
    G: SecurityGroups,
    N: Notifier,
    H: History,
    F: FlowLogs,
    O: Outlets,
{
    let first = trigger.group_ids.first().map(String::as_str);
    if let Some(failed) = &trigger.failed {
        tracing::info!(event_id = %trigger.event_id, error_code = %failed.error_code, outcome = "call_failed", "skipped: the call failed");
        return Ok(EventReport::new(trigger, vec![GroupReport::untouched(first, Outcome::CallFailed)]));
    }
    let targets =
        trigger.group_ids.iter().map(|id| Target::Group(id)).chain(trigger.vpc_ids.iter().map(|id| Target::Vpc(id)));
    let mut results = Vec::with_capacity(trigger.group_ids.len() + trigger.vpc_ids.len());
    let mut undelivered = None;
    for target in targets {
        let read_error =
            |source: G::Error| Error::SecurityGroups { group_id: target.id().to_owned(), source: Box::new(source) };
        let found = describe_settled(ports.groups, target).await.map_err(read_error)?;
        let found = match (target, found) {
            (Target::Vpc(_), Some(group)) => Some(settle_default_group(ports.groups, target, group, settings).await),
            (_, found) => found,
        };
        let report = match found {
            None => GroupReport::untouched(Some(target.id()), Outcome::GroupGone),
            Some(before) => handle_group(trigger, settings, &before, ports, &mut undelivered).await?,
        };
        tracing::info!(
            event_id = %trigger.event_id,
            target = target.id(),
            group_id = report.group_id.as_deref().unwrap_or("-"),
            outcome = report.outcome.as_str(),
            revoked = report.revoked.len(),
            notified = report.notice.is_some(),
            "group handled"
        );
        results.push(report);
    }
    match undelivered {
        Some(error) => Err(error),
        None => Ok(EventReport::new(trigger, results)),
    }
}

/// One group found: evaluated, acted on, told on the topic and to the outlets. An outlet's failure is kept in
/// `undelivered` (the first one) for the invocation to fail with once every group is handled.
async fn handle_group<G, N, H, F, O>(
    trigger: &Trigger,
    settings: &Settings,
    before: &SecurityGroup,
    ports: Ports<'_, G, N, H, F, O>,
    undelivered: &mut Option<Error>,
) -> Result<GroupReport, Error>
where
    G: SecurityGroups,
    N: Notifier,
    H: History,
    F: FlowLogs,
    O: Outlets,
{
    let group_id = &before.id;
    let evaluation = evaluate(before, settings);
    let (mut notice, _) = match act(trigger, settings, before, &evaluation, ports).await {
        Ok(acted) => acted,
        // Refused (an SCP, a missing permission): told on the topic and as a finding, then the
        // invocation fails, so that the failure queue and its alarm hold the event.
        Err(err) => {
            let notice = refused(trigger, settings, before, &evaluation, &err);
            if let Err(e) = ports.notifier.publish(&notice).await {
                tracing::error!(event_id = %trigger.event_id, group_id, error = %e, notice = %notice.to_json(), "the refused revoke's notice was not published");
            }
            if let Err(e) = ports.outlets.deliver(std::slice::from_ref(&notice)).await {
                tracing::error!(event_id = %trigger.event_id, group_id, error = %e, "the refused revoke's finding was not delivered");
            }
            return Err(err);
        }
    };
    if settings.observed_egress_days > 0 && notice.outcome.acted_on_open() {
        notice.observed_egress = Some(observe(trigger, settings, before, ports.flow_logs).await);
    }
    let publish = should_notify(&notice, trigger, settings);
    if publish && let Err(source) = ports.notifier.publish(&notice).await {
        return Err(Error::Notify {
            group_id: group_id.clone(),
            subject: notice.subject(),
            text: notice.text(),
            source: Box::new(source),
        });
    }
    // Machines hear of what people were told: Security Hub, the bus. A failure fails the invocation (its
    // alarm) once every group is handled, after the revoke's own failure, which matters more.
    if publish
        && let Err(source) = ports.outlets.deliver(std::slice::from_ref(&notice)).await
        && undelivered.is_none()
    {
        let notices = format!("; the notice follows as JSON:\n{}", notice.to_json());
        *undelivered = Some(Error::Outlets { group_ids: group_id.clone(), notices, source: Box::new(source) });
    }
    // A revoke stopped midway: told above, and the invocation still fails, so that the failure queue and
    // its alarm show the rules left open.
    if let Some(error) = &notice.revoke_error {
        return Err(Error::SecurityGroups { group_id: group_id.clone(), source: error.clone().into() });
    }
    Ok(GroupReport::acted(notice, publish))
}

/// How many times a group the event names and EC2 does not find is looked for again (after 0.25, 0.5, 1 and 2 s with
/// the EC2 adapter) before it is called gone: right after `CreateSecurityGroup`, EC2 may not show it yet.
pub const SETTLE_ATTEMPTS: u32 = 4;

/// What an event asks to re-read: a group it names, or the default group of a VPC it names.
#[derive(Clone, Copy, Debug)]
enum Target<'a> {
    Group(&'a str),
    Vpc(&'a str),
}

impl Target<'_> {
    fn id(&self) -> &str {
        match self {
            Target::Group(id) | Target::Vpc(id) => id,
        }
    }

    async fn describe<G: SecurityGroups>(&self, groups: &G) -> Result<Option<SecurityGroup>, G::Error> {
        match self {
            Target::Group(id) => groups.describe(id).await,
            Target::Vpc(id) => groups.default_group(id).await,
        }
    }
}

/// The group as EC2 shows it, looked for again while it is not found, `SETTLE_ATTEMPTS` times: right after
/// `CreateSecurityGroup` or `CreateVpc`, EC2 may not show the group yet.
async fn describe_settled<G: SecurityGroups>(
    groups: &G,
    target: Target<'_>,
) -> Result<Option<SecurityGroup>, G::Error> {
    for attempt in 0..SETTLE_ATTEMPTS {
        if let Some(group) = target.describe(groups).await? {
            return Ok(Some(group));
        }
        groups.settle(attempt).await;
    }
    target.describe(groups).await
}

/// A new VPC's default group gets its open egress as the VPC's blocks are associated, which may come after the
/// group itself shows (an IPv6 block is `associating` when `CreateVpc` or `AssociateVpcCidrBlock` returns): a group
/// with nothing to revoke is looked at again `SETTLE_ATTEMPTS` times (a few seconds), so that the `::/0` rule is not
/// missed. A read that fails here keeps what was read before.
async fn settle_default_group<G: SecurityGroups>(
    groups: &G,
    target: Target<'_>,
    mut group: SecurityGroup,
    settings: &Settings,
) -> SecurityGroup {
    for attempt in 0..SETTLE_ATTEMPTS {
        if !evaluate(&group, settings).plan.is_empty() {
            break;
        }
        groups.settle(attempt).await;
        match target.describe(groups).await {
            Ok(Some(again)) => group = again,
            Ok(None) | Err(_) => break,
        }
    }
    group
}

/// A group that is gone has no egress left to report on (the log still records the revoke), and a group another
/// invocation already fixed has had its notice. A change that leaves open egress on an exempt group is always told
/// (anyone who may tag a group may exempt it); other exempt and compliant groups only on request, or, for a compliant
/// group, when its rules add up to the whole Internet.
fn should_notify(notice: &Notice, trigger: &Trigger, settings: &Settings) -> bool {
    match notice.outcome {
        Outcome::Remediated | Outcome::DryRun | Outcome::VerificationFailed | Outcome::RevokeFailed => true,
        Outcome::Compliant if !notice.split_ranges.is_empty() => true,
        Outcome::Exempt if trigger.is_cloudtrail() && !notice.kept_open.is_empty() => true,
        Outcome::Compliant
        | Outcome::Exempt
        | Outcome::GroupGone
        | Outcome::CallFailed
        | Outcome::AlreadyRemediated => settings.notify_compliant,
        Outcome::Refused => false,
    }
}

/// Acts on a group as read and evaluated: revokes its plan (unless dry-run), re-reads and verifies, records the
/// revoke and what is left open, and returns the notice that tells it (not yet published), with what the history
/// held as open before. Shared by events and sweeps.
pub(crate) async fn act<G: SecurityGroups, N, H: History, F, O>(
    trigger: &Trigger,
    settings: &Settings,
    before: &SecurityGroup,
    evaluation: &Evaluation,
    Ports { groups, history, .. }: Ports<'_, G, N, H, F, O>,
) -> Result<(Notice, Last), Error> {
    let plan = &evaluation.plan;
    let verification = if plan.is_empty() {
        Verification::untouched(Outcome::untouched(evaluation), before)
    } else if settings.dry_run {
        let after = before.egress.iter().filter(|r| !plan.rules.contains(r)).cloned().collect();
        Verification { revoked: plan.rules.clone(), after, ..Verification::untouched(Outcome::DryRun, before) }
    } else {
        let Revoked { removed, error } = groups.revoke(plan).await;
        // The revoke's answer: the end of the exposure the notice tells.
        let closed_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        match error {
            // Nothing removed: the group is as it was; the error is the caller's (an event fails, a sweep goes on).
            Some(source) if removed.is_empty() => {
                return Err(Error::SecurityGroups { group_id: before.id.clone(), source: Box::new(source) });
            }
            // Some rules removed before the error: they are reported, with the error, like any other revoke.
            error => Verification {
                revoke_error: error.map(|e| e.to_string()),
                closed_at,
                ..verify(groups, before, removed, settings).await
            },
        }
    };
    let mut notice = Notice::new(trigger, settings, before, evaluation, verification);
    if notice.outcome.revoked() && !notice.revoked.is_empty() {
        notice.repeat = remember(trigger, settings, &notice, history).await;
    }
    let last = if plan.is_empty() {
        Last::NotKept
    } else {
        let left = if settings.dry_run { &plan.rules } else { &notice.still_open };
        let key = format!("{}/{}/{}", notice.account, notice.region, before.id);
        note(trigger, history, &key, left).await
    };
    Ok((notice, last))
}

/// The notice of a revoke that was refused before it removed anything: the group as it was, every rule of the plan
/// still open, and the refusal.
pub(crate) fn refused(
    trigger: &Trigger,
    settings: &Settings,
    before: &SecurityGroup,
    evaluation: &Evaluation,
    error: &Error,
) -> Notice {
    let error = match error {
        Error::SecurityGroups { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    let verification = Verification {
        still_open: evaluation.plan.rules.clone(),
        revoke_error: Some(error),
        ..Verification::untouched(Outcome::RevokeFailed, before)
    };
    Notice::new(trigger, settings, before, evaluation, verification)
}

/// Records what is left open on a group, for the sweep to tell a rule already reported from one no event reported;
/// answers what was recorded before. A failing store blocks nothing: the answer is then `NotKept` (unknown).
pub(crate) async fn note<H: History>(trigger: &Trigger, history: &H, group_key: &str, open: &[EgressRule]) -> Last {
    let at = chrono::DateTime::parse_from_rfc3339(&trigger.event_time)
        .map_or_else(|_| chrono::Utc::now().timestamp(), |t| t.timestamp());
    match history.seen(group_key, &open_key(open), at).await {
        Ok(last) => last,
        Err(err) => {
            tracing::warn!(event_id = %trigger.event_id, group_key, error = %err, "what the group had open was not recorded");
            Last::NotKept
        }
    }
}

/// Re-reads the group after a revoke and re-evaluates it. A rule still open is looked at once more after `settle`
/// (the revoke may not show yet), then it is `verification_failed`, never `remediated`; nothing removed by this
/// invocation and nothing open is `already_remediated`. A failed re-read still reports the revoke.
async fn verify<G: SecurityGroups>(
    groups: &G,
    before: &SecurityGroup,
    revoked: Vec<EgressRule>,
    settings: &Settings,
) -> Verification {
    let mut looked_again = false;
    let (outcome, after, still_open, verify_error) = loop {
        match groups.describe(&before.id).await {
            Ok(None) => break (Outcome::GroupGone, vec![], vec![], None),
            Ok(Some(after)) => {
                let still_open = evaluate(&after, settings).plan.rules;
                if !still_open.is_empty() && !looked_again {
                    looked_again = true;
                    groups.settle(0).await;
                    continue;
                }
                let outcome = match (still_open.is_empty(), revoked.is_empty()) {
                    (false, _) => Outcome::VerificationFailed,
                    (true, false) => Outcome::Remediated,
                    (true, true) => Outcome::AlreadyRemediated,
                };
                break (outcome, after.egress, still_open, None);
            }
            Err(err) => break (Outcome::VerificationFailed, vec![], vec![], Some(err.to_string())),
        }
    };
    Verification { outcome, revoked, after, still_open, revoke_error: None, verify_error, closed_at: None }
}

/// Records the revoke (one call) and says how often each destination was revoked in the window. A failing store
/// never fails the remediation: the notice says the count is unknown.
async fn remember<H: History>(trigger: &Trigger, settings: &Settings, notice: &Notice, history: &H) -> Option<Repeat> {
    let at = match chrono::DateTime::parse_from_rfc3339(&trigger.event_time) {
        Ok(time) => time.timestamp(),
        Err(err) => return Some(Repeat::Unknown { error: format!("event time {:?}: {err}", trigger.event_time) }),
    };
    let revocation = Revocation {
        account: notice.account.clone(),
        region: notice.region.clone(),
        group_id: notice.group.id.clone(),
        event_id: trigger.event_id.clone(),
        rules: notice.revoked.clone(),
        destinations: notice.revoked.iter().map(destination_key).collect(),
        at,
        revoked_at: chrono::Utc::now().timestamp(),
        window_secs: i64::from(settings.repeat_window_hours) * 3600,
        by: trigger.actor.name().to_owned(),
    };
    match history.record(&revocation).await {
        Ok(None) => None,
        Ok(Some(counts)) => Some(Repeat::Counted {
            window_hours: settings.repeat_window_hours,
            times: counts.iter().copied().max().unwrap_or(0),
            counts: notice.revoked.iter().map(EgressRule::to_string).zip(counts).collect(),
            by: revocation.by,
        }),
        Err(err) => {
            tracing::warn!(event_id = %trigger.event_id, group_id = %notice.group.id, error = %err, "repeat count unknown: the history failed");
            Some(Repeat::Unknown { error: err.to_string() })
        }
    }
}

/// The notice's observed-egress section: the proposal for the group as read before the revoke, over
/// `observed_egress_days` before the event, bounded (`NOTICE_MAX_RECORDS` lines a log, and the adapter's
/// time budget). It never fails the remediation: a failure is the section's text.
async fn observe<F: FlowLogs>(
    trigger: &Trigger,
    settings: &Settings,
    group: &SecurityGroup,
    logs: &F,
) -> ObservedEgress {
    let now = chrono::DateTime::parse_from_rfc3339(&trigger.event_time)
        .map_or_else(|_| chrono::Utc::now().timestamp(), |t| t.timestamp());
    let request = Request {
        region: &trigger.region,
        days: settings.observed_egress_days,
        now,
        quota: DEFAULT_QUOTA,
        max_records: NOTICE_MAX_RECORDS,
        ranges: AwsRanges::pinned(),
    };
    match recommend_for(group, &request, settings, logs).await {
        Ok(proposal) => ObservedEgress::summary(&proposal),
        Err(err) => {
            tracing::warn!(event_id = %trigger.event_id, group_id = %group.id, error = %err, "observed egress not read");
            ObservedEgress::Unavailable { error: err.to_string() }
        }
    }
}
