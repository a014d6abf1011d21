//! The fuzz targets' named seeds and regression inputs (`fuzz/seeds/`, and `events/` for the parser) as tests on stable
//! Rust: each goes through the same checks as `fuzz/fuzz_targets/`, so that CI replays them without a fuzzing
//! toolchain. A local fuzzer's own corpus (`fuzz/corpus/`, not committed) is replayed too when it is there.

use std::path::{Path, PathBuf};

use egress_guard_core::model::validate_group_id;
use egress_guard_core::{SecurityGroup, Settings, evaluate, parse_event, permission::undo_command};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file of `dir`, sorted; an absent directory is empty only when `optional`.
fn inputs(dir: &Path, optional: bool) -> Vec<(String, Vec<u8>)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(_) if optional => return Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    let mut inputs: Vec<(String, Vec<u8>)> = entries
        .map(|e| {
            let path = e.unwrap().path();
            (path.display().to_string(), std::fs::read(&path).unwrap())
        })
        .collect();
    inputs.sort();
    inputs
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut all = inputs(&root().join("fuzz/seeds").join(target), false);
    all.extend(inputs(&root().join("fuzz/corpus").join(target), true));
    all
}

#[test]
fn event_seeds_parse_or_are_rejected_without_panic() {
    let mut all = inputs(&root().join("events"), false);
    all.extend(seeds("event"));
    assert!(all.len() >= 30, "the sample events and the named seeds: {}", all.len());
    let mut accepted = 0;
    for (name, bytes) in all {
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
fn evaluate_seeds_plan_only_open_destinations() {
    let mut groups = 0;
    for (name, bytes) in seeds("evaluate") {
        let Ok(group) = serde_json::from_slice::<SecurityGroup>(&bytes) else { continue };
        groups += 1;
        for settings in [Settings::default(), Settings { revoke_other_protocols: true, ..Settings::default() }] {
            let plan = evaluate(&group, &settings).plan;
            assert!(plan.rules.iter().all(|r| r.destination.is_unrestricted()), "{name}");
            let _ = undo_command("eu-west-1", &group.id, &plan.rules);
        }
    }
    assert!(groups >= 10, "the named seed groups parse: {groups}");
}
