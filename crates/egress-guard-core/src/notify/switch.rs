//! The kill switch told on the topic: who paused or resumed egress-guard, where, since when, and what still holds.

use crate::notify::chat::Card;
use crate::notify::message::{MAX_SUBJECT_CHARS, Message, one_line};
use crate::pause::Pause;

/// A change of the kill switch, as `egress-guard pause` and `resume` publish it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Switched {
    /// The pause now in force.
    Paused(Pause),
    /// Revokes resumed in `scope` by `by` at `at`; `left`: what stays paused.
    Resumed { scope: String, by: String, at: String, left: Option<Pause> },
}

impl Message for Switched {
    fn subject(&self) -> String {
        let text = match self {
            Switched::Paused(p) => format!("egress-guard: PAUSED in {} by {}", p.scope(), p.by),
            Switched::Resumed { scope, by, .. } => format!("egress-guard: RESUMED in {scope} by {by}"),
        };
        one_line(&text, MAX_SUBJECT_CHARS)
    }

    fn text(&self) -> String {
        match self {
            Switched::Paused(p) => format!(
                "{}\n\nWhile paused, every invocation there is a dry run: open egress is reported, with [paused] in \
                 the subject, and nothing is revoked. Resume: egress-guard resume --regions all (or the regions).\n",
                p.line()
            ),
            Switched::Resumed { scope, by, at, left } => {
                let mut out = format!(
                    "egress-guard RESUMED in {scope} by {by} at {at}: open egress there is revoked again from the \
                     next invocation (the next sweep closes what stayed open while paused).\n"
                );
                if let Some(left) = left {
                    out.push_str(&format!("\nStill {}\n", left.line()));
                }
                out
            }
        }
    }

    fn attributes(&self) -> Vec<(&'static str, String)> {
        let outcome = match self {
            Switched::Paused(_) => "paused",
            Switched::Resumed { .. } => "resumed",
        };
        vec![("outcome", outcome.to_owned()), ("severity", "high".to_owned())]
    }

    fn chat(&self) -> String {
        Card::plain(&self.subject(), &self.text(), "switch").to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_and_a_resume_say_who_where_and_what_still_holds() {
        let pause = Pause { regions: None, by: "arn:aws:iam::1:user/a".into(), at: "t1".into(), reason: None };
        let paused = Switched::Paused(pause.clone());
        assert_eq!(paused.subject(), "egress-guard: PAUSED in every region by arn:aws:iam::1:user/a");
        assert!(paused.text().starts_with("PAUSED in every region by arn:aws:iam::1:user/a since t1"));
        let left = Pause { regions: Some(["us-east-1".to_owned()].into()), ..pause };
        let resumed =
            Switched::Resumed { scope: "eu-west-1".into(), by: "b".into(), at: "t2".into(), left: Some(left) };
        assert_eq!(resumed.subject(), "egress-guard: RESUMED in eu-west-1 by b");
        assert!(resumed.text().contains("Still PAUSED in us-east-1"), "{}", resumed.text());
    }
}
