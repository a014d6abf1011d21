//! `recommend`: the proposal for one group from its flow logs, printed; with `--apply`, authorized and followed by
//! the same revoke, notice and undo as `fix`.

use egress_guard_aws::Clients;
use egress_guard_core::ports::FlowLogs;
use egress_guard_core::recommend::{AwsRanges, Request};
use egress_guard_core::{SecurityGroups, Settings};

use crate::{manual, run};

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
    if !proposal.applicable(options.accept_gaps) {
        let blocking = proposal.gaps.iter().filter(|g| g.blocks_apply(options.accept_gaps));
        let gaps: Vec<String> = blocking.map(|g| g.text()).collect();
        eprintln!("{}", proposal.text());
        let hint = if proposal.applicable(true) { " (--accept-gaps applies it despite them)" } else { "" };
        anyhow::bail!("not applied: the evidence has gaps: {}{hint}", gaps.join("; "));
    }
    let rules = proposal.rules();
    logs.authorize(group_id, &rules).await?;
    // Revoke only once every proposed rule shows (EC2's reads are eventually consistent: looked at again after
    // 0.25, 0.5, 1 and 2 s): an authorize that did less must not leave the group closed.
    let mut missing = Vec::new();
    for attempt in 0..=egress_guard_core::flow::SETTLE_ATTEMPTS {
        let after = groups.describe(group_id).await?.map(|g| g.egress).unwrap_or_default();
        missing = rules.iter().filter(|r| !after.iter().any(|a| a.same_traffic(r))).map(ToString::to_string).collect();
        if missing.is_empty() || attempt == egress_guard_core::flow::SETTLE_ATTEMPTS {
            break;
        }
        groups.settle(attempt).await;
    }
    if !missing.is_empty() {
        anyhow::bail!("not revoked: the group does not show these authorized rules: {}", missing.join(", "));
    }
    if !json {
        println!("{}\nAuthorized {} rules on {group_id}.\n", proposal.text(), proposal.rules.len());
    }
    let trigger = manual(group_id, region, "recommend --apply")?;
    let proposal = json.then_some(&proposal);
    run::run(clients, &trigger, settings, &options.out, proposal).await
}
