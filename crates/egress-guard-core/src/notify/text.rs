//! Text: a notice and a sweep report as a person reads them (an SNS subject, a body, filterable attributes,
//! the chat card), and a notice as JSON. The data is in `notice` and `report`.

use crate::evaluate::{Disposition, Exemption, FindingKind};
use crate::history::{Repeat, Since};
use crate::model::EgressRule;
use crate::notify::chat::Card;
use crate::notify::message::{Message, one_line};
use crate::notify::notice::Notice;
use crate::notify::report::{SweepLine, SweepReport};
use crate::outcome::Outcome;
use crate::trigger::TriggerKind;
use crate::watch::Watch;

/// SNS documents a subject as ASCII, no line breaks, "must be less than 100 characters": 99 at the most.
pub const MAX_SUBJECT_CHARS: usize = 99;

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
            Outcome::DryRun if self.paused.is_some() => {
                format!("[paused] Would revoke {n} open egress {rules} on {} ({})", g.id, g.name)
            }
            Outcome::DryRun => format!("[dry run] Would revoke {n} open egress {rules} on {} ({})", g.id, g.name),
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
        let mut out = String::new();
        let g = &self.group;
        let headline = match self.outcome {
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
        };
        out.push_str(&headline);
        out.push_str("\n\n");
        if let Some(paused) = &self.paused {
            out.push_str(&format!("{paused}\n\n"));
        }
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
        out.push('\n');
        out.push_str(&self.rules_table());
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

impl SweepReport {
    fn header(&self) -> String {
        let stopped = match &self.stopped_at {
            Some(group) => format!(" (stopped early at {group}: time ran short; the next sweep takes up from there)"),
            None if !self.complete => " (stopped early: time ran short; the next sweep starts again)".to_owned(),
            None => String::new(),
        };
        let mut out = self.paused.as_ref().map(|p| format!("{p}\n\n")).unwrap_or_default();
        out.push_str(&format!(
            "The scheduled sweep of account {} in {} checked {} of {} security groups{stopped}.\n",
            self.account, self.region, self.groups_checked, self.groups_total,
        ));
        let counts: Vec<String> = self.counts.iter().map(|(o, n)| format!("{} {n}", o.as_str())).collect();
        out.push_str(&format!("Outcomes: {}\n", counts.join(", ")));
        if let Some(watch) = &self.watch {
            out.push_str(&watch_text(watch, &self.region));
        }
        let missed = self.lines.iter().filter(|l| l.missed()).count();
        if missed > 0 {
            out.push_str(&format!(
                "MISSED: {missed} group(s) changed since egress-guard last looked and no event closed them: events are \
                 being missed (is the trail logging management events in {}?).\n",
                self.region
            ));
        }
        out
    }

    pub(crate) fn line_text(&self, line: &SweepLine) -> String {
        let mut out = format!("\n{} \"{}\": {}\n", line.group_id, line.group_name, line.outcome.as_str());
        let since = match line.since {
            Some(Since::Baseline) => Some("open before egress-guard's first sweep of this region"),
            Some(Since::Reported) => Some("already reported, unchanged"),
            Some(Since::Changed) if line.missed() => {
                Some("MISSED: changed since egress-guard last looked and no event closed it")
            }
            Some(Since::Changed) => Some("new since egress-guard last looked"),
            Some(Since::Unknown) => Some("whether an event was missed is unknown: the history could not be read"),
            None => None,
        };
        if let Some(since) = since {
            out.push_str(&format!("  {since}\n"));
        }
        for r in &line.revoked {
            out.push_str(&format!("  {} {r}\n", if self.dry_run { "would revoke" } else { "revoked" }));
        }
        let open = if line.outcome == Outcome::Exempt { "OPEN (exempt)" } else { "STILL OPEN" };
        for r in &line.still_open {
            out.push_str(&format!("  {open} {r}\n"));
        }
        if let Some(reason) = &line.reason {
            let label = if line.outcome == Outcome::Exempt { "exempt" } else { "error" };
            out.push_str(&format!("  {label}: {reason}\n"));
        }
        if let Some(undo) = &line.undo_command {
            out.push_str(&format!("  undo: {undo}\n"));
        }
        out
    }

    /// The report's message in numbered parts of at most `max_bytes` of text each: the header in every part, the
    /// group lines shared out between them, never split.
    pub fn parts(&self, max_bytes: usize) -> Vec<SweepPart<'_>> {
        let header = self.header();
        let mut texts = vec![header.clone()];
        for line in &self.lines {
            let text = self.line_text(line);
            let current = texts.last_mut().expect("one part at least");
            if current.len() + text.len() > max_bytes && current.len() > header.len() {
                texts.push(header.clone() + &text);
            } else {
                current.push_str(&text);
            }
        }
        let total = texts.len();
        texts.into_iter().enumerate().map(|(i, text)| SweepPart { report: self, number: i + 1, total, text }).collect()
    }
}

/// One numbered part of a sweep report, as published.
#[derive(Debug)]
pub struct SweepPart<'a> {
    report: &'a SweepReport,
    number: usize,
    total: usize,
    text: String,
}

impl Message for SweepPart<'_> {
    fn subject(&self) -> String {
        match self.total {
            1 => self.report.subject(),
            total => one_line(&format!("[{}/{total}] {}", self.number, self.report.subject()), MAX_SUBJECT_CHARS),
        }
    }

    fn text(&self) -> String {
        self.text.clone()
    }

    fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut attributes = self.report.attributes();
        attributes.push(("part", format!("{}/{}", self.number, self.total)));
        attributes
    }

    fn chat(&self) -> String {
        Card::plain(&self.subject(), &self.text, "sweep").to_json()
    }
}

impl Message for SweepReport {
    fn subject(&self) -> String {
        let action = self.count(Outcome::VerificationFailed) + self.count(Outcome::RevokeFailed);
        let needed = if action > 0 { format!(", ACTION NEEDED on {action}") } else { String::new() };
        // A blind region first: its changes are not seen, whatever the sweep found.
        let blind = self.watch.as_ref().and_then(|w| w.blind.as_deref()).map(|why| format!("BLIND ({why})"));
        let (mode, found) = if self.dry_run {
            let n = self.count(Outcome::DryRun);
            let mode = if self.paused.is_some() { " [paused]" } else { " [dry run]" };
            (mode, format!("{n} group(s) would lose open egress{needed}"))
        } else {
            ("", format!("revoked open egress on {} group(s){needed}", self.count(Outcome::Remediated)))
        };
        let head = match (&blind, self.acted()) {
            (Some(blind), 0) => format!("egress-guard sweep: {blind}"),
            (Some(blind), _) => format!("egress-guard sweep{mode}: {blind}, {found}"),
            (None, _) => format!("egress-guard sweep{mode}: {found}"),
        };
        // Where it is, always whole: the head is cut to leave room for it.
        let tail = one_line(&format!(" - {} {}", self.account, self.region), MAX_SUBJECT_CHARS / 2);
        format!("{}{tail}", one_line(&head, MAX_SUBJECT_CHARS - tail.len()))
    }

    fn text(&self) -> String {
        let mut out = self.header();
        for line in &self.lines {
            out.push_str(&self.line_text(line));
        }
        out
    }

    fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![
            ("outcome", "sweep".to_owned()),
            ("account", self.account.clone()),
            ("region", self.region.clone()),
            ("dry_run", self.dry_run.to_string()),
            ("trigger", TriggerKind::Sweep.as_str().to_owned()),
        ]
    }

    fn chat(&self) -> String {
        Card::plain(&Message::subject(self), &Message::text(self), "sweep").to_json()
    }
}

/// The report's watch lines: `BLIND` and why, with the fix, or what the region is seen by; what could not be read.
fn watch_text(watch: &Watch, region: &str) -> String {
    let mut out = match &watch.blind {
        Some(why) => format!(
            "BLIND ({why}): changes in {region} are not seen, so nothing revokes them until the next sweep.\n  trail: {}\n",
            watch.trail
        ),
        None => format!("Watch: {}\n", watch.trail),
    };
    if let Some(rule) = &watch.rule {
        out.push_str(&format!("  rule: {rule}\n"));
    }
    for unread in &watch.unread {
        out.push_str(&format!("  not read: {unread}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_cuts_long_text_and_folds_breaks() {
        let long = format!("a\nb{}", "x".repeat(200));
        let line = one_line(&long, MAX_SUBJECT_CHARS);
        assert_eq!(line.len(), 99);
        assert!(line.starts_with("a b") && line.ends_with("..."), "{line}");
    }

    #[test]
    fn one_line_is_printable_ascii_whatever_the_input() {
        let line = one_line("caf\u{e9} \u{2026}\ttab\u{7f}", MAX_SUBJECT_CHARS);
        assert_eq!(line, "caf? ? tab ");
        assert!(line.bytes().all(|b| (b' '..=b'~').contains(&b)));
    }
}
