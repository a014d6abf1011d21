//! `egress-guard preflight` against moto: a healthy account, each check's finding, a check whose calls fail, and bad
//! input that makes no call; the limits proxy's log shows which calls were made, and that each of them only reads.

use egress_guard_tests::{Moto, World};
use serde_json::{Value, json};

use super::egress_guard;

/// The 17 regions of `template.yaml`'s `Regions` default, which `--regions all` checks, sorted.
const ALL: [&str; 17] = [
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// Runs `preflight --format json` with `args`; returns (exit code, the report, stderr).
fn preflight(moto: &Moto, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["preflight", "--format", "json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = egress_guard(moto, &all);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (code, report, stderr)
}

/// (check, region, account) of each finding, in the report's order.
fn places(report: &Value) -> Vec<(String, Value, Value)> {
    let findings = report["findings"].as_array().unwrap();
    findings
        .iter()
        .map(|f| (f["check"].as_str().unwrap().to_owned(), f["region"].clone(), f["account"].clone()))
        .collect()
}

fn at(check: &str, region: &str) -> (String, Value, Value) {
    (check.to_owned(), json!(region), Value::Null)
}

/// The one finding of `check` in `region`.
fn finding<'a>(report: &'a Value, check: &str, region: &str) -> &'a Value {
    let findings = report["findings"].as_array().unwrap();
    findings.iter().find(|f| f["check"] == check && f["region"] == region).unwrap_or_else(|| panic!("{report:#}"))
}

/// The calls the proxy received after the first `setup` (the test's own), each checked to only read: a Describe,
/// Get or List, or AssumeRole (its credentials change nothing); REST APIs (Lambda's GetAccountSettings, Security
/// Hub's DescribeHub) carry no operation name, and are GETs.
fn reads_after(moto: &Moto, setup: usize) -> Vec<Value> {
    let calls = moto.calls().split_off(setup);
    for call in &calls {
        let operation = call["operation"].as_str().unwrap();
        let read = ["Describe", "Get", "List"].iter().any(|p| operation.starts_with(p)) || operation == "AssumeRole";
        assert!(read || (operation.is_empty() && call["method"] == "GET"), "not a read: {call}");
    }
    calls
}

/// The regions each call of `operation` was signed for, sorted.
fn regions_of(calls: &[Value], operation: &str) -> Vec<String> {
    let mut regions: Vec<String> = calls
        .iter()
        .filter(|c| c["operation"] == operation)
        .map(|c| c["region"].as_str().unwrap().to_owned())
        .collect();
    regions.sort();
    regions
}

/// Security Hub's DescribeHub (`GET /accounts`), by region, sorted.
fn hubs_of(calls: &[Value]) -> Vec<String> {
    let mut regions: Vec<String> = calls
        .iter()
        .filter(|c| c["method"] == "GET" && c["path"] == "/accounts")
        .map(|c| c["region"].as_str().unwrap().to_owned())
        .collect();
    regions.sort();
    regions
}

#[tokio::test]
async fn a_healthy_account_has_nothing_found_and_exits_zero_after_reads_only() {
    let w = World::start().await;
    w.trail("eu-west-1", "main", true).await;
    for region in ALL {
        w.enable_security_hub(region).await;
    }
    let setup = w.moto.calls().len();

    let (code, report, stderr) = preflight(&w.moto, &["--regions", "all", "--security-hub"]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(report["schema"], "egress-guard.preflight/v1");
    assert_eq!((&report["findings"], &report["errors"]), (&json!([]), &json!([])));
    let mut checked: Vec<String> = serde_json::from_value(report["checked"]["regions"].clone()).unwrap();
    checked.sort();
    assert_eq!(checked, ALL);
    assert_eq!(report["checked"]["security_hub"], true);

    // Each region's trails and hub read there; the multi-region trail's state read once, in its home region.
    let calls = reads_after(&w.moto, setup);
    assert_eq!(regions_of(&calls, "DescribeTrails"), ALL);
    assert_eq!(hubs_of(&calls), ALL);
    assert_eq!(regions_of(&calls, "DescribeRegions").len(), 1);
    assert_eq!(regions_of(&calls, "GetTrailStatus"), ["eu-west-1"]);
    assert_eq!(regions_of(&calls, "GetEventSelectors"), ["eu-west-1"]);

    let (code, text, stderr) = egress_guard(&w.moto, &["preflight", "--regions", "eu-west-1,us-east-1"]);
    assert_eq!((code, text.as_str()), (0, "preflight: nothing found\n"), "{stderr}");
}

#[tokio::test]
async fn a_stopped_trail_is_a_trail_finding_in_each_region_with_the_command_that_starts_it() {
    let w = World::start().await;
    let arn = w.trail("eu-west-1", "main", true).await;
    w.cloudtrail_in("eu-west-1").stop_logging().name("main").send().await.unwrap();

    let (code, report, stderr) = preflight(&w.moto, &["--regions", "eu-west-1,us-east-1"]);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert_eq!(places(&report), [at("trail", "eu-west-1"), at("trail", "us-east-1")]);
    for region in ["eu-west-1", "us-east-1"] {
        let f = finding(&report, "trail", region);
        let problem = f["problem"].as_str().unwrap();
        assert!(problem.starts_with(&format!("no trail logs management write events in {region}: ")), "{problem}");
        assert!(problem.contains(&format!("trail main covers {region} but is not logging (stopped)")), "{problem}");
        let start = format!("`aws cloudtrail start-logging --name {arn} --region eu-west-1`");
        assert!(f["fix"].as_str().unwrap().contains(&start), "{f}");
    }

    let (code, text, _) = egress_guard(&w.moto, &["preflight", "--regions", "eu-west-1,us-east-1"]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].starts_with("trail us-east-1: no trail logs management write events in us-east-1: "), "{text}");
    assert!(lines[1].contains(" — fix: start logging on main: "), "{text}");
    assert_eq!(lines[2], "preflight: 2 findings");
}

#[tokio::test]
async fn a_region_covered_only_by_another_regions_single_region_trail_is_named() {
    let w = World::start().await;
    w.trail("us-west-2", "west", false).await;

    let (code, report, stderr) = preflight(&w.moto, &["--regions", "eu-west-1,us-west-2"]);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert_eq!(places(&report), [at("trail", "eu-west-1")]);
    let f = finding(&report, "trail", "eu-west-1");
    assert!(f["problem"].as_str().unwrap().starts_with("no trail covers eu-west-1: "), "{f}");
    assert!(f["fix"].as_str().unwrap().starts_with("deploy with CreateTrail=true or create a trail"), "{f}");
}

#[tokio::test]
async fn a_trail_that_logs_only_reads_is_a_finding_and_an_advanced_write_selector_is_not() {
    use aws_sdk_cloudtrail::types::{AdvancedEventSelector, AdvancedFieldSelector, EventSelector, ReadWriteType};
    let w = World::start().await;
    w.trail("eu-west-1", "reads", false).await;
    let reads = EventSelector::builder().read_write_type(ReadWriteType::ReadOnly).include_management_events(true);
    let eu = w.cloudtrail_in("eu-west-1");
    eu.put_event_selectors().trail_name("reads").event_selectors(reads.build()).send().await.unwrap();
    w.trail("us-east-1", "writes", false).await;
    let field = |name: &str, value: &str| AdvancedFieldSelector::builder().field(name).equals(value).build().unwrap();
    let writes = AdvancedEventSelector::builder()
        .name("management writes")
        .field_selectors(field("eventCategory", "Management"))
        .field_selectors(field("readOnly", "false"))
        .build()
        .unwrap();
    let us = w.cloudtrail_in("us-east-1");
    us.put_event_selectors().trail_name("writes").advanced_event_selectors(writes).send().await.unwrap();

    let (code, report, stderr) = preflight(&w.moto, &["--regions", "eu-west-1,us-east-1"]);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert_eq!(places(&report), [at("trail", "eu-west-1")]);
    let f = finding(&report, "trail", "eu-west-1");
    let problem = f["problem"].as_str().unwrap();
    assert!(problem.contains("trail reads covers eu-west-1 but does not log management write events"), "{problem}");
    assert!(!problem.contains("stopped"), "{problem}");
}

/// moto's DescribeRegions gives each region AWS's opt-in status (ap-east-1 is `not-opted-in`, as in an account that
/// never enabled it), so no answer is injected here.
#[tokio::test]
async fn regions_not_enabled_or_not_regions_are_findings_and_are_not_looked_into() {
    let w = World::start().await;
    w.trail("eu-west-1", "main", true).await;
    w.enable_security_hub("eu-west-1").await;
    let setup = w.moto.calls().len();

    let (code, report, stderr) = preflight(&w.moto, &["--regions", "eu-west-1,ap-east-1,xx-fake-1", "--security-hub"]);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert_eq!(places(&report), [at("region", "ap-east-1"), at("region", "xx-fake-1")]);
    let disabled = finding(&report, "region", "ap-east-1");
    assert_eq!(disabled["problem"], "region ap-east-1 is not enabled in this account");
    assert_eq!(
        disabled["fix"],
        "enable it (Account console, or `aws account enable-region --region-name ap-east-1`) or remove it from Regions"
    );
    let unknown = finding(&report, "region", "xx-fake-1");
    assert!(unknown["problem"].as_str().unwrap().contains("xx-fake-1 is not a region"), "{unknown}");
    let calls = reads_after(&w.moto, setup);
    assert_eq!(regions_of(&calls, "DescribeTrails"), ["eu-west-1"], "nothing asked of a region not enabled");
    assert_eq!(hubs_of(&calls), ["eu-west-1"]);
}

#[tokio::test]
async fn security_hub_off_in_a_region_is_a_finding_there() {
    let w = World::start().await;
    w.trail("eu-west-1", "main", true).await;
    w.enable_security_hub("eu-west-1").await;

    let (code, report, stderr) = preflight(&w.moto, &["--regions", "eu-west-1,us-east-1", "--security-hub"]);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert_eq!(places(&report), [at("security_hub", "us-east-1")]);
    let f = finding(&report, "security_hub", "us-east-1");
    assert!(f["problem"].as_str().unwrap().starts_with("Security Hub is not enabled in us-east-1"), "{f}");
    assert_eq!(
        f["fix"],
        "enable it (`aws securityhub enable-security-hub --region us-east-1`) or set SecurityHubFindings=false"
    );
}

/// GetAccountSettings as Lambda's API reference shows it
/// (https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html).
fn account_settings(quota: u32, unreserved: u32) -> String {
    json!({
        "AccountLimit": {"CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800, "ConcurrentExecutions": quota,
                         "TotalCodeSize": 80530636800u64, "UnreservedConcurrentExecutions": unreserved},
        "AccountUsage": {"FunctionCount": 3, "TotalCodeSize": 1024}
    })
    .to_string()
}

/// moto has no GetAccountSettings (it answers 404): the proxy answers with AWS's documented shape instead.
#[tokio::test]
async fn a_reservation_the_account_cannot_hold_is_a_finding_and_an_unanswered_quota_an_error() {
    let w = World::start().await;
    w.trail("eu-west-1", "main", true).await;
    let settings = json!({"path": "/2016-08-19/account-settings"});

    w.moto.answer(settings.clone(), 1, 200, "application/json", &account_settings(10, 10));
    let (code, report, stderr) = preflight(&w.moto, &["--regions", "eu-west-1", "--function-concurrency", "5"]);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert_eq!(places(&report), [at("concurrency", "eu-west-1")]);
    let f = finding(&report, "concurrency", "eu-west-1");
    assert!(f["problem"].as_str().unwrap().contains("has 10 unreserved concurrent executions (quota 10)"), "{f}");
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .starts_with("leave FunctionConcurrency empty/0 (unreserved) or ask for a higher quota")
    );
    assert_eq!(report["checked"]["function_concurrency"], 5);

    w.moto.answer(settings, 1, 200, "application/json", &account_settings(1000, 105));
    let (code, report, _) = preflight(&w.moto, &["--regions", "eu-west-1", "--function-concurrency", "5"]);
    assert_eq!((code, places(&report)), (0, vec![]), "105 unreserved less 5 leaves the 100 Lambda keeps");

    // moto's own 404: the check could not run, which is never a pass.
    let (code, report, _) = preflight(&w.moto, &["--regions", "eu-west-1", "--function-concurrency", "5"]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["errors"][0]["check"], "concurrency");
    assert!(
        report["errors"][0]["error"].as_str().unwrap().starts_with("Lambda GetAccountSettings in eu-west-1 failed")
    );
    assert!(w.moto.faults().iter().all(|f| f["times"] == 0), "both answers were used");
}

#[tokio::test]
async fn a_member_role_that_cannot_be_assumed_is_a_finding_naming_the_account() {
    let w = World::start().await;
    w.trail("eu-west-1", "main", true).await;
    // STS's AccessDenied, as AWS answers a caller the role's trust policy does not admit (moto's STS assumes any
    // role).
    let denied = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
        <Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/ops is not authorized to perform: \
        sts:AssumeRole on resource: arn:aws:iam::222222222222:role/egress-guard-remediation</Message></Error>\
        <RequestId>limits-proxy</RequestId></ErrorResponse>";
    w.moto.answer(json!({"operation": "AssumeRole", "contains": "222222222222"}), 1, 403, "text/xml", denied);
    let setup = w.moto.calls().len();

    let args = ["--regions", "eu-west-1", "--member-accounts", "111111111111,222222222222"];
    let (code, report, stderr) = preflight(&w.moto, &args);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert_eq!(places(&report), [("member_role".to_owned(), Value::Null, json!("222222222222"))]);
    let problem = report["findings"][0]["problem"].as_str().unwrap();
    assert!(
        problem.starts_with("cannot assume arn:aws:iam::222222222222:role/egress-guard-remediation (AccessDenied: "),
        "{problem}"
    );
    assert!(problem.contains("the spoke is missing in 222222222222, or its role does not trust these credentials"));
    assert!(report["findings"][0]["fix"].as_str().unwrap().contains("run preflight with that role's permissions"));
    assert_eq!(regions_of(&reads_after(&w.moto, setup), "AssumeRole").len(), 2, "one try per member");
}

#[tokio::test]
async fn a_region_whose_trails_cannot_be_read_is_an_error_not_a_pass_and_exits_two() {
    let w = World::start().await;
    w.trail("eu-west-1", "main", true).await;
    let denied = json!({"__type": "AccessDeniedException", "message": "not authorized: cloudtrail:DescribeTrails"});
    let call = json!({"operation": "DescribeTrails", "region": "us-east-1"});
    w.moto.answer(call, 1, 400, "application/x-amz-json-1.1", &denied.to_string());

    let (code, report, stderr) = preflight(&w.moto, &["--regions", "eu-west-1,us-east-1"]);
    assert_eq!(code, 2, "{report:#}\n{stderr}");
    assert_eq!(report["findings"], json!([]), "eu-west-1 is covered; us-east-1 is unknown, not fine");
    assert_eq!(
        report["errors"],
        json!([{"check": "trail", "region": "us-east-1", "account": null,
                "error": "CloudTrail DescribeTrails in us-east-1 failed: AccessDeniedException: not authorized: cloudtrail:DescribeTrails"}])
    );
    let (_, text, _) = egress_guard(&w.moto, &["preflight", "--regions", "eu-west-1,us-east-1"]);
    assert_eq!(text, "preflight: nothing found\n", "the fault was used once: the next run reads us-east-1");
}

#[tokio::test]
async fn bad_input_is_exit_two_with_a_message_and_no_aws_call() {
    let moto = Moto::start();
    let cases: [(&[&str], &str); 5] = [
        (&["--region", "eu-west-1.evil.example"], "--region \"eu-west-1.evil.example\" is not a region name"),
        (&["--regions", "eu-west-1,not-a-region!"], "--regions \"not-a-region!\": not a region name"),
        (&["--function-concurrency", "0"], "--function-concurrency \"0\": 0 reserves nothing"),
        (&["--member-accounts", "12345"], "--member-accounts \"12345\": not an account id: 12 digits"),
        (&["--remediation-role-name", "a/b"], "--remediation-role-name \"a/b\": not an IAM role name"),
    ];
    for (args, message) in cases {
        let (code, stdout, stderr) = egress_guard(&moto, &[&["preflight"][..], args].concat());
        assert_eq!((code, stdout.as_str()), (2, ""), "{args:?}: {stderr}");
        assert!(stderr.starts_with(&format!("egress-guard: {message}")), "{args:?}: {stderr}");
    }
    assert_eq!(moto.calls(), Vec::<Value>::new(), "no call reached AWS");
}
