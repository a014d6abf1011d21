//! The function's configuration, read once at init from its environment: the topic, the history table and the
//! core's settings. Every error names its variable.

use egress_guard_aws::Integrations;
use egress_guard_core::Settings;
use egress_guard_core::model::is_account_id;

use crate::error::Error;

/// The variable naming the SNS topic that receives notices.
pub const TOPIC_ARN_VAR: &str = "EGRESS_GUARD_TOPIC_ARN";
/// The variable naming the DynamoDB table of past revokes (repeat counts); unset or empty: no counts.
pub const HISTORY_TABLE_VAR: &str = "EGRESS_GUARD_HISTORY_TABLE";

/// The variable naming the regions the function guards, comma-separated; unset or empty: its own region only.
pub const REGIONS_VAR: &str = "EGRESS_GUARD_REGIONS";
/// The variable naming the SQS queue a Scheduled Event fans out to, one message per (account, region); unset or
/// empty: a Scheduled Event sweeps the function's own account and region itself.
pub const SWEEP_QUEUE_VAR: &str = "EGRESS_GUARD_SWEEP_QUEUE_URL";

/// The variable that turns Security Hub findings on (`true`/`false`; unset: off).
pub const SECURITY_HUB_VAR: &str = "EGRESS_GUARD_SECURITY_HUB";
/// The variable naming the event bus each outcome is put on (`default`); unset or empty: no events.
pub const EVENT_BUS_VAR: &str = "EGRESS_GUARD_EVENT_BUS";

/// Every variable the function reads, for the template check.
pub fn variables() -> Vec<&'static str> {
    let mut all = vec![TOPIC_ARN_VAR, HISTORY_TABLE_VAR, REGIONS_VAR, SWEEP_QUEUE_VAR, SECURITY_HUB_VAR, EVENT_BUS_VAR];
    all.extend(egress_guard_core::settings::vars::ALL);
    all
}

/// What the function is configured with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub topic_arn: String,
    pub history_table: Option<String>,
    /// The regions a sweep covers (empty: the function's own).
    pub regions: Vec<String>,
    pub sweep_queue_url: Option<String>,
    /// Where notices also go: Security Hub, an event bus.
    pub integrations: Integrations,
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
        let regions: Vec<String> = lookup(REGIONS_VAR)
            .unwrap_or_default()
            .split(',')
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        if let Some(bad) = regions.iter().find(|r| !egress_guard_core::org::is_region(r)) {
            return Err(Error::InvalidRegion { variable: REGIONS_VAR, value: bad.chars().take(64).collect() });
        }
        let sweep_queue_url = lookup(SWEEP_QUEUE_VAR).map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
        if let Some(url) = &sweep_queue_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(Error::InvalidQueueUrl { variable: SWEEP_QUEUE_VAR, value: url.chars().take(300).collect() });
        }
        let security_hub = match lookup(SECURITY_HUB_VAR).unwrap_or_default().trim().to_ascii_lowercase().as_str() {
            "" | "false" => false,
            "true" => true,
            other => {
                return Err(Error::InvalidFlag { variable: SECURITY_HUB_VAR, value: other.chars().take(64).collect() });
            }
        };
        let event_bus = lookup(EVENT_BUS_VAR).map(|b| b.trim().to_owned()).filter(|b| !b.is_empty());
        if let Some(bus) = &event_bus
            && !is_bus_name(bus)
        {
            return Err(Error::InvalidBusName { variable: EVENT_BUS_VAR, value: bus.chars().take(300).collect() });
        }
        let integrations = Integrations { security_hub, event_bus };
        Ok(Config {
            topic_arn,
            history_table,
            regions,
            sweep_queue_url,
            integrations,
            settings: Settings::from_vars(lookup)?,
        })
    }

    pub fn from_env() -> Result<Config, Error> {
        Config::from_vars(|name| std::env::var(name).ok())
    }
}

/// An event bus name (1 to 256 of letters, digits, `.`, `-`, `_`, `/`) or ARN.
fn is_bus_name(name: &str) -> bool {
    (1..=1600).contains(&name.len())
        && (name.starts_with("arn:")
            || (name.len() <= 256 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))))
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
            && is_account_id(account)
            && !name.is_empty() && name.len() <= 256
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'))
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
    fn regions_and_sweep_queue_are_optional_and_checked() {
        let c = config(&[(TOPIC_ARN_VAR, TOPIC)]).unwrap();
        assert!(c.regions.is_empty() && c.sweep_queue_url.is_none());
        let queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/sweeps";
        let c = config(&[(TOPIC_ARN_VAR, TOPIC), (REGIONS_VAR, "eu-west-1, us-east-1,"), (SWEEP_QUEUE_VAR, queue)])
            .unwrap();
        assert_eq!(c.regions, ["eu-west-1", "us-east-1"]);
        assert_eq!(c.sweep_queue_url.as_deref(), Some(queue));
        let err = config(&[(TOPIC_ARN_VAR, TOPIC), (REGIONS_VAR, "eu-west-1,Mars 1")]).unwrap_err().to_string();
        assert!(err.contains(REGIONS_VAR) && err.contains("Mars 1"), "{err}");
        let err = config(&[(TOPIC_ARN_VAR, TOPIC), (SWEEP_QUEUE_VAR, "sweeps")]).unwrap_err().to_string();
        assert!(err.contains(SWEEP_QUEUE_VAR), "{err}");
    }

    #[test]
    fn outlets_are_off_unless_asked_and_checked() {
        let c = config(&[(TOPIC_ARN_VAR, TOPIC)]).unwrap();
        assert_eq!(c.integrations, Integrations::default());
        let c = config(&[(TOPIC_ARN_VAR, TOPIC), (SECURITY_HUB_VAR, "TRUE"), (EVENT_BUS_VAR, "default")]).unwrap();
        assert_eq!(c.integrations, Integrations { security_hub: true, event_bus: Some("default".into()) });
        let err = config(&[(TOPIC_ARN_VAR, TOPIC), (SECURITY_HUB_VAR, "yes")]).unwrap_err().to_string();
        assert!(err.contains(SECURITY_HUB_VAR) && err.contains("yes"), "{err}");
        let err = config(&[(TOPIC_ARN_VAR, TOPIC), (EVENT_BUS_VAR, "my bus")]).unwrap_err().to_string();
        assert!(err.contains(EVENT_BUS_VAR), "{err}");
    }

    #[test]
    fn bad_setting_names_its_variable() {
        let err =
            config(&[(TOPIC_ARN_VAR, TOPIC), ("EGRESS_GUARD_ALLOWED_PORTS", "tcp:99999")]).unwrap_err().to_string();
        assert!(err.contains("EGRESS_GUARD_ALLOWED_PORTS"), "{err}");
    }
}
