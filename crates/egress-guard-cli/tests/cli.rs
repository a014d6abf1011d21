//! The `egress-guard` binary against moto server: audit across regions (exact JSON, exit codes 0/1/2, a failing
//! region beside the others), `replay` and `fix` giving the Lambda's outcome and notice, `preflight`, and the kill
//! switch.

/// `preflight`: each check's finding, its errors and its bad input, with the calls it made. Under `cli/`, so that
/// cargo does not take it for a test binary of its own.
#[path = "cli/preflight.rs"]
mod preflight;

/// `pause` and `resume`, with the Lambda's handler in between.
#[path = "cli/pause.rs"]
mod pause;

/// `recommend --apply` on the evidence of the group's traffic: replaced interfaces, replies without TCP flags.
#[path = "cli/evidence.rs"]
mod evidence;

/// `--dry-run` on every command that changes something: no call but reads.
#[path = "cli/dry_run.rs"]
mod dry_run;

/// `undo`, after the Lambda's handler revoked groups in two regions and a member account.
#[path = "cli/undo.rs"]
mod undo;

/// `verify`, the deployment's canary, with the test playing CloudTrail and EventBridge.
#[path = "cli/verify.rs"]
mod verify;

/// `--help`: each verb lists its own options and formats, and the Lambda's settings only where it uses them.
#[path = "cli/help.rs"]
mod help;

use std::process::Command;

use egress_guard_core::{NoHistory, Settings};
use egress_guard_tests::{Moto, World, event_for, perm};
use serde_json::{Value, json};

/// Runs the binary against `moto`; returns (exit code, stdout, stderr).
fn egress_guard(moto: &Moto, args: &[&str]) -> (i32, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_egress-guard")).args(args).env_clear().envs(moto.env()).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

async fn default_group(ec2: &aws_sdk_ec2::Client) -> String {
    let f = aws_sdk_ec2::types::Filter::builder().name("group-name").values("default").build();
    let out = ec2.describe_security_groups().filters(f).send().await.unwrap();
    out.security_groups()[0].group_id().unwrap().to_owned()
}

/// Takes the region's default group's allow-all egress away, so that only the test's groups are open.
async fn close_default_group(ec2: &aws_sdk_ec2::Client) {
    let default = default_group(ec2).await;
    let all = perm("-1", None, &["0.0.0.0/0"], &[]);
    ec2.revoke_security_group_egress().group_id(&default).ip_permissions(all).send().await.unwrap();
}

/// An expected audit finding on `0.0.0.0/0`: to revoke, or exempt with its reason.
fn finding(region: &str, group: &str, name: &str, vpc: &str, traffic: &str, exempt: Option<&str>) -> Value {
    let (protocol, ports) = match traffic {
        "all traffic" => ("-1", Value::Null),
        _ => ("tcp", json!({"from": 443, "to": 443})),
    };
    json!({"region": region, "account": "123456789012", "group_id": group, "group_name": name, "vpc_id": vpc, "protocol": protocol, "ports": ports,
           "traffic": traffic, "destination": "0.0.0.0/0", "kind": "open", "action": if exempt.is_some() { "exempt" } else { "revoke" },
           "reason": exempt})
}

#[tokio::test]
async fn audit_reports_three_regions_exactly_and_exits_one() {
    let w = World::start().await;
    let (use1, euw1, apse2) = (w.ec2_in("us-east-1"), w.ec2_in("eu-west-1"), w.ec2_in("ap-southeast-2"));
    let vpc_of = |ec2: &aws_sdk_ec2::Client| {
        let ec2 = ec2.clone();
        async move {
            let vpcs = ec2.describe_vpcs().send().await.unwrap();
            vpcs.vpcs()[0].vpc_id().unwrap().to_owned()
        }
    };
    let (v1, v2, v3) = (vpc_of(&use1).await, vpc_of(&euw1).await, vpc_of(&apse2).await);
    let open_group =
        use1.create_security_group().group_name("web").description("web").vpc_id(&v1).send().await.unwrap();
    let open_group = open_group.group_id().unwrap().to_owned();
    use1.authorize_security_group_egress()
        .group_id(&open_group)
        .ip_permissions(perm("tcp", Some((443, 443)), &["10.0.0.0/8", "0.0.0.0/0"], &[]))
        .send()
        .await
        .unwrap();
    let restricted = w.group_with(&v2, "db", vec![perm("tcp", Some((5432, 5432)), &["10.20.0.0/16"], &[])]).await;
    let exempt =
        apse2.create_security_group().group_name("proxy").description("proxy").vpc_id(&v3).send().await.unwrap();
    let exempt = exempt.group_id().unwrap().to_owned();
    let tag = aws_sdk_ec2::types::Tag::builder().key("egress-guard:exempt").value("vendor proxy").build();
    apse2.create_tags().resources(&exempt).tags(tag).send().await.unwrap();
    let defaults = [default_group(&use1).await, default_group(&euw1).await, default_group(&apse2).await];

    let (code, stdout, stderr) =
        egress_guard(&w.moto, &["audit", "--regions", "us-east-1,eu-west-1,ap-southeast-2", "--format", "json"]);
    assert_eq!(code, 1, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let mut findings = vec![
        finding("ap-southeast-2", &defaults[2], "default", &v3, "all traffic", None),
        finding("ap-southeast-2", &exempt, "proxy", &v3, "all traffic", Some("tag egress-guard:exempt: vendor proxy")),
        finding("eu-west-1", &defaults[1], "default", &v2, "all traffic", None),
        finding("us-east-1", &defaults[0], "default", &v1, "all traffic", None),
        finding("us-east-1", &open_group, "web", &v1, "all traffic", None),
        finding("us-east-1", &open_group, "web", &v1, "tcp 443", None),
    ];
    findings.sort_by_key(|f| (f["region"].to_string(), f["group_id"].to_string(), f["traffic"].to_string()));
    let expected = json!({
        "schema": "egress-guard.audit/v1",
        "regions": [
            {"region": "ap-southeast-2", "groups": 2, "error": null},
            {"region": "eu-west-1", "groups": 2, "error": null},
            {"region": "us-east-1", "groups": 2, "error": null},
        ],
        "findings": findings,
        "summary": {"regions": 3, "regions_failed": 0, "groups": 6, "open_rules": 6, "to_revoke": 5, "split_ranges": 0},
    });
    assert_eq!(report, expected);
    assert!(!stdout.contains(&restricted), "the restricted group has no finding");

    // The same audit as Security Hub findings: one per group and open destination, open or kept on purpose.
    let (code, stdout, stderr) =
        egress_guard(&w.moto, &["audit", "--regions", "us-east-1,eu-west-1,ap-southeast-2", "--format", "asff"]);
    assert_eq!(code, 1, "{stderr}");
    let asff: Value = serde_json::from_str(&stdout).unwrap();
    let summary: Vec<(String, String, String, String)> = asff["Findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let text = |v: &Value| v.as_str().unwrap().to_owned();
            (
                text(&f["Id"]),
                text(&f["Workflow"]["Status"]),
                text(&f["Compliance"]["Status"]),
                text(&f["Severity"]["Label"]),
            )
        })
        .collect();
    let id = |region: &str, group: &str| format!("egress-guard/123456789012/{region}/{group}/0.0.0.0/0");
    let open = |region: &str, group: &str| (id(region, group), "NEW".into(), "FAILED".into(), "HIGH".into());
    let mut want = vec![
        open("ap-southeast-2", &defaults[2]),
        (id("ap-southeast-2", &exempt), "SUPPRESSED".into(), "WARNING".into(), "LOW".into()),
        open("eu-west-1", &defaults[1]),
        open("us-east-1", &defaults[0]),
        open("us-east-1", &open_group),
    ];
    want.sort();
    let mut got = summary;
    got.sort();
    assert_eq!(got, want);
    let web = asff["Findings"].as_array().unwrap().iter().find(|f| f["Id"] == id("us-east-1", &open_group)).unwrap();
    assert_eq!(web["ProductArn"], "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default");
    assert_eq!(web["Resources"][0]["Details"]["AwsEc2SecurityGroup"]["VpcId"], json!(v1));
    assert_eq!(web["ProductFields"]["egress-guard/open_rules"], "all traffic to 0.0.0.0/0, tcp 443 to 0.0.0.0/0");
}

#[tokio::test]
async fn audit_exits_zero_when_nothing_is_open_and_prints_a_table() {
    let w = World::start().await;
    close_default_group(&w.ec2).await;
    let (code, stdout, stderr) = egress_guard(&w.moto, &["audit", "--regions", "eu-west-1", "--format", "table"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "0 open rule(s) (0 in split ranges), 0 to revoke, in 1 group(s) across 1 region(s); 0 region(s) failed"
        ),
        "{stdout}"
    );
}

#[tokio::test]
async fn audit_reports_a_failing_region_beside_the_others_and_exits_two() {
    let w = World::start().await;
    // moto answers HTTP 500 for a region it does not know: the region fails, the other is still reported.
    let (code, stdout, stderr) =
        egress_guard(&w.moto, &["audit", "--regions", "eu-west-1,xx-fake-1", "--format", "json"]);
    assert_eq!(code, 2, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["regions"][0]["region"], "eu-west-1");
    assert_eq!(report["regions"][0]["error"], Value::Null);
    assert_eq!(report["findings"].as_array().unwrap().len(), 1, "eu-west-1's default group is still reported");
    assert_eq!(report["regions"][1]["region"], "xx-fake-1");
    assert!(report["regions"][1]["error"].as_str().unwrap().contains("HTTP 500"), "{stdout}");
}

#[tokio::test]
async fn audit_exits_two_when_aws_cannot_be_reached() {
    let moto = Moto::start();
    let mut env = moto.env();
    env[0].1 = format!("http://127.0.0.1:{}", egress_guard_tests::free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_egress-guard")).args(["audit"]).env_clear().envs(env).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listing the account's regions"));
}

#[tokio::test]
async fn replay_gives_the_lambdas_outcome_and_notice() {
    let w = World::start().await;
    let (topic, queue) = w.topic_with_queue().await;
    // Two identical groups in two VPCs: one for the Lambda's handler, one for the CLI.
    let (vpc_a, vpc_b) = (w.dual_stack_vpc().await, w.dual_stack_vpc().await);
    let (a, b) = (w.group(&vpc_a, "web").await, w.group(&vpc_b, "web").await);

    let fleet = egress_guard_aws::Fleet::new(w.config.clone(), Default::default());
    let notifier = egress_guard_aws::SnsNotifier::new(w.sns.clone(), &topic);
    let event = event_for("create-security-group", &a);
    let answer =
        egress_guard_lambda::handle(event, &Settings::default(), None, (&fleet, &notifier, &NoHistory), || true)
            .await
            .result
            .unwrap();
    let egress_guard_lambda::InvocationReport::Event(lambda) = answer else { panic!("not an event answer") };
    let lambda_notice = w.notices(&queue).await.remove(0);

    let path = std::env::temp_dir().join(format!("egress-guard-replay-{b}.json"));
    std::fs::write(&path, event_for("create-security-group", &b).to_string()).unwrap();
    let (code, stdout, stderr) =
        egress_guard(&w.moto, &["replay", path.to_str().unwrap(), "--topic-arn", &topic, "--format", "json"]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(code, 0, "{stderr}");
    let cli: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(cli["response"]["results"][0]["outcome"], "remediated");
    assert_eq!(cli["response"]["results"][0]["outcome"], json!(lambda.results[0].outcome));
    assert_eq!(cli["response"]["results"][0]["revoked"], json!(lambda.results[0].revoked));
    let cli_notice = w.notices(&queue).await.remove(0);
    // The same but for the ids, and the Exposed line, whose revoke time is each run's own (checked to be there).
    let same = |n: &Value, key: &str| {
        let text = n[key].as_str().unwrap();
        let text = text.replace(&a, "GROUP").replace(&b, "GROUP").replace(&vpc_a, "VPC").replace(&vpc_b, "VPC");
        let exposed = |l: &str| if l.starts_with("Exposed  ") { "Exposed  (its own times)" } else { l }.to_owned();
        text.split_inclusive('\n').map(exposed).collect::<String>()
    };
    assert!(cli_notice["Message"].as_str().unwrap().contains("\nExposed  "), "{cli_notice}");
    assert_eq!(same(&cli_notice, "Subject"), same(&lambda_notice, "Subject"));
    assert_eq!(same(&cli_notice, "Message"), same(&lambda_notice, "Message"));
    assert!(w.egress(&b).await.is_empty());
}

/// `replay --region` acts in that region, and the notice and its undo command name it, not the event's region.
#[tokio::test]
async fn replay_in_another_region_names_that_region_in_the_undo() {
    let w = World::start().await;
    let east = w.ec2_in("us-east-1");
    let vpc = east.create_vpc().cidr_block("10.0.0.0/16").amazon_provided_ipv6_cidr_block(true).send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap();
    let g = east.create_security_group().group_name("web").description("web").vpc_id(vpc).send().await.unwrap();
    let g = g.group_id().unwrap().to_owned();
    let path = std::env::temp_dir().join(format!("egress-guard-replay-{g}.json"));
    std::fs::write(&path, event_for("create-security-group", &g).to_string()).unwrap();
    let (code, stdout, stderr) = egress_guard(&w.moto, &["replay", path.to_str().unwrap(), "--region", "us-east-1"]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("authorize-security-group-egress --region us-east-1 --group-id {g}")), "{stdout}");
    assert!(stdout.contains("Region us-east-1") && !stdout.contains("eu-west-1"), "{stdout}");
    let out = east.describe_security_groups().group_ids(&g).send().await.unwrap();
    assert!(out.security_groups()[0].ip_permissions_egress().is_empty(), "revoked in us-east-1");
}

#[tokio::test]
async fn fix_remediates_one_group_and_dry_run_changes_nothing() {
    let w = World::start().await;
    let vpc = w.dual_stack_vpc().await;
    let g = w.group(&vpc, "legacy").await;

    let (code, stdout, stderr) = egress_guard(&w.moto, &["fix", "--group-id", &g, "--dry-run"]);
    assert_eq!(code, 1, "a dry run that finds open egress exits 1: {stderr}");
    assert!(stdout.contains("DRY RUN: egress-guard WOULD REVOKE 2 egress rules"), "{stdout}");
    assert_eq!(w.egress(&g).await.len(), 2);

    let (code, stdout, stderr) = egress_guard(&w.moto, &["fix", "--group-id", &g]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with(&format!("{g}: remediated")), "{stdout}");
    assert!(stdout.contains("aws ec2 authorize-security-group-egress --region eu-west-1"), "{stdout}");
    assert!(w.egress(&g).await.is_empty());

    let (code, _, stderr) = egress_guard(&w.moto, &["fix", "--group-id", "sg-nope"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not a security group id"), "{stderr}");
}

#[tokio::test]
async fn fix_imports_the_findings_and_puts_the_event_when_asked() {
    let w = World::start().await;
    aws_sdk_securityhub::Client::new(&w.config).enable_security_hub().send().await.unwrap();
    let events = aws_sdk_eventbridge::Client::new(&w.config);
    let (queue, queue_arn) = w.queue("outcomes").await;
    let pattern = json!({"source": ["egress-guard"]}).to_string();
    events.put_rule().name("outcomes").event_pattern(pattern).send().await.unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder().id("q").arn(queue_arn).build().unwrap();
    events.put_targets().rule("outcomes").targets(target).send().await.unwrap();
    let vpc = w.dual_stack_vpc().await;
    let g = w.group(&vpc, "legacy").await;

    let args = ["fix", "--group-id", &g, "--security-hub", "--event-bus", "default", "--format", "asff"];
    let (code, stdout, stderr) = egress_guard(&w.moto, &args);
    assert_eq!(code, 0, "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).unwrap();
    let ids: Vec<&str> = printed["Findings"].as_array().unwrap().iter().map(|f| f["Id"].as_str().unwrap()).collect();
    let id = |d: &str| format!("egress-guard/123456789012/eu-west-1/{g}/{d}");
    assert_eq!(ids, [id("0.0.0.0/0"), id("::/0")]);

    // Read back on a thread of its own: GetFindings' deserializer needs more stack, in a debug build, than a test has.
    let config = w.config.clone();
    let imported = std::thread::Builder::new().stack_size(64 << 20).spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let found = rt.block_on(aws_sdk_securityhub::Client::new(&config).get_findings().send()).unwrap();
        let mut found: Vec<(String, String)> = found
            .findings()
            .iter()
            .map(|f| (f.id().unwrap().to_owned(), f.workflow().unwrap().status().unwrap().as_str().to_owned()))
            .collect();
        found.sort();
        found
    });
    let imported = imported.unwrap().join().unwrap();
    assert_eq!(imported, [(id("0.0.0.0/0"), "RESOLVED".to_owned()), (id("::/0"), "RESOLVED".to_owned())]);
    let routed: Vec<Value> = w.drain(&queue).await.iter().map(|b| serde_json::from_str(b).unwrap()).collect();
    assert_eq!(routed.len(), 1, "{routed:?}");
    assert_eq!(routed[0]["detail-type"], "Security Group Egress Remediated");
    assert_eq!(routed[0]["detail"]["group"]["id"], json!(g));
    assert!(w.moto.rejected().is_empty(), "{:?}", w.moto.rejected());
}

#[tokio::test]
async fn audit_reports_split_ranges_as_their_own_kind_in_table_and_json() {
    let w = World::start().await;
    let vpc = w.ec2.describe_vpcs().send().await.unwrap().vpcs()[0].vpc_id().unwrap().to_owned();
    let halves = perm("tcp", Some((443, 443)), &["0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8"], &[]);
    let split = w.group_with(&vpc, "sneaky", vec![halves]).await;
    let narrow = w.group_with(&vpc, "db", vec![perm("tcp", Some((5432, 5432)), &["0.0.0.0/1"], &[])]).await;
    close_default_group(&w.ec2).await;

    let (code, stdout, stderr) = egress_guard(&w.moto, &["audit", "--regions", "eu-west-1", "--format", "json"]);
    assert_eq!(code, 1, "a split range is something open: {stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let found: Vec<(&str, &str, &str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap();
            (s("group_id"), s("destination"), s("kind"), s("action"))
        })
        .collect();
    assert_eq!(
        found,
        [
            (split.as_str(), "0.0.0.0/1", "split", "report_only"),
            (split.as_str(), "128.0.0.0/1", "split", "report_only")
        ],
        "the halves, not the 10.0.0.0/8 inside one, nor the lone half of {narrow}"
    );
    assert_eq!(report["summary"]["split_ranges"], 2);

    let (_, table, _) = egress_guard(&w.moto, &["audit", "--regions", "eu-west-1", "--format", "table"]);
    assert_eq!(table.matches("SPLIT RANGE").count(), 2, "{table}");
    let (_, revoking, _) =
        egress_guard(&w.moto, &["audit", "--regions", "eu-west-1", "--format", "json", "--revoke-split-ranges"]);
    let report: Value = serde_json::from_str(&revoking).unwrap();
    assert_eq!(report["summary"]["to_revoke"], 2, "{revoking}");
}

/// A flow-log line of the custom (version 5) format the recommendation test writes to CloudWatch Logs.
const V5_FORMAT: &str = "${version} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} \
                         ${end} ${action} ${log-status} ${tcp-flags} ${flow-direction} ${pkt-dstaddr} ${pkt-dst-aws-service}";
const V2_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// Seeds a group used by two interfaces (and a third interface of another group as noise), with open egress and
/// HTTPS accepted inbound; interface A logs to CloudWatch Logs in a custom format, the subnet logs to S3 in AWS's
/// default format, under another account's folder (a shared VPC's owner). The records: flows started (to the VPC, the Internet over IPv4 and IPv6, S3 through its
/// prefix list), replies (by TCP flags and by the port the group accepts), inbound, rejected, SKIPDATA, metadata,
/// and the noise interface's own traffic. Returns (world, group, interface A, interface B, S3 prefix list id).
async fn observed_group() -> (World, String, String, String, String) {
    let w = World::start().await;
    let vpc = w.dual_stack_vpc().await;
    let subnet = w.subnet(&vpc, "10.0.1.0/24").await;
    let group = w.group(&vpc, "app").await;
    let inbound = perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[]);
    w.ec2.authorize_security_group_ingress().group_id(&group).ip_permissions(inbound).send().await.unwrap();
    let other = w.group(&vpc, "other").await;
    let a = w.interface(&subnet, &[&group], "10.0.1.10").await;
    let b = w.interface(&subnet, &[&group], "10.0.1.11").await;
    let noise = w.interface(&subnet, &[&other], "10.0.1.12").await;
    let (s3_list, s3_cidrs) = w.managed_prefix_list("s3").await;
    let s3_address = s3_cidrs[0].split('/').next().unwrap().to_owned();

    let t = chrono::Utc::now().timestamp() - 3600;
    let v5 =
        |src: &str, dst: &str, sport: u16, dport: u16, proto: u8, action: &str, flags: u16, dir: &str, svc: &str| {
            format!("5 {a} {src} {dst} {sport} {dport} {proto} {t} {} {action} OK {flags} {dir} {dst} {svc}", t + 60)
        };
    w.cloudwatch_flow_log(&a, "/vpc/flow/app", Some(V5_FORMAT)).await;
    w.put_flow_records(
        "/vpc/flow/app",
        &a,
        &[
            v5("10.0.1.10", "10.0.2.50", 40001, 5432, 6, "ACCEPT", 2, "egress", "-"),
            v5("10.0.1.10", "203.0.113.10", 40002, 443, 6, "ACCEPT", 3, "egress", "-"),
            v5("10.0.1.10", "203.0.113.11", 40003, 443, 6, "ACCEPT", 2, "egress", "-"),
            v5("10.0.1.10", &s3_address, 40004, 443, 6, "ACCEPT", 2, "egress", "S3"),
            v5("2001:db8::10", "2606:4700::1111", 40005, 53, 17, "ACCEPT", 0, "egress", "-"),
            // Replies: a SYN-ACK leaving, and a reply from the port the group accepts inbound (no handshake in it) on
            // a connection the peer was seen opening (its SYN coming in).
            v5("10.0.1.10", "198.51.100.7", 443, 50123, 6, "ACCEPT", 18, "egress", "-"),
            v5("10.0.1.10", "198.51.100.8", 443, 50124, 6, "ACCEPT", 0, "egress", "-"),
            v5("198.51.100.8", "10.0.1.10", 50124, 443, 6, "ACCEPT", 2, "ingress", "-"),
            v5("198.51.100.7", "10.0.1.10", 50123, 443, 6, "ACCEPT", 2, "ingress", "-"),
            v5("10.0.1.10", "192.0.2.66", 40006, 25, 6, "REJECT", 2, "egress", "-"),
            v5("10.0.1.10", "169.254.169.254", 40007, 80, 6, "ACCEPT", 2, "egress", "-"),
            format!("5 {a} - - - - - {t} {} - SKIPDATA - - - -", t + 60),
        ],
    )
    .await;
    let s3_log = w.s3_flow_log(&subnet, "flow-logs-app").await;
    let v2 = |eni: &str, src: &str, dst: &str, sport: u16, dport: u16| {
        format!("2 123456789012 {eni} {src} {dst} {sport} {dport} 6 10 840 {t} {} ACCEPT OK", t + 60)
    };
    // The subnet's log is owned by another account, as the VPC owner's is in a shared VPC: the key says so.
    w.put_flow_file(
        "flow-logs-app",
        "210987654321",
        &s3_log,
        V2_HEADER,
        &[
            v2(&b, "10.0.1.11", "10.0.3.9", 41000, 6379),
            v2(&b, "10.0.1.11", "203.0.113.10", 41001, 443),
            // A reply without TCP flags: the connection is seen coming in, so it needs no rule.
            v2(&b, "198.51.100.9", "10.0.1.11", 51000, 443),
            v2(&b, "10.0.1.11", "198.51.100.9", 443, 51000),
            v2(&a, "10.0.1.10", "203.0.113.10", 40008, 443),
            v2(&noise, "10.0.1.12", "192.0.2.200", 42000, 8443),
        ],
    )
    .await;
    (w, group, a, b, s3_list)
}

#[tokio::test]
async fn recommend_proposes_what_the_interfaces_started_and_apply_leaves_exactly_that() {
    let (w, group, a, b, s3_list) = observed_group().await;

    let (code, stdout, stderr) = egress_guard(&w.moto, &["recommend", "--group-id", &group, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let proposal: Value = serde_json::from_str(&stdout).unwrap();
    let rules: Vec<Value> = proposal["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let rule: egress_guard_core::EgressRule = serde_json::from_value(p["rule"].clone()).unwrap();
            json!([rule.to_string(), p["flows"], p["basis"]["kind"]])
        })
        .collect();
    assert_eq!(
        rules,
        vec![
            json!(["tcp 443 to 203.0.113.10/31", 4, "observed"]),
            json!([format!("tcp 443 to {s3_list}"), 1, "prefix_list"]),
            json!(["tcp 5432 to 10.0.0.0/16", 1, "vpc"]),
            json!(["tcp 6379 to 10.0.0.0/16", 1, "vpc"]),
            json!(["udp 53 to 2606:4700::1111/128", 1, "observed"]),
        ],
        "{stdout}"
    );
    let coverage =
        |eni: &str| proposal["interfaces"].as_array().unwrap().iter().find(|c| c["interface_id"] == eni).cloned();
    let a_seen = coverage(&a).unwrap();
    assert_eq!(
        [
            &a_seen["started"],
            &a_seen["replies"],
            &a_seen["inbound"],
            &a_seen["rejected"],
            &a_seen["skipped"],
            &a_seen["link_local"]
        ],
        [&json!(6), &json!(2), &json!(2), &json!(1), &json!(1), &json!(1)],
        "{a_seen}"
    );
    let b_seen = coverage(&b).unwrap();
    assert_eq!([&b_seen["started"], &b_seen["replies"]], [&json!(2), &json!(1)], "{b_seen}");
    let open: Vec<String> = proposal["open_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::from_value::<egress_guard_core::EgressRule>(r.clone()).unwrap().to_string())
        .collect();
    assert_eq!(open, ["all traffic to 0.0.0.0/0", "all traffic to ::/0"]);
    let gaps: Vec<&str> = proposal["gaps"].as_array().unwrap().iter().map(|g| g["kind"].as_str().unwrap()).collect();
    assert!(!gaps.iter().any(|g| ["no_flow_logs", "unread", "truncated", "does_not_fit"].contains(g)), "{gaps:?}");
    assert!(gaps.contains(&"skipped"), "the SKIPDATA record is told as a gap: {gaps:?}");

    // The flow logs are minutes old and a record was skipped: applying needs the user to accept that.
    let (code, _, stderr) = egress_guard(&w.moto, &["recommend", "--group-id", &group, "--apply"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("(--accept-gaps applies it despite them)"), "{stderr}");
    let mut untouched = w.egress(&group).await;
    untouched.sort();
    assert_eq!(untouched, ["all traffic to 0.0.0.0/0", "all traffic to ::/0"], "refused: nothing changed");

    // A dry run decides as --apply would, and changes nothing.
    let dry = ["recommend", "--dry-run", "--group-id", &group, "--apply", "--accept-gaps"];
    let (code, stdout, stderr) = egress_guard(&w.moto, &dry);
    assert_eq!(code, 1, "as fix --dry-run: open egress found and left: {stderr}\n{stdout}");
    assert!(stdout.contains("Dry run: --apply would authorize 5 rules"), "{stdout}");
    let mut untouched = w.egress(&group).await;
    untouched.sort();
    assert_eq!(untouched, ["all traffic to 0.0.0.0/0", "all traffic to ::/0"], "a dry run changed the group");

    // EC2 refuses the new rules (the group is at its quota): nothing is revoked, and the cause is told once.
    w.moto.inject_ec2_error("AuthorizeSecurityGroupEgress", &group, 1, "RulesPerSecurityGroupLimitExceeded");
    let accepting = ["recommend", "--group-id", &group, "--apply", "--accept-gaps"];
    let (code, _, stderr) = egress_guard(&w.moto, &accepting);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(
        stderr.matches("AuthorizeSecurityGroupEgress failed: RulesPerSecurityGroupLimitExceeded").count(),
        1,
        "told once: {stderr}"
    );
    assert!(w.moto.faults().iter().all(|f| f["times"] == 0), "the refusal was given");
    let mut untouched = w.egress(&group).await;
    untouched.sort();
    assert_eq!(untouched, ["all traffic to 0.0.0.0/0", "all traffic to ::/0"], "authorize failed: nothing revoked");

    let apply = ["recommend", "--group-id", &group, "--apply", "--accept-gaps", "--format", "json"];
    let (code, stdout, stderr) = egress_guard(&w.moto, &apply);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let applied: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(applied["response"]["results"][0]["outcome"], "remediated", "{stdout}");
    let mut after = w.egress(&group).await;
    after.sort();
    let mut want = vec![
        "tcp 443 to 203.0.113.10/31".to_owned(),
        format!("tcp 443 to {s3_list}"),
        "tcp 5432 to 10.0.0.0/16".to_owned(),
        "tcp 6379 to 10.0.0.0/16".to_owned(),
        "udp 53 to 2606:4700::1111/128".to_owned(),
    ];
    want.sort();
    assert_eq!(after, want, "the group holds exactly the proposal and nothing open");
}

#[tokio::test]
async fn recommend_without_flow_logs_says_so_and_refuses_to_apply() {
    let w = World::start().await;
    let vpc = w.dual_stack_vpc().await;
    let subnet = w.subnet(&vpc, "10.0.1.0/24").await;
    let group = w.group(&vpc, "dark").await;
    w.interface(&subnet, &[&group], "10.0.1.20").await;

    let (code, stdout, stderr) = egress_guard(&w.moto, &["recommend", "--group-id", &group]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("No flow logs: enable them to get a proposal."), "{stdout}");
    let (code, _, stderr) = egress_guard(&w.moto, &["recommend", "--group-id", &group, "--apply"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("has no flow logs"), "{stderr}");
    let mut egress = w.egress(&group).await;
    egress.sort();
    assert_eq!(egress, ["all traffic to 0.0.0.0/0", "all traffic to ::/0"], "nothing authorized, nothing revoked");
}
