//! Messages in numbered parts that each fit SNS, one way for every report: `pack` shares items out between parts
//! that all begin with the same header, `Part` numbers a part's subject (`[i/n]`) and its `part` attribute, and
//! `mode` is the label a paused or a dry run carries.

use crate::notify::chat::Card;
use crate::notify::message::{MAX_SUBJECT_CHARS, Message, one_line};

/// The label a subject carries while paused (`[paused]`) or in a dry run (`[dry run]`), with its leading space.
pub fn mode(paused: bool, dry_run: bool) -> &'static str {
    match (paused, dry_run) {
        (true, _) => " [paused]",
        (false, true) => " [dry run]",
        (false, false) => "",
    }
}

/// `header`, then each item, in texts of at most `max_bytes` each: every text begins with the header, and an item is
/// never split (one larger than the room left starts a text of its own).
pub fn pack(header: &str, items: impl IntoIterator<Item = String>, max_bytes: usize) -> Vec<String> {
    let mut texts = vec![header.to_owned()];
    for item in items {
        let current = texts.last_mut().expect("one text at least");
        if current.len() + item.len() > max_bytes && current.len() > header.len() {
            texts.push(format!("{header}{item}"));
        } else {
            current.push_str(&item);
        }
    }
    texts
}

/// One numbered part of a message, as published: the whole's subject (`[i/n]` before it when there are several),
/// its attributes with `part`, and the chat card of the part's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    subject: String,
    text: String,
    attributes: Vec<(&'static str, String)>,
    /// The chat card's event type (`sweep`, `digest`).
    kind: &'static str,
}

impl Part {
    /// `texts` as the numbered parts of one message.
    pub fn numbered(
        subject: &str,
        attributes: &[(&'static str, String)],
        kind: &'static str,
        texts: Vec<String>,
    ) -> Vec<Part> {
        let total = texts.len();
        texts
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                let number = i + 1;
                let subject = match total {
                    1 => subject.to_owned(),
                    _ => one_line(&format!("[{number}/{total}] {subject}"), MAX_SUBJECT_CHARS),
                };
                let mut attributes = attributes.to_vec();
                attributes.push(("part", format!("{number}/{total}")));
                Part { subject, text, attributes, kind }
            })
            .collect()
    }
}

impl Message for Part {
    fn subject(&self) -> String {
        self.subject.clone()
    }

    fn text(&self) -> String {
        self.text.clone()
    }

    fn attributes(&self) -> Vec<(&'static str, String)> {
        self.attributes.clone()
    }

    fn chat(&self) -> String {
        Card::plain(&self.subject, &self.text, self.kind).to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_shared_out_under_the_header_and_never_split() {
        let items = ["aaaa", "bbbb", "cccc", "dddddddddddd"].map(str::to_owned);
        let texts = pack("H:", items, 10);
        assert_eq!(texts, ["H:aaaabbbb", "H:cccc", "H:dddddddddddd"]);
        assert_eq!(pack("H:", Vec::new(), 10), ["H:"], "a header alone is one part");
    }

    #[test]
    fn several_parts_are_numbered_in_subject_and_attribute_and_one_is_not() {
        let parts = Part::numbered("s", &[("outcome", "sweep".into())], "sweep", vec!["a".into(), "b".into()]);
        let told: Vec<(String, Vec<(&str, String)>)> = parts.iter().map(|p| (p.subject(), p.attributes())).collect();
        assert_eq!(told[0], ("[1/2] s".to_owned(), vec![("outcome", "sweep".into()), ("part", "1/2".into())]));
        assert_eq!(told[1].0, "[2/2] s");
        let one = Part::numbered("s", &[], "sweep", vec!["a".into()]);
        assert_eq!((one[0].subject(), one[0].attributes()), ("s".to_owned(), vec![("part", "1/1".into())]));
    }

    #[test]
    fn a_pause_outranks_a_dry_run() {
        assert_eq!(
            [mode(true, true), mode(true, false), mode(false, true), mode(false, false)],
            [" [paused]", " [paused]", " [dry run]", ""]
        );
    }
}
