//! `egress-guard`: parses the command line, loads the AWS configuration once and dispatches; exit codes 0/1/2.

mod audit;
mod pause;
mod preflight;
mod recommend;
mod run;
mod undo;
mod verify;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use egress_guard_aws::Clients;
use egress_guard_core::Settings;
use egress_guard_core::settings::vars;

/// Audit and enforce EC2-033: no security-group egress to 0.0.0.0/0 or ::/0.
#[derive(Debug, Parser)]
#[command(name = "egress-guard", version)]
struct Cli {
    /// Named profile of the AWS configuration (default: the standard chain).
    #[arg(long, global = true, env = "AWS_PROFILE")]
    profile: Option<String>,
    /// Region for `fix`, and for `replay` instead of the event's own.
    #[arg(long, global = true)]
    region: Option<String>,
    /// The stack's history table (its HistoryTableName output), which holds the kill switch: `pause` and `resume` set
    /// it, and `replay`, `fix` and `recommend --apply` given it run as a dry run while it pauses their region.
    #[arg(long, global = true, env = "EGRESS_GUARD_HISTORY_TABLE")]
    history_table: Option<String>,
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(subcommand)]
    command: Command,
}

/// The Lambda's settings, under the same environment variable names.
#[derive(Debug, Args)]
struct SettingsArgs {
    /// Plan and report, revoke nothing.
    #[arg(long, global = true, env = vars::DRY_RUN)]
    dry_run: bool,
    /// Tag key that exempts a group (default egress-guard:exempt; empty: none).
    #[arg(long, global = true, env = vars::EXEMPT_TAG_KEY)]
    exempt_tag_key: Option<String>,
    /// Comma-separated group ids left alone.
    #[arg(long, global = true, env = vars::EXEMPT_GROUP_IDS)]
    exempt_group_ids: Option<String>,
    /// Accepted open egress, e.g. tcp:443,udp:53.
    #[arg(long, global = true, env = vars::ALLOWED_PORTS)]
    allowed_ports: Option<String>,
    /// Also revoke open ICMP and other protocols.
    #[arg(long, global = true, env = vars::REVOKE_OTHER_PROTOCOLS)]
    revoke_other_protocols: bool,
    /// Also revoke split ranges: CIDRs that add up to all of IPv4 or IPv6, none of them /0 (reported by default).
    #[arg(long, global = true, env = vars::REVOKE_SPLIT_RANGES)]
    revoke_split_ranges: bool,
    /// Also report compliant and exempt groups in `replay` and `fix`.
    #[arg(long, global = true, env = vars::NOTIFY_COMPLIANT)]
    notify_compliant: bool,
}

impl SettingsArgs {
    /// The same parser as the Lambda's, fed from the flags.
    fn settings(&self) -> Result<Settings, egress_guard_core::Error> {
        let flag = |on: bool| Some(on.to_string());
        Settings::from_vars(|name| match name {
            vars::DRY_RUN => flag(self.dry_run),
            vars::EXEMPT_TAG_KEY => self.exempt_tag_key.clone(),
            vars::EXEMPT_GROUP_IDS => self.exempt_group_ids.clone(),
            vars::ALLOWED_PORTS => self.allowed_ports.clone(),
            vars::REVOKE_OTHER_PROTOCOLS => flag(self.revoke_other_protocols),
            vars::REVOKE_SPLIT_RANGES => flag(self.revoke_split_ranges),
            vars::NOTIFY_COMPLIANT => flag(self.notify_compliant),
            _ => None,
        })
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every egress rule open to 0.0.0.0/0 or ::/0 in every region (EC2-033's audit). Changes nothing.
    /// Exit code: 0 nothing open, 1 something open, 2 a region (or the audit) failed.
    Audit {
        /// `all` (the regions enabled for the account) or a comma-separated list.
        #[arg(long, default_value = "all")]
        regions: String,
        /// Output format (table, json, or asff: the findings as Security Hub takes them); default: table on a
        /// terminal, JSON otherwise.
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Regions scanned at once.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
    },
    /// Run the Lambda's flow on a saved EventBridge event and print the notice.
    Replay {
        /// The event, as in events/.
        event: PathBuf,
        #[command(flatten)]
        out: RunArgs,
    },
    /// Propose least-privilege egress for a group from its interfaces' VPC Flow Logs: the rules that allow what they
    /// started, fitted to the rule quota, and the commands that apply it. `--apply` authorizes them, then revokes
    /// the open rules as `fix` does (same notice and undo).
    Recommend {
        #[arg(long)]
        group_id: String,
        /// Days of flow logs read, ending now.
        #[arg(long, default_value_t = egress_guard_core::recommend::DEFAULT_DAYS, value_parser = clap::value_parser!(u32).range(1..=90))]
        days: u32,
        /// Outbound rules the group may hold per address family (EC2's default quota: 60).
        #[arg(long, default_value_t = egress_guard_core::recommend::DEFAULT_QUOTA, value_parser = clap::value_parser!(u32).range(1..=1000))]
        quota: u32,
        /// Authorize the proposal, then revoke the open rules. Refused when the proposal has a gap.
        #[arg(long)]
        apply: bool,
        /// With --apply: apply despite gaps that only thin the evidence (fewer days than asked, SKIPDATA, records
        /// not attributable, no interface). Gaps that leave an interface's traffic unknown always refuse.
        #[arg(long, requires = "apply")]
        accept_gaps: bool,
        #[command(flatten)]
        out: RunArgs,
    },
    /// Before or after a deploy: what would make it or the guard fail (a region not enabled, no trail logging
    /// management write events, a reservation Lambda refuses, Security Hub off, a member's role not assumable), each
    /// with its fix. Read-only: Describe, Get and List calls, and sts:AssumeRole for member roles.
    /// Exit code: 0 nothing found, 1 something found, 2 a check could not run or the input is wrong.
    Preflight {
        /// `all` (the template's default Regions, the 17 that cannot be disabled) or a comma-separated list.
        #[arg(long, default_value = "all")]
        regions: String,
        /// Organization mode: the member accounts whose remediation role is tried, comma-separated.
        #[arg(long)]
        member_accounts: Option<String>,
        /// The role templates/spoke.yaml makes in each member account (the template's RemediationRoleName).
        #[arg(long, default_value = egress_guard_core::preflight::DEFAULT_ROLE_NAME)]
        remediation_role_name: String,
        /// The reserved concurrency the deploy asks for (FunctionConcurrency), checked against the home region's
        /// unreserved concurrency.
        #[arg(long)]
        function_concurrency: Option<u32>,
        /// Also check that Security Hub is enabled in each region (for SecurityHubFindings=true).
        #[arg(long)]
        security_hub: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: preflight::Format,
    },
    /// The kill switch: pause every revoke (in the regions given, or all), from the function's next invocation,
    /// until `resume`. Paused, the function runs as a dry run and its notices say who paused. Told on the topic.
    Pause {
        #[command(flatten)]
        switch: SwitchArgs,
        /// Why, shown in every notice while paused.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume revokes (in the regions given, or all) paused by `pause`. Exit 1 when nothing was paused.
    Resume {
        #[command(flatten)]
        switch: SwitchArgs,
    },
    /// Every revoke egress-guard made in a window, from the history table: listed (changes nothing), or restored
    /// with --apply, each in its own account and region. --apply restores only where egress-guard is paused or the
    /// group exempt (else it would revoke the rules again). Exit code: 0 everything listed was (or would be)
    /// restored, 1 something could not be (a group deleted, a rule re-added since), 2 an error (nothing restored).
    Undo {
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
        #[arg(long, value_enum, default_value = "text")]
        format: preflight::Format,
    },
    /// The deployment's canary, run after a deploy (or on a schedule): in each region, a temporary group in the
    /// default VPC (tagged egress-guard:verify) opened to tcp 9 (0.0.0.0/0), watched until the deployment revokes it
    /// and its notice arrives on the topic (through a temporary SQS queue subscribed to it); everything it made is
    /// deleted again, also on timeout, error or Ctrl-C. Exit code: 0 every region revoked (or, in a dry-run
    /// deployment, told), 1 one not revoked within the timeout, 2 an error.
    Verify {
        /// `all` (the regions enabled for the account) or a comma-separated list; default: the configured region.
        #[arg(long)]
        regions: Option<String>,
        /// The stack's notice topic (its NoticeTopicArn output).
        #[arg(long, env = "EGRESS_GUARD_TOPIC_ARN")]
        topic_arn: String,
        /// The VPC the canary groups go in (default: each region's default VPC).
        #[arg(long)]
        vpc_id: Option<String>,
        /// Seconds to wait for each region's revoke and notice.
        #[arg(long, default_value_t = egress_guard_core::verify::DEFAULT_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(5..=3600))]
        timeout: u64,
        #[arg(long, value_enum, default_value = "text")]
        format: preflight::Format,
    },
    /// Remediate one security group now and print the notice.
    Fix {
        #[arg(long)]
        group_id: String,
        #[command(flatten)]
        out: RunArgs,
    },
}

#[derive(Debug, Args)]
struct SwitchArgs {
    /// `all` or a comma-separated list.
    #[arg(long, default_value = "all")]
    regions: String,
    /// Tell the change on this SNS topic (the stack's NoticeTopicArn output).
    #[arg(long, env = "EGRESS_GUARD_TOPIC_ARN")]
    topic_arn: Option<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Also publish the notice to this SNS topic, as the Lambda does.
    #[arg(long, env = "EGRESS_GUARD_TOPIC_ARN")]
    topic_arn: Option<String>,
    /// Also import the notice's findings into Security Hub in the group's region, as the Lambda does with
    /// SecurityHubFindings on.
    #[arg(long)]
    security_hub: bool,
    /// Also put the outcome's event on this EventBridge bus (`default`), as the Lambda does with OutcomeEvents on.
    #[arg(long)]
    event_bus: Option<String>,
    /// `text` (the notice as a person reads it), `json`, or `asff` (the notice's Security Hub findings).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

impl RunArgs {
    fn output(self) -> anyhow::Result<run::Output> {
        let format = match self.format {
            Format::Text => run::Format::Text,
            Format::Json => run::Format::Json,
            Format::Asff => run::Format::Asff,
            Format::Table => anyhow::bail!("--format table is for audit; use text, json or asff"),
        };
        let integrations =
            egress_guard_aws::Integrations { security_hub: self.security_hub, event_bus: self.event_bus };
        Ok(run::Output { topic_arn: self.topic_arn, integrations, format })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Text,
    Json,
    /// AWS Security Finding Format: what Security Hub's BatchImportFindings takes.
    Asff,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("egress-guard: {}", told_once(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and each cause its message does not already hold: the core's errors carry their source in the text.
fn told_once(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let settings = cli.settings.settings()?;
    // It goes into endpoint host names: checked before any command loads the configuration.
    if let Some(region) = cli.region.as_deref().filter(|r| !egress_guard_core::org::is_region(r)) {
        anyhow::bail!("--region {region:?} is not a region name");
    }
    // Each command loads the AWS configuration when it needs it: preflight checks its input first.
    let load = || Clients::load(cli.profile.as_deref(), cli.region.as_deref());
    match cli.command {
        Command::Audit { regions, format, concurrency } => {
            let clients = load().await;
            let format = format.unwrap_or(if std::io::stdout().is_terminal() { Format::Table } else { Format::Json });
            let format = match format {
                Format::Table | Format::Text => audit::Format::Table,
                Format::Json => audit::Format::Json,
                Format::Asff => audit::Format::Asff,
            };
            audit::run(&clients, &regions, &settings, usize::from(concurrency), format).await
        }
        Command::Preflight {
            regions,
            member_accounts,
            remediation_role_name,
            function_concurrency,
            security_hub,
            format,
        } => {
            // Bad input is an error before any AWS call, or even the configuration.
            let request = egress_guard_core::preflight::Request {
                regions,
                member_accounts,
                role_name: remediation_role_name,
                function_concurrency,
                security_hub,
            }
            .validate()?;
            let clients = load().await;
            let home = cli.region.clone().or_else(|| clients.region());
            preflight::run(&clients, home, &request, format).await
        }
        Command::Pause { switch, reason } => {
            let regions = pause::regions(&switch.regions)?;
            let table = switch_table(cli.history_table.as_deref(), settings.dry_run)?;
            let clients = load().await;
            let ask =
                pause::Switch { table, regions, topic_arn: switch.topic_arn.as_deref(), dry_run: settings.dry_run };
            pause::pause(&clients, ask, reason).await
        }
        Command::Resume { switch } => {
            let regions = pause::regions(&switch.regions)?;
            let table = switch_table(cli.history_table.as_deref(), settings.dry_run)?;
            let clients = load().await;
            let ask =
                pause::Switch { table, regions, topic_arn: switch.topic_arn.as_deref(), dry_run: settings.dry_run };
            pause::resume(&clients, ask).await
        }
        Command::Undo { since, until, group_id, regions, apply, remediation_role_name, format } => {
            let now = chrono::Utc::now().timestamp();
            let since = undo::time("--since", &since, now)?;
            let until = until.map_or(Ok(now), |u| undo::time("--until", &u, now))?;
            if since > until {
                anyhow::bail!("--since is after --until: the window is empty");
            }
            for id in &group_id {
                egress_guard_core::model::validate_group_id(id.trim())?;
            }
            let selection = egress_guard_core::undo::Selection {
                since,
                until,
                group_ids: undo::names(&group_id),
                regions: pause::regions(&regions)?,
            };
            let table = cli
                .history_table
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("--history-table (the stack's HistoryTableName output) is required"))?;
            let clients = load().await;
            let json = format == preflight::Format::Json;
            let ask = undo::Ask { table, selection, apply, role_name: &remediation_role_name, json };
            undo::run(&clients, ask, &settings).await
        }
        Command::Verify { regions, topic_arn, vpc_id, timeout, format } => {
            // Bad input is an error before any AWS call.
            let topic_arn = verify::topic_arn(&topic_arn)?;
            let vpc_id = vpc_id.as_deref().map(verify::vpc_id).transpose()?;
            if let Some(list) = regions.as_deref().filter(|r| r.trim() != "all") {
                pause::regions(list)?;
            }
            let clients = load().await;
            let regions = verify::regions(&clients, regions.as_deref()).await?;
            let json = format == preflight::Format::Json;
            let timeout = std::time::Duration::from_secs(timeout);
            let ask = verify::Ask { regions, topic_arn, vpc_id, timeout, json, dry_run: settings.dry_run };
            verify::run(&clients, ask).await
        }
        Command::Replay { event, out } => {
            let clients = load().await;
            let bytes = std::fs::read(&event).map_err(|e| anyhow::anyhow!("reading {}: {e}", event.display()))?;
            let mut trigger = egress_guard_core::parse_event(&bytes)?;
            // Acting in another region than the event's: the notice and its undo command name where it acted.
            if let Some(region) = cli.region {
                trigger.region = region;
            }
            let settings = pause::honour(&clients, cli.history_table.as_deref(), &trigger.region, settings).await?;
            run::run(&clients, &trigger, &settings, &out.output()?, None).await
        }
        Command::Fix { group_id, out } => {
            let clients = load().await;
            let region = region_of(cli.region, &clients)?;
            let settings = pause::honour(&clients, cli.history_table.as_deref(), &region, settings).await?;
            let trigger = run::manual(&group_id, &region, "fix")?;
            run::run(&clients, &trigger, &settings, &out.output()?, None).await
        }
        Command::Recommend { group_id, days, quota, apply, accept_gaps, out } => {
            let clients = load().await;
            let region = region_of(cli.region, &clients)?;
            let settings = pause::honour(&clients, cli.history_table.as_deref(), &region, settings).await?;
            let options = recommend::Options { days, quota, apply, accept_gaps, out: out.output()? };
            recommend::run(&clients, &region, &group_id, &settings, options).await
        }
    }
}

/// The switch's table for `pause` and `resume`. A dry run there must be asked for on the command line: one that
/// came from `EGRESS_GUARD_DRY_RUN` in the shell would leave a pause unset while the operator believes it set.
fn switch_table(table: Option<&str>, dry_run: bool) -> anyhow::Result<&str> {
    let from_env = std::env::var(vars::DRY_RUN).is_ok_and(|v| !v.trim().is_empty() && v.trim() != "false");
    if dry_run && from_env && !std::env::args().any(|a| a == "--dry-run") {
        anyhow::bail!("{} is set in the environment: pass --dry-run to mean a dry run, or unset it", vars::DRY_RUN);
    }
    table.ok_or_else(|| anyhow::anyhow!("--history-table (the stack's HistoryTableName output) is required"))
}

/// `--region`, else the configured one.
fn region_of(region: Option<String>, clients: &Clients) -> anyhow::Result<String> {
    region
        .or_else(|| clients.region())
        .ok_or_else(|| anyhow::anyhow!("no region: pass --region or set AWS_REGION (or a profile's region)"))
}
