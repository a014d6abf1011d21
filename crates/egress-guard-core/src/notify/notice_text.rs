//! A group's notice as a person reads it (an SNS subject, a body, filterable attributes, the chat card), and as JSON.
//! The data is in `notice`.

use crate::evaluate::{Disposition, Exemption, FindingKind};
use crate::history::Repeat;
use crate::model::EgressRule;
use crate::notify::chat::Card;
use crate::notify::message::{MAX_SUBJECT_CHARS, Message, one_line};
use crate::notify::notice::Notice;
use crate::notify::parts::mode;
use crate::outcome::Outcome;
use crate::trigger::TriggerKind;

impl Message for Notice {
    fn subject(&self) -> String {
        Notice::subject(self)
    }

    fn text(&self) -> String {
        Notice::text(self)
    }

    fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![
            ("outcome", self.outcome.as_str().to_owned()),
            ("group_id", self.group.id.clone()),
            ("account", self.account.clone()),
            ("region", self.region.clone()),
            ("dry_run", self.dry_run.to_string()),
            ("trigger", TriggerKind::Event.as_str().to_owned()),
            ("split_ranges", self.split_ranges.len().to_string()),
            ("repeat", self.repeat.as_ref().map_or("not_kept", Repeat::attribute).to_owned()),
            ("revocations_in_window", self.repeat.as_ref().and_then(Repeat::times).unwrap_or(0).to_string()),
            ("caller", self.caller.as_ref().map_or("none", |c| c.kind.as_str()).to_owned()),
        ]
    }

    fn chat(&self) -> String {
        Card::of(self).to_json()
    }
}

impl Notice {
    /// One line of at most 99 printable ASCII characters: fit for an SNS subject and a phone's lock screen.
    pub fn subject(&self) -> String {
        let g = &self.group;
        let n = self.revoked.len();
        let rules = if n == 1 { "rule" } else { "rules" };
        let text = match self.outcome {
            Outcome::Remediated => format!("Revoked {n} open egress {rules} on {} ({})", g.id, g.name),
            Outcome::DryRun => {
                let mode = mode(self.paused.is_some(), true).trim_start();
                format!("{mode} Would revoke {n} open egress {rules} on {} ({})", g.id, g.name)
            }
            Outcome::VerificationFailed => format!("ACTION NEEDED: {} ({}) still has open egress", g.id, g.name),
            Outcome::GroupGone => format!("Revoked {n} open egress {rules}, then {} was deleted", g.id),
            Outcome::Exempt => format!("Exempt {} ({}) has open egress", g.id, g.name),
            Outcome::Compliant if !self.split_ranges.is_empty() => {
                format!("{} ({}) egress adds up to the whole Internet (not revoked)", g.id, g.name)
            }
            Outcome::Compliant => format!("{} ({}) egress is compliant", g.id, g.name),
            Outcome::CallFailed => format!("{}: failed call, nothing to do", g.id),
            Outcome::Refused => format!("{}: event refused, nothing to do", g.id),
            Outcome::AlreadyRemediated => format!("{} ({}) was already remediated", g.id, g.name),
            Outcome::RevokeFailed => format!("ACTION NEEDED: revoke failed on {} ({})", g.id, g.name),
        };
        let text = match self.repeat.as_ref().and_then(Repeat::times) {
            Some(times) if times >= 2 && self.outcome == Outcome::Remediated => {
                format!("egress-guard: REPEAT x{times}, revoked {n} {rules} on {} ({}) - {}", g.id, g.name, self.region)
            }
            Some(times) if times >= 2 => format!("egress-guard: REPEAT x{times}: {text} - {}", self.region),
            _ => format!("egress-guard: {text} - {}", self.region),
        };
        one_line(&text, MAX_SUBJECT_CHARS)
    }

    /// The body a person reads: headline, where, who, the rules before and after, and the undo command.
    pub fn text(&self) -> String {
        let mut out = self.headline();
        out.push_str("\n\n");
        if let Some(paused) = &self.paused {
            out.push_str(&format!("{paused}\n\n"));
        }
        out.push_str(&self.facts());
        out.push('\n');
        out.push_str(&self.rules_table());
        out.push_str(&self.aftermath());
        out.push_str(
            "\nWhy: EC2-033 says a security group must not allow outbound traffic to 0.0.0.0/0 or ::/0. \
             Allow only the destinations the workload needs",
        );
        out.push_str(&match &self.exemption {
            Some(_) => ".\n".to_owned(),
            None => ", or tag the group to exempt it.\n".to_owned(),
        });
        out
    }

    /// The first line: what egress-guard did, or would do, to the group.
    fn headline(&self) -> String {
        let g = &self.group;
        match self.outcome {
            Outcome::Remediated => format!(
                "egress-guard REVOKED {} egress {} of {} that allowed traffic to the whole Internet.",
                self.revoked.len(),
                plural(self.revoked.len(), "rule", "rules"),
                g.id
            ),
            Outcome::DryRun => format!(
                "DRY RUN: egress-guard WOULD REVOKE {} egress {} of {}. Nothing was changed.",
                self.revoked.len(),
                plural(self.revoked.len(), "rule", "rules"),
                g.id
            ),
            Outcome::VerificationFailed => format!(
                "ACTION NEEDED: egress-guard revoked {} rule(s) of {}, but the group is still open to the Internet.",
                self.revoked.len(),
                g.id
            ),
            Outcome::GroupGone => format!(
                "egress-guard revoked {} rule(s) of {}; the group was deleted before it could be re-read.",
                self.revoked.len(),
                g.id
            ),
            Outcome::Exempt => format!("{} is exempt ({}); nothing was changed.", g.id, self.exemption_reason()),
            Outcome::Compliant if !self.split_ranges.is_empty() => format!(
                "{} has no 0.0.0.0/0 or ::/0 egress, but {} of its rules add up to the whole Internet \
                 (effectively unrestricted); they were not revoked.",
                g.id,
                self.split_ranges.len()
            ),
            Outcome::Compliant => format!("{} has no unrestricted egress; nothing was changed.", g.id),
            Outcome::CallFailed => format!("The call on {} failed; nothing was changed.", g.id),
            Outcome::Refused => format!("The event on {} was refused; nothing was read or changed.", g.id),
            Outcome::AlreadyRemediated => format!(
                "The open egress of {} was already revoked (by a concurrent invocation, or this event delivered \
                 twice); nothing was changed.",
                g.id
            ),
            Outcome::RevokeFailed => {
                format!(
                    "ACTION NEEDED: egress-guard could not revoke the open egress of {}; nothing was changed.",
                    g.id
                )
            }
        }
    }

    /// Where the group is, who changed it and when, how long it was open, its owner and its repeats.
    fn facts(&self) -> String {
        let g = &self.group;
        let mut out = String::new();
        let vpc = g.vpc_id.as_deref().unwrap_or("-");
        let c = &self.cause;
        let mut from = Vec::new();
        from.extend(c.actor.source_ip.as_deref());
        from.extend(c.actor.user_agent.as_deref());
        out.push_str(&format!("Group    {} \"{}\"\n", g.id, g.name));
        out.push_str(&format!("VPC      {vpc}\n"));
        out.push_str(&format!("Account  {}  Region {}\n", self.account, self.region));
        out.push_str(&format!("Changed  by {}\n", c.actor.name()));
        if !from.is_empty() {
            out.push_str(&format!("         from {}\n", from.join(", ")));
        }
        out.push_str(&format!("         at {} ({}, event {})\n", c.event_time, c.event_name.as_str(), c.event_id));
        if let Some(exposed) = self.exposure_line() {
            out.push_str(&format!("{exposed}\n"));
        }
        if let Some(caller) = &self.caller {
            out.push_str(&format!("Owner    {}\n", caller.line));
        }
        if let Some(repeat) = &self.repeat {
            out.push_str(&format!("Repeat   {}\n", repeat.line()));
        }
        out
    }

    /// What else the reader must know: a revoke refused or stopped midway, a re-read that failed, split ranges, the
    /// undo command, the observed egress.
    fn aftermath(&self) -> String {
        let mut out = String::new();
        if let (Some(err), Outcome::RevokeFailed) = (&self.revoke_error, self.outcome) {
            out.push_str(&format!("\nThe revoke was refused; nothing was removed: {err}\n"));
        } else if let Some(err) = &self.revoke_error {
            out.push_str(&format!(
                "\nThe revoke stopped with an error after removing the rules marked REVOKED: {err}\n"
            ));
        }
        if let Some(err) = &self.verify_error {
            out.push_str(&format!("\nThe group could not be re-read to verify the revoke: {err}\n"));
        }
        if !self.split_ranges.is_empty() {
            let revoked = self.split_ranges.iter().any(|r| self.revoked.iter().any(|v| v.same_traffic(r)));
            out.push_str(&format!(
                "\nEffectively unrestricted: {} add up to all of IPv4 or IPv6 for their traffic, though none is \
                 0.0.0.0/0 or ::/0. {}\n",
                self.split_ranges.iter().map(|r| r.destination.to_string()).collect::<Vec<_>>().join(" + "),
                if revoked {
                    "They were revoked (EGRESS_GUARD_REVOKE_SPLIT_RANGES)."
                } else {
                    "They were not revoked: EC2-033 names only /0; set EGRESS_GUARD_REVOKE_SPLIT_RANGES=true to revoke them."
                }
            ));
        }
        if let Some(undo) = &self.undo_command {
            out.push_str(&format!(
                "\nTo undo (restores exactly what was revoked; run it in account {}):\n",
                self.account
            ));
            out.push_str(undo);
            out.push('\n');
        }
        if let Some(observed) = &self.observed_egress {
            out.push('\n');
            out.push_str(&observed.text());
        }
        out
    }

    /// The notice as JSON, for machines.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|err| serde_json::json!({ "error": err.to_string() }).to_string())
    }

    fn exemption_reason(&self) -> String {
        self.exemption.as_ref().map(Exemption::reason).unwrap_or_default()
    }

    /// Before and after side by side: one line per rule with what became of it.
    fn rules_table(&self) -> String {
        let mut rows: Vec<(String, String, String)> = Vec::new();
        for rule in &self.before {
            let has = |list: &[EgressRule]| list.iter().any(|r| r.same_traffic(rule));
            let state = if has(&self.still_open) {
                "STILL OPEN".to_owned()
            } else if has(&self.revoked) {
                if self.dry_run { "would revoke" } else { "REVOKED" }.to_owned()
            } else if let Some(f) = self.kept_open.iter().find(|f| f.rule.same_traffic(rule)) {
                match &f.disposition {
                    Disposition::Allowed { entry } => format!("open, allowed ({entry})"),
                    Disposition::ReportOnly if f.kind == FindingKind::Split => "SPLIT RANGE, not revoked".to_owned(),
                    Disposition::ReportOnly => "open, not revoked (protocol)".to_owned(),
                    Disposition::Exempt => "open, exempt".to_owned(),
                    Disposition::Revoke => "open".to_owned(),
                }
            } else {
                "kept".to_owned()
            };
            rows.push((rule.traffic(), rule.destination.to_string(), state));
        }
        for rule in &self.after {
            if !self.before.iter().any(|r| r.same_traffic(rule)) {
                let state = if self.still_open.iter().any(|r| r.same_traffic(rule)) {
                    "ADDED, STILL OPEN"
                } else {
                    "added since"
                };
                rows.push((rule.traffic(), rule.destination.to_string(), state.to_owned()));
            }
        }
        let mut out = String::from("Egress rules, before -> after:\n");
        if rows.is_empty() {
            out.push_str("  (none)\n");
        }
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
        for (traffic, dest, state) in rows {
            out.push_str(&format!("  {traffic:<w0$}  {dest:<w1$}  {state}\n"));
        }
        let removed_everything = !self.before.is_empty() && self.after.is_empty() && self.verify_error.is_none();
        if removed_everything && matches!(self.outcome, Outcome::Remediated | Outcome::DryRun) {
            out.push_str("  The group has no egress rule left: it can send no traffic until one is added.\n");
        }
        out
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}
