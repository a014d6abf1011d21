//! `undo`: every revoke egress-guard recorded in a window, from the history table, put back exactly, in each
//! revoke's own account (through the member's remediation role) and region. Without `--apply` (and with `--dry-run`)
//! it lists what it would restore and changes nothing. With `--apply` it restores only where egress-guard cannot
//! take the rules away again at once: a region the kill switch pauses (an exemption is the function's settings, which
//! the CLI cannot read, so it is not taken on trust).

use std::collections::BTreeSet;

use egress_guard_aws::{Clients, Integrations};
use egress_guard_core::undo::{self, Restore, Selection, UndoReport};
use egress_guard_core::{Access, SecurityGroups, Settings};

/// What `undo` is asked.
pub struct Ask<'a> {
    pub table: &'a str,
    pub selection: Selection,
    pub apply: bool,
    pub role_name: &'a str,
    pub json: bool,
}

/// `--since`/`--until`: RFC 3339 (`2026-12-03T09:00:00Z`), or a time ago (`90m`, `24h`, `7d`), in seconds since the
/// epoch.
pub fn time(flag: &'static str, text: &str, now: i64) -> Result<i64, egress_guard_core::Error> {
    let bad = |why: &str| egress_guard_core::Error::InvalidArgument { flag, value: text.into(), why: why.into() };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp());
    }
    let mut chars = text.chars();
    let unit = chars.next_back();
    let number = chars.as_str();
    let seconds = match unit {
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86_400,
        _ => return Err(bad("expected an RFC 3339 time (2026-12-03T09:00:00Z) or a time ago (90m, 24h, 7d)")),
    };
    let n: i64 = number.parse().map_err(|_| bad("expected a whole number before m, h or d"))?;
    if !(1..=undo::RETENTION_SECS / 60).contains(&n) || n * seconds > undo::RETENTION_SECS {
        return Err(bad("revokes are kept 90 days"));
    }
    Ok(now - n * seconds)
}

/// Lists (or restores) the selected revokes. Exit 0 when everything listed was (or would be) restored, 1 when
/// something could not be.
pub async fn run(clients: &Clients, ask: Ask<'_>, settings: &Settings) -> anyhow::Result<u8> {
    let history = clients.history(ask.table);
    let mut records = history.revokes(ask.selection.since, ask.selection.until).await?;
    // The Scan's order is the table's: in time order, each rule is restored as its first revoke in the window had it.
    records.sort_by(|a, b| (a.at, &a.event_id).cmp(&(b.at, &b.event_id)));
    let plan = undo::restores(&records, &ask.selection);
    let own = account_of(&clients.caller_arn().await?)?;
    let fleet = clients.fleet(Integrations::default());
    let apply = ask.apply && !settings.dry_run;
    let mut report = UndoReport::new(apply);
    let mut todo = Vec::new();
    for restore in &plan {
        let access = if restore.account == own {
            Access::Own
        } else {
            let partition = egress_guard_core::partition::partition(&restore.region);
            let role_arn = format!("arn:{partition}:iam::{}:role/{}", restore.account, ask.role_name);
            Access::AssumeRole { account: restore.account.clone(), role_arn }
        };
        let groups = fleet.security_groups(&access, &restore.region).await;
        let now = groups.describe(&restore.group_id).await.map_err(|err| {
            anyhow::anyhow!("{} in {} of {}: {err}", restore.group_id, restore.region, restore.account)
        })?;
        let (back, skipped) = undo::against(restore, now.as_ref());
        report.skipped.extend(skipped);
        if let (Some(back), Some(group)) = (back, now) {
            todo.push((back, group, groups));
        }
    }
    if apply {
        // Restored while egress-guard enforces there, the rules would be revoked again within seconds.
        let paused = history.paused().await?;
        let exposed: Vec<&Restore> = todo
            .iter()
            .map(|(back, _, _)| back)
            .filter(|back| !paused.as_ref().is_some_and(|p| p.covers(&back.region)))
            .collect();
        if !exposed.is_empty() {
            let regions: BTreeSet<&str> = exposed.iter().map(|b| b.region.as_str()).collect();
            let groups: Vec<String> =
                exposed.iter().map(|b| format!("{} ({} {})", b.group_id, b.account, b.region)).collect();
            anyhow::bail!(
                "nothing restored: egress-guard enforces where these groups are and would revoke the rules again: {}. \
                 Pause it there first: egress-guard pause --regions {} --history-table {}",
                groups.join(", "),
                regions.into_iter().collect::<Vec<_>>().join(","),
                ask.table
            );
        }
    }
    for (back, _, groups) in todo {
        if !apply {
            report.restored.push(back);
            continue;
        }
        match groups.authorize(&back.group_id, &back.rules).await {
            Ok(()) => report.restored.push(back),
            Err(err) => report.skipped.push(failed(&back, &err)),
        }
    }
    if ask.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(report.exit_code())
}

fn failed(back: &Restore, err: &dyn std::error::Error) -> undo::Skipped {
    undo::Skipped {
        account: back.account.clone(),
        region: back.region.clone(),
        group_id: back.group_id.clone(),
        reason: format!("could not be authorized: {err}"),
    }
}

/// The account of a caller's ARN (`arn:aws:sts::123456789012:assumed-role/…`).
fn account_of(arn: &str) -> anyhow::Result<String> {
    arn.split(':')
        .nth(4)
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the caller's ARN {arn:?} names no account"))
}

/// `--group-id` and `--regions` as a selection's sets (`all`: every region).
pub fn names(values: &[String]) -> Option<BTreeSet<String>> {
    (!values.is_empty()).then(|| values.iter().map(|v| v.trim().to_owned()).collect())
}
