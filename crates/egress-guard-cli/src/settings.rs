//! The Lambda's settings as flags, under its environment variables' names, each group only in the verbs that use it:
//! `RuleArgs` (what counts as open, exempt or allowed: `audit`), `SettingsArgs` (those, `--dry-run` and
//! `--notify-compliant`: the verbs that run the Lambda's flow) and `DryRunArgs` alone (the verbs that change
//! something else: the kill switch, restored rules, the canary).

use egress_guard_core::Settings;
use egress_guard_core::settings::vars;

/// `--dry-run`, or `EGRESS_GUARD_DRY_RUN`.
#[derive(Debug, clap::Args)]
pub struct DryRunArgs {
    /// Say what would be done, and change nothing.
    #[arg(long, env = vars::DRY_RUN)]
    pub dry_run: bool,
}

/// The settings that decide what is open, exempt or allowed, and what is revoked.
#[derive(Debug, clap::Args)]
pub struct RuleArgs {
    /// Tag key that exempts a group (default egress-guard:exempt; empty: none).
    #[arg(long, env = vars::EXEMPT_TAG_KEY)]
    exempt_tag_key: Option<String>,
    /// Comma-separated group ids left alone.
    #[arg(long, env = vars::EXEMPT_GROUP_IDS)]
    exempt_group_ids: Option<String>,
    /// Accepted open egress, e.g. tcp:443,udp:53.
    #[arg(long, env = vars::ALLOWED_PORTS)]
    allowed_ports: Option<String>,
    /// Also revoke open ICMP and other protocols.
    #[arg(long, env = vars::REVOKE_OTHER_PROTOCOLS)]
    revoke_other_protocols: bool,
    /// Also revoke split ranges: CIDRs that add up to all of IPv4 or IPv6, none of them /0 (reported by default).
    #[arg(long, env = vars::REVOKE_SPLIT_RANGES)]
    revoke_split_ranges: bool,
}

impl RuleArgs {
    /// The Lambda's parser, fed from these flags: the others take their defaults.
    pub fn settings(&self) -> Result<Settings, egress_guard_core::Error> {
        Settings::from_vars(|name| self.var(name))
    }

    /// The value of the variable `name` as these flags give it.
    fn var(&self, name: &str) -> Option<String> {
        let flag = |on: bool| Some(on.to_string());
        match name {
            vars::EXEMPT_TAG_KEY => self.exempt_tag_key.clone(),
            vars::EXEMPT_GROUP_IDS => self.exempt_group_ids.clone(),
            vars::ALLOWED_PORTS => self.allowed_ports.clone(),
            vars::REVOKE_OTHER_PROTOCOLS => flag(self.revoke_other_protocols),
            vars::REVOKE_SPLIT_RANGES => flag(self.revoke_split_ranges),
            _ => None,
        }
    }
}

/// The Lambda's settings, for the verbs that run its flow.
#[derive(Debug, clap::Args)]
pub struct SettingsArgs {
    #[command(flatten)]
    dry_run: DryRunArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// Also report compliant and exempt groups.
    #[arg(long, env = vars::NOTIFY_COMPLIANT)]
    notify_compliant: bool,
}

impl SettingsArgs {
    /// The same parser as the Lambda's, fed from the flags.
    pub fn settings(&self) -> Result<Settings, egress_guard_core::Error> {
        let flag = |on: bool| Some(on.to_string());
        Settings::from_vars(|name| match name {
            vars::DRY_RUN => flag(self.dry_run.dry_run),
            vars::NOTIFY_COMPLIANT => flag(self.notify_compliant),
            _ => self.rules.var(name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{RuleArgs, SettingsArgs};
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Run {
        #[command(flatten)]
        settings: SettingsArgs,
    }

    #[derive(Debug, Parser)]
    struct Audit {
        #[command(flatten)]
        rules: RuleArgs,
    }

    #[test]
    fn the_flags_become_the_lambdas_settings() {
        let run = Run::try_parse_from(["run", "--dry-run", "--allowed-ports", "tcp:443", "--exempt-tag-key", ""]);
        let settings = run.unwrap().settings.settings().unwrap();
        assert!(settings.dry_run);
        assert_eq!(settings.allowed.len(), 1);
        assert_eq!(settings.exempt_tag_key, None, "an empty key exempts nothing");
    }

    #[test]
    fn a_bad_setting_names_its_variable() {
        let audit = Audit::try_parse_from(["audit", "--exempt-group-ids", "sg-nope"]).unwrap();
        let err = audit.rules.settings().unwrap_err().to_string();
        assert!(err.contains("EGRESS_GUARD_EXEMPT_GROUP_IDS"), "{err}");
    }

    #[test]
    fn the_rules_alone_take_no_dry_run() {
        assert!(Audit::try_parse_from(["audit", "--dry-run"]).is_err());
    }
}
