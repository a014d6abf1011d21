//! What people receive, before any particular message: the `Message` trait every notifier publishes, and how text
//! is cut to the limits of where it goes.

/// Something a person reads: a one-line subject, a body, attributes that subscribers can filter on, and the same as
/// a chat card (JSON).
pub trait Message {
    fn subject(&self) -> String;
    fn text(&self) -> String;
    fn attributes(&self) -> Vec<(&'static str, String)>;
    fn chat(&self) -> String;
}

/// SNS documents a subject as ASCII, no line breaks, "must be less than 100 characters": 99 at the most.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// SNS takes at most 256 KiB per message, attributes included, and an SQS subscriber's copy wraps it in a JSON
/// envelope (escaped text, metadata) that must fit SQS's 256 KiB: a sweep report's parts keep their text under this.
pub const MAX_MESSAGE_BYTES: usize = 200 * 1024;

/// `text` cut to at most `max` characters, ending with `...` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(3)).collect();
    out.push_str("...");
    out
}

/// Printable ASCII on one line: control characters become spaces, anything else outside ASCII `?`; cut to `max`
/// characters, a cut marked with `...`.
pub fn one_line(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| match c {
            ' '..='~' => c,
            c if c.is_control() => ' ',
            _ => '?',
        })
        .collect();
    if clean.len() <= max {
        return clean;
    }
    let mut cut = clean[..max - 3].to_owned();
    cut.push_str("...");
    cut
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
