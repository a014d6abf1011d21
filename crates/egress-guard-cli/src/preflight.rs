//! `preflight`: what would make a deploy or the guard fail, read-only: the adapter observes what the core's request
//! asks about, the core's report decides; printed as text or JSON; exit 0 nothing found, 1 found, 2 a check failed.

use egress_guard_aws::Clients;
use egress_guard_core::preflight::{Report, Scope};

/// How the report is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per finding with its fix, then the count.
    Text,
    /// Schema `egress-guard.preflight/v1`.
    Json,
}

/// Observes and reports. `home` is the region the function is deployed to (Lambda's quota is read there, member
/// roles are assumed through its STS endpoint); `None` is allowed only when no reservation is checked, and then the
/// first region asked stands in.
pub async fn run(clients: &Clients, home: Option<String>, request: &Scope, format: Format) -> anyhow::Result<u8> {
    let home = match home {
        Some(home) => home,
        None if request.function_concurrency.is_some() => anyhow::bail!(
            "no region: --function-concurrency is checked against the home region's Lambda quota; pass --region or set AWS_REGION"
        ),
        None => request.regions[0].clone(),
    };
    let observations = clients.preflight(&home).observe(request).await;
    let report = Report::new(request, &observations);
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => print!("{}", report.text()),
    }
    Ok(u8::try_from(report.exit_code()).unwrap_or(2))
}
