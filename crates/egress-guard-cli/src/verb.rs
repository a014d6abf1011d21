//! `Verb`, the shape of every verb module: its `clap::Args` validated into what it is asked before any AWS call, then
//! run with the AWS configuration `main` loaded once (`Aws`), answering the exit code.

use egress_guard_aws::Clients;

/// A verb's arguments as clap parsed them.
pub trait Verb {
    /// What the verb is asked, validated.
    type Ask;

    /// Checks the arguments and turns them into what the verb is asked; bad input is an error before the AWS
    /// configuration is even loaded.
    fn validate(self) -> anyhow::Result<Self::Ask>;

    /// Does what was asked; answers the exit code (0, 1 or 2, as each verb's help says).
    async fn run(ask: Self::Ask, aws: &Aws) -> anyhow::Result<u8>;
}

/// What every verb runs with: the AWS configuration, loaded once, and the global `--region`.
pub struct Aws {
    pub clients: Clients,
    /// `--region`, when given.
    pub region: Option<String>,
}

impl Aws {
    /// `--region`, else the configured one.
    pub fn region(&self) -> anyhow::Result<String> {
        self.region
            .clone()
            .or_else(|| self.clients.region())
            .ok_or_else(|| anyhow::anyhow!("no region: pass --region or set AWS_REGION (or a profile's region)"))
    }
}
