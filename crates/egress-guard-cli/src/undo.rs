//! `undo`: every revoke egress-guard recorded in a window, from the history table, put back exactly, in each
//! revoke's own account (through the member's remediation role) and region. Without `--apply` (and with `--dry-run`)
//! it lists what it would restore and changes nothing. With `--apply` it restores only where egress-guard cannot
//! take the rules away again at once: a region the kill switch pauses (an exemption is the function's settings, which
//! the CLI cannot read, so it is not taken on trust).

use std::collections::BTreeSet;

use egress_guard_aws::{Clients, Integrations};
use egress_guard_core::undo::{self, Restore, Selection, UndoReport};
use egress_guard_core::{Access, SecurityGroups};

use crate::history::TableArgs;
use crate::output::Format;
use crate::regions;
use crate::settings::DryRunArgs;
use crate::verb::{Aws, Verb};

/// Every revoke egress-guard made in a window, from the history table: listed (changes nothing), or restored
/// with --apply, each in its own account and region. --apply restores only where egress-guard is paused or the
/// group exempt (else it would revoke the rules again). Exit code: 0 everything listed was (or would be)
/// restored, 1 something could not be (a group deleted, a rule re-added since), 2 an error (nothing restored).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Start of the window: RFC 3339 (2026-12-03T09:00:00Z) or a time ago (90m, 24h, 7d).
    #[arg(long)]
    since: String,
    /// End of the window (default: now), in the same forms.
    #[arg(long)]
    until: Option<String>,
    /// Only these groups (repeat the flag, or comma-separate).
    #[arg(long, value_delimiter = ',')]
    group_id: Vec<String>,
    /// `all` or a comma-separated list.
    #[arg(long, default_value = "all")]
    regions: String,
    /// Restore; without it, list what would be restored.
    #[arg(long)]
    apply: bool,
    /// The role templates/spoke.yaml makes in each member account (the template's RemediationRoleName).
    #[arg(long, default_value = egress_guard_core::preflight::DEFAULT_ROLE_NAME)]
    remediation_role_name: String,
    /// How to print what was (or would be) restored: one line per group, or JSON (schema `egress-guard.undo/v1`).
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    format: Format,
    #[command(flatten)]
    table: TableArgs,
    #[command(flatten)]
    dry_run: DryRunArgs,
}

/// What `undo` is asked, checked.
pub struct Ask {
    table: String,
    selection: Selection,
    apply: bool,
    role_name: String,
    json: bool,
    dry_run: bool,
}

impl Verb for Args {
    type Ask = Ask;

    fn validate(self) -> anyhow::Result<Ask> {
        let now = chrono::Utc::now().timestamp();
        let since = time("--since", &self.since, now)?;
        let until = self.until.map_or(Ok(now), |u| time("--until", &u, now))?;
        if since > until {
            anyhow::bail!("--since is after --until: the window is empty");
        }
        for id in &self.group_id {
            egress_guard_core::model::validate_group_id(id.trim())?;
        }
        let regions = regions::parse(&self.regions)?;
        let selection = Selection { since, until, group_ids: names(&self.group_id), regions };
        Ok(Ask {
            table: self.table.required()?,
            selection,
            apply: self.apply,
            role_name: self.remediation_role_name,
            json: self.format == Format::Json,
            dry_run: self.dry_run.dry_run,
        })
    }

    async fn run(ask: Ask, aws: &Aws) -> anyhow::Result<u8> {
        list_or_restore(&aws.clients, &ask).await
    }
}

/// `--since`/`--until`: RFC 3339 (`2026-12-03T09:00:00Z`), or a time ago (`90m`, `24h`, `7d`), in seconds since the
/// epoch.
fn time(flag: &'static str, text: &str, now: i64) -> Result<i64, egress_guard_core::Error> {
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
async fn list_or_restore(clients: &Clients, ask: &Ask) -> anyhow::Result<u8> {
    let history = clients.history(&ask.table);
    let mut records = history.revokes(ask.selection.since, ask.selection.until).await?;
    // The Scan's order is the table's: in time order, each rule is restored as its first revoke in the window had it.
    records.sort_by(|a, b| (a.at, &a.event_id).cmp(&(b.at, &b.event_id)));
    let plan = undo::restores(&records, &ask.selection);
    let own = account_of(&clients.caller_arn().await?)?;
    let fleet = clients.fleet(Integrations::default());
    let apply = ask.apply && !ask.dry_run;
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
        // One account or group that cannot be read (its role not assumable by this caller, a throttle) is skipped
        // and named; the rest are still listed.
        let now = match groups.describe(&restore.group_id).await {
            Ok(now) => now,
            Err(err) => {
                report.skipped.push(skipped(restore, format!("could not be read: {err:#}")));
                continue;
            }
        };
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
            Err(err) => report.skipped.push(skipped(&back, format!("could not be authorized: {err}"))),
        }
    }
    if ask.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(report.exit_code())
}

/// A restore not made, and why.
fn skipped(back: &Restore, reason: String) -> undo::Skipped {
    undo::Skipped {
        account: back.account.clone(),
        region: back.region.clone(),
        group_id: back.group_id.clone(),
        reason,
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

/// `--group-id` as a selection's set (`None`: every group).
fn names(values: &[String]) -> Option<BTreeSet<String>> {
    (!values.is_empty()).then(|| values.iter().map(|v| v.trim().to_owned()).collect())
}
