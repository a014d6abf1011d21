//! `egress-guard`: parses the command line, then validates the verb's arguments, loads the AWS configuration once and
//! runs the verb; exit codes 0/1/2.

mod audit;
mod fix;
mod history;
mod output;
mod pause;
mod preflight;
mod recommend;
mod regions;
mod replay;
mod run;
mod settings;
mod undo;
mod verb;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use egress_guard_aws::Clients;

use crate::verb::{Aws, Verb};

/// Audit and enforce EC2-033: no security-group egress to 0.0.0.0/0 or ::/0.
#[derive(Debug, Parser)]
#[command(name = "egress-guard", version)]
struct Cli {
    /// Named profile of the AWS configuration (default: the standard chain).
    #[arg(long, global = true, env = "AWS_PROFILE", help_heading = "Global options")]
    profile: Option<String>,
    /// Region to act in (`fix`, `recommend`, `verify`; `preflight`'s home), and for `replay` instead of the event's.
    #[arg(long, global = true, help_heading = "Global options")]
    region: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The verbs; each one's flags, help, validation and run are its module's.
#[derive(Debug, Subcommand)]
enum Command {
    Audit(audit::Args),
    Replay(replay::Args),
    Recommend(recommend::Args),
    Preflight(preflight::Args),
    Pause(pause::PauseArgs),
    Resume(pause::ResumeArgs),
    Undo(undo::Args),
    Verify(verify::Args),
    Fix(fix::Args),
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
    // It goes into endpoint host names: checked before any verb loads the configuration.
    if let Some(region) = cli.region.as_deref().filter(|r| !egress_guard_core::org::is_region(r)) {
        anyhow::bail!("--region {region:?} is not a region name");
    }
    let Cli { profile, region, command } = cli;
    match command {
        Command::Audit(args) => go(args, profile, region).await,
        Command::Replay(args) => go(args, profile, region).await,
        Command::Recommend(args) => go(args, profile, region).await,
        Command::Preflight(args) => go(args, profile, region).await,
        Command::Pause(args) => go(args, profile, region).await,
        Command::Resume(args) => go(args, profile, region).await,
        Command::Undo(args) => go(args, profile, region).await,
        Command::Verify(args) => go(args, profile, region).await,
        Command::Fix(args) => go(args, profile, region).await,
    }
}

/// Validates the verb's arguments (bad input is an error before any AWS call), then loads the AWS configuration and
/// runs the verb.
async fn go<V: Verb>(args: V, profile: Option<String>, region: Option<String>) -> anyhow::Result<u8> {
    let ask = args.validate()?;
    let clients = Clients::load(profile.as_deref(), region.as_deref()).await;
    V::run(ask, &Aws { clients, region }).await
}
