//! `audit`: list every group of every region concurrently, evaluate each with the core, print a table, JSON or ASFF.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Arc;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use egress_guard_aws::Ec2SecurityGroups;
use egress_guard_core::audit::Action;
use egress_guard_core::{AuditReport, SecurityGroup, SecurityGroups, Settings};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::output::Format;
use crate::regions;
use crate::settings::RuleArgs;
use crate::verb::{Aws, Verb};

/// List every egress rule open to 0.0.0.0/0 or ::/0 in every region (EC2-033's audit). Changes nothing.
/// Exit code: 0 nothing open, 1 something open, 2 a region (or the audit) failed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `all` (the regions enabled for the account) or a comma-separated list.
    #[arg(long, default_value = "all")]
    regions: String,
    /// How to print the report; default: a table on a terminal, JSON otherwise.
    #[arg(long, value_parser = Format::among(&[Format::Table, Format::Json, Format::Asff]))]
    format: Option<Format>,
    /// Regions scanned at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    #[command(flatten)]
    rules: RuleArgs,
}

/// What `audit` is asked, checked.
pub struct Ask {
    /// `None`: every region enabled for the account.
    regions: Option<BTreeSet<String>>,
    settings: Settings,
    concurrency: usize,
    format: Format,
}

impl Verb for Args {
    type Ask = Ask;

    fn validate(self) -> anyhow::Result<Ask> {
        let settings = self.rules.settings()?;
        let regions = regions::parse(&self.regions)?;
        let terminal = if std::io::stdout().is_terminal() { Format::Table } else { Format::Json };
        let format = self.format.unwrap_or(terminal);
        Ok(Ask { regions, settings, concurrency: usize::from(self.concurrency), format })
    }

    async fn run(ask: Ask, aws: &Aws) -> anyhow::Result<u8> {
        let clients = &aws.clients;
        let regions = regions::each(clients, ask.regions).await?;
        anyhow::ensure!(!regions.is_empty(), "no region to audit");
        let scans = scan(regions, |region| clients.security_groups_in(region), ask.concurrency).await;
        let report = AuditReport::new(scans, &ask.settings);
        match ask.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            Format::Asff => {
                let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                let findings = egress_guard_core::notify::asff::from_audit(&report, &now);
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "Findings": findings }))?);
            }
            Format::Table | Format::Text => print_table(&report),
        }
        Ok(u8::try_from(report.exit_code()).unwrap_or(2))
    }
}

/// Lists the groups of each region, at most `concurrency` regions at once. A region that fails keeps its error.
pub async fn scan(
    regions: Vec<String>,
    groups_in: impl Fn(&str) -> Ec2SecurityGroups,
    concurrency: usize,
) -> Vec<(String, Result<Vec<SecurityGroup>, String>)> {
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let progress = std::io::stderr().is_terminal();
    let total = regions.len();
    let mut tasks = JoinSet::new();
    for region in regions {
        let groups = groups_in(&region);
        let limit = Arc::clone(&limit);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let result = groups.list().await.map_err(|e| e.to_string());
            (region, result)
        });
    }
    let mut scans = Vec::with_capacity(total);
    while let Some(joined) = tasks.join_next().await {
        let (region, result) = joined.unwrap_or_else(|e| ("unknown".into(), Err(format!("task failed: {e}"))));
        if progress {
            let what = match &result {
                Ok(groups) => format!("{} groups", groups.len()),
                Err(_) => "failed".to_owned(),
            };
            eprintln!("[{}/{total}] {region}: {what}", scans.len() + 1);
        }
        scans.push((region, result));
    }
    scans
}

fn print_table(report: &AuditReport) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["Region", "Group", "Name", "VPC", "Rule", "Destination", "Status"]);
    for f in &report.findings {
        let split = f.kind == egress_guard_core::FindingKind::Split;
        let status = match (f.action, &f.reason) {
            (Action::Revoke, _) if split => "SPLIT RANGE: to revoke".to_owned(),
            (Action::ReportOnly, _) if split => "SPLIT RANGE: adds up to the whole Internet (reported)".to_owned(),
            (Action::Revoke, _) => "OPEN: to revoke".to_owned(),
            (action, Some(reason)) => format!("{}: {reason}", action.as_str()),
            (action, None) => action.as_str().to_owned(),
        };
        table.add_row([
            f.region.as_str(),
            &f.group_id,
            &f.group_name,
            f.vpc_id.as_deref().unwrap_or("-"),
            &f.traffic,
            &f.destination,
            &status,
        ]);
    }
    if !report.findings.is_empty() {
        println!("{table}");
    }
    for r in report.regions.iter().filter(|r| r.error.is_some()) {
        println!("region {} FAILED: {}", r.region, r.error.as_deref().unwrap_or_default());
    }
    let s = &report.summary;
    println!(
        "{} open rule(s) ({} in split ranges), {} to revoke, in {} group(s) across {} region(s); {} region(s) failed",
        s.open_rules, s.split_ranges, s.to_revoke, s.groups, s.regions, s.regions_failed
    );
}
