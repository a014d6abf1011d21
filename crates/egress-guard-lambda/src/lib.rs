//! The egress-guard Lambda function as a library: its configuration, read once at init, and the handler
//! that turns one EventBridge event into the core's remediation flow.
#![forbid(unsafe_code)]

use std::future::Future;

use egress_guard_core::org::{self, Access, Home};
use egress_guard_core::{
    EventName, History, Notifier, Outcome, Ports, Response, SecurityGroups, Settings, SweepSummary, parse_value,
};
use lambda_runtime::Diagnostic;
use serde::Serialize;
use serde_json::Value;

/// The variable naming the SNS topic that receives notices.
pub const TOPIC_ARN_VAR: &str = "EGRESS_GUARD_TOPIC_ARN";
/// The variable naming the DynamoDB table of past revokes (repeat counts); unset or empty: no counts.
pub const HISTORY_TABLE_VAR: &str = "EGRESS_GUARD_HISTORY_TABLE";

/// Every variable the function reads, for the template check.
pub fn variables() -> Vec<&'static str> {
    let mut all = vec![TOPIC_ARN_VAR, HISTORY_TABLE_VAR];
    all.extend(egress_guard_core::settings::vars::ALL);
    all
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{variable} is not set: it must name the SNS topic that receives notices")]
    MissingSetting { variable: &'static str },
    #[error(
        "{variable}={value:?} is invalid: expected an SNS topic ARN, arn:<partition>:sns:<region>:<account>:<name>"
    )]
    InvalidTopicArn { variable: &'static str, value: String },
    #[error("{variable}={value:?} is invalid: expected a DynamoDB table name (3 to 255 of letters, digits, _ - .)")]
    InvalidTableName { variable: &'static str, value: String },
    #[error(transparent)]
    Core(#[from] egress_guard_core::Error),
}

/// What the function is configured with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub topic_arn: String,
    pub history_table: Option<String>,
    pub settings: Settings,
}

impl Config {
    /// Reads the configuration; `lookup` is `std::env::var` in production. Every error names its variable.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let topic_arn = lookup(TOPIC_ARN_VAR)
            .filter(|v| !v.trim().is_empty())
            .ok_or(Error::MissingSetting { variable: TOPIC_ARN_VAR })?;
        if !is_sns_topic_arn(&topic_arn) {
            return Err(Error::InvalidTopicArn {
                variable: TOPIC_ARN_VAR,
                value: topic_arn.chars().take(200).collect(),
            });
        }
        let history_table = lookup(HISTORY_TABLE_VAR).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        if let Some(table) = &history_table
            && !is_table_name(table)
        {
            return Err(Error::InvalidTableName {
                variable: HISTORY_TABLE_VAR,
                value: table.chars().take(300).collect(),
            });
        }
        Ok(Config { topic_arn, history_table, settings: Settings::from_vars(lookup)? })
    }

    pub fn from_env() -> Result<Config, Error> {
        Config::from_vars(|name| std::env::var(name).ok())
    }
}

/// A DynamoDB table name: 3 to 255 of letters, digits, `_`, `-` and `.`.
fn is_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

fn is_sns_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    matches!(parts.as_slice(), ["arn", partition, "sns", region, account, name]
        if partition.starts_with("aws")
            && !region.is_empty()
            && org::is_account_id(account)
            && !name.is_empty() && name.len() <= 256
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'))
}

/// What the function answers: an event's result, or a sweep's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Event(Response),
    Sweep(SweepSummary),
}

/// Where the function finds the security groups of an event's account and region.
pub trait Reach {
    type Groups: SecurityGroups + Sync;
    fn security_groups(&self, access: &Access, region: &str) -> impl Future<Output = Self::Groups> + Send;
}

impl Reach for egress_guard_aws::Fleet {
    type Groups = egress_guard_aws::Ec2SecurityGroups;
    fn security_groups(&self, access: &Access, region: &str) -> impl Future<Output = Self::Groups> + Send {
        egress_guard_aws::Fleet::security_groups(self, access, region)
    }
}

/// Handles one event: parse (no AWS call on bad input); refuse an account the function does not act in (no AWS
/// call either); then the core's flow in the event's account and region. A Scheduled Event runs the sweep, which
/// acts on another group only while `has_time()`. `home` is the function's own account, from its ARN.
pub async fn handle<R: Reach, N: Notifier, H: History>(
    event: Value,
    settings: &Settings,
    home: Option<&Home>,
    (reach, notifier, history): (&R, &N, &H),
    has_time: impl Fn() -> bool,
) -> Result<Answer, egress_guard_core::Error> {
    let trigger = parse_value(event).inspect_err(|err| tracing::warn!(error = %err, "rejected event"))?;
    tracing::info!(
        event_id = %trigger.event_id,
        event_name = trigger.event_name.as_str(),
        account = %trigger.account,
        region = %trigger.region,
        group_ids = ?trigger.group_ids,
        actor = trigger.actor.name(),
        "event received"
    );
    let access = match org::access(settings.organization.as_ref(), home, &trigger.account, &trigger.region) {
        Ok(access) => access,
        Err(reason) => return Ok(Answer::Event(egress_guard_core::refused(&trigger, reason))),
    };
    let groups = reach.security_groups(&access, &trigger.region).await;
    let ports = Ports { groups: &groups, notifier, history };
    let answer = if trigger.event_name == EventName::ScheduledSweep {
        egress_guard_core::sweep(&trigger, settings, ports, has_time).await.map(Answer::Sweep)
    } else {
        egress_guard_core::handle(&trigger, settings, ports).await.map(Answer::Event)
    };
    answer.inspect_err(|err| {
        let error_code = error_code(err).unwrap_or("-");
        tracing::error!(event_id = %trigger.event_id, error_code, error = %err, "remediation failed");
    })
}

/// The AWS error code behind a failure (`RequestLimitExceeded`, `AuthorizationError`, …), for the logs.
pub fn error_code(err: &egress_guard_core::Error) -> Option<&str> {
    use egress_guard_core::Error as E;
    match err {
        E::SecurityGroups { source, .. } | E::Notify { source, .. } | E::NotifySummary { source, .. } => {
            source.downcast_ref::<egress_guard_aws::Error>().map(egress_guard_aws::Error::code)
        }
        _ => None,
    }
}

/// One CloudWatch Embedded Metric Format line for an invocation: CloudWatch makes the metrics (namespace
/// `EgressGuard`, dimension `Trigger` = `event` or `sweep`) from the log line, with no PutMetricData call.
pub fn metrics_line(
    result: &Result<Answer, egress_guard_core::Error>,
    sweep: bool,
    duration_ms: f64,
    now_ms: u64,
) -> String {
    const OUTCOMES: [Outcome; 8] = [
        Outcome::Remediated,
        Outcome::Compliant,
        Outcome::Exempt,
        Outcome::DryRun,
        Outcome::GroupGone,
        Outcome::CallFailed,
        Outcome::VerificationFailed,
        Outcome::Refused,
    ];
    let mut counts = std::collections::BTreeMap::<String, f64>::new();
    let (mut revoked, mut repeats, mut split) = (0usize, 0usize, 0usize);
    match result {
        Ok(Answer::Event(r)) => {
            for report in &r.results {
                *counts.entry(report.outcome.as_str().to_owned()).or_default() += 1.0;
                let repeat = report.notice.as_ref().and_then(|n| n.repeat.as_ref()).and_then(|p| p.times());
                repeats += usize::from(repeat.is_some_and(|n| n >= 2));
                split += report.split_ranges.len();
                if matches!(report.outcome, Outcome::Remediated | Outcome::VerificationFailed | Outcome::GroupGone) {
                    revoked += report.revoked.len();
                }
            }
        }
        Ok(Answer::Sweep(s)) => {
            for (outcome, n) in &s.counts {
                *counts.entry(outcome.as_str().to_owned()).or_default() += *n as f64;
            }
            revoked = s.lines.iter().filter(|l| l.outcome != Outcome::DryRun).map(|l| l.revoked.len()).sum();
        }
        Err(_) => {}
    }
    let notice_failed =
        matches!(result, Err(egress_guard_core::Error::Notify { .. } | egress_guard_core::Error::NotifySummary { .. }));
    let mut metrics = Vec::new();
    let mut values = serde_json::Map::new();
    for outcome in OUTCOMES {
        let name = metric_name(outcome.as_str());
        values.insert(name.clone(), counts.get(outcome.as_str()).copied().unwrap_or(0.0).into());
        metrics.push(serde_json::json!({"Name": name, "Unit": "Count"}));
    }
    for (name, value, unit) in [
        ("Failed", f64::from(u8::from(result.is_err())), "Count"),
        ("RulesRevoked", revoked as f64, "Count"),
        ("NoticeFailures", f64::from(u8::from(notice_failed)), "Count"),
        ("Repeats", repeats as f64, "Count"),
        ("SplitRanges", split as f64, "Count"),
        ("Duration", duration_ms, "Milliseconds"),
    ] {
        values.insert(name.to_owned(), value.into());
        metrics.push(serde_json::json!({"Name": name, "Unit": unit}));
    }
    values.insert("Trigger".into(), if sweep { "sweep" } else { "event" }.into());
    values.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{"Namespace": "EgressGuard", "Dimensions": [["Trigger"]], "Metrics": metrics}],
        }),
    );
    Value::Object(values).to_string()
}

/// `dry_run` -> `DryRun`.
fn metric_name(outcome: &str) -> String {
    outcome.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}

/// The Lambda error type, chosen on purpose: a bad event, an AWS failure worth retrying, or an undelivered notice
/// (whose message carries the whole notice, so that the on-failure destination holds it).
pub fn diagnostic(err: egress_guard_core::Error) -> Diagnostic {
    use egress_guard_core::Error as E;
    let error_type = match &err {
        E::Notify { .. } | E::NotifySummary { .. } => "EgressGuard.NoticeUndelivered",
        E::SecurityGroups { .. } => "EgressGuard.Ec2Failed",
        e if e.is_bad_input() => "EgressGuard.BadEvent",
        _ => "EgressGuard.Failed",
    };
    Diagnostic { error_type: error_type.to_owned(), error_message: err.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_vars(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:egress-guard";

    #[test]
    fn reads_topic_and_settings() {
        let c = config(&[(TOPIC_ARN_VAR, TOPIC), ("EGRESS_GUARD_DRY_RUN", "true")]).unwrap();
        assert_eq!(c.topic_arn, TOPIC);
        assert!(c.settings.dry_run);
    }

    #[test]
    fn missing_topic_names_the_variable() {
        let err = config(&[]).unwrap_err().to_string();
        assert!(err.contains(TOPIC_ARN_VAR), "{err}");
    }

    #[test]
    fn topic_that_is_not_an_arn_names_the_variable() {
        for bad in [
            "my-topic",
            "arn:aws:sqs:eu-west-1:123456789012:q",
            "arn:aws:sns:eu-west-1:1234:t",
            "arn:aws:sns:eu-west-1:123456789012:",
        ] {
            let err = config(&[(TOPIC_ARN_VAR, bad)]).unwrap_err().to_string();
            assert!(err.contains(TOPIC_ARN_VAR), "{bad}: {err}");
        }
        assert!(config(&[(TOPIC_ARN_VAR, "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t.fifo")]).is_ok());
    }

    #[test]
    fn history_table_is_optional_and_checked() {
        assert_eq!(config(&[(TOPIC_ARN_VAR, TOPIC)]).unwrap().history_table, None);
        let c = config(&[(TOPIC_ARN_VAR, TOPIC), (HISTORY_TABLE_VAR, "egress-guard-History-1A2B")]).unwrap();
        assert_eq!(c.history_table.as_deref(), Some("egress-guard-History-1A2B"));
        let err = config(&[(TOPIC_ARN_VAR, TOPIC), (HISTORY_TABLE_VAR, "no spaces")]).unwrap_err().to_string();
        assert!(err.contains(HISTORY_TABLE_VAR), "{err}");
    }

    #[test]
    fn bad_setting_names_its_variable() {
        let err =
            config(&[(TOPIC_ARN_VAR, TOPIC), ("EGRESS_GUARD_ALLOWED_PORTS", "tcp:99999")]).unwrap_err().to_string();
        assert!(err.contains("EGRESS_GUARD_ALLOWED_PORTS"), "{err}");
    }

    #[test]
    fn bad_event_is_typed_as_such() {
        let d = diagnostic(egress_guard_core::Error::MissingField("detail"));
        assert_eq!(d.error_type, "EgressGuard.BadEvent");
    }
}
