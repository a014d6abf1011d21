//! `recommend --apply` acts on the group's traffic over the window, not on what its interfaces show now: an interface
//! attached an hour ago under a month-old subnet log is an hour of evidence (and the records of the interface it
//! replaced are counted, not dropped), so `--apply` refuses; an active-mode FTP server's data connections, leaving from
//! the port it serves with no connection seen coming in, are traffic it started, and the proposal keeps them (and its
//! replies, told only by connections seen coming in, hold `--apply` back until accepted). Both with AWS's default (v2)
//! record format, which has no TCP flags.

use egress_guard_tests::{Moto, World, perm};
use serde_json::{Value, json};

use super::egress_guard;

const V2_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
const DAY: i64 = 86_400;

/// The subnet's flow log to S3 as `DescribeFlowLogs` tells it of a log made `days` ago (moto dates every log now),
/// for the next `times` calls.
fn created_days_ago(moto: &Moto, flow_log: &str, subnet: &str, bucket: &str, days: i64, times: u32) {
    let created = chrono::Utc::now() - chrono::Duration::days(days);
    let body = format!(
        r#"<DescribeFlowLogsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>limits-proxy</requestId><flowLogSet><item><creationTime>{}</creationTime><deliverLogsStatus>SUCCESS</deliverLogsStatus><flowLogId>{flow_log}</flowLogId><flowLogStatus>ACTIVE</flowLogStatus><logDestinationType>s3</logDestinationType><logDestination>arn:aws:s3:::{bucket}</logDestination><logFormat>${{version}} ${{account-id}} ${{interface-id}} ${{srcaddr}} ${{dstaddr}} ${{srcport}} ${{dstport}} ${{protocol}} ${{packets}} ${{bytes}} ${{start}} ${{end}} ${{action}} ${{log-status}}</logFormat><resourceId>{subnet}</resourceId><trafficType>ALL</trafficType><maxAggregationInterval>600</maxAggregationInterval></item></flowLogSet></DescribeFlowLogsResponse>"#,
        created.format("%Y-%m-%dT%H:%M:%S.000Z")
    );
    moto.answer(json!({"operation": "DescribeFlowLogs"}), times, 200, "text/xml;charset=UTF-8", &body);
}

fn v2(eni: &str, src: &str, dst: &str, sport: u16, dport: u16, at: i64) -> String {
    format!("2 123456789012 {eni} {src} {dst} {sport} {dport} 6 10 840 {at} {} ACCEPT OK", at + 60)
}

fn gap_kinds(proposal: &Value) -> Vec<String> {
    proposal["gaps"].as_array().unwrap().iter().map(|g| g["kind"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn an_interface_attached_an_hour_ago_under_a_month_old_log_is_an_hour_of_evidence_and_apply_refuses() {
    let w = World::start().await;
    let vpc = w.dual_stack_vpc().await;
    let subnet = w.subnet(&vpc, "10.0.1.0/24").await;
    let group = w.group(&vpc, "batch").await;
    // Today's instance, launched an hour ago in place of the one that ran the nightly job for 13 days.
    let eni = w.interface(&subnet, &[&group], "10.0.1.10").await;
    let run = w.ec2.run_instances().image_id("ami-12c6146b").min_count(1).max_count(1).subnet_id(&subnet).send();
    let instance = run.await.unwrap().instances()[0].instance_id().unwrap().to_owned();
    let attach = w.ec2.attach_network_interface().network_interface_id(&eni).instance_id(&instance).device_index(1);
    attach.send().await.unwrap();
    let replaced = "eni-0f0e0d0c0b0a09080";
    let bucket = "flow-logs-batch";
    let log = w.s3_flow_log(&subnet, bucket).await;
    created_days_ago(&w.moto, &log, &subnet, bucket, 30, 4);
    let now = chrono::Utc::now().timestamp();
    let mut lines: Vec<String> =
        (1..=13).map(|d| v2(replaced, "10.0.1.9", "198.51.100.7", 40000, 8443, now - d * DAY)).collect();
    lines.push(v2(&eni, "10.0.1.10", "203.0.113.10", 40001, 443, now - 1800));
    w.put_flow_file(bucket, "123456789012", &log, V2_HEADER, &lines).await;
    let before = w.egress(&group).await;

    let (code, stdout, stderr) = egress_guard(&w.moto, &["recommend", "--group-id", &group, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let proposal: Value = serde_json::from_str(&stdout).unwrap();
    let kinds = gap_kinds(&proposal);
    assert!(kinds.contains(&"interfaces_younger".to_owned()), "{kinds:?}");
    let others = proposal["gaps"].as_array().unwrap().iter().find(|g| g["kind"] == "other_interfaces").cloned();
    assert_eq!(others.map(|g| g["records"].clone()), Some(json!(13)), "the replaced interface's records are counted");
    let coverage = &proposal["interfaces"][0];
    assert_eq!(coverage["days_covered"], 0, "covered from its attachment, not the log's creation: {coverage}");

    let (code, _, stderr) = egress_guard(&w.moto, &["recommend", "--group-id", &group, "--apply"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("the group's interfaces cover 0 h of the 14 days"), "{stderr}");
    assert_eq!(w.egress(&group).await, before, "refused: the nightly job's egress is still open");
}

#[tokio::test]
async fn an_active_ftp_servers_data_connections_are_traffic_it_started_without_tcp_flags() {
    let w = World::start().await;
    let vpc = w.dual_stack_vpc().await;
    let subnet = w.subnet(&vpc, "10.0.1.0/24").await;
    let group = w.group(&vpc, "ftp").await;
    let control = perm("tcp", Some((20, 21)), &["0.0.0.0/0"], &[]);
    w.ec2.authorize_security_group_ingress().group_id(&group).ip_permissions(control).send().await.unwrap();
    let eni = w.interface(&subnet, &[&group], "10.0.1.10").await;
    let bucket = "flow-logs-ftp";
    let log = w.s3_flow_log(&subnet, bucket).await;
    created_days_ago(&w.moto, &log, &subnet, bucket, 30, 4);
    let t = chrono::Utc::now().timestamp() - 3600;
    let lines = [
        // The client's control connection in, and the server's replies on it: no rule needed.
        v2(&eni, "198.51.100.20", "10.0.1.10", 50000, 21, t),
        v2(&eni, "10.0.1.10", "198.51.100.20", 21, 50000, t),
        // Active mode: the server connects from port 20 to the port the client named. Nothing came in to port 20.
        v2(&eni, "10.0.1.10", "198.51.100.20", 20, 40000, t + 5),
        // Its own updates.
        v2(&eni, "10.0.1.10", "203.0.113.10", 40001, 443, t + 10),
    ];
    w.put_flow_file(bucket, "123456789012", &log, V2_HEADER, &lines).await;

    let (code, stdout, stderr) = egress_guard(&w.moto, &["recommend", "--group-id", &group, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let proposal: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(proposal["interfaces"][0]["replies"], 1, "only the control connection's reply: {stdout}");
    // Without tcp-flags, even the control connection's reply is a guess: told, and it holds --apply back.
    assert!(gap_kinds(&proposal).contains(&"replies_without_flags".to_owned()), "{stdout}");
    let before = w.egress(&group).await;
    let (code, _, stderr) = egress_guard(&w.moto, &["recommend", "--group-id", &group, "--apply"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("add ${tcp-flags} to the flow log's format"), "{stderr}");
    assert_eq!(w.egress(&group).await, before);
    let accepting = ["recommend", "--group-id", &group, "--apply", "--accept-gaps"];
    let (code, stdout, stderr) = egress_guard(&w.moto, &accepting);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let mut after = w.egress(&group).await;
    after.sort();
    // What the server started, as the test wrote it: every one still allowed, nothing open.
    assert_eq!(after, ["tcp 40000 to 198.51.100.20/32", "tcp 443 to 203.0.113.10/32"]);
}

#[tokio::test]
async fn past_1024_destinations_no_proposed_block_is_wider_than_a_slash_8() {
    let w = World::start().await;
    let vpc = w.dual_stack_vpc().await;
    let subnet = w.subnet(&vpc, "10.0.1.0/24").await;
    let group = w.group(&vpc, "crawler").await;
    let eni = w.interface(&subnet, &[&group], "10.0.1.10").await;
    let bucket = "flow-logs-crawler";
    let log = w.s3_flow_log(&subnet, bucket).await;
    created_days_ago(&w.moto, &log, &subnet, bucket, 30, 2);
    let t = chrono::Utc::now().timestamp() - 3600;
    // 1,100 destinations, one in each /16 from 12.0.0.0 on: 12/8 to 15/8 whole, and part of 16/8.
    let lines: Vec<String> = (0..1100u32)
        .map(|i| v2(&eni, "10.0.1.10", &std::net::Ipv4Addr::from(0x0c00_0000 + (i << 16)).to_string(), 40000, 443, t))
        .collect();
    w.put_flow_file(bucket, "123456789012", &log, V2_HEADER, &lines).await;

    let (code, stdout, stderr) = egress_guard(&w.moto, &["recommend", "--group-id", &group, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let proposal: Value = serde_json::from_str(&stdout).unwrap();
    let rules: Vec<String> = proposal["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| serde_json::from_value::<egress_guard_core::EgressRule>(p["rule"].clone()).unwrap().to_string())
        .collect();
    for rule in &rules {
        let prefix: u8 = rule.rsplit('/').next().unwrap().parse().unwrap();
        assert!(prefix >= 8, "{rule} is wider than /8: {rules:?}");
    }
    let whole: Vec<String> = (12..=15).map(|a| format!("tcp 443 to {a}.0.0.0/8")).collect();
    assert_eq!(rules[..4], whole, "each /8 its own rule, not 12.0.0.0/6");
}
