//! A schedule's one digest: every (account, region) sweep of a scheduled fan-out in one message (numbered parts only
//! where SNS's size requires), sent by the last sweep to finish. It details what changed since egress-guard last
//! reported it (revokes, failures, new or changed open egress, missed events) and counts what it already reported
//! (open egress left alone in a dry run, a pause or an exemption), which stays in each sweep's JSON, the metrics and
//! Security Hub.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::history::Since;
use crate::notify::message::{MAX_SUBJECT_CHARS, cut, one_line};
use crate::notify::parts::{Part, mode, pack};
use crate::notify::report::{SweepLine, SweepReport};
use crate::outcome::Outcome;

/// Lines one sweep keeps in detail for the digest (each about 500 bytes, so that its share stays far below a
/// DynamoDB item's 400 KB); past them the digest counts them, and each is in the sweep's log line and `undo`.
pub const MAX_DETAILED_LINES: usize = 300;

/// Failed sweeps named in the digest's header, which every part repeats; past them, counted.
pub const MAX_FAILURES_NAMED: usize = 20;

/// One sweep's share of the digest: its report with only the lines to detail, and how many it leaves out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestPart {
    pub report: SweepReport,
    /// Groups already reported and unchanged (open egress left alone, told before).
    pub reported: usize,
    /// Lines to detail past `MAX_DETAILED_LINES`: counted only.
    pub more: usize,
    /// Why the sweep failed, when its last delivery did (it then waits in the failure queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

impl DigestPart {
    /// The lines that are news: anything revoked or failed, and open egress that is new or changed; not open egress
    /// left alone that egress-guard already reported unchanged.
    pub fn of(report: &SweepReport) -> DigestPart {
        let news = |line: &SweepLine| {
            !(matches!(line.outcome, Outcome::DryRun | Outcome::Exempt) && line.since == Some(Since::Reported))
        };
        let (lines, old): (Vec<SweepLine>, Vec<SweepLine>) = report.lines.iter().cloned().partition(news);
        let more = lines.len().saturating_sub(MAX_DETAILED_LINES);
        let lines = lines.into_iter().take(MAX_DETAILED_LINES).collect();
        DigestPart { report: SweepReport { lines, ..report.clone() }, reported: old.len(), more, failed: None }
    }

    /// A sweep that failed on its last delivery: nothing checked, the error named, so that the digest goes out
    /// without it rather than never.
    pub fn failed(event_id: &str, account: &str, region: &str, error: String) -> DigestPart {
        let report = SweepReport {
            event_id: event_id.to_owned(),
            account: account.to_owned(),
            region: region.to_owned(),
            dry_run: false,
            paused: None,
            groups_total: 0,
            groups_checked: 0,
            complete: false,
            stopped_at: None,
            counts: BTreeMap::new(),
            lines: Vec::new(),
            outlets_failed: None,
            watch: None,
        };
        DigestPart { report, reported: 0, more: 0, failed: Some(error) }
    }
}

/// Every sweep of one schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    pub schedule_time: String,
    /// Sweeps the schedule queued.
    pub sweeps: usize,
    pub parts: Vec<DigestPart>,
}

impl Digest {
    fn count(&self, outcome: Outcome) -> usize {
        self.parts.iter().map(|p| p.report.count(outcome)).sum()
    }

    fn news(&self) -> usize {
        self.parts.iter().map(|p| p.report.lines.len() + p.more).sum()
    }

    fn missed(&self) -> usize {
        self.parts.iter().flat_map(|p| &p.report.lines).filter(|l| l.missed()).count()
    }

    fn header(&self) -> String {
        let accounts: BTreeSet<&str> = self.parts.iter().map(|p| p.report.account.as_str()).collect();
        let regions: BTreeSet<&str> = self.parts.iter().map(|p| p.report.region.as_str()).collect();
        let (checked, total): (usize, usize) =
            self.parts.iter().fold((0, 0), |(c, t), p| (c + p.report.groups_checked, t + p.report.groups_total));
        let stopped = self.parts.iter().filter(|p| !p.report.complete).count();
        let mut counts = BTreeMap::<Outcome, usize>::new();
        for p in &self.parts {
            for (outcome, n) in &p.report.counts {
                *counts.entry(*outcome).or_default() += n;
            }
        }
        let mut out = String::new();
        let paused: BTreeSet<&str> = self.parts.iter().filter_map(|p| p.report.paused.as_deref()).collect();
        for line in paused {
            out.push_str(&format!("{line}\n\n"));
        }
        out.push_str(&format!(
            "The sweep scheduled at {} covered {} of {} (account, region) sweeps: {} account(s), {} region(s); {checked} \
             of {total} security groups checked{}.\n",
            self.schedule_time,
            self.parts.len(),
            self.sweeps,
            accounts.len(),
            regions.len(),
            if stopped > 0 { format!(" ({stopped} sweep(s) stopped early: time ran short)") } else { String::new() },
        ));
        let counts: Vec<String> = counts.iter().map(|(o, n)| format!("{} {n}", o.as_str())).collect();
        out.push_str(&format!("Outcomes: {}\n", if counts.is_empty() { "none".into() } else { counts.join(", ") }));
        out.push_str(&self.failed_and_blind());
        let missed = self.missed();
        if missed > 0 {
            out.push_str(&format!(
                "MISSED: {missed} group(s) changed since egress-guard last looked and no event closed them: events are \
                 being missed (is the trail logging management events there?). They are marked MISSED below.\n"
            ));
        }
        let reported: usize = self.parts.iter().map(|p| p.reported).sum();
        if reported > 0 {
            out.push_str(&format!(
                "Already reported and unchanged: {reported} group(s) with open egress left alone (a dry run, a pause, \
                 an exemption): counted here, listed in each sweep's JSON in the function's log and in Security Hub.\n"
            ));
        }
        let more: usize = self.parts.iter().map(|p| p.more).sum();
        if more > 0 {
            out.push_str(&format!(
                "{more} more change(s) past {MAX_DETAILED_LINES} a sweep are not detailed: each is in the function's \
                 log, and each revoke in `egress-guard undo`.\n"
            ));
        }
        if self.news() == 0 {
            out.push_str("Nothing changed since the last report.\n");
        }
        out
    }

    /// The sweeps that failed and the regions whose changes are not seen, each named (up to `MAX_FAILURES_NAMED`: every
    /// part repeats the header, which so stays small) with why, the rest counted.
    fn failed_and_blind(&self) -> String {
        let mut out = String::new();
        let failures: Vec<&DigestPart> = self.parts.iter().filter(|p| p.failed.is_some()).collect();
        for part in failures.iter().take(MAX_FAILURES_NAMED) {
            out.push_str(&format!(
                "FAILED: the sweep of {} {} did not run: {}\n",
                part.report.account,
                part.report.region,
                cut(part.failed.as_deref().unwrap_or_default(), 300)
            ));
        }
        if failures.len() > MAX_FAILURES_NAMED {
            out.push_str(&format!(
                "FAILED: {} more sweeps did not run (each is in the failure queue and the function's log).\n",
                failures.len() - MAX_FAILURES_NAMED
            ));
        }
        // Regions whose changes are not seen: named (up to the same bound as failures), each with why and the fix.
        let blind: Vec<&SweepReport> = self.parts.iter().map(|p| &p.report).filter(|r| r.is_blind()).collect();
        for r in blind.iter().take(MAX_FAILURES_NAMED) {
            let watch = r.watch.as_ref().expect("blind has a watch");
            out.push_str(&format!(
                "BLIND ({}): changes in {} {} are not seen; {}\n",
                watch.blind.as_deref().unwrap_or_default(),
                r.account,
                r.region,
                cut(&watch.trail, 300)
            ));
        }
        if blind.len() > MAX_FAILURES_NAMED {
            out.push_str(&format!(
                "BLIND: {} more region(s) (each sweep's JSON has its watch).\n",
                blind.len() - MAX_FAILURES_NAMED
            ));
        }
        out
    }

    /// The digest in numbered parts of at most `max_bytes` of text each: the header in every part, each sweep's
    /// heading and lines shared out between them, never split.
    pub fn messages(&self, max_bytes: usize) -> Vec<Part> {
        let items = self.parts.iter().filter(|p| !p.report.lines.is_empty()).flat_map(|part| {
            let r = &part.report;
            let mut heading = format!(
                "\n== {} {}{}: {} of {} groups checked ==\n",
                r.account,
                r.region,
                mode(r.paused.is_some(), r.dry_run),
                r.groups_checked,
                r.groups_total
            );
            r.lines.iter().map(move |line| heading.split_off(0) + &r.line_text(line))
        });
        let texts = pack(&self.header(), items, max_bytes);
        let attributes = [
            ("outcome", "digest".to_owned()),
            ("dry_run", self.parts.iter().all(|p| p.report.dry_run).to_string()),
            ("trigger", "sweep".to_owned()),
        ];
        Part::numbered(&self.subject(), &attributes, "digest", texts)
    }

    fn subject(&self) -> String {
        let action = self.count(Outcome::VerificationFailed) + self.count(Outcome::RevokeFailed);
        let mut says = Vec::new();
        let blind = self.parts.iter().filter(|p| p.report.is_blind()).count();
        if blind > 0 {
            says.push(format!("BLIND in {blind} region(s)"));
        }
        let failed = self.parts.iter().filter(|p| p.failed.is_some()).count();
        if failed > 0 {
            says.push(format!("{failed} sweep(s) FAILED"));
        }
        let missed = self.missed();
        if missed > 0 {
            says.push(format!("MISSED {missed}"));
        }
        if action > 0 {
            says.push(format!("ACTION NEEDED on {action}"));
        }
        let revoked = self.count(Outcome::Remediated);
        if revoked > 0 {
            says.push(format!("revoked open egress on {revoked} group(s)"));
        }
        let would: usize =
            self.parts.iter().flat_map(|p| &p.report.lines).filter(|l| l.outcome == Outcome::DryRun).count();
        if would > 0 {
            says.push(format!("{would} new or changed would lose open egress"));
        }
        let reported: usize = self.parts.iter().map(|p| p.reported).sum();
        if reported > 0 {
            says.push(format!("{reported} already reported"));
        }
        if says.is_empty() {
            says.push("nothing open".into());
        }
        let accounts: BTreeSet<&str> = self.parts.iter().map(|p| p.report.account.as_str()).collect();
        let regions: BTreeSet<&str> = self.parts.iter().map(|p| p.report.region.as_str()).collect();
        let paused = self.parts.iter().any(|p| p.report.paused.is_some());
        let mode = mode(paused, self.parts.iter().all(|p| p.report.dry_run || p.failed.is_some()));
        one_line(
            &format!(
                "egress-guard digest{mode}: {} - {} account(s), {} region(s)",
                says.join(", "),
                accounts.len(),
                regions.len()
            ),
            MAX_SUBJECT_CHARS,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::Message;

    fn line(group: &str, outcome: Outcome, since: Since) -> SweepLine {
        SweepLine {
            group_id: group.into(),
            group_name: "default".into(),
            outcome,
            revoked: vec!["all traffic to 0.0.0.0/0".into()],
            undo_command: None,
            still_open: vec![],
            reason: None,
            since: Some(since),
        }
    }

    fn report(account: &str, region: &str, lines: Vec<SweepLine>) -> SweepReport {
        let mut counts = BTreeMap::new();
        for l in &lines {
            *counts.entry(l.outcome).or_default() += 1;
        }
        SweepReport {
            event_id: "e".into(),
            account: account.into(),
            region: region.into(),
            dry_run: lines.iter().all(|l| l.outcome == Outcome::DryRun),
            paused: None,
            groups_total: lines.len(),
            groups_checked: lines.len(),
            complete: true,
            stopped_at: None,
            counts,
            lines,
            outlets_failed: None,
            watch: None,
        }
    }

    #[test]
    fn open_egress_already_reported_is_counted_and_changes_are_detailed() {
        let part = DigestPart::of(&report(
            "111111111111",
            "eu-west-1",
            vec![
                line("sg-old", Outcome::DryRun, Since::Reported),
                line("sg-new", Outcome::DryRun, Since::Changed),
                line("sg-first", Outcome::DryRun, Since::Baseline),
            ],
        ));
        assert_eq!(part.reported, 1);
        let ids: Vec<&str> = part.report.lines.iter().map(|l| l.group_id.as_str()).collect();
        assert_eq!(ids, ["sg-new", "sg-first"]);
        // Revoked, it is news whatever was reported before.
        let part = DigestPart::of(&report("1", "r", vec![line("sg-old", Outcome::Remediated, Since::Reported)]));
        assert_eq!((part.reported, part.report.lines.len()), (0, 1));
    }

    #[test]
    fn many_sweeps_make_one_message_and_a_large_digest_numbered_parts_that_each_fit() {
        let parts: Vec<DigestPart> = (0..40)
            .map(|i| {
                let lines = (0..20).map(|g| line(&format!("sg-{i}-{g}"), Outcome::DryRun, Since::Baseline)).collect();
                DigestPart::of(&report(&format!("{i:012}"), "eu-west-1", lines))
            })
            .collect();
        let digest = Digest { schedule_time: "2026-12-03T06:00:00Z".into(), sweeps: 40, parts };
        assert_eq!(digest.messages(1 << 20).len(), 1);
        let small = digest.messages(8 * 1024);
        assert!(small.len() > 1);
        for (i, m) in small.iter().enumerate() {
            assert!(m.text().len() <= 8 * 1024, "{}", m.text().len());
            assert!(m.subject().starts_with(&format!("[{}/{}] egress-guard digest [dry run]", i + 1, small.len())));
        }
        let all: String = small.iter().map(|m| m.text()).collect();
        assert_eq!(all.matches("\nsg-").count(), 800, "every line once");
    }

    /// Each sweep's share is kept as JSON in the history table and read back by the last sweep: all of it.
    #[test]
    fn a_share_reads_back_as_it_was_written() {
        let mut lines =
            vec![line("sg-a", Outcome::Remediated, Since::Changed), line("sg-b", Outcome::Exempt, Since::Baseline)];
        lines[0].undo_command = Some("aws ec2 authorize-security-group-egress …".into());
        lines[1].still_open = vec!["tcp 443 to 0.0.0.0/0".into()];
        lines[1].revoked.clear();
        for share in [DigestPart::of(&report("1", "r", lines)), DigestPart::failed("e", "1", "r", "denied".into())] {
            let back: DigestPart = serde_json::from_str(&serde_json::to_string(&share).unwrap()).unwrap();
            assert_eq!(back, share);
        }
    }

    #[test]
    fn missed_events_lead_the_subject_and_the_text() {
        let part = DigestPart::of(&report("1", "eu-west-1", vec![line("sg-a", Outcome::Remediated, Since::Changed)]));
        let digest = Digest { schedule_time: "t".into(), sweeps: 1, parts: vec![part] };
        let m = &digest.messages(1 << 20)[0];
        assert!(
            m.subject().starts_with("egress-guard digest: MISSED 1, revoked open egress on 1 group(s)"),
            "{}",
            m.subject()
        );
        assert!(m.text().contains("MISSED: changed since egress-guard last looked"), "{}", m.text());
    }
}
