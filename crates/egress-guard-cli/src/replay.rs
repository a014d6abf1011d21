//! `replay`: the Lambda's flow on a saved EventBridge event, in the event's region or `--region`, printing the notice.

use std::path::PathBuf;

use egress_guard_core::Trigger;

use crate::run::{self, Flow, RunArgs};
use crate::verb::{Aws, Verb};

/// Run the Lambda's flow on a saved EventBridge event and print the notice.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The event, as in events/.
    event: PathBuf,
    #[command(flatten)]
    run: RunArgs,
}

/// The event, parsed, and how to run it.
pub struct Ask {
    trigger: Trigger,
    flow: Flow,
}

impl Verb for Args {
    type Ask = Ask;

    fn validate(self) -> anyhow::Result<Ask> {
        let flow = self.run.validate()?;
        let bytes = std::fs::read(&self.event).map_err(|e| anyhow::anyhow!("reading {}: {e}", self.event.display()))?;
        Ok(Ask { trigger: egress_guard_core::parse_event(&bytes)?, flow })
    }

    async fn run(ask: Ask, aws: &Aws) -> anyhow::Result<u8> {
        let Ask { mut trigger, flow } = ask;
        // Acting in another region than the event's: the notice and its undo command name where it acted.
        if let Some(region) = &aws.region {
            trigger.region.clone_from(region);
        }
        let settings = flow.settings_in(&aws.clients, &trigger.region).await?;
        run::run(&aws.clients, &trigger, &settings, &flow.out, None).await
    }
}
