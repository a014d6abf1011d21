//! The remediation flow over two ports: read the group, evaluate, revoke, re-read and verify, then notify.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::evaluate::{Disposition, Evaluation, RevokePlan, evaluate};
use crate::history::{History, Repeat, Revocation, destination_key};
use crate::model::{EgressRule, SecurityGroup};
use crate::notice::{Cause, GroupRef, Notice, undo_command};
use crate::settings::Settings;
use crate::trigger::Trigger;

/// Reads and changes security groups. Speaks domain types only.
pub trait SecurityGroups {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The group as EC2 holds it now; `None` if it does not exist (any more).
    fn describe(&self, group_id: &str) -> impl Future<Output = Result<Option<SecurityGroup>, Self::Error>> + Send;

    /// Every group of the region, for the sweep.
    fn list(&self) -> impl Future<Output = Result<Vec<SecurityGroup>, Self::Error>> + Send;

    /// Revokes exactly the plan's rules. A rule that is already gone is not an error; nor is a group that is gone:
    /// the re-read that follows tells.
    fn revoke(&self, plan: &RevokePlan) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Something a person reads: a one-line subject, a body, and attributes that subscribers can filter on.
pub trait Message {
    fn subject(&self) -> String;
    fn text(&self) -> String;
    fn attributes(&self) -> Vec<(&'static str, String)>;
}

/// Delivers messages (a group's notice, a sweep's summary) to people.
pub trait Notifier {
    type Error: std::error::Error + Send + Sync + 'static;

    fn publish(&self, message: &(dyn Message + Sync)) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// What became of one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Compliant,
    Exempt,
    Remediated,
    DryRun,
    GroupGone,
    CallFailed,
    VerificationFailed,
    /// The event's account is not one the function acts in (organization mode); nothing was read or changed.
    Refused,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Compliant => "compliant",
            Outcome::Exempt => "exempt",
            Outcome::Remediated => "remediated",
            Outcome::DryRun => "dry_run",
            Outcome::GroupGone => "group_gone",
            Outcome::CallFailed => "call_failed",
            Outcome::VerificationFailed => "verification_failed",
            Outcome::Refused => "refused",
        }
    }
}

/// The result for one group of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    pub outcome: Outcome,
    /// Destinations revoked (in a dry run: that would be), as `traffic to destination`.
    pub revoked: Vec<String>,
    /// Rules whose CIDRs add up to the whole Internet (none `/0`), as `traffic to destination`: reported, and
    /// revoked only with `EGRESS_GUARD_REVOKE_SPLIT_RANGES`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub split_ranges: Vec<String>,
    /// Why nothing was done, for a refused event.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// The notice that was published, if one was.
    #[serde(skip)]
    pub notice: Option<Notice>,
}

impl Report {
    /// A group nothing was read of or done to.
    fn untouched(group_id: Option<&str>, outcome: Outcome) -> Report {
        Report {
            group_id: group_id.map(str::to_owned),
            outcome,
            revoked: vec![],
            split_ranges: vec![],
            reason: None,
            notice: None,
        }
    }
}

/// The answer to one trigger: small, for the Lambda's invocation record and the CLI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub event_id: String,
    pub event_name: String,
    pub results: Vec<Report>,
}

/// The ports the flow runs over: the groups it reads and changes, where notices go, and where revokes are remembered.
#[derive(Debug)]
pub struct Ports<'a, G, N, H> {
    pub groups: &'a G,
    pub notifier: &'a N,
    pub history: &'a H,
}

impl<G, N, H> Clone for Ports<'_, G, N, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<G, N, H> Copy for Ports<'_, G, N, H> {}

/// Handles one trigger: the flow for each of its groups, answered as a `Response`. The Lambda and the CLI both
/// come through here.
pub async fn handle<G, N, H>(
    trigger: &Trigger,
    settings: &Settings,
    ports: Ports<'_, G, N, H>,
) -> Result<Response, Error>
where
    G: SecurityGroups,
    N: Notifier,
    H: History,
{
    let results = remediate(trigger, settings, ports).await?;
    Ok(Response { event_id: trigger.event_id.clone(), event_name: trigger.event_name.as_str().to_owned(), results })
}

/// The answer to a trigger the function does not act on (see `org::access`): no AWS call, no notice.
pub fn refused(trigger: &Trigger, reason: String) -> Response {
    tracing::warn!(event_id = %trigger.event_id, account = %trigger.account, region = %trigger.region, %reason, outcome = "refused", "event refused");
    let report = Report {
        reason: Some(reason),
        ..Report::untouched(trigger.group_ids.first().map(String::as_str), Outcome::Refused)
    };
    Response {
        event_id: trigger.event_id.clone(),
        event_name: trigger.event_name.as_str().to_owned(),
        results: vec![report],
    }
}

/// Runs the flow for every group of the trigger.
pub async fn remediate<G, N, H>(
    trigger: &Trigger,
    settings: &Settings,
    ports: Ports<'_, G, N, H>,
) -> Result<Vec<Report>, Error>
where
    G: SecurityGroups,
    N: Notifier,
    H: History,
{
    if let Some(failed) = &trigger.failed {
        tracing::info!(event_id = %trigger.event_id, error_code = %failed.error_code, outcome = "call_failed", "skipped: the call failed");
        return Ok(vec![Report::untouched(trigger.group_ids.first().map(String::as_str), Outcome::CallFailed)]);
    }
    let mut reports = Vec::with_capacity(trigger.group_ids.len());
    for group_id in &trigger.group_ids {
        let report = remediate_group(trigger, group_id, settings, ports).await?;
        tracing::info!(
            event_id = %trigger.event_id,
            group_id = %group_id,
            outcome = report.outcome.as_str(),
            revoked = report.revoked.len(),
            notified = report.notice.is_some(),
            "group handled"
        );
        reports.push(report);
    }
    Ok(reports)
}

async fn remediate_group<G: SecurityGroups, N: Notifier, H: History>(
    trigger: &Trigger,
    group_id: &str,
    settings: &Settings,
    Ports { groups, notifier, history }: Ports<'_, G, N, H>,
) -> Result<Report, Error> {
    let read_error =
        |source: G::Error| Error::SecurityGroups { group_id: group_id.to_owned(), source: Box::new(source) };
    let Some(before) = groups.describe(group_id).await.map_err(read_error)? else {
        return Ok(Report::untouched(Some(group_id), Outcome::GroupGone));
    };
    let Acted { outcome, notice } = act(trigger, &before, settings, groups, history).await?;
    let publish = should_notify(outcome, settings, &notice);
    if publish && let Err(source) = notifier.publish(&notice).await {
        return Err(Error::Notify {
            group_id: group_id.to_owned(),
            notice: Box::new(notice),
            source: Box::new(source),
        });
    }
    let show = |rules: &[EgressRule]| rules.iter().map(EgressRule::to_string).collect();
    Ok(Report {
        group_id: Some(group_id.to_owned()),
        outcome,
        revoked: show(&notice.revoked),
        split_ranges: show(&notice.split_ranges),
        reason: None,
        notice: publish.then_some(notice),
    })
}

/// A group that is gone has no egress left to report on (the log still records the revoke); compliant and exempt
/// groups are notified only on request, or, for a compliant group, when its rules add up to the whole Internet.
fn should_notify(outcome: Outcome, settings: &Settings, notice: &Notice) -> bool {
    match outcome {
        Outcome::Remediated | Outcome::DryRun | Outcome::VerificationFailed => true,
        Outcome::Compliant if !notice.split_ranges.is_empty() => true,
        Outcome::Compliant | Outcome::Exempt | Outcome::GroupGone | Outcome::CallFailed => settings.notify_compliant,
        Outcome::Refused => false,
    }
}

/// What acting on one group produced: its outcome, and the notice that tells it (not yet published).
pub(crate) struct Acted {
    pub outcome: Outcome,
    pub notice: Notice,
}

/// Evaluates a group as read, revokes its plan (unless dry-run), re-reads and verifies. Shared by events and sweeps.
pub(crate) async fn act<G: SecurityGroups, H: History>(
    trigger: &Trigger,
    before: &SecurityGroup,
    settings: &Settings,
    groups: &G,
    history: &H,
) -> Result<Acted, Error> {
    let evaluation = evaluate(before, settings);
    let plan = &evaluation.plan;
    let (outcome, after, still_open, verify_error) = if plan.is_empty() {
        (evaluation.untouched_outcome(), before.egress.clone(), vec![], None)
    } else if settings.dry_run {
        let after = before.egress.iter().filter(|r| !plan.rules.contains(r)).cloned().collect();
        (Outcome::DryRun, after, vec![], None)
    } else {
        groups
            .revoke(plan)
            .await
            .map_err(|source| Error::SecurityGroups { group_id: before.id.clone(), source: Box::new(source) })?;
        match groups.describe(&before.id).await {
            Ok(None) => (Outcome::GroupGone, vec![], vec![], None),
            Ok(Some(after)) => {
                let still_open = evaluate(&after, settings).plan.rules;
                let outcome = if still_open.is_empty() { Outcome::Remediated } else { Outcome::VerificationFailed };
                (outcome, after.egress, still_open, None)
            }
            // The revoke happened: it is reported even though it cannot be verified.
            Err(err) => (Outcome::VerificationFailed, vec![], vec![], Some(err.to_string())),
        }
    };
    let mut notice = build_notice(trigger, settings, before, &evaluation, outcome, after, still_open, verify_error);
    if matches!(outcome, Outcome::Remediated | Outcome::VerificationFailed | Outcome::GroupGone) {
        notice.repeat = remember(trigger, settings, &notice, history).await;
    }
    Ok(Acted { outcome, notice })
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

#[allow(clippy::too_many_arguments)]
fn build_notice(
    trigger: &Trigger,
    settings: &Settings,
    before: &SecurityGroup,
    evaluation: &Evaluation,
    outcome: Outcome,
    after: Vec<EgressRule>,
    still_open: Vec<EgressRule>,
    verify_error: Option<String>,
) -> Notice {
    let revoked = evaluation.plan.rules.clone();
    let undo = (!settings.dry_run && !revoked.is_empty()).then(|| undo_command(&trigger.region, &before.id, &revoked));
    Notice {
        outcome,
        account: before.owner_id.clone().unwrap_or_else(|| trigger.account.clone()),
        region: trigger.region.clone(),
        group: GroupRef { id: before.id.clone(), name: before.name.clone(), vpc_id: before.vpc_id.clone() },
        cause: Cause {
            event_id: trigger.event_id.clone(),
            event_name: trigger.event_name,
            event_time: trigger.event_time.clone(),
            actor: trigger.actor.clone(),
        },
        repeat: None,
        caller: trigger.is_cloudtrail().then(|| crate::caller::classify(&trigger.actor, before)),
        dry_run: settings.dry_run,
        before: before.egress.clone(),
        after,
        revoked,
        still_open,
        kept_open: evaluation.findings.iter().filter(|f| f.disposition != Disposition::Revoke).cloned().collect(),
        split_ranges: evaluation
            .findings
            .iter()
            .filter(|f| f.kind == crate::evaluate::FindingKind::Split)
            .map(|f| f.rule.clone())
            .collect(),
        exemption: evaluation.exemption.clone(),
        verify_error,
        undo_command: undo,
    }
}
