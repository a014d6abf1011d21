//! The adapters over canned SDK responses (aws-smithy-mocks): what is sent to EC2 and SNS, and how errors map.

mod common;

use aws_sdk_ec2::Client as Ec2;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::revoke_security_group_egress::RevokeSecurityGroupEgressOutput;
use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, PrefixListId, RevokedSecurityGroupRule, SecurityGroup as SdkGroup, Tag,
};
use aws_sdk_sns::Client as Sns;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use egress_guard_aws::{Ec2SecurityGroups, SnsNotifier, to_permissions};
use egress_guard_core::{Destination, EgressRule, Notifier, RevokePlan, SecurityGroups, Settings, evaluate};

const GROUP: &str = "sg-0123456789abcdef0";

fn ec2_error(code: &str) -> String {
    format!(
        "<Response><Errors><Error><Code>{code}</Code><Message>canned {code}</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
    )
}

fn sdk_group() -> SdkGroup {
    SdkGroup::builder()
        .group_id(GROUP)
        .group_name("web")
        .vpc_id("vpc-0123abcd")
        .owner_id("123456789012")
        .tags(Tag::builder().key("team").value("payments").build())
        .ip_permissions_egress(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").description("https").build())
                .build(),
        )
        .ip_permissions_egress(
            IpPermission::builder()
                .ip_protocol("-1")
                .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
                .prefix_list_ids(PrefixListId::builder().prefix_list_id("pl-0123abcd").build())
                .build(),
        )
        .build()
}

fn egress_rule(text: &str) -> EgressRule {
    text.parse().unwrap()
}

#[tokio::test]
async fn describe_flattens_each_destination_into_a_rule() {
    let rule = mock!(Ec2::describe_security_groups)
        .match_requests(|req| req.group_ids() == [GROUP])
        .then_output(|| DescribeSecurityGroupsOutput::builder().security_groups(sdk_group()).build());
    let ec2 = mock_client!(aws_sdk_ec2, [&rule]);
    let group = Ec2SecurityGroups::new(ec2).describe(GROUP).await.unwrap().unwrap();
    let shown: Vec<String> = group.egress.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["tcp 443 to 10.0.0.0/8", "tcp 443 to 0.0.0.0/0", "all traffic to ::/0", "all traffic to pl-0123abcd"]
    );
    assert_eq!(group.egress[1].description.as_deref(), Some("https"));
    assert_eq!(group.tags["team"], "payments");
    assert_eq!((group.name.as_str(), group.vpc_id.as_deref()), ("web", Some("vpc-0123abcd")));
}

#[tokio::test]
async fn describe_of_a_deleted_group_is_none() {
    let rule = mock!(Ec2::describe_security_groups)
        .sequence()
        .http_status(400, Some(ec2_error("InvalidGroup.NotFound")))
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, [&rule]);
    assert_eq!(Ec2SecurityGroups::new(ec2).describe(GROUP).await.unwrap(), None);
}

#[tokio::test]
async fn describe_keeps_other_error_codes() {
    let rule = mock!(Ec2::describe_security_groups)
        .sequence()
        .http_status(400, Some(ec2_error("UnauthorizedOperation")))
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, [&rule]);
    let err = Ec2SecurityGroups::new(ec2).describe(GROUP).await.unwrap_err();
    assert_eq!(err.code(), "UnauthorizedOperation");
}

/// The open tuples, without their descriptions: EC2 matches a revoke by tuple, and a description edited since our
/// describe must not make it miss (the undo command puts them back from the same grouping).
#[tokio::test]
async fn revoke_sends_only_the_open_tuples_never_rule_ids() {
    let group = egress_guard_aws::to_domain(&sdk_group());
    let plan = evaluate(&group, &Settings::default()).plan;
    let rule = mock!(Ec2::revoke_security_group_egress)
        .match_requests(|req| {
            req.group_id() == Some(GROUP)
                && req.security_group_rule_ids().is_empty()
                && req.ip_permissions()
                    == [
                        IpPermission::builder()
                            .ip_protocol("tcp")
                            .from_port(443)
                            .to_port(443)
                            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                            .build(),
                        IpPermission::builder()
                            .ip_protocol("-1")
                            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
                            .build(),
                    ]
        })
        .then_output(|| RevokeSecurityGroupEgressOutput::builder().r#return(true).build());
    let ec2 = mock_client!(aws_sdk_ec2, [&rule]);
    let revoked = Ec2SecurityGroups::new(ec2).revoke(&plan).await;
    assert!(revoked.error.is_none(), "{:?}", revoked.error);
    assert_eq!(revoked.removed, plan.rules, "no RevokedSecurityGroupRules in the answer: every rule asked for");
    assert_eq!(rule.num_calls(), 1);
}

fn revoked_rule(
    protocol: &str,
    ports: Option<(i32, i32)>,
    v4: Option<&str>,
    v6: Option<&str>,
) -> RevokedSecurityGroupRule {
    RevokedSecurityGroupRule::builder()
        .ip_protocol(protocol)
        .set_from_port(ports.map(|p| p.0))
        .set_to_port(ports.map(|p| p.1))
        .set_cidr_ipv4(v4.map(Into::into))
        .set_cidr_ipv6(v6.map(Into::into))
        .is_egress(true)
        .build()
}

/// Real EC2 answers which rules it removed: only those are this invocation's to report.
#[tokio::test]
async fn revoke_reports_the_rules_ec2_says_it_removed() {
    let plan = RevokePlan {
        group_id: GROUP.into(),
        rules: vec![egress_rule("tcp 443 to 0.0.0.0/0"), egress_rule("all traffic to ::/0")],
    };
    let rule = mock!(Ec2::revoke_security_group_egress).then_output(|| {
        RevokeSecurityGroupEgressOutput::builder()
            .r#return(true)
            .revoked_security_group_rules(revoked_rule("-1", Some((-1, -1)), None, Some("::/0")))
            .build()
    });
    let revoked = Ec2SecurityGroups::new(mock_client!(aws_sdk_ec2, [&rule])).revoke(&plan).await;
    assert_eq!(revoked.removed, [egress_rule("all traffic to ::/0")]);
}

/// A default VPC's group answers success with the rules it did not know: they were not removed by this call.
#[tokio::test]
async fn revoke_leaves_out_the_permissions_ec2_did_not_know() {
    let plan = RevokePlan {
        group_id: GROUP.into(),
        rules: vec![egress_rule("tcp 443 to 0.0.0.0/0"), egress_rule("udp 53 to ::/0")],
    };
    let rule = mock!(Ec2::revoke_security_group_egress).then_output(|| {
        RevokeSecurityGroupEgressOutput::builder()
            .r#return(false)
            .unknown_ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(443)
                    .to_port(443)
                    .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build(),
            )
            .build()
    });
    let revoked = Ec2SecurityGroups::new(mock_client!(aws_sdk_ec2, [&rule])).revoke(&plan).await;
    assert_eq!(revoked.removed, [egress_rule("udp 53 to ::/0")]);
}

/// One rule gone (a concurrent revoke), one removed one by one, then a denial: the removed rule is still reported,
/// with the error.
#[tokio::test]
async fn a_revoke_that_fails_after_removing_some_rules_reports_them_with_the_error() {
    let plan = RevokePlan {
        group_id: GROUP.into(),
        rules: vec![
            egress_rule("all traffic to 0.0.0.0/0"),
            egress_rule("all traffic to ::/0"),
            egress_rule("tcp 443 to 0.0.0.0/0"),
        ],
    };
    let rule = mock!(Ec2::revoke_security_group_egress)
        .sequence()
        .http_status(400, Some(ec2_error("InvalidPermission.NotFound")))
        .http_status(400, Some(ec2_error("InvalidPermission.NotFound")))
        .output(|| RevokeSecurityGroupEgressOutput::builder().r#return(true).build())
        .http_status(400, Some(ec2_error("UnauthorizedOperation")))
        .build();
    let revoked = Ec2SecurityGroups::new(mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule])).revoke(&plan).await;
    assert_eq!(revoked.removed, [egress_rule("all traffic to ::/0")]);
    assert_eq!(revoked.error.map(|e| e.code().to_owned()).as_deref(), Some("UnauthorizedOperation"));
}

#[tokio::test]
async fn revoke_retries_one_by_one_when_a_tuple_is_already_gone() {
    let plan = RevokePlan {
        group_id: GROUP.into(),
        rules: vec![egress_rule("all traffic to 0.0.0.0/0"), egress_rule("all traffic to ::/0")],
    };
    let rule = mock!(Ec2::revoke_security_group_egress)
        .sequence()
        .http_status(400, Some(ec2_error("InvalidPermission.NotFound")))
        .http_status(400, Some(ec2_error("InvalidPermission.NotFound")))
        .output(|| RevokeSecurityGroupEgressOutput::builder().r#return(true).build())
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule]);
    let revoked = Ec2SecurityGroups::new(ec2).revoke(&plan).await;
    assert!(revoked.error.is_none());
    assert_eq!(revoked.removed, [egress_rule("all traffic to ::/0")], "only the rule this call removed");
    assert_eq!(rule.num_calls(), 3, "the whole plan, then each rule on its own");
}

#[tokio::test]
async fn revoke_reports_other_failures() {
    let plan = RevokePlan { group_id: GROUP.into(), rules: vec![egress_rule("tcp 22 to 0.0.0.0/0")] };
    let rule = mock!(Ec2::revoke_security_group_egress)
        .sequence()
        .http_status(400, Some(ec2_error("UnauthorizedOperation")))
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, [&rule]);
    let revoked = Ec2SecurityGroups::new(ec2).revoke(&plan).await;
    assert!(revoked.removed.is_empty());
    assert_eq!(revoked.error.unwrap().code(), "UnauthorizedOperation");
}

#[test]
fn permissions_group_ranges_by_protocol_and_ports_and_skip_non_cidrs() {
    let mut rules =
        vec![egress_rule("udp 53 to 0.0.0.0/0"), egress_rule("udp 53 to ::/0"), egress_rule("tcp 53 to 0.0.0.0/0")];
    rules.push(EgressRule { destination: Destination::PrefixList("pl-0123abcd".into()), ..rules[0].clone() });
    rules[1].description = Some("dns v6".into());
    let perms = to_permissions(&rules);
    assert_eq!(perms.len(), 2);
    assert_eq!((perms[0].ip_ranges().len(), perms[0].ipv6_ranges().len()), (1, 1));
    assert_eq!(perms[0].ipv6_ranges()[0].description(), None, "the revoke matches by tuple, never by description");
    assert!(perms.iter().all(|p| p.prefix_list_ids().is_empty()));
}

#[tokio::test]
async fn publish_sends_subject_text_per_protocol_and_filterable_attributes() {
    let topic = "arn:aws:sns:eu-west-1:123456789012:egress-guard";
    let mut notice =
        common::notice(GROUP, egress_guard_core::Outcome::Remediated, vec![egress_rule("all traffic to 0.0.0.0/0")]);
    notice.cause.event_name = egress_guard_core::EventName::CreateSecurityGroup;
    let subject = notice.subject();
    let rule = mock!(Sns::publish)
        .match_requests(move |req| {
            let attrs = req.message_attributes().unwrap();
            let per_protocol: serde_json::Value = serde_json::from_str(req.message().unwrap()).unwrap();
            let card: serde_json::Value = serde_json::from_str(per_protocol["https"].as_str().unwrap()).unwrap();
            req.topic_arn() == Some(topic)
                && req.subject() == Some(subject.as_str())
                && req.message_structure() == Some("json")
                && per_protocol["default"].as_str().unwrap().starts_with("egress-guard REVOKED 1 egress rule")
                && card["content"]["title"] == subject.as_str()
                && attrs["outcome"].string_value() == Some("remediated")
                && attrs["group_id"].string_value() == Some(GROUP)
                && attrs["region"].string_value() == Some("eu-west-1")
        })
        .then_output(|| aws_sdk_sns::operation::publish::PublishOutput::builder().message_id("m-1").build());
    let sns = mock_client!(aws_sdk_sns, [&rule]);
    SnsNotifier::new(sns, topic).publish(&notice).await.unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn list_follows_every_page_to_the_open_group_on_the_last() {
    let page = |ids: &[&str], token: Option<&str>| {
        let groups = ids.iter().map(|id| {
            let mut g = SdkGroup::builder().group_id(*id).group_name(*id);
            if *id == "sg-00000004" {
                g = g.ip_permissions_egress(
                    IpPermission::builder()
                        .ip_protocol("-1")
                        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                        .build(),
                );
            }
            g.build()
        });
        DescribeSecurityGroupsOutput::builder()
            .set_security_groups(Some(groups.collect()))
            .set_next_token(token.map(str::to_owned))
            .build()
    };
    let rule = mock!(Ec2::describe_security_groups)
        .sequence()
        .output(move || page(&["sg-00000001", "sg-00000002"], Some("t1")))
        .output(move || page(&["sg-00000003"], Some("t2")))
        .output(move || page(&["sg-00000004"], None))
        .build();
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule]);
    let groups = Ec2SecurityGroups::new(ec2).list().await.unwrap();
    assert_eq!(rule.num_calls(), 3);
    assert_eq!(groups.len(), 4);
    let open: Vec<&str> =
        groups.iter().filter(|g| !evaluate(g, &Settings::default()).plan.is_empty()).map(|g| g.id.as_str()).collect();
    assert_eq!(open, ["sg-00000004"]);
}

/// A client over `rule` with egress-guard's retry configuration.
fn retrying_ec2(rule: &aws_smithy_mocks::Rule) -> Ec2 {
    mock_client!(aws_sdk_ec2, RuleMode::Sequential, [rule], |c| c.retry_config(egress_guard_aws::retry_config()))
}

#[tokio::test]
async fn throttling_and_503_are_retried_by_the_sdk() {
    let rule = mock!(Ec2::describe_security_groups)
        .sequence()
        .http_status(400, Some(ec2_error("RequestLimitExceeded")))
        .http_status(503, None)
        .http_status(400, Some(ec2_error("Throttling")))
        .output(|| DescribeSecurityGroupsOutput::builder().security_groups(sdk_group()).build())
        .build();
    let group = Ec2SecurityGroups::new(retrying_ec2(&rule)).describe(GROUP).await.unwrap();
    assert!(group.is_some());
    assert_eq!(rule.num_calls(), egress_guard_aws::MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn throttling_past_the_attempts_fails_with_its_code() {
    let rule = mock!(Ec2::revoke_security_group_egress)
        .sequence()
        .http_status(400, Some(ec2_error("RequestLimitExceeded")))
        .times(egress_guard_aws::MAX_ATTEMPTS as usize)
        .build();
    let plan = RevokePlan { group_id: GROUP.into(), rules: vec![egress_rule("all traffic to 0.0.0.0/0")] };
    let err = Ec2SecurityGroups::new(retrying_ec2(&rule)).revoke(&plan).await.error.unwrap();
    assert_eq!(err.code(), "RequestLimitExceeded");
    assert_eq!(rule.num_calls(), egress_guard_aws::MAX_ATTEMPTS as usize);
}

/// An attempt that got no clear answer (a 503) may have been applied: the next attempt's "already gone" is then this
/// invocation's own removal, reported rather than lost.
#[tokio::test]
async fn a_not_found_after_an_unanswered_attempt_counts_as_removed() {
    let plan = RevokePlan { group_id: GROUP.into(), rules: vec![egress_rule("tcp 22 to 0.0.0.0/0")] };
    let rule = mock!(Ec2::revoke_security_group_egress)
        .sequence()
        .http_status(503, None)
        .http_status(400, Some(ec2_error("InvalidPermission.NotFound")))
        .build();
    let revoked = Ec2SecurityGroups::new(retrying_ec2(&rule)).revoke(&plan).await;
    assert!(revoked.error.is_none(), "{:?}", revoked.error);
    assert_eq!(revoked.removed, plan.rules);
    assert_eq!(rule.num_calls(), 2);
}

/// Without an unclear attempt, "already gone" is another invocation's removal: not this one's to report.
#[tokio::test]
async fn a_not_found_at_the_first_attempt_is_not_counted() {
    let plan = RevokePlan { group_id: GROUP.into(), rules: vec![egress_rule("tcp 22 to 0.0.0.0/0")] };
    let rule = mock!(Ec2::revoke_security_group_egress)
        .sequence()
        .http_status(400, Some(ec2_error("InvalidPermission.NotFound")))
        .build();
    let revoked = Ec2SecurityGroups::new(retrying_ec2(&rule)).revoke(&plan).await;
    assert!(revoked.error.is_none() && revoked.removed.is_empty(), "{revoked:?}");
}

/// The first attempt got no clear answer (a 503) and was applied; the next ones fail: the rule the group no longer
/// holds is reported as removed, with the error, never lost as a plain failure.
#[tokio::test]
async fn an_unanswered_attempt_then_failures_reports_what_the_group_lost() {
    let plan = RevokePlan {
        group_id: GROUP.into(),
        rules: vec![egress_rule("tcp 443 to 0.0.0.0/0"), egress_rule("all traffic to 0.0.0.0/0")],
    };
    let revoke = mock!(Ec2::revoke_security_group_egress)
        .sequence()
        .http_status(503, None)
        .http_status(400, Some(ec2_error("UnauthorizedOperation")))
        .build();
    // The group as it is after the first attempt: tcp 443 to 0.0.0.0/0 is gone (sdk_group holds it; drop it).
    let after = || {
        let mut g = sdk_group();
        g.ip_permissions_egress = Some(vec![
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
                .build(),
        ]);
        DescribeSecurityGroupsOutput::builder().security_groups(g).build()
    };
    let describe = mock!(Ec2::describe_security_groups).then_output(after);
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&revoke, &describe]);
    let revoked = Ec2SecurityGroups::new(ec2).revoke(&plan).await;
    assert_eq!(revoked.removed, plan.rules, "both planned rules are gone from the group: this call removed them");
    assert_eq!(revoked.error.map(|e| e.code().to_owned()).as_deref(), Some("UnauthorizedOperation"));
}

/// A throttled attempt was refused before it ran: a later "already gone" is another invocation's removal.
#[tokio::test]
async fn a_not_found_after_a_throttled_attempt_is_not_counted() {
    let plan = RevokePlan { group_id: GROUP.into(), rules: vec![egress_rule("tcp 22 to 0.0.0.0/0")] };
    let rule = mock!(Ec2::revoke_security_group_egress)
        .sequence()
        .http_status(400, Some(ec2_error("RequestLimitExceeded")))
        .http_status(400, Some(ec2_error("InvalidPermission.NotFound")))
        .build();
    let revoked = Ec2SecurityGroups::new(retrying_ec2(&rule)).revoke(&plan).await;
    assert!(revoked.error.is_none() && revoked.removed.is_empty(), "{revoked:?}");
    assert_eq!(rule.num_calls(), 2);
}

mod flow_logs {
    //! The flow-log reader against the answers AWS gives and moto does not: empty pages that still carry a token,
    //! a read held to its limit, and an authorize of a rule that exists; and the S3 reader's listings and reads.

    use aws_sdk_cloudwatchlogs::Client as Logs;
    use aws_sdk_cloudwatchlogs::operation::describe_log_streams::DescribeLogStreamsOutput;
    use aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput;
    use aws_sdk_cloudwatchlogs::types::{FilteredLogEvent, LogStream};
    use aws_sdk_ec2::Client as Ec2;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use egress_guard_aws::AwsFlowLogs;
    use egress_guard_core::ports::FlowLogs;
    use egress_guard_core::recommend::{FlowLog, Interface, LogDestination, Window};

    fn reader(ec2: Ec2, logs: Logs) -> AwsFlowLogs {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version_latest()
                .region(aws_sdk_s3::config::Region::new("eu-west-1"))
                .build(),
        );
        AwsFlowLogs::from_clients(ec2, logs, s3, "eu-west-1")
    }

    fn log() -> FlowLog {
        FlowLog {
            id: "fl-0a0a0a0a0a0a0a0a0".into(),
            resource_id: "eni-0a0a0a0a0a0a0a0a0".into(),
            traffic_type: "ALL".into(),
            log_format: String::new(),
            destination: LogDestination::CloudWatchLogs { log_group: "/flow".into() },
            created_at: None,
            delivery_error: None,
        }
    }

    fn page(lines: &[&str], token: Option<&str>) -> FilterLogEventsOutput {
        let events = lines.iter().map(|l| FilteredLogEvent::builder().message(*l).build()).collect();
        FilterLogEventsOutput::builder().set_events(Some(events)).set_next_token(token.map(str::to_owned)).build()
    }

    async fn read(pages: Vec<FilterLogEventsOutput>, limit: usize) -> egress_guard_core::recommend::Records {
        let streams = mock!(Logs::describe_log_streams).then_output(|| {
            DescribeLogStreamsOutput::builder()
                .log_streams(LogStream::builder().log_stream_name("eni-0a0a0a0a0a0a0a0a0-all").build())
                .build()
        });
        let mut filter = mock!(Logs::filter_log_events).sequence();
        for p in pages {
            filter = filter.output(move || p.clone());
        }
        let filter = filter.build();
        let logs = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&streams, &filter]);
        let ec2 = mock_client!(aws_sdk_ec2, []);
        let interface = Interface { id: "eni-0a0a0a0a0a0a0a0a0".into(), ..Interface::default() };
        let window = Window { start: 1_790_000_000 - 86_400, end: 1_790_000_000 };
        reader(ec2, logs).records(&log(), &[&interface], window, limit).await.unwrap()
    }

    #[tokio::test]
    async fn the_search_goes_on_through_empty_pages_until_no_token_comes_back() {
        let records =
            read(vec![page(&[], Some("t1")), page(&["a"], Some("t2")), page(&[], Some("t3")), page(&["b"], None)], 100)
                .await;
        assert_eq!(records.batches[0].lines, ["a", "b"]);
        assert!(!records.truncated);
    }

    #[tokio::test]
    async fn a_read_stops_at_its_limit_and_says_so() {
        let records = read(vec![page(&["a", "b"], Some("t1")), page(&["c"], None)], 2).await;
        assert_eq!(records.batches[0].lines, ["a", "b"]);
        assert!(records.truncated);
    }

    #[tokio::test]
    async fn authorizing_a_rule_that_exists_adds_the_others_one_by_one_and_other_errors_fail() {
        use egress_guard_aws::Ec2SecurityGroups;
        use egress_guard_core::SecurityGroups;
        // EC2 refuses the whole call when one rule exists: each rule is then sent alone, the existing one refused
        // again as a duplicate (what the proposal wants is there), the other added.
        let duplicate = mock!(Ec2::authorize_security_group_egress)
            .sequence()
            .http_status(400, Some(super::ec2_error("InvalidPermission.Duplicate")))
            .http_status(400, Some(super::ec2_error("InvalidPermission.Duplicate")))
            .output(|| {
                aws_sdk_ec2::operation::authorize_security_group_egress::AuthorizeSecurityGroupEgressOutput::builder()
                    .r#return(true)
                    .build()
            })
            .build();
        let ec2 = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&duplicate]);
        let rules = [super::egress_rule("tcp 443 to 203.0.113.0/24"), super::egress_rule("tcp 5432 to 10.0.0.0/16")];
        Ec2SecurityGroups::new(ec2).authorize("sg-0123abcd", &rules).await.unwrap();
        assert_eq!(duplicate.num_calls(), 3);

        let limit = mock!(Ec2::authorize_security_group_egress)
            .sequence()
            .http_status(400, Some(super::ec2_error("RulesPerSecurityGroupLimitExceeded")))
            .build();
        let ec2 = mock_client!(aws_sdk_ec2, [&limit]);
        let err = Ec2SecurityGroups::new(ec2).authorize("sg-0123abcd", &rules).await.unwrap_err();
        assert_eq!(err.code(), "RulesPerSecurityGroupLimitExceeded");
    }

    /// A log's S3 files, as VPC Flow Logs delivers them (`AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/`).
    fn s3_key(account: &str, day: &str, log: &str, suffix: &str) -> String {
        format!("AWSLogs/{account}/vpcflowlogs/eu-west-1/{day}/{account}_vpcflowlogs_eu-west-1_{log}_{suffix}")
    }

    fn gzipped(text: &str) -> Vec<u8> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap()
    }

    /// The bucket's account folders are listed, then each account's folder month by month from the window's first
    /// day to the day after it; the log's own plain-text files are read (gzipped or not), any other file of it named
    /// as unread, the other logs' files and those delivered after the window left alone.
    #[tokio::test]
    async fn s3_files_of_the_log_are_listed_month_by_month_in_every_account_folder_and_read() {
        use aws_sdk_s3::Client as S3;
        use aws_sdk_s3::operation::get_object::GetObjectOutput;
        use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
        use aws_sdk_s3::primitives::ByteStream;
        use aws_sdk_s3::types::{CommonPrefix, Object};
        use egress_guard_core::recommend::Batch;

        const OWNER: &str = "111122223333";
        const LOG: &str = "fl-0a0a0a0a0a0a0a0a0";
        let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
        let september = [
            s3_key(OWNER, "2026/09/28", LOG, "20260928T1200Z_a1.log.gz"),
            s3_key(OWNER, "2026/09/29", "fl-0b0b0b0b0b0b0b0b0", "20260929T1200Z_b1.log.gz"),
            s3_key(OWNER, "2026/09/29", LOG, "20260929T1200Z_a2.log.parquet"),
        ];
        let october = [
            s3_key(OWNER, "2026/10/01", LOG, "20261001T0005Z_a3.log"),
            s3_key(OWNER, "2026/10/02", LOG, "20261002T0000Z_a4.log.gz"),
        ];
        let listing = |keys: &[String]| {
            let objects: Vec<Object> = keys.iter().map(|k| Object::builder().key(k).build()).collect();
            ListObjectsV2Output::builder().set_contents(Some(objects)).build()
        };
        let folders = mock!(S3::list_objects_v2).match_requests(|r| r.delimiter() == Some("/")).then_output(|| {
            ListObjectsV2Output::builder()
                .common_prefixes(CommonPrefix::builder().prefix(format!("AWSLogs/{OWNER}/")).build())
                .common_prefixes(CommonPrefix::builder().prefix("AWSLogs/not-an-account/").build())
                .build()
        });
        let (sep, oct) = (listing(&september), listing(&october));
        let first_month = mock!(S3::list_objects_v2)
            .match_requests(|r| {
                r.prefix() == Some(&format!("AWSLogs/{OWNER}/vpcflowlogs/eu-west-1/2026/09/"))
                    && r.start_after() == Some(&format!("AWSLogs/{OWNER}/vpcflowlogs/eu-west-1/2026/09/28"))
            })
            .then_output(move || sep.clone());
        let next_month = mock!(S3::list_objects_v2)
            .match_requests(|r| r.prefix() == Some(&format!("AWSLogs/{OWNER}/vpcflowlogs/eu-west-1/2026/10/")))
            .then_output(move || oct.clone());
        let elsewhere = mock!(S3::list_objects_v2).then_output(|| ListObjectsV2Output::builder().build());
        let (a1, a3) = (september[0].clone(), october[0].clone());
        let (gz, plain) = (gzipped(&format!("{header}\nrecord 1\nrecord 2\n")), format!("{header}\nrecord 3\n"));
        let get_a1 = mock!(S3::get_object)
            .match_requests(move |r| r.key() == Some(a1.as_str()))
            .then_output(move || GetObjectOutput::builder().body(ByteStream::from(gz.clone())).build());
        let get_a3 = mock!(S3::get_object)
            .match_requests(move |r| r.key() == Some(a3.as_str()))
            .then_output(move || GetObjectOutput::builder().body(ByteStream::from(plain.clone().into_bytes())).build());
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&folders, &first_month, &next_month, &elsewhere, &get_a1, &get_a3]
        );
        let reader = AwsFlowLogs::from_clients(
            mock_client!(aws_sdk_ec2, []),
            mock_client!(aws_sdk_cloudwatchlogs, []),
            s3,
            "eu-west-1",
        );
        let log =
            FlowLog { destination: LogDestination::S3 { bucket: "flow-logs".into(), prefix: String::new() }, ..log() };
        let interface = Interface {
            id: "eni-0a0a0a0a0a0a0a0a0".into(),
            owner_id: Some("123456789012".into()),
            ..Interface::default()
        };
        let end = 1_790_769_600; // 2026-09-30T12:00:00Z
        let window = Window { start: end - 2 * 86_400, end };
        let records = reader.records(&log, &[&interface], window, 100).await.unwrap();

        let batch = |lines: &[&str]| Batch {
            header: Some(header.to_owned()),
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
        };
        assert_eq!(records.batches, [batch(&["record 1", "record 2"]), batch(&["record 3"])]);
        assert_eq!(records.unread, [format!("s3://flow-logs/{}: only plain-text files are read", september[2])]);
        assert!(!records.truncated);
        // The bucket's folders once, then September and October in each of the two accounts.
        assert_eq!(
            (folders.num_calls(), first_month.num_calls(), next_month.num_calls(), elsewhere.num_calls()),
            (1, 1, 1, 2)
        );
        assert_eq!((get_a1.num_calls(), get_a3.num_calls()), (1, 1));
    }
}
