//! The fuzz corpus (`fuzz/corpus/`) as regression tests on stable Rust: every input the fuzzers kept goes through
//! the same checks as `fuzz/fuzz_targets/`, so that CI replays them without a fuzzing toolchain.

use std::path::PathBuf;

use egress_guard_core::model::validate_group_id;
use egress_guard_core::{SecurityGroup, Settings, evaluate, parse_event, permission::undo_command};

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            (path.display().to_string(), std::fs::read(&path).unwrap())
        })
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn event_corpus_parses_or_is_rejected_without_panic() {
    let inputs = corpus("event");
    assert!(inputs.len() >= 10, "the corpus holds at least the sample events");
    let mut accepted = 0;
    for (name, bytes) in inputs {
        if let Ok(trigger) = parse_event(&bytes) {
            accepted += 1;
            for id in &trigger.group_ids {
                assert!(validate_group_id(id).is_ok(), "{name}: {id}");
            }
        }
    }
    assert!(accepted >= 9, "the sample events parse");
}

#[test]
fn evaluate_corpus_plans_only_open_destinations() {
    let mut groups = 0;
    for (name, bytes) in corpus("evaluate") {
        let Ok(group) = serde_json::from_slice::<SecurityGroup>(&bytes) else { continue };
        groups += 1;
        for settings in [Settings::default(), Settings { revoke_other_protocols: true, ..Settings::default() }] {
            let plan = evaluate(&group, &settings).plan;
            assert!(plan.rules.iter().all(|r| r.destination.is_unrestricted()), "{name}");
            let _ = undo_command("eu-west-1", &group.id, &plan.rules);
        }
    }
    assert!(groups >= 3, "the seed groups parse");
}
