//! The SAM template against the code and a real EventBridge: every variable the Lambda reads is set (also in
//! `local/env.json`), and the rule's event pattern, loaded from `template.yaml`, routes exactly the three calls
//! through moto's EventBridge.

use std::collections::BTreeSet;

use egress_guard_tests::{World, repo_root};
use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlLoader};

fn template_text() -> String {
    std::fs::read_to_string(repo_root().join("template.yaml")).unwrap()
}

fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Hash(h) => Value::Object(h.iter().map(|(k, v)| (k.as_str().unwrap().to_owned(), to_json(v))).collect()),
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::String(s) | Yaml::Real(s) => Value::String(s.clone()),
        Yaml::Integer(i) => json!(i),
        Yaml::Boolean(b) => json!(b),
        _ => Value::Null,
    }
}

fn function() -> Value {
    let docs = YamlLoader::load_from_str(&template_text()).unwrap();
    to_json(&docs[0]["Resources"]["EgressGuardFunction"])
}

#[test]
fn template_sets_every_variable_the_lambda_reads_and_no_other() {
    let env = &function()["Properties"]["Environment"]["Variables"];
    let in_template: BTreeSet<String> = env.as_object().unwrap().keys().cloned().collect();
    let read: BTreeSet<String> = egress_guard_lambda::variables().into_iter().map(str::to_owned).collect();
    assert_eq!(in_template, read, "template.yaml's function environment and the variables the Lambda reads differ");
    let text = template_text();
    let mentioned: BTreeSet<&str> = text
        .match_indices("EGRESS_GUARD_")
        .map(|(i, _)| {
            let rest = &text[i..];
            &rest[..rest.find(|c: char| !(c.is_ascii_uppercase() || c == '_')).unwrap_or(rest.len())]
        })
        .collect();
    for name in mentioned {
        assert!(read.contains(name), "template.yaml mentions {name}, which the Lambda does not read");
    }
}

#[tokio::test]
async fn event_pattern_routes_exactly_the_three_calls() {
    let pattern = function()["Properties"]["Events"]["SecurityGroupChange"]["Properties"]["Pattern"].clone();
    assert!(pattern.is_object(), "no pattern in template.yaml");
    let w = World::start().await;
    let eb = aws_sdk_eventbridge::Client::new(&w.config);
    let (queue_url, queue_arn) = w.queue("routed").await;
    eb.put_rule().name("egress-guard").event_pattern(pattern.to_string()).send().await.unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder().id("q").arn(queue_arn).build().unwrap();
    eb.put_targets().rule("egress-guard").targets(target).send().await.unwrap();

    let mut samples: Vec<Value> = std::fs::read_dir(repo_root().join("events"))
        .unwrap()
        .map(|e| serde_json::from_slice::<Value>(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .filter(|e| e["detail-type"] == "AWS API Call via CloudTrail")
        .collect();
    assert_eq!(samples.len(), 10, "the CloudTrail samples in events/");
    let sample_ids: BTreeSet<String> =
        samples.iter().map(|e| e["detail"]["eventID"].as_str().unwrap().to_owned()).collect();
    let base = samples[0].clone();
    let variant = |id: &str, source: &str, event_source: &str, name: &str| {
        let mut e = base.clone();
        e["source"] = source.into();
        e["detail"]["eventSource"] = event_source.into();
        e["detail"]["eventName"] = name.into();
        e["detail"]["eventID"] = id.into();
        e
    };
    samples.push(variant("read-only", "aws.ec2", "ec2.amazonaws.com", "DescribeSecurityGroups"));
    samples.push(variant("ingress", "aws.ec2", "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"));
    samples.push(variant("revoke", "aws.ec2", "ec2.amazonaws.com", "RevokeSecurityGroupEgress"));
    samples.push(variant("s3", "aws.s3", "s3.amazonaws.com", "PutBucketPolicy"));

    for chunk in samples.chunks(10) {
        let entries = chunk.iter().map(|e| {
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source(e["source"].as_str().unwrap())
                .detail_type(e["detail-type"].as_str().unwrap())
                .detail(e["detail"].to_string())
                .build()
        });
        let out = eb.put_events().set_entries(Some(entries.collect())).send().await.unwrap();
        assert_eq!(out.failed_entry_count(), 0);
    }

    let routed: BTreeSet<String> = w
        .drain(&queue_url)
        .await
        .iter()
        .map(|body| serde_json::from_str::<Value>(body).unwrap()["detail"]["eventID"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(routed, sample_ids, "exactly the sample events (all three calls) are routed; the others are not");
}

#[test]
fn local_env_file_sets_every_variable_the_lambda_reads() {
    let text = std::fs::read_to_string(repo_root().join("local/env.json")).unwrap();
    let env: Value = serde_json::from_str(&text).unwrap();
    let keys: BTreeSet<String> = env["EgressGuardFunction"].as_object().unwrap().keys().cloned().collect();
    let read: BTreeSet<String> = egress_guard_lambda::variables().into_iter().map(str::to_owned).collect();
    assert_eq!(keys, read, "local/env.json (for sam local invoke --env-vars) and the Lambda's variables differ");
}
