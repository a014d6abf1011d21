//! `--help` of the built binary, held against lists written here: `pause` and `resume` list the kill switch's own
//! options and none of the Lambda's settings; `replay` and `audit` still list the settings they use; each verb's
//! `--format` lists only the formats it prints.

use std::collections::BTreeSet;
use std::process::Command;

/// The Lambda's settings that decide what is open and what is revoked.
const RULES: [&str; 5] =
    ["--exempt-tag-key", "--exempt-group-ids", "--allowed-ports", "--revoke-other-protocols", "--revoke-split-ranges"];

/// The flags of the verbs that run the Lambda's flow, besides the rules.
const FLOW: [&str; 7] =
    ["--dry-run", "--notify-compliant", "--history-table", "--topic-arn", "--security-hub", "--event-bus", "--format"];

/// The flags every verb takes.
const GLOBAL: [&str; 3] = ["--profile", "--region", "--help"];

/// `egress-guard <verb> -h`, with no environment: the text clap prints.
fn help(verb: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_egress-guard")).args([verb, "-h"]).env_clear().output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{verb} -h: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The long options a help text lists, one a line (`-h, --help` counts as `--help`).
fn options(help: &str) -> BTreeSet<String> {
    help.lines()
        .map(str::trim_start)
        .map(|line| line.strip_prefix("-h, ").or_else(|| line.strip_prefix("-V, ")).unwrap_or(line))
        .filter(|line| line.starts_with("--"))
        .map(|line| line.chars().take_while(|c| *c == '-' || c.is_ascii_alphanumeric()).collect())
        .collect()
}

/// The flags of the lists, as one set.
fn set(lists: &[&[&str]]) -> BTreeSet<String> {
    lists.iter().flat_map(|l| l.iter()).map(|s| (*s).to_owned()).collect()
}

#[test]
fn pause_help_lists_its_own_options_and_none_of_the_lambdas_settings() {
    let listed = options(&help("pause"));
    let own = ["--regions", "--topic-arn", "--history-table", "--dry-run", "--reason"];
    assert_eq!(listed, set(&[&own, &GLOBAL]));
    for absent in RULES.iter().chain(&["--notify-compliant", "--security-hub", "--event-bus", "--format"]) {
        assert!(!listed.contains(*absent), "pause -h lists {absent}");
    }
}

#[test]
fn resume_help_lists_the_switch_and_no_reason() {
    let own = ["--regions", "--topic-arn", "--history-table", "--dry-run"];
    assert_eq!(options(&help("resume")), set(&[&own, &GLOBAL]));
}

#[test]
fn replay_help_still_lists_every_setting_of_the_lambda() {
    assert_eq!(options(&help("replay")), set(&[&RULES, &FLOW, &GLOBAL]));
}

#[test]
fn fix_help_lists_the_group_and_every_setting_of_the_lambda() {
    assert_eq!(options(&help("fix")), set(&[&["--group-id"], &RULES, &FLOW, &GLOBAL]));
}

#[test]
fn audit_help_lists_the_rules_but_no_dry_run_since_it_changes_nothing() {
    let own = ["--regions", "--format", "--concurrency"];
    assert_eq!(options(&help("audit")), set(&[&own, &RULES, &GLOBAL]));
}

#[test]
fn verbs_that_read_or_probe_list_none_of_the_rules() {
    for (verb, own) in [
        ("preflight", &["--regions", "--member-accounts", "--remediation-role-name", "--function-concurrency"][..]),
        ("undo", &["--since", "--until", "--group-id", "--regions", "--apply", "--history-table", "--dry-run"][..]),
        ("verify", &["--regions", "--topic-arn", "--vpc-id", "--timeout", "--dry-run"][..]),
    ] {
        let listed = options(&help(verb));
        for flag in own.iter().chain(&GLOBAL).chain(&["--format"]) {
            assert!(listed.contains(*flag), "{verb} -h does not list {flag}");
        }
        for flag in RULES.iter().chain(&["--notify-compliant", "--event-bus"]) {
            assert!(!listed.contains(*flag), "{verb} -h lists {flag}");
        }
    }
}

#[test]
fn each_verb_lists_only_the_formats_it_prints() {
    for (verb, formats) in [
        ("audit", "table, json, asff"),
        ("replay", "text, json, asff"),
        ("fix", "text, json, asff"),
        ("recommend", "text, json, asff"),
        ("preflight", "text, json"),
        ("undo", "text, json"),
        ("verify", "text, json"),
    ] {
        let text = help(verb);
        assert!(text.contains(&format!("[possible values: {formats}]")), "{verb} -h:\n{text}");
    }
}

#[test]
fn a_format_the_verb_cannot_print_is_refused_before_any_call() {
    for (verb, format) in [("audit", "text"), ("fix", "table"), ("preflight", "asff"), ("undo", "asff")] {
        let mut args = vec![verb, "--format", format];
        if verb == "fix" {
            args.extend(["--group-id", "sg-0123456789abcdef0"]);
        } else if verb == "undo" {
            args.extend(["--since", "1h"]);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_egress-guard")).args(&args).env_clear().output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("invalid value '{format}' for '--format <FORMAT>'")), "{args:?}: {stderr}");
    }
}

#[test]
fn the_architectures_entry_points_are_every_verb_the_binary_has() {
    let top = Command::new(env!("CARGO_BIN_EXE_egress-guard")).arg("--help").env_clear().output().unwrap();
    let top = String::from_utf8(top.stdout).unwrap();
    let commands = &top[top.find("Commands:").expect("a Commands section")..];
    let verbs: BTreeSet<String> = commands
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|v| *v != "help")
        .map(str::to_owned)
        .collect();
    let architecture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../ARCHITECTURE.md")).unwrap();
    let entries = &architecture[architecture.find("## Entry points").expect("an Entry points section")..];
    let entries = &entries[..entries[3..].find("\n## ").map_or(entries.len(), |i| i + 3)];
    let documented: BTreeSet<String> =
        entries.split("`egress-guard ").skip(1).filter_map(|rest| rest.split('`').next()).map(str::to_owned).collect();
    assert_eq!(documented, verbs, "ARCHITECTURE.md's entry points and `egress-guard --help` differ");
}
