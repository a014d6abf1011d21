//! `pause` and `resume`: the kill switch in the history table, which the function reads on every invocation, and
//! the change told on the topic. `--dry-run` says what it would set and changes nothing.

use std::collections::BTreeSet;

use egress_guard_aws::Clients;
use egress_guard_core::notify::switch::Switched;
use egress_guard_core::settings::vars;
use egress_guard_core::{Notifier, Pause};

use crate::history::TableArgs;
use crate::regions;
use crate::settings::DryRunArgs;
use crate::verb::{Aws, Verb};

/// The flags `pause` and `resume` share.
#[derive(Debug, clap::Args)]
pub struct SwitchArgs {
    /// `all` or a comma-separated list.
    #[arg(long, default_value = "all")]
    regions: String,
    /// Tell the change on this SNS topic (the stack's NoticeTopicArn output).
    #[arg(long, env = "EGRESS_GUARD_TOPIC_ARN")]
    topic_arn: Option<String>,
    #[command(flatten)]
    table: TableArgs,
    #[command(flatten)]
    dry_run: DryRunArgs,
}

/// What `pause` or `resume` is asked.
pub struct Switch {
    table: String,
    /// `None`: every region.
    regions: Option<BTreeSet<String>>,
    topic_arn: Option<String>,
    dry_run: bool,
}

impl SwitchArgs {
    /// The regions and the table, checked. A dry run must be asked for on the command line: one that came from
    /// `EGRESS_GUARD_DRY_RUN` in the shell would leave a pause unset while the operator believes it set.
    fn validate(self) -> anyhow::Result<Switch> {
        let regions = regions::parse(&self.regions)?;
        let dry_run = self.dry_run.dry_run;
        let from_env = std::env::var(vars::DRY_RUN).is_ok_and(|v| !v.trim().is_empty() && v.trim() != "false");
        if dry_run && from_env && !std::env::args().any(|a| a == "--dry-run") {
            anyhow::bail!("{} is set in the environment: pass --dry-run to mean a dry run, or unset it", vars::DRY_RUN);
        }
        Ok(Switch { table: self.table.required()?, regions, topic_arn: self.topic_arn, dry_run })
    }
}

/// The kill switch: pause every revoke (in the regions given, or all), from the function's next invocation,
/// until `resume`. Paused, the function runs as a dry run and its notices say who paused. Told on the topic.
#[derive(Debug, clap::Args)]
pub struct PauseArgs {
    #[command(flatten)]
    switch: SwitchArgs,
    /// Why, shown in every notice while paused.
    #[arg(long)]
    reason: Option<String>,
}

impl Verb for PauseArgs {
    /// The switch, and why.
    type Ask = (Switch, Option<String>);

    fn validate(self) -> anyhow::Result<Self::Ask> {
        Ok((self.switch.validate()?, self.reason))
    }

    async fn run((switch, reason): Self::Ask, aws: &Aws) -> anyhow::Result<u8> {
        pause(&aws.clients, switch, reason).await
    }
}

/// Resume revokes (in the regions given, or all) paused by `pause`. Exit 1 when nothing was paused.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    switch: SwitchArgs,
}

impl Verb for ResumeArgs {
    type Ask = Switch;

    fn validate(self) -> anyhow::Result<Switch> {
        self.switch.validate()
    }

    async fn run(switch: Switch, aws: &Aws) -> anyhow::Result<u8> {
        resume(&aws.clients, switch).await
    }
}

/// Times a change is tried when another operator changed the switch between its read and its write.
const WRITE_ATTEMPTS: u32 = 5;

/// Pauses revokes where asked (widening a pause already in force). Exit 0.
async fn pause(clients: &Clients, ask: Switch, reason: Option<String>) -> anyhow::Result<u8> {
    let history = clients.history(&ask.table);
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
        tell(clients, ask.topic_arn.as_deref(), &Switched::Paused(pause)).await?;
        return Ok(0);
    }
    anyhow::bail!("the switch kept changing under this pause ({WRITE_ATTEMPTS} tries): nothing was set; run it again")
}

/// Resumes revokes where asked. Exit 0; 1 when nothing was paused there.
async fn resume(clients: &Clients, ask: Switch) -> anyhow::Result<u8> {
    let history = clients.history(&ask.table);
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
        tell(clients, ask.topic_arn.as_deref(), &resumed).await?;
        return Ok(0);
    }
    anyhow::bail!("the switch kept changing under this resume ({WRITE_ATTEMPTS} tries): nothing was set; run it again")
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
