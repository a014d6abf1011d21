//! `recommend`: the proposal for one group from its flow logs, printed; with `--apply`, applied by the core's
//! `apply` (authorized, then seen on the group) and followed by the same revoke, notice and undo as `fix`.

use egress_guard_aws::Clients;
use egress_guard_core::recommend::{AwsRanges, Request};
use egress_guard_core::{Applied, Settings};

use crate::run::{self, manual};

/// Lines read per flow log at the most (a busy interface writes about a million a week).
const MAX_RECORDS: usize = 2_000_000;

#[derive(Debug)]
pub struct Options {
    pub days: u32,
    pub quota: u32,
    pub apply: bool,
    pub accept_gaps: bool,
    pub out: run::Output,
}

/// Exit code 0: proposed (and applied if asked); 2: refused to apply, or failed.
pub async fn run(
    clients: &Clients,
    region: &str,
    group_id: &str,
    settings: &Settings,
    options: Options,
) -> anyhow::Result<u8> {
    let json = options.out.format == run::Format::Json;
    let groups = clients.security_groups_in(region);
    let logs = clients.flow_logs_in(region);
    let request = Request {
        region,
        days: options.days,
        now: chrono::Utc::now().timestamp(),
        quota: options.quota,
        max_records: MAX_RECORDS,
        ranges: AwsRanges::pinned(),
    };
    let proposal = egress_guard_core::recommend(group_id, &request, settings, &groups, &logs).await?;
    if !options.apply {
        println!("{}", if json { proposal.to_json() } else { proposal.text() });
        return Ok(0);
    }
    match egress_guard_core::apply(&proposal, options.accept_gaps, settings.dry_run, &groups).await? {
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
    run::run(clients, &trigger, settings, &options.out, proposal).await
}
