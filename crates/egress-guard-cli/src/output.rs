//! `--format`: how a verb prints what it did. One type for the whole CLI; each verb's flag admits, and its `--help`
//! lists, only the formats that verb can print.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

/// How a verb prints what it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A table, one row a finding: `audit` on a terminal.
    Table,
    /// Lines as a person reads them.
    Text,
    /// JSON, in the verb's stable schema.
    Json,
    /// AWS Security Finding Format: the findings as Security Hub's `BatchImportFindings` takes them.
    Asff,
}

impl Format {
    const ALL: [Format; 4] = [Format::Table, Format::Text, Format::Json, Format::Asff];

    /// The format's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Text => "text",
            Format::Json => "json",
            Format::Asff => "asff",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Format::Table => "a table, one row a finding",
            Format::Text => "lines as a person reads them",
            Format::Json => "JSON, in the command's stable schema",
            Format::Asff => "AWS Security Finding Format: the findings as Security Hub imports them",
        }
    }

    /// The parser of a verb's `--format`: it admits only `formats`, and `--help` lists them with what each prints.
    pub fn among(formats: &'static [Format]) -> impl TypedValueParser<Value = Format> {
        let values = formats.iter().map(|f| PossibleValue::new(f.name()).help(f.help()));
        PossibleValuesParser::new(values).try_map(|name: String| {
            Format::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| format!("no format {name:?}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Format;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Verb {
        #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
        format: Format,
    }

    #[test]
    fn a_verb_takes_the_formats_it_lists() {
        let parsed = Verb::try_parse_from(["verb", "--format", "json"]).unwrap();
        assert_eq!(parsed.format, Format::Json);
        assert_eq!(Verb::try_parse_from(["verb"]).unwrap().format, Format::Text);
    }

    #[test]
    fn a_verb_refuses_a_format_it_cannot_print() {
        let err = Verb::try_parse_from(["verb", "--format", "asff"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
        assert!(err.to_string().contains("[possible values: text, json]"), "{err}");
    }
}
