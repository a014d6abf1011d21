//! `--dry-run` changes nothing, in any command: every command that can change a group or the kill switch (`fix`,
//! `replay`, `recommend --apply`, `pause`, `resume`, `undo --apply`, `verify`) run with `--dry-run` against moto makes no call
//! but reads, as the limits proxy saw them, and leaves the group and the switch as they were.

use egress_guard_tests::{World, perm};
use serde_json::Value;

use super::egress_guard;

/// The calls after `from` that are not reads.
fn changes(w: &World, from: usize) -> Vec<Value> {
    let reads = ["Describe", "Get", "List", "Scan", "Query", "AssumeRole", "FilterLogEvents", "Lookup"];
    w.moto.calls()[from..]
        .iter()
        .filter(|c| {
            let operation = c["operation"].as_str().unwrap_or_default();
            let read = reads.iter().any(|r| operation.starts_with(r)) || (operation.is_empty() && c["method"] == "GET");
            !read
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn every_command_that_changes_something_changes_nothing_with_dry_run() {
    let w = World::start().await;
    let vpc = w.dual_stack_vpc().await;
    let group = w.group_with(&vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let table = w.history_table().await;
    let (topic, _) = w.topic_with_queue().await;
    let event = std::env::temp_dir().join(format!("egress-guard-dry-run-{group}.json"));
    let text = std::fs::read_to_string(egress_guard_tests::repo_root().join("events/authorize-egress-open-ipv4.json"))
        .unwrap()
        .replace(egress_guard_tests::EVENT_GROUP, &group);
    std::fs::write(&event, text).unwrap();
    let before = w.egress(&group).await;
    let event = event.to_string_lossy().into_owned();

    let commands: Vec<Vec<&str>> = vec![
        vec!["fix", "--group-id", &group],
        vec!["replay", &event],
        vec!["recommend", "--group-id", &group, "--apply", "--accept-gaps"],
        vec!["pause", "--history-table", &table],
        vec!["resume", "--history-table", &table],
        vec!["undo", "--history-table", &table, "--since", "7d", "--apply"],
        vec!["verify", "--topic-arn", &topic, "--regions", "eu-west-1,us-east-1"],
    ];
    for command in commands {
        let from = w.moto.calls().len();
        let args = [&command[..1], &["--dry-run"][..], &command[1..]].concat();
        let (code, stdout, stderr) = egress_guard(&w.moto, &args);
        assert!(code <= 2, "{args:?}: {stderr}");
        assert_eq!(changes(&w, from), Vec::<Value>::new(), "{args:?} changed something:\n{stdout}\n{stderr}");
        assert_eq!(w.egress(&group).await, before, "{args:?}");
    }
    let (code, stdout, _) = egress_guard(&w.moto, &["resume", "--history-table", &table]);
    assert_eq!((code, stdout.as_str()), (1, "Not paused: nothing to resume.\n"), "the dry-run pause set nothing");
}
