//! The scheduled fan-out: a Scheduled Event queues one `SweepRequest` per (account, region): the function's own
//! account and the members (named, or every one listed, less those whose remediation role cannot be assumed), in
//! every guarded region; and `admissible`, which sweeps only what the fan-out would queue.

use futures_util::StreamExt;

use crate::Error;
use crate::org::{self, Access, Home};
use crate::ports::{Accounts, SweepQueue};
use crate::request::SweepRequest;
use crate::run::invocation::{DispatchReport, Invocation, InvocationReport};
use crate::settings::{Members, Settings};
use crate::trigger::{Trigger, TriggerKind, unique};

/// Members' remediation roles tried at once by the fan-out (`*`): one `AssumeRole` each, far below STS's rate.
pub const ROLE_PROBES_AT_ONCE: usize = 16;

/// How the function fans its sweeps out: the queue, the organization's accounts (asked only when every member is
/// acted in), and the regions every account is swept in (empty: the function's own).
#[derive(Debug)]
pub struct Fanout<'a, Q, A> {
    pub queue: &'a Q,
    pub accounts: &'a A,
    pub regions: &'a [String],
}

impl<Q, A> Clone for Fanout<'_, Q, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Q, A> Copy for Fanout<'_, Q, A> {}

/// Queues the schedule's sweeps. When the members cannot be listed, or none of their roles can be assumed, the
/// function's own account is still swept and the invocation fails, so that the alarm says the members were not.
pub async fn fan_out<Q: SweepQueue, A: Accounts>(
    schedule: &Trigger,
    settings: &Settings,
    home: Option<&Home>,
    fanout: Fanout<'_, Q, A>,
    has_time: impl Fn() -> bool,
) -> Invocation {
    let members = settings.organization.as_ref().map(|org| &org.members);
    let (accounts, unlisted) = match members {
        Some(Members::Only(members)) => (members.iter().cloned().collect(), None),
        Some(Members::Any) => match fanout.accounts.list().await {
            Ok(accounts) => (accounts, None),
            Err(err) => (vec![], Some(err)),
        },
        None => (vec![], None),
    };
    let (accounts, without_role) = match members {
        Some(Members::Any) => with_role(accounts, settings, home, &schedule.region, fanout.accounts, &has_time).await,
        _ => (accounts, vec![]),
    };
    // Every member denied: not members without the spoke but the hub's side (its role, its policy, an SCP, the role
    // name).
    let reached = accounts.iter().filter(|a| home.is_none_or(|h| &h.account != *a)).count();
    let unlisted = match unlisted {
        Some(source) => Some(format!(
            "the member accounts could not be listed, so only this account's sweeps were queued ({source}); organizations:ListAccounts works in the management account or a delegated administrator, or name the members in MemberAccounts"
        )),
        None if reached == 0 && !without_role.is_empty() => Some(format!(
            "no member's remediation role could be assumed ({} denied), so only this account's sweeps were queued: check RemediationRoleName, the spoke StackSet's instances and its trust of this function's role, and any SCP denying sts:AssumeRole",
            without_role.len()
        )),
        None => None,
    };
    if !without_role.is_empty() {
        tracing::warn!(
            event_id = %schedule.event_id,
            count = without_role.len(),
            accounts = ?without_role,
            "members without the remediation role are not swept: deploy templates/spoke.yaml to them, or name the members in MemberAccounts"
        );
    }
    let requests = sweep_requests(schedule, &accounts, fanout.regions);
    let queued: Vec<String> = requests.iter().map(|r| format!("{}/{}", r.account, r.region)).collect();
    let result = match (fanout.queue.send(&requests).await, unlisted) {
        (Err(source), _) => {
            tracing::error!(event_id = %schedule.event_id, error = %source, "sweeps not queued");
            Err(Error::Dispatch { source: Box::new(source) })
        }
        (Ok(()), Some(reason)) => {
            tracing::error!(event_id = %schedule.event_id, queued = ?queued, error = %reason, "members not swept: only this account is");
            Err(Error::Dispatch { source: reason.into() })
        }
        (Ok(()), None) => {
            tracing::info!(event_id = %schedule.event_id, sweeps = queued.len(), queued = ?queued, "sweeps queued");
            let report = DispatchReport { schedule_id: schedule.event_id.clone(), queued, without_role };
            Ok(InvocationReport::Dispatch(report))
        }
    };
    Invocation { trigger: TriggerKind::Sweep, result }
}

/// The members whose remediation role the function may assume, and those it may not (AssumeRole denied: the spoke
/// is not there), tried `ROLE_PROBES_AT_ONCE` at a time, in order. An account whose answer is unknown (throttled, a
/// network error), or not tried for lack of time, is kept: its sweeps run, and fail loudly if the role is missing.
async fn with_role<A: Accounts>(
    accounts: Vec<String>,
    settings: &Settings,
    home: Option<&Home>,
    region: &str,
    probe: &A,
    has_time: &impl Fn() -> bool,
) -> (Vec<String>, Vec<String>) {
    let answers: Vec<(String, bool)> = futures_util::stream::iter(accounts)
        .map(|account| async move {
            if !has_time() {
                return (account, true);
            }
            let role_arn = match org::access(settings.organization.as_ref(), home, &account, region) {
                Ok(Access::AssumeRole { role_arn, .. }) => role_arn,
                _ => return (account, true),
            };
            match probe.can_assume(&role_arn).await {
                Ok(assumable) => (account, assumable),
                Err(err) => {
                    tracing::warn!(account = %account, role_arn = %role_arn, error = %err, "remediation role not tried: its sweeps are queued");
                    (account, true)
                }
            }
        })
        .buffered(ROLE_PROBES_AT_ONCE)
        .collect()
        .await;
    let (with, without): (Vec<_>, Vec<_>) = answers.into_iter().partition(|(_, assumable)| *assumable);
    (with.into_iter().map(|(a, _)| a).collect(), without.into_iter().map(|(a, _)| a).collect())
}

/// Only what the fan-out itself would queue is swept: the function's own account or a member, in a guarded region.
/// Anyone else who can send to the queue gets nothing done (and no role assumed). With every member (`*`), any account
/// passes here; the remediation role is assumed only in the organization's accounts (`aws:ResourceOrgID`).
pub fn admissible(
    request: &SweepRequest,
    settings: &Settings,
    home: Option<&Home>,
    regions: Option<&[String]>,
) -> Result<(), &'static str> {
    let own = home.is_some_and(|h| h.account == request.account);
    let member = match settings.organization.as_ref().map(|org| &org.members) {
        Some(Members::Only(members)) => members.contains(&request.account),
        Some(Members::Any) => true,
        None => false,
    };
    if !own && !member {
        return Err("not the function's own account nor a named member");
    }
    if let Some(regions) = regions.filter(|r| !r.is_empty())
        && !regions.contains(&request.region)
    {
        return Err("not a guarded region");
    }
    Ok(())
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
}
