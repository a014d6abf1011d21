//! A sweep report as a person reads it: its header (where, how far it got, its outcomes, its watch, missed events),
//! a line per group, the report in numbered parts that each fit SNS, and the report as one message.

use crate::history::Since;
use crate::notify::chat::Card;
use crate::notify::message::{MAX_SUBJECT_CHARS, Message, one_line};
use crate::notify::parts::{Part, mode, pack};
use crate::notify::report::{SweepLine, SweepReport};
use crate::outcome::Outcome;
use crate::trigger::TriggerKind;
use crate::watch::Watch;

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
    pub fn parts(&self, max_bytes: usize) -> Vec<Part> {
        let texts = pack(&self.header(), self.lines.iter().map(|line| self.line_text(line)), max_bytes);
        Part::numbered(&Message::subject(self), &self.attributes(), "sweep", texts)
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
            (mode(self.paused.is_some(), true), format!("{n} group(s) would lose open egress{needed}"))
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
