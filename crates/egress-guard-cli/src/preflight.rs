//! `preflight`: what would make a deploy or the guard fail, read-only: the core's request, checked before any AWS
//! call, the adapter observes what it asks about, the core's report decides; printed as text or JSON; exit 0 nothing
//! found, 1 found, 2 a check failed.

use egress_guard_core::preflight::{DEFAULT_ROLE_NAME, Report, Request, Scope};

use crate::output::Format;
use crate::verb::{Aws, Verb};

/// Before or after a deploy: what would make it or the guard fail (a region not enabled, no trail logging
/// management write events, a reservation Lambda refuses, Security Hub off, a member's role not assumable), each
/// with its fix. Read-only: Describe, Get and List calls, and sts:AssumeRole for member roles.
/// Exit code: 0 nothing found, 1 something found, 2 a check could not run or the input is wrong.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `all` (the template's default Regions, the 17 that cannot be disabled) or a comma-separated list.
    #[arg(long, default_value = "all")]
    regions: String,
    /// Organization mode: the member accounts whose remediation role is tried, comma-separated.
    #[arg(long)]
    member_accounts: Option<String>,
    /// The role templates/spoke.yaml makes in each member account (the template's RemediationRoleName).
    #[arg(long, default_value = DEFAULT_ROLE_NAME)]
    remediation_role_name: String,
    /// The reserved concurrency the deploy asks for (FunctionConcurrency), checked against the home region's
    /// unreserved concurrency.
    #[arg(long)]
    function_concurrency: Option<u32>,
    /// Also check that Security Hub is enabled in each region (for SecurityHubFindings=true).
    #[arg(long)]
    security_hub: bool,
    /// How to print the report: one line per finding with its fix, then the count; or JSON (schema
    /// `egress-guard.preflight/v1`).
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    format: Format,
}

/// What `preflight` is asked, checked.
pub struct Ask {
    request: Scope,
    format: Format,
}

impl Verb for Args {
    type Ask = Ask;

    fn validate(self) -> anyhow::Result<Ask> {
        let request = Request {
            regions: self.regions,
            member_accounts: self.member_accounts,
            role_name: self.remediation_role_name,
            function_concurrency: self.function_concurrency,
            security_hub: self.security_hub,
        }
        .validate()?;
        Ok(Ask { request, format: self.format })
    }

    /// Observes and reports. The home region is the one the function is deployed to (Lambda's quota is read there,
    /// member roles are assumed through its STS endpoint); without one, only when no reservation is checked, the
    /// first region asked stands in.
    async fn run(ask: Ask, aws: &Aws) -> anyhow::Result<u8> {
        let Ask { request, format } = ask;
        let home = match aws.region.clone().or_else(|| aws.clients.region()) {
            Some(home) => home,
            None if request.function_concurrency.is_some() => anyhow::bail!(
                "no region: --function-concurrency is checked against the home region's Lambda quota; pass --region or set AWS_REGION"
            ),
            None => request.regions[0].clone(),
        };
        let observations = aws.clients.preflight(&home).observe(&request).await;
        let report = Report::new(&request, &observations);
        match format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            _ => print!("{}", report.text()),
        }
        Ok(u8::try_from(report.exit_code()).unwrap_or(2))
    }
}
