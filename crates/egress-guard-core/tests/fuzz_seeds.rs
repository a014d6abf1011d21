//! The fuzz targets' named seeds and regression inputs (`fuzz/seeds/`, and `events/` for the parser) as tests on stable
//! Rust: each goes through the same checks as `fuzz/fuzz_targets/`, so that CI replays them without a fuzzing
//! toolchain. A local fuzzer's own corpus (`fuzz/corpus/`, not committed) is replayed too when it is there. The
//! split-range seeds are held to their exact findings and plan, with split revokes off and on.

use std::path::{Path, PathBuf};

use egress_guard_core::model::validate_group_id;
use egress_guard_core::{FindingKind, SecurityGroup, Settings, evaluate, parse_event, permission::undo_command};

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

#[test]
fn split_range_seeds_are_reported_and_revoked_only_with_split_revokes_on() {
    // (seed, the CIDRs of its split range): the inner 10.0.0.0/8 beside the IPv4 halves is not part of it.
    let seeds = [
        ("split-halves-ipv4.json", vec!["0.0.0.0/1", "128.0.0.0/1"]),
        ("split-ipv6-quarters.json", vec!["4000::/2", "8000::/2", "::/2", "c000::/2"]),
    ];
    for (seed, split) in seeds {
        let path = root().join("fuzz/seeds/evaluate").join(seed);
        let group: SecurityGroup = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let cidrs = |rules: Vec<&egress_guard_core::EgressRule>| {
            let mut cidrs: Vec<String> = rules.iter().map(|r| r.destination.to_string()).collect();
            cidrs.sort();
            cidrs
        };
        let off = evaluate(&group, &Settings::default());
        let reported = off.findings.iter().filter(|f| f.kind == FindingKind::Split).map(|f| &f.rule).collect();
        assert_eq!(cidrs(reported), split, "{seed}: reported as a split range");
        assert!(off.plan.is_empty(), "{seed}: planned with split revokes off: {:?}", off.plan.rules);
        let on = evaluate(&group, &Settings { revoke_split_ranges: true, ..Settings::default() });
        assert_eq!(cidrs(on.plan.rules.iter().collect()), split, "{seed}: planned with split revokes on");
        let _ = undo_command("eu-west-1", &group.id, &on.plan.rules);
    }
}
