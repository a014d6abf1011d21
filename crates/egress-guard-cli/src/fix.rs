//! `fix`: the Lambda's flow on one security group now, in `--region` (or the configured one), printing the notice.

use crate::run::{self, Flow, RunArgs, manual};
use crate::verb::{Aws, Verb};

/// Remediate one security group now and print the notice.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The group to remediate.
    #[arg(long)]
    group_id: String,
    #[command(flatten)]
    run: RunArgs,
}

/// The group, checked, and how to run the flow on it.
pub struct Ask {
    group_id: String,
    flow: Flow,
}

impl Verb for Args {
    type Ask = Ask;

    fn validate(self) -> anyhow::Result<Ask> {
        let flow = self.run.validate()?;
        egress_guard_core::model::validate_group_id(&self.group_id)?;
        Ok(Ask { group_id: self.group_id, flow })
    }

    async fn run(ask: Ask, aws: &Aws) -> anyhow::Result<u8> {
        let region = aws.region()?;
        let settings = ask.flow.settings_in(&aws.clients, &region).await?;
        let trigger = manual(&ask.group_id, &region, "fix")?;
        run::run(&aws.clients, &trigger, &settings, &ask.flow.out, None).await
    }
}
