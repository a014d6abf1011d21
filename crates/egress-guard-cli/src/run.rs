//! The Lambda's flow on one trigger, for `replay`, `fix` and `recommend --apply`'s revoke: the flags they share
//! (`RunArgs`: the Lambda's settings, the kill switch they honour, where the notice goes), then in the trigger's region
//! `egress_guard_core::handle` (or `sweep` for a scheduled event), printing what it did.

use egress_guard_aws::{Clients, Integrations, SnsNotifier};
use egress_guard_core::{
    Message, NoFlowLogs, NoHistory, Notice, Notifier, Outcome, Ports, Proposal, Settings, Trigger, TriggerKind,
};

use crate::history::{HonourArgs, honour};
use crate::output::Format;
use crate::settings::SettingsArgs;

/// The flags of every verb that runs the Lambda's flow.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(flatten)]
    table: HonourArgs,
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
    /// How to print the notice: as a person reads it, its JSON, or its Security Hub findings.
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json, Format::Asff]), default_value = "text")]
    format: Format,
}

impl RunArgs {
    pub fn validate(self) -> anyhow::Result<Flow> {
        let integrations = Integrations { security_hub: self.security_hub, event_bus: self.event_bus };
        Ok(Flow {
            settings: self.settings.settings()?,
            table: self.table.history_table,
            out: Output { topic_arn: self.topic_arn, integrations, format: self.format },
        })
    }
}

/// `RunArgs`, validated.
#[derive(Debug)]
pub struct Flow {
    settings: Settings,
    /// The history table whose kill switch is honoured.
    table: Option<String>,
    pub out: Output,
}

impl Flow {
    /// The settings in `region`: a dry run while the kill switch pauses it.
    pub async fn settings_in(&self, clients: &Clients, region: &str) -> anyhow::Result<Settings> {
        honour(clients, self.table.as_deref(), region, self.settings.clone()).await
    }
}

/// Publishes to SNS when a topic is given; otherwise the notice is only printed.
enum CliNotifier {
    Print,
    Sns(SnsNotifier),
}

impl Notifier for CliNotifier {
    type Error = egress_guard_aws::Error;

    async fn publish(&self, message: &(dyn Message + Sync)) -> Result<(), Self::Error> {
        match self {
            CliNotifier::Print => Ok(()),
            CliNotifier::Sns(sns) => sns.publish(message).await,
        }
    }
}

/// Where a verb's notices go besides the terminal, and how it prints them.
#[derive(Debug)]
pub struct Output {
    /// Publish the notice to this SNS topic, as the Lambda does.
    pub topic_arn: Option<String>,
    /// Security Hub findings and events on a bus, as the Lambda's parameters turn them on.
    pub integrations: Integrations,
    /// Text, JSON or ASFF.
    pub format: Format,
}

/// Exit code 0 when every group ended compliant, remediated, exempt, gone or skipped; 1 when a dry run found
/// something to revoke, verification failed, or a sweep's revoke failed.
pub async fn run(
    clients: &Clients,
    trigger: &Trigger,
    settings: &Settings,
    out: &Output,
    proposal: Option<&Proposal>,
) -> anyhow::Result<u8> {
    let json = out.format == Format::Json;
    let groups = clients.security_groups_in(&trigger.region);
    let notifier = match out.topic_arn.as_deref() {
        Some(topic) => CliNotifier::Sns(clients.notifier(topic)),
        None => CliNotifier::Print,
    };
    // The CLI keeps no history of its own: repeat counts are the Lambda's.
    let outlets = clients.outlets(&out.integrations, &trigger.region);
    let ports =
        Ports { groups: &groups, notifier: &notifier, history: &NoHistory, flow_logs: &NoFlowLogs, outlets: &outlets };
    if trigger.kind() == TriggerKind::Sweep {
        // As the Lambda does for its schedule: sweep the whole region, one report.
        let report = egress_guard_core::sweep(trigger, settings, &Default::default(), ports, || true).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("Subject: {}\n\n{}", report.subject(), report.text());
        }
        let open = [Outcome::DryRun, Outcome::VerificationFailed, Outcome::RevokeFailed].map(|o| report.count(o));
        return Ok(u8::from(open.iter().sum::<usize>() > 0));
    }
    let report = egress_guard_core::handle(trigger, settings, ports).await?;
    if out.format == Format::Asff {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let findings: Vec<_> = report
            .results
            .iter()
            .filter_map(|r| r.notice.as_ref())
            .flat_map(|n| egress_guard_core::notify::asff::from_notice(n, &now))
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "Findings": findings }))?);
    } else if json {
        let notices: Vec<&Notice> = report.results.iter().filter_map(|r| r.notice.as_ref()).collect();
        let mut out = serde_json::json!({ "response": report, "notices": notices });
        if let Some(proposal) = proposal {
            out["proposal"] = serde_json::to_value(proposal)?;
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for group_report in &report.results {
            let group = group_report.group_id.as_deref().unwrap_or("-");
            println!("{group}: {}", group_report.outcome.as_str());
            if let Some(notice) = &group_report.notice {
                println!("\nSubject: {}\n\n{}", notice.subject(), notice.text());
            }
        }
    }
    let open = report.results.iter().any(|r| matches!(r.outcome, Outcome::DryRun | Outcome::VerificationFailed));
    Ok(u8::from(open))
}

/// The trigger of a change a person asked for from the command line (`fix`, `recommend --apply`).
pub fn manual(group_id: &str, region: &str, command: &str) -> anyhow::Result<egress_guard_core::Trigger> {
    let who = format!("{} via egress-guard {command}", std::env::var("USER").unwrap_or_else(|_| "a person".into()));
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(egress_guard_core::Trigger::manual(group_id, region, "", &who, &now)?)
}
