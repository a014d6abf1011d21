//! The chat card: a notice as Amazon Q Developer in chat applications (formerly AWS Chatbot) renders it in Slack or
//! Microsoft Teams, in its documented custom-notification JSON (`version` 1.0, `source` custom).

use serde::Serialize;

use crate::model::EgressRule;
use crate::notify::message::cut;
use crate::notify::notice::Notice;
use crate::outcome::Outcome;

/// A card's description is cut to this many characters; the e-mail keeps the whole notice.
pub const MAX_DESCRIPTION_CHARS: usize = 3000;
/// A next step longer than this (an undo command for many rules) points to the e-mail instead.
pub const MAX_STEP_CHARS: usize = 1500;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub version: &'static str,
    pub source: &'static str,
    pub content: Content,
    pub metadata: Metadata,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    pub text_type: &'static str,
    pub title: String,
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub next_steps: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Notices of the same group share a thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    pub summary: String,
    pub event_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_resources: Vec<String>,
}

impl Card {
    /// A card of a subject and a plain text (a sweep report): the text as a code block, cut to fit.
    pub fn plain(subject: &str, text: &str, event_type: &str) -> Card {
        Card {
            version: "1.0",
            source: "custom",
            content: Content {
                text_type: "client-markdown",
                title: subject.to_owned(),
                description: format!("```\n{}\n```", cut(text, MAX_DESCRIPTION_CHARS - 8)),
                next_steps: vec![],
                keywords: vec![],
            },
            metadata: Metadata {
                thread_id: None,
                summary: subject.to_owned(),
                event_type: event_type.to_owned(),
                related_resources: vec![],
            },
        }
    }

    /// A notice's card: where, who, what was revoked and what is left, and what to do next (the undo command).
    pub fn of(notice: &Notice) -> Card {
        let g = &notice.group;
        let c = &notice.cause;
        let mut lines = vec![
            format!("*Group* `{}` ({}) in VPC {}", g.id, g.name, g.vpc_id.as_deref().unwrap_or("-")),
            format!("*Account* {}  *Region* {}", notice.account, notice.region),
            format!("*Changed by* {} ({}, {})", c.actor.name(), c.event_name.as_str(), c.event_time),
        ];
        let mut section = |title: &str, rules: &[EgressRule]| {
            if !rules.is_empty() {
                lines.push(format!("*{title}*"));
                lines.extend(rules.iter().map(|r| format!("• {r}")));
            }
        };
        let revoked_title = if notice.dry_run { "Would revoke" } else { "Revoked" };
        section(revoked_title, &notice.revoked);
        section("Still open", &notice.still_open);
        let kept: Vec<EgressRule> = notice.kept_open.iter().map(|f| f.rule.clone()).collect();
        section("Kept open", &kept);
        section("Egress now", &notice.after);
        if let Some(error) = notice.revoke_error.as_ref().or(notice.verify_error.as_ref()) {
            lines.push(format!("*Error* {error}"));
        }
        let mut next_steps = Vec::new();
        match (&notice.undo_command, notice.outcome) {
            (Some(undo), _) if undo.chars().count() <= MAX_STEP_CHARS => {
                next_steps.push(format!("To undo, run in account {}: `{undo}`", notice.account))
            }
            (Some(_), _) => next_steps.push("To undo: the command is in the e-mail notice.".to_owned()),
            (None, Outcome::DryRun) => {
                next_steps.push("Dry run: nothing was changed. Turn DryRun off to revoke.".to_owned())
            }
            (None, _) => {}
        }
        if matches!(notice.outcome, Outcome::VerificationFailed | Outcome::RevokeFailed) {
            next_steps.push(format!(
                "Check the group: `aws ec2 describe-security-groups --region {} --group-ids {}`",
                notice.region, g.id
            ));
        }
        if notice.outcome.acted_on_open() {
            next_steps.push(format!(
                "Allow only what is needed: `egress-guard recommend --region {} --group-id {}`",
                notice.region, g.id
            ));
        }
        let subject = notice.subject();
        Card {
            version: "1.0",
            source: "custom",
            content: Content {
                text_type: "client-markdown",
                title: subject.clone(),
                description: cut(&lines.join("\n"), MAX_DESCRIPTION_CHARS),
                next_steps,
                keywords: vec![notice.outcome.as_str().to_owned(), notice.region.clone(), notice.account.clone()],
            },
            metadata: Metadata {
                thread_id: Some(format!("egress-guard/{}/{}/{}", notice.account, notice.region, g.id)),
                summary: subject,
                event_type: notice.outcome.as_str().to_owned(),
                related_resources: vec![g.id.clone()],
            },
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|err| serde_json::json!({ "error": err.to_string() }).to_string())
    }
}
