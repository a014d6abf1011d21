//! `replay` and `fix`: in the trigger's region, the Lambda's flow (`egress_guard_core::handle`, or `sweep` for a scheduled event) on one
//! trigger, printing what it did.

use egress_guard_aws::{Clients, SnsNotifier};
use egress_guard_core::{
    Message, NoFlowLogs, NoHistory, Notice, Notifier, Outcome, Ports, Proposal, Settings, Trigger, TriggerKind,
};

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

/// Exit code 0 when every group ended compliant, remediated, exempt, gone or skipped; 1 when a dry run found
/// something to revoke, verification failed, or a sweep's revoke failed.
pub async fn run(
    clients: &Clients,
    trigger: &Trigger,
    settings: &Settings,
    topic_arn: Option<&str>,
    json: bool,
    proposal: Option<&Proposal>,
) -> anyhow::Result<u8> {
    let groups = clients.security_groups_in(&trigger.region);
    let notifier = match topic_arn {
        Some(topic) => CliNotifier::Sns(clients.notifier(topic)),
        None => CliNotifier::Print,
    };
    // The CLI keeps no history of its own: repeat counts are the Lambda's.
    let ports = Ports { groups: &groups, notifier: &notifier, history: &NoHistory, flow_logs: &NoFlowLogs };
    if trigger.kind() == TriggerKind::Sweep {
        // As the Lambda does for its schedule: sweep the whole region, one report.
        let report = egress_guard_core::sweep(trigger, settings, ports, || true).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("Subject: {}\n\n{}", report.subject(), report.text());
        }
        let open = [Outcome::DryRun, Outcome::VerificationFailed, Outcome::RevokeFailed].map(|o| report.count(o));
        return Ok(u8::from(open.iter().sum::<usize>() > 0));
    }
    let report = egress_guard_core::handle(trigger, settings, ports).await?;
    if json {
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
