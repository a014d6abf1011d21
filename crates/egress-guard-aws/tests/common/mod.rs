//! What the adapters' tests share: a notice as the core builds one.

use egress_guard_core::notify::notice::{Cause, GroupRef};
use egress_guard_core::{EgressRule, EventName, Notice, Outcome};

/// The notice of `outcome` on `group` (in 123456789012, eu-west-1), which held and lost (or would lose) `revoked`.
pub fn notice(group: &str, outcome: Outcome, revoked: Vec<EgressRule>) -> Notice {
    Notice {
        outcome,
        account: "123456789012".into(),
        region: "eu-west-1".into(),
        group: GroupRef { id: group.into(), name: "web".into(), vpc_id: None },
        cause: Cause {
            event_id: "e-1".into(),
            event_name: EventName::AuthorizeSecurityGroupEgress,
            event_time: "2026-11-25T09:00:00Z".into(),
            actor: Default::default(),
        },
        caller: None,
        dry_run: outcome == Outcome::DryRun,
        paused: None,
        before: revoked.clone(),
        after: vec![],
        revoked,
        still_open: vec![],
        kept_open: vec![],
        split_ranges: vec![],
        repeat: None,
        exemption: None,
        revoke_error: None,
        verify_error: None,
        undo_command: None,
        observed_egress: None,
        closed_at: None,
        exposure_seconds: None,
    }
}
