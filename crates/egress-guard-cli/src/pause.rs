//! `pause` and `resume`: the kill switch in the history table, which the function reads on every invocation, and
//! the change told on the topic. `--dry-run` says what it would set and changes nothing.

use std::collections::BTreeSet;

use egress_guard_aws::Clients;
use egress_guard_core::notify::switch::Switched;
use egress_guard_core::{Notifier, Pause};

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

/// Pauses revokes where asked (widening a pause already in force). Exit 0.
pub async fn pause(clients: &Clients, ask: Switch<'_>, reason: Option<String>) -> anyhow::Result<u8> {
    let history = clients.history(ask.table);
    let existing = history.paused().await?;
    let by = clients.caller_arn().await?;
    let pause = Pause::and(existing.as_ref(), ask.regions, &by, &now(), reason);
    if ask.dry_run {
        println!("Dry run: would set {}\nNothing was changed.", pause.line());
        return Ok(0);
    }
    history.set_pause(Some(&pause)).await?;
    println!("{}", pause.line());
    tell(clients, ask.topic_arn, &Switched::Paused(pause)).await?;
    Ok(0)
}

/// Resumes revokes where asked. Exit 0; 1 when nothing was paused there.
pub async fn resume(clients: &Clients, ask: Switch<'_>) -> anyhow::Result<u8> {
    let history = clients.history(ask.table);
    let Some(existing) = history.paused().await? else {
        println!("Not paused: nothing to resume.");
        return Ok(1);
    };
    let left = Pause::without(&existing, ask.regions.as_ref())?;
    let scope = match &ask.regions {
        None => "every region".to_owned(),
        Some(regions) => regions.iter().cloned().collect::<Vec<_>>().join(", "),
    };
    let resumed = Switched::Resumed { scope, by: clients.caller_arn().await?, at: now(), left: left.clone() };
    if ask.dry_run {
        println!("Dry run: would resume.\n{}Nothing was changed.", egress_guard_core::Message::text(&resumed));
        return Ok(0);
    }
    history.set_pause(left.as_ref()).await?;
    print!("{}", egress_guard_core::Message::text(&resumed));
    tell(clients, ask.topic_arn, &resumed).await?;
    Ok(0)
}

async fn tell(clients: &Clients, topic_arn: Option<&str>, switched: &Switched) -> anyhow::Result<()> {
    if let Some(topic) = topic_arn {
        clients.notifier(topic).publish(switched).await?;
    }
    Ok(())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
