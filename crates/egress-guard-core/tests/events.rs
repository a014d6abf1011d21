//! The trigger parser over every sample event in `events/`, and over bad input of each kind.

mod common;

use common::{EVENT_GROUP, event, event_names};
use egress_guard_core::{Error, EventName, Trigger, parse_event};

fn parsed(name: &str) -> Trigger {
    parse_event(&event(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// One line per sample event: its call, the groups it names, and whether the call failed.
fn check(name: &str, call: EventName, groups: &[&str], failed: bool) {
    let t = parsed(name);
    assert_eq!(t.event_name, call, "{name}");
    assert_eq!(t.group_ids, groups, "{name}");
    assert_eq!(t.failed.is_some(), failed, "{name}");
    assert_eq!((t.account.as_str(), t.region.as_str()), ("123456789012", "eu-west-1"), "{name}");
    assert!(t.event_id.len() == 36, "{name}: event id {}", t.event_id);
}

macro_rules! event_case {
    ($test:ident, $file:literal, $call:ident, $groups:expr, $failed:expr) => {
        #[test]
        fn $test() {
            check($file, EventName::$call, $groups, $failed);
        }
    };
}

event_case!(
    open_ipv4_names_its_group,
    "authorize-egress-open-ipv4",
    AuthorizeSecurityGroupEgress,
    &[EVENT_GROUP],
    false
);
event_case!(
    open_ipv6_names_its_group,
    "authorize-egress-open-ipv6",
    AuthorizeSecurityGroupEgress,
    &[EVENT_GROUP],
    false
);
event_case!(
    open_both_names_its_group_once,
    "authorize-egress-open-both",
    AuthorizeSecurityGroupEgress,
    &[EVENT_GROUP],
    false
);
event_case!(
    restricted_names_its_group,
    "authorize-egress-restricted",
    AuthorizeSecurityGroupEgress,
    &[EVENT_GROUP],
    false
);
event_case!(
    mixed_names_its_group,
    "authorize-egress-mixed-permission",
    AuthorizeSecurityGroupEgress,
    &[EVENT_GROUP],
    false
);
event_case!(
    exempt_names_its_group,
    "authorize-egress-exempt-group",
    AuthorizeSecurityGroupEgress,
    &[EVENT_GROUP],
    false
);
event_case!(create_takes_id_from_response, "create-security-group", CreateSecurityGroup, &[EVENT_GROUP], false);
event_case!(
    modify_takes_id_from_nested_request,
    "modify-security-group-rules",
    ModifySecurityGroupRules,
    &[EVENT_GROUP],
    false
);

/// A VPC event names the VPC whose default group is re-read, and no group.
fn check_vpc(name: &str, call: EventName, vpc: &str) {
    let t = parsed(name);
    assert_eq!(t.event_name, call, "{name}");
    assert!(t.group_ids.is_empty(), "{name}");
    assert_eq!(t.vpc_ids, [vpc], "{name}");
    assert_eq!((t.account.as_str(), t.region.as_str()), ("123456789012", "eu-west-1"), "{name}");
}

#[test]
fn create_vpc_takes_the_vpc_from_the_response() {
    check_vpc("create-vpc", EventName::CreateVpc, "vpc-0c4d5e6f7a8b9c0d1");
}

#[test]
fn create_default_vpc_takes_the_vpc_from_the_wrapped_response() {
    check_vpc("create-default-vpc", EventName::CreateDefaultVpc, "vpc-0d5e6f7a8b9c0d1e2");
}

#[test]
fn associate_vpc_cidr_block_takes_the_vpc_once_from_request_and_response() {
    check_vpc("associate-vpc-ipv6-cidr-block", EventName::AssociateVpcCidrBlock, "vpc-0c4d5e6f7a8b9c0d1");
}

#[test]
fn a_vpc_event_without_a_vpc_id_or_with_a_bad_one_is_refused() {
    let err = edited("create-vpc", |v| v["detail"]["responseElements"] = serde_json::json!({})).unwrap_err();
    assert!(matches!(err, Error::MissingGroupId { .. }), "{err}");
    assert!(err.to_string().contains("responseElements.vpc.vpcId"), "{err}");
    let err = edited("create-vpc", |v| v["detail"]["responseElements"]["vpc"]["vpcId"] = "vpc-XYZ".into()).unwrap_err();
    assert!(matches!(err, Error::InvalidVpcId(_)), "{err}");
}

#[test]
fn the_call_region_wins_over_a_forwarded_envelope() {
    // A rule that forwards an event to another region's bus may leave that region in the envelope.
    let t = edited("authorize-egress-open-ipv4", |v| v["region"] = "us-east-1".into()).unwrap();
    assert_eq!(t.region, "eu-west-1");
}

event_case!(failed_call_is_marked, "authorize-egress-failed-call", AuthorizeSecurityGroupEgress, &[EVENT_GROUP], true);

/// The callers' samples: real user agents and `invokedBy` of each tool, told apart from the event alone.
#[test]
fn each_callers_sample_is_told_apart() {
    use egress_guard_core::SecurityGroup;
    use egress_guard_core::caller::{CallerKind, STACK_NAME_TAG, classify};
    let mut group = SecurityGroup { id: EVENT_GROUP.into(), ..Default::default() };
    group.tags.insert(STACK_NAME_TAG.into(), "web-prod".into());
    for (name, call, kind) in [
        ("create-security-group-cloudformation", EventName::CreateSecurityGroup, CallerKind::Cloudformation),
        ("create-security-group-cdk", EventName::CreateSecurityGroup, CallerKind::Cdk),
        ("authorize-egress-terraform", EventName::AuthorizeSecurityGroupEgress, CallerKind::Terraform),
        ("authorize-egress-pulumi", EventName::AuthorizeSecurityGroupEgress, CallerKind::Pulumi),
        ("authorize-egress-console", EventName::AuthorizeSecurityGroupEgress, CallerKind::Console),
        ("authorize-egress-open-ipv4", EventName::AuthorizeSecurityGroupEgress, CallerKind::AwsCli),
        ("authorize-egress-sdk", EventName::AuthorizeSecurityGroupEgress, CallerKind::Sdk),
        ("create-security-group", EventName::CreateSecurityGroup, CallerKind::Unknown),
    ] {
        check(name, call, &[EVENT_GROUP], false);
        assert_eq!(classify(&parsed(name).actor, &group).kind, kind, "{name}");
    }
}

#[test]
fn every_sample_event_is_covered_here() {
    let covered = [
        "associate-vpc-ipv6-cidr-block",
        "authorize-egress-console",
        "authorize-egress-exempt-group",
        "authorize-egress-failed-call",
        "authorize-egress-mixed-permission",
        "authorize-egress-open-both",
        "authorize-egress-open-ipv4",
        "authorize-egress-open-ipv6",
        "authorize-egress-pulumi",
        "authorize-egress-restricted",
        "authorize-egress-sdk",
        "authorize-egress-terraform",
        "create-default-vpc",
        "create-security-group",
        "create-security-group-cdk",
        "create-security-group-cloudformation",
        "create-vpc",
        "malformed-no-group-id",
        "modify-security-group-rules",
        "scheduled-sweep",
    ];
    assert_eq!(event_names(), covered);
}

#[test]
fn scheduled_event_is_a_sweep_of_its_region() {
    let t = parsed("scheduled-sweep");
    assert_eq!(t.event_name, EventName::ScheduledSweep);
    assert_eq!((t.account.as_str(), t.region.as_str()), ("123456789012", "eu-west-1"));
    assert!(t.group_ids.is_empty() && t.failed.is_none());
}

#[test]
fn malformed_event_names_where_the_group_id_should_be() {
    let err = parse_event(&event("malformed-no-group-id")).unwrap_err();
    assert!(matches!(err, Error::MissingGroupId { .. }), "{err}");
    assert!(err.to_string().contains("requestParameters.groupId"), "{err}");
}

#[test]
fn actor_comes_from_user_identity() {
    let t = parsed("authorize-egress-open-ipv6");
    assert_eq!(t.actor.name(), "arn:aws:sts::123456789012:assumed-role/ci-deployer/deploy-bot");
    assert_eq!(t.actor.source_ip.as_deref(), Some("203.0.113.7"));
    assert!(t.actor.user_agent.unwrap().starts_with("aws-sdk-go-v2/"));
}

/// Takes a sample event, changes it with `edit`, and parses it.
fn edited(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Result<Trigger, Error> {
    let mut value: serde_json::Value = serde_json::from_slice(&event(name)).unwrap();
    edit(&mut value);
    parse_event(&serde_json::to_vec(&value).unwrap())
}

#[test]
fn missing_actor_fields_never_stop_a_remediation() {
    let t = edited("authorize-egress-open-ipv4", |v| {
        let d = v["detail"].as_object_mut().unwrap();
        for field in
            ["userIdentity", "userAgent", "sourceIPAddress", "requestID", "eventVersion", "eventType", "tlsDetails"]
        {
            d.remove(field);
        }
    })
    .unwrap();
    assert_eq!(t.group_ids, [EVENT_GROUP]);
    assert_eq!(t.actor.name(), "an unknown caller");
}

#[test]
fn authorize_falls_back_to_response_rule_set() {
    let t = edited("authorize-egress-open-ipv4", |v| {
        v["detail"]["requestParameters"].as_object_mut().unwrap().remove("groupId");
    })
    .unwrap();
    assert_eq!(t.group_ids, [EVENT_GROUP]);
}

#[test]
fn rejects_malformed_json() {
    assert!(matches!(parse_event(b"{\"version\": "), Err(Error::MalformedJson(_))));
    assert!(matches!(parse_event(b"not json"), Err(Error::MalformedJson(_))));
}

#[test]
fn rejects_json_that_is_not_a_cloudtrail_event() {
    let err = parse_event(br#"{"hello": "world"}"#).unwrap_err();
    assert!(matches!(err, Error::InvalidField { .. }), "{err}");
    let err =
        edited("authorize-egress-open-ipv4", |v| v["detail-type"] = "EC2 Instance State-change Notification".into())
            .unwrap_err();
    assert!(matches!(err, Error::NotCloudTrail(_)), "{err}");
}

#[test]
fn rejects_another_service() {
    let err =
        edited("authorize-egress-open-ipv4", |v| v["detail"]["eventSource"] = "s3.amazonaws.com".into()).unwrap_err();
    assert!(matches!(err, Error::OtherService(ref s) if s == "s3.amazonaws.com"), "{err}");
}

#[test]
fn rejects_another_ec2_call_naming_it() {
    let err =
        edited("authorize-egress-open-ipv4", |v| v["detail"]["eventName"] = "AuthorizeSecurityGroupIngress".into())
            .unwrap_err();
    assert!(err.to_string().contains("AuthorizeSecurityGroupIngress"), "{err}");
}

#[test]
fn rejects_group_id_of_wrong_shape() {
    let err = edited("modify-security-group-rules", |v| {
        v["detail"]["requestParameters"]["ModifySecurityGroupRulesRequest"]["GroupId"] = "sg-xyz; rm -rf /".into()
    })
    .unwrap_err();
    assert!(matches!(err, Error::InvalidGroupId(_)), "{err}");
}

#[test]
fn rejects_unexpected_types_naming_the_field() {
    let err =
        edited("authorize-egress-open-ipv4", |v| v["detail"]["requestParameters"]["groupId"] = 42.into()).unwrap_err();
    assert!(matches!(err, Error::InvalidField { ref path, .. } if path == "detail.requestParameters.groupId"), "{err}");
}

#[test]
fn rejects_huge_events_before_parsing() {
    let mut huge = event("authorize-egress-open-ipv4");
    huge.extend(std::iter::repeat_n(b' ', 1024 * 1024));
    assert!(matches!(parse_event(&huge), Err(Error::EventTooLarge { .. })));
}
