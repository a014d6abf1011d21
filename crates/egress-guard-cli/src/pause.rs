//! `pause` and `resume`: the kill switch in the history table, which the function reads on every invocation, and
//! the change told on the topic. `--dry-run` says what it would set and changes nothing. `honour`: the commands
//! that revoke (`replay`, `fix`, `recommend --apply`) run as a dry run while the switch pauses their region.

use std::collections::BTreeSet;

use egress_guard_aws::Clients;
use egress_guard_core::notify::switch::Switched;
use egress_guard_core::{Notifier, Pause, Settings};

/// What `pause` or `resume` is asked.
pub struct Switch<'a> {
    pub table: &'a str,
    /// `None`: every region.
    pub regions: Option<BTreeSet<String>>,
    pub topic_arn: Option<&'a str>,
    pub dry_run: bool,
}

/// `all` or a comma-separated list of region names.
pub fn regions(text: &str) -> anyhow::Result<Option<BTreeSet<String>>> {
    if text.trim() == "all" {
        return Ok(None);
    }
    let regions: BTreeSet<String> = text.split(',').map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()).collect();
    if regions.is_empty() {
        anyhow::bail!("--regions: give `all` or region names");
    }
    if let Some(bad) = regions.iter().find(|r| !egress_guard_core::org::is_region(r)) {
        anyhow::bail!("--regions: {bad:?} is not a region name");
    }
    Ok(Some(regions))
}

/// Times a change is tried when another operator changed the switch between its read and its write.
const WRITE_ATTEMPTS: u32 = 5;

/// Pauses revokes where asked (widening a pause already in force). Exit 0.
pub async fn pause(clients: &Clients, ask: Switch<'_>, reason: Option<String>) -> anyhow::Result<u8> {
    let history = clients.history(ask.table);
    let by = clients.caller_arn().await?;
    for _ in 0..WRITE_ATTEMPTS {
        let existing = history.paused().await?;
        let pause = Pause::and(existing.as_ref(), ask.regions.clone(), &by, &now(), reason.clone());
        if ask.dry_run {
            println!("Dry run: would set {}\nNothing was changed.", pause.line());
            return Ok(0);
        }
        match history.set_pause(Some(&pause), existing.as_ref()).await {
            Err(err) if err.code() == "ConditionalCheckFailedException" => continue,
            answer => answer?,
        }
        println!("{}", pause.line());
        tell(clients, ask.topic_arn, &Switched::Paused(pause)).await?;
        return Ok(0);
    }
    anyhow::bail!("the switch kept changing under this pause ({WRITE_ATTEMPTS} tries): nothing was set; run it again")
}

/// Resumes revokes where asked. Exit 0; 1 when nothing was paused there.
pub async fn resume(clients: &Clients, ask: Switch<'_>) -> anyhow::Result<u8> {
    let history = clients.history(ask.table);
    let by = clients.caller_arn().await?;
    for _ in 0..WRITE_ATTEMPTS {
        let Some(existing) = history.paused().await? else {
            println!("Not paused: nothing to resume.");
            return Ok(1);
        };
        let left = Pause::without(&existing, ask.regions.as_ref())?;
        let scope = egress_guard_core::pause::scope(ask.regions.as_ref());
        let resumed = Switched::Resumed { scope, by: by.clone(), at: now(), left: left.clone() };
        if ask.dry_run {
            println!("Dry run: would resume.\n{}Nothing was changed.", egress_guard_core::Message::text(&resumed));
            return Ok(0);
        }
        match history.set_pause(left.as_ref(), Some(&existing)).await {
            Err(err) if err.code() == "ConditionalCheckFailedException" => continue,
            answer => answer?,
        }
        print!("{}", egress_guard_core::Message::text(&resumed));
        tell(clients, ask.topic_arn, &resumed).await?;
        return Ok(0);
    }
    anyhow::bail!("the switch kept changing under this resume ({WRITE_ATTEMPTS} tries): nothing was set; run it again")
}

/// `settings` as a dry run, with the pause, when the switch in `table` pauses `region`; unchanged without a table.
pub async fn honour(
    clients: &Clients,
    table: Option<&str>,
    region: &str,
    settings: Settings,
) -> anyhow::Result<Settings> {
    let Some(table) = table else { return Ok(settings) };
    match clients.history(table).paused().await? {
        Some(pause) if pause.covers(region) => {
            eprintln!("{}\nA dry run: nothing is revoked.", pause.line());
            Ok(Settings { dry_run: true, paused: Some(pause), ..settings })
        }
        _ => Ok(settings),
    }
}

async fn tell(clients: &Clients, topic_arn: Option<&str>, switched: &Switched) -> anyhow::Result<()> {
    if let Some(topic) = topic_arn {
        clients.notifier(topic).publish(switched).await.map_err(|err| {
            anyhow::anyhow!("the switch is set, but telling the topic failed (sns:Publish, and kms:GenerateDataKey and kms:Decrypt on the topic's key): {err}")
        })?;
    }
    Ok(())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
