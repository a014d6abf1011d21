//! `recommend`: the proposal for one group from its flow logs, printed; with `--apply`, applied by the core's
//! `apply` (authorized, then seen on the group) and followed by the same revoke, notice and undo as `fix`.

use egress_guard_aws::Clients;
use egress_guard_core::recommend::{AwsRanges, DEFAULT_DAYS, DEFAULT_QUOTA, Request};
use egress_guard_core::{Applied, Settings};

use crate::output::Format;
use crate::run::{self, Flow, RunArgs, manual};
use crate::verb::{Aws, Verb};

/// Lines read per flow log at the most (a busy interface writes about a million a week).
const MAX_RECORDS: usize = 2_000_000;

/// Propose least-privilege egress for a group from its interfaces' VPC Flow Logs: the rules that allow what they
/// started, fitted to the rule quota, and the commands that apply it. `--apply` authorizes them, then revokes
/// the open rules as `fix` does (same notice and undo).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The group whose egress is proposed.
    #[arg(long)]
    group_id: String,
    /// Days of flow logs read, ending now.
    #[arg(long, default_value_t = DEFAULT_DAYS, value_parser = clap::value_parser!(u32).range(1..=90))]
    days: u32,
    /// Outbound rules the group may hold per address family (EC2's default quota: 60).
    #[arg(long, default_value_t = DEFAULT_QUOTA, value_parser = clap::value_parser!(u32).range(1..=1000))]
    quota: u32,
    /// Authorize the proposal, then revoke the open rules. Refused when the proposal has a gap.
    #[arg(long)]
    apply: bool,
    /// With --apply: apply despite gaps that only thin the evidence (fewer days than asked, SKIPDATA, records
    /// not attributable, no interface). Gaps that leave an interface's traffic unknown always refuse.
    #[arg(long, requires = "apply")]
    accept_gaps: bool,
    #[command(flatten)]
    run: RunArgs,
}

/// What `recommend` is asked, checked.
#[derive(Debug)]
pub struct Ask {
    group_id: String,
    days: u32,
    quota: u32,
    apply: bool,
    accept_gaps: bool,
    flow: Flow,
}

impl Verb for Args {
    type Ask = Ask;

    fn validate(self) -> anyhow::Result<Ask> {
        let flow = self.run.validate()?;
        egress_guard_core::model::validate_group_id(&self.group_id)?;
        let Args { group_id, days, quota, apply, accept_gaps, .. } = self;
        Ok(Ask { group_id, days, quota, apply, accept_gaps, flow })
    }

    /// Exit code 0: proposed (and applied if asked); 2: refused to apply, or failed.
    async fn run(ask: Ask, aws: &Aws) -> anyhow::Result<u8> {
        let region = aws.region()?;
        let settings = ask.flow.settings_in(&aws.clients, &region).await?;
        propose(&aws.clients, &region, &settings, ask).await
    }
}

/// The proposal for the group, printed, or applied and followed by `fix`'s flow.
async fn propose(clients: &Clients, region: &str, settings: &Settings, ask: Ask) -> anyhow::Result<u8> {
    let group_id = ask.group_id.as_str();
    let json = ask.flow.out.format == Format::Json;
    let groups = clients.security_groups_in(region);
    let logs = clients.flow_logs_in(region);
    let request = Request {
        region,
        days: ask.days,
        now: chrono::Utc::now().timestamp(),
        quota: ask.quota,
        max_records: MAX_RECORDS,
        ranges: AwsRanges::pinned(),
    };
    let proposal = egress_guard_core::recommend(group_id, &request, settings, &groups, &logs).await?;
    if !ask.apply {
        println!("{}", if json { proposal.to_json() } else { proposal.text() });
        return Ok(0);
    }
    match egress_guard_core::apply(&proposal, ask.accept_gaps, settings.dry_run, &groups).await? {
        Applied::Applied => {}
        // Nothing authorized; `fix`'s flow in a dry run then reports what would be revoked, and revokes nothing.
        Applied::DryRun if !json => {
            println!(
                "{}\nDry run: --apply would authorize {} rules on {group_id}; nothing was changed.\n",
                proposal.text(),
                proposal.rules.len()
            );
        }
        Applied::DryRun => {}
        Applied::Refused { gaps, accepted } => {
            let gaps: Vec<String> = gaps.iter().map(|g| g.text()).collect();
            eprintln!("{}", proposal.text());
            let hint = if accepted { " (--accept-gaps applies it despite them)" } else { "" };
            anyhow::bail!("not applied: the evidence has gaps: {}{hint}", gaps.join("; "));
        }
        Applied::NotVisible { missing } => {
            let missing: Vec<String> = missing.iter().map(ToString::to_string).collect();
            anyhow::bail!("not revoked: the group does not show these authorized rules: {}", missing.join(", "));
        }
    }
    if !json && !settings.dry_run {
        println!("{}\nAuthorized {} rules on {group_id}.\n", proposal.text(), proposal.rules.len());
    }
    let trigger = manual(group_id, region, "recommend --apply")?;
    let proposal = json.then_some(&proposal);
    run::run(clients, &trigger, settings, &ask.flow.out, proposal).await
}
