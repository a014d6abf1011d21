//! The SAM template and the spoke against the code and a real EventBridge: every variable the Lambda reads is set
//! (also in `local/env.json`); the rules' event patterns, loaded from `template.yaml` and `templates/spoke.yaml`,
//! route exactly the three calls through moto's EventBridge, also from a member account's region to the hub's bus;
//! the spoke's role can do two things.

use std::collections::BTreeSet;

use egress_guard_aws::{Fleet, SnsNotifier};
use egress_guard_core::{EventName, NoHistory, Outcome, Settings};
use egress_guard_lambda::{InvocationReport, handle};
use egress_guard_tests::{World, perm, repo_root};
use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlLoader};

use crate::cfn::{self, Stack};

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

fn resources(path: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join(path)).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    to_json(&docs[0]["Resources"])
}

fn function() -> Value {
    resources("template.yaml")["EgressGuardFunction"].clone()
}

fn function_pattern() -> Value {
    function()["Properties"]["Events"]["SecurityGroupChange"]["Properties"]["Pattern"].clone()
}

/// The CloudTrail samples of `events/`, and four events the rules must not route; returns (events, sample ids).
fn routing_cases() -> (Vec<Value>, BTreeSet<String>) {
    let mut samples: Vec<Value> = std::fs::read_dir(repo_root().join("events"))
        .unwrap()
        .map(|e| serde_json::from_slice::<Value>(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .filter(|e| e["detail-type"] == "AWS API Call via CloudTrail")
        .collect();
    assert_eq!(samples.len(), 19, "the CloudTrail samples in events/");
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
    (samples, sample_ids)
}

/// Puts CloudTrail's events on `eb`'s bus as AWS does: straight to moto, since a customer's PutEvents may not use an
/// `aws.` source (the limits proxy refuses it, as AWS does).
async fn put_events(w: &World, eb: &aws_sdk_eventbridge::Client, events: &[Value]) {
    let eb = aws_sdk_eventbridge::Client::from_conf(eb.config().to_builder().endpoint_url(&w.moto.upstream).build());
    for chunk in events.chunks(10) {
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
}

/// The event ids of the events waiting in the queue, consumed.
async fn routed_ids(w: &World, queue_url: &str) -> BTreeSet<String> {
    w.drain(queue_url)
        .await
        .iter()
        .map(|body| serde_json::from_str::<Value>(body).unwrap()["detail"]["eventID"].as_str().unwrap().to_owned())
        .collect()
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
async fn event_pattern_routes_exactly_the_calls_the_function_handles() {
    let pattern = function_pattern();
    assert!(pattern.is_object(), "no pattern in template.yaml");
    let names: Vec<&str> = EventName::ALL.iter().map(EventName::as_str).collect();
    assert_eq!(pattern["detail"]["eventName"], json!(names), "the pattern names every call the parser takes");
    let w = World::start().await;
    let eb = aws_sdk_eventbridge::Client::new(&w.config);
    let (queue_url, queue_arn) = w.queue("routed").await;
    eb.put_rule().name("egress-guard").event_pattern(pattern.to_string()).send().await.unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder().id("q").arn(queue_arn).build().unwrap();
    eb.put_targets().rule("egress-guard").targets(target).send().await.unwrap();

    let (events, sample_ids) = routing_cases();
    put_events(&w, &eb, &events).await;
    assert_eq!(routed_ids(&w, &queue_url).await, sample_ids, "exactly the handled calls are routed");
}

#[tokio::test]
async fn organization_route_brings_exactly_the_handled_calls_from_a_member_region_to_the_hub_bus() {
    let spoke_rule = resources("templates/spoke.yaml")["ForwardRule"]["Properties"].clone();
    let hub_rule = resources("template.yaml")["OrganizationRule"]["Properties"].clone();
    assert_eq!(spoke_rule["EventPattern"], function_pattern(), "the spoke forwards what the function handles");
    assert_eq!(hub_rule["EventPattern"], function_pattern(), "the hub's bus rule routes what the function handles");

    // The hub (moto's default account) in eu-west-1: its bus, and its rule with a queue in the function's place.
    let hub = World::start().await;
    let hub_eb = aws_sdk_eventbridge::Client::new(&hub.config);
    let bus = hub_eb.create_event_bus().name("egress-guard").send().await.unwrap().event_bus_arn().unwrap().to_owned();
    let (queue_url, queue_arn) = hub.queue("function").await;
    let rule = hub_eb
        .put_rule()
        .name("organization")
        .event_bus_name("egress-guard")
        .event_pattern(hub_rule["EventPattern"].to_string())
        .send()
        .await
        .unwrap();
    assert!(rule.rule_arn().is_some());
    let target = aws_sdk_eventbridge::types::Target::builder().id("function").arn(queue_arn).build().unwrap();
    hub_eb.put_targets().rule("organization").event_bus_name("egress-guard").targets(target).send().await.unwrap();

    // A member account in us-east-1: the spoke's rule on its default bus, targeting the hub's bus.
    let member = hub.as_account("111111111111", "us-east-1").await;
    let member_eb = aws_sdk_eventbridge::Client::new(&member.config);
    member_eb.put_rule().name("forward").event_pattern(spoke_rule["EventPattern"].to_string()).send().await.unwrap();
    let forward = aws_sdk_eventbridge::types::Target::builder()
        .id("egress-guard-hub")
        .arn(bus)
        .role_arn("arn:aws:iam::111111111111:role/forward")
        .build()
        .unwrap();
    member_eb.put_targets().rule("forward").targets(forward).send().await.unwrap();

    let (events, sample_ids) = routing_cases();
    put_events(&member, &member_eb, &events).await;
    assert_eq!(routed_ids(&hub, &queue_url).await, sample_ids, "exactly the three calls reach the hub's rule");
}

/// The member's role: trusted by the hub function's role in the organization only; it may describe groups, revoke
/// egress in its own account, and read (never change) the trails the sweep's watch judges.
#[test]
fn spoke_role_trusts_only_the_hub_function_and_may_only_describe_groups_revoke_egress_and_read_trails() {
    let role = resources("templates/spoke.yaml")["RemediationRole"]["Properties"].clone();
    let trust = &role["AssumeRolePolicyDocument"]["Statement"];
    assert_eq!(trust.as_array().unwrap().len(), 1, "{trust}");
    assert_eq!(trust[0]["Principal"]["AWS"], "HubFunctionRoleArn", "trusts the hub function's role only: {trust}");
    assert_eq!(trust[0]["Condition"]["StringEquals"]["aws:PrincipalOrgID"], "OrganizationId");
    let mut actions = BTreeSet::new();
    for policy in role["Policies"].as_array().unwrap() {
        for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
            assert_eq!(statement["Effect"], "Allow");
            match &statement["Action"] {
                Value::String(action) => actions.insert(action.clone()),
                list => list.as_array().unwrap().iter().all(|a| actions.insert(a.as_str().unwrap().to_owned())),
            };
        }
    }
    let want: BTreeSet<String> = [
        "ec2:DescribeSecurityGroups",
        "ec2:RevokeSecurityGroupEgress",
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
        "events:ListRuleNamesByTarget",
        "events:DescribeRule",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(actions, want);
}

/// The function finds the members' forwarders by their target, the organization bus, whose ARN it derives from its
/// own: the template must name the bus as it names the function.
#[test]
fn the_organization_bus_is_named_as_the_function_is() {
    let all = resources("template.yaml");
    let bus = &all["OrganizationBus"]["Properties"]["Name"];
    assert_eq!(bus, &all["EgressGuardFunction"]["Properties"]["FunctionName"], "{bus}");
}

/// Each outlet's parameter, the condition it sets, and the policies (in template.yaml and templates/spoke.yaml) that
/// exist only under that condition, with the only actions and resources they may grant.
#[test]
fn each_outlet_adds_only_its_own_actions_on_its_own_resources_and_only_when_its_parameter_is_on() {
    let product = "arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}:product/${AWS::AccountId}/default";
    let hub = "arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}:hub/default";
    let bus = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default";
    let cases = [
        (
            "template.yaml",
            "SecurityHubFindingsPolicy",
            "ImportsFindings",
            "SecurityHubFindings",
            vec![("securityhub:BatchImportFindings", product), ("securityhub:BatchUpdateFindings", hub)],
        ),
        ("template.yaml", "OutcomeEventsPolicy", "PutsOutcomeEvents", "OutcomeEvents", vec![("events:PutEvents", bus)]),
        (
            "templates/spoke.yaml",
            "RemediationRoleImportsFindings",
            "HubImportsFindings",
            "ImportFindings",
            vec![("securityhub:BatchImportFindings", product), ("securityhub:BatchUpdateFindings", hub)],
        ),
    ];
    for (file, name, condition, parameter, grants) in cases {
        let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
        let doc = to_json(&YamlLoader::load_from_str(&text).unwrap()[0]);
        assert_eq!(doc["Parameters"][parameter]["Default"], "false", "{parameter} is off by default");
        assert!(
            doc["Conditions"][condition].to_string().contains(&format!("[\"{parameter}\",\"true\"]")),
            "{condition}"
        );
        let policy = &doc["Resources"][name];
        assert_eq!(policy["Condition"], condition, "{name} exists only when {parameter} is on");
        let granted: Vec<(String, String)> = policy["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                assert_eq!(s["Effect"], "Allow");
                assert!(s["Condition"].is_object(), "{name}: every grant is conditioned: {s}");
                (s["Action"].as_str().unwrap().to_owned(), s["Resource"].as_str().unwrap().to_owned())
            })
            .collect();
        let want: Vec<(String, String)> = grants.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect();
        assert_eq!(granted, want, "{name}");
    }
    let env = &function()["Properties"]["Environment"]["Variables"];
    assert_eq!(env["EGRESS_GUARD_SECURITY_HUB"], "SecurityHubFindings");
    assert_eq!(env["EGRESS_GUARD_EVENT_BUS"], json!(["PutsOutcomeEvents", "default", ""]));
    let events = &resources("template.yaml")["OutcomeEventsPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(events["Condition"]["StringEquals"]["events:source"], egress_guard_aws::EVENT_SOURCE);
}

#[test]
fn local_env_file_sets_every_variable_the_lambda_reads() {
    let text = std::fs::read_to_string(repo_root().join("local/env.json")).unwrap();
    let env: Value = serde_json::from_str(&text).unwrap();
    let keys: BTreeSet<String> = env["EgressGuardFunction"].as_object().unwrap().keys().cloned().collect();
    let read: BTreeSet<String> = egress_guard_lambda::variables().into_iter().map(str::to_owned).collect();
    assert_eq!(keys, read, "local/env.json (for sam local invoke --env-vars) and the Lambda's variables differ");
}

/// The template's `AllowedPorts` pattern takes what the function's parser takes and refuses what it refuses (a port
/// over 65535 fails the deploy instead of every invocation at init). The one case it cannot see, a range written
/// backwards, the function refuses at init with the variable named.
#[test]
fn allowed_ports_pattern_agrees_with_the_function() {
    let docs = YamlLoader::load_from_str(&template_text()).unwrap();
    let pattern = docs[0]["Parameters"]["AllowedPorts"]["AllowedPattern"].as_str().unwrap().to_owned();
    let pattern = regex_lite::Regex::new(&pattern).unwrap();
    for good in ["", "tcp:443", "udp:53", "tcp:0-65535", "tcp:443, udp:53,tcp:8000-8080", "tcp:65535"] {
        assert!(pattern.is_match(good), "the template refuses {good:?}");
        assert!(egress_guard_core::AllowedPort::parse_list(good).is_ok(), "the function refuses {good:?}");
    }
    for bad in ["tcp:70000", "tcp:65536", "udp:99999", "tcp:443-70000", "icmp:8", "tcp"] {
        assert!(!pattern.is_match(bad), "the template takes {bad:?}");
        assert!(egress_guard_core::AllowedPort::parse_list(bad).is_err(), "the function takes {bad:?}");
    }
}

/// One deployment guards every region: the region forwarder's rule (`templates/region.yaml`, which the hub's
/// `RegionStackSet` deploys to each region of `Regions`) sends a change made in us-west-2 to the home region's
/// default bus, the function's own rule there takes it, and the function fixes the group in us-west-2.
#[tokio::test]
async fn a_change_in_another_region_reaches_the_home_function_through_the_forwarder_and_is_fixed_there() {
    let hub = resources("template.yaml");
    let stack_set = &hub["RegionStackSet"]["Properties"];
    assert_eq!(stack_set["TemplateURL"], "templates/region.yaml");
    assert_eq!(stack_set["StackInstancesGroup"][0]["Regions"], "Regions", "one instance per guarded region");
    let forwarder = resources("templates/region.yaml")["ForwardRule"]["Properties"].clone();
    assert_eq!(forwarder["EventPattern"], function_pattern(), "the forwarder sends what the function handles");
    let target = &forwarder["Targets"][0];
    assert_eq!(target["RoleArn"], "ForwardRoleArn");
    // The target as CloudFormation resolves it in us-west-2 for a function in eu-west-1.
    let home_bus = target["Arn"]
        .as_str()
        .unwrap()
        .replace("${AWS::Partition}", "aws")
        .replace("${HomeRegion}", "eu-west-1")
        .replace("${AWS::AccountId}", "123456789012");
    assert_eq!(home_bus, "arn:aws:events:eu-west-1:123456789012:event-bus/default");

    // Home, eu-west-1: the function's rule on the default bus, with a queue in the function's place.
    let home = World::start().await;
    let home_eb = aws_sdk_eventbridge::Client::new(&home.config);
    let (function_queue, function_queue_arn) = home.queue("function").await;
    home_eb.put_rule().name("egress-guard").event_pattern(function_pattern().to_string()).send().await.unwrap();
    let to_function = aws_sdk_eventbridge::types::Target::builder().id("f").arn(function_queue_arn).build().unwrap();
    home_eb.put_targets().rule("egress-guard").targets(to_function).send().await.unwrap();

    // Away, us-west-2: the forwarder's rule, and a group opened there.
    let away = home.as_account("123456789012", "us-west-2").await;
    let away_eb = aws_sdk_eventbridge::Client::new(&away.config);
    away_eb.put_rule().name("forward").event_pattern(forwarder["EventPattern"].to_string()).send().await.unwrap();
    let forward = aws_sdk_eventbridge::types::Target::builder()
        .id(target["Id"].as_str().unwrap())
        .arn(&home_bus)
        .role_arn("arn:aws:iam::123456789012:role/forward")
        .build()
        .unwrap();
    away_eb.put_targets().rule("forward").targets(forward).send().await.unwrap();
    let vpc = away.dual_stack_vpc().await;
    let group = away.group_with(&vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let (topic, notices) = home.topic_with_queue().await;

    // The call's CloudTrail event, as us-west-2's default bus receives it.
    let event = egress_guard_tests::event_in("authorize-egress-open-ipv4", &group, "123456789012", "us-west-2");
    put_events(&away, &away_eb, &[event]).await;
    let delivered = home.drain(&function_queue).await;
    assert_eq!(delivered.len(), 1, "the change reached the home region's rule once");
    let delivered: Value = serde_json::from_str(&delivered[0]).unwrap();
    assert_eq!(delivered["detail"]["awsRegion"], "us-west-2");

    let fleet = Fleet::new(home.config.clone(), Default::default());
    let notifier = SnsNotifier::new(home.sns.clone(), &topic);
    let settings = Settings::default();
    let answer = handle(delivered, &settings, None, (&fleet, &notifier, &NoHistory), || true).await;
    let Ok(InvocationReport::Event(report)) = answer.result else { panic!("{:?}", answer.result) };
    assert_eq!(report.results[0].outcome, Outcome::Remediated);
    assert!(away.egress(&group).await.is_empty(), "the group in us-west-2 is closed");
    let notice = &home.notices(&notices).await[0];
    assert!(notice.to_string().contains("us-west-2"), "the notice names the region: {notice}");
}

/// The regions disabled by default (opt-in), from AWS's regions table: every region launched after 2019-03-20.
const OPT_IN_REGIONS: [&str; 17] = [
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

fn administration_principals(stack: &Stack) -> BTreeSet<String> {
    let role = stack.resource("StackSetAdministrationRole").unwrap();
    let statements = role["Properties"]["AssumeRolePolicyDocument"]["Statement"].as_array().unwrap().clone();
    assert_eq!(statements.len(), 1, "{statements:?}");
    assert_eq!(statements[0]["Action"], "sts:AssumeRole");
    assert_eq!(statements[0]["Condition"]["StringEquals"]["aws:SourceAccount"], cfn::ACCOUNT);
    statements[0]["Principal"]["Service"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect()
}

#[test]
fn stackset_administration_role_trusts_cloudformation_and_the_regional_principal_of_each_opt_in_region_guarded() {
    let template = cfn::load("template.yaml");
    let global = "cloudformation.amazonaws.com".to_owned();
    // The default regions are all enabled in every account: CloudFormation's global principal only.
    let defaults = Stack::new(&template, &[]);
    let default_regions = defaults.eval(&json!({ "Ref": "Regions" })).unwrap();
    for region in default_regions.as_array().unwrap() {
        assert!(!OPT_IN_REGIONS.contains(&region.as_str().unwrap()), "{region} is opt-in: not a default");
    }
    assert_eq!(administration_principals(&defaults), BTreeSet::from([global.clone()]));
    // Each opt-in region, first, last or alone in the list, brings its own principal and no other.
    for region in OPT_IN_REGIONS {
        for regions in [format!("{region},us-east-1"), format!("us-east-1, eu-west-1, {region}"), region.to_owned()] {
            let stack = Stack::new(&template, &[("Regions", &regions)]);
            let want = BTreeSet::from([global.clone(), format!("cloudformation.{region}.amazonaws.com")]);
            assert_eq!(administration_principals(&stack), want, "Regions={regions}");
        }
    }
    // All of them at once, and a name that only contains one (not a region) brings none.
    let all = OPT_IN_REGIONS.join(",");
    let principals = administration_principals(&Stack::new(&template, &[("Regions", &all)]));
    assert_eq!(principals.len(), 1 + OPT_IN_REGIONS.len());
    let near = administration_principals(&Stack::new(&template, &[("Regions", "us-east-1,xaf-south-1,af-south-10")]));
    assert_eq!(near, BTreeSet::from([global]));
}

#[test]
fn stackset_execution_role_holds_the_documented_minimum_and_only_the_administration_role_may_assume_it() {
    let template = cfn::load("template.yaml");
    let role = Stack::new(&template, &[]).resource("StackSetExecutionRole").unwrap();
    let trust = &role["Properties"]["AssumeRolePolicyDocument"]["Statement"];
    assert_eq!(
        trust,
        &json!([{ "Effect": "Allow", "Principal": { "AWS": "StackSetAdministrationRole.Arn" }, "Action": "sts:AssumeRole" }])
    );
    let statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].as_array().unwrap().clone();
    let minimum = statements.iter().find(|s| s["Resource"] == "*").expect("the documented minimum on *");
    assert_eq!(minimum["Action"], json!(["cloudformation:*", "s3:*"]));
    // The template's own resources: the forwarding rule and the role it hands EventBridge, nothing broader.
    for statement in statements.iter().filter(|s| s["Resource"] != "*") {
        let actions: Vec<&str> = match &statement["Action"] {
            Value::String(a) => vec![a.as_str()],
            other => other.as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect(),
        };
        assert!(actions.iter().all(|a| a.starts_with("events:") || *a == "iam:PassRole"), "{statement}");
        assert!(!actions.iter().any(|a| a.contains('*')), "{statement}");
    }
}

#[test]
fn reserved_concurrency_rules_refuse_exactly_the_sweep_limits_at_or_above_the_reservation() {
    let template = cfn::load("template.yaml");
    let allowed = |name: &str| -> Vec<u32> {
        template["Parameters"][name]["AllowedValues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect()
    };
    let (reservations, sweeps) = (allowed("FunctionConcurrency"), allowed("ConcurrentSweeps"));
    assert_eq!(template["Parameters"]["FunctionConcurrency"]["Default"], 0, "unreserved by default");
    assert!(sweeps.iter().all(|s| (2..=1000).contains(s)), "Lambda's maximum concurrency range");
    let mut refused_pairs = 0;
    for reserved in &reservations {
        for concurrent in &sweeps {
            let stack = Stack::new(
                &template,
                &[("FunctionConcurrency", &reserved.to_string()), ("ConcurrentSweeps", &concurrent.to_string())],
            );
            let starves = *reserved > 0 && concurrent >= reserved;
            let refusals = stack.refusals();
            assert_eq!(
                !refusals.is_empty(),
                starves,
                "FunctionConcurrency={reserved} ConcurrentSweeps={concurrent}: {refusals:?}"
            );
            refused_pairs += usize::from(starves);
            let function = stack.resource("EgressGuardFunction").unwrap();
            let reservation = &function["Properties"]["ReservedConcurrentExecutions"];
            if *reserved == 0 {
                assert!(reservation.is_null(), "nothing reserved by default: {reservation}");
            } else {
                assert_eq!(reservation, &json!(reserved.to_string()));
            }
            let mapping = &function["Properties"]["Events"]["SweepRequests"]["Properties"]["ScalingConfig"];
            assert_eq!(mapping["MaximumConcurrency"], json!(concurrent.to_string()));
        }
    }
    assert!(refused_pairs > 10, "the oracle must see refusals: {refused_pairs}");
}

#[test]
fn sweep_queue_gives_a_throttled_request_at_least_five_receives_before_the_failure_queue() {
    let template = cfn::load("template.yaml");
    let stack = Stack::new(&template, &[]);
    let queue = stack.resource("SweepQueue").unwrap();
    let redrive = &queue["Properties"]["RedrivePolicy"];
    assert!(redrive["maxReceiveCount"].as_u64().unwrap() >= 5, "{redrive}");
    // The function names a sweep failed in the digest on the delivery SQS makes last.
    assert_eq!(redrive["maxReceiveCount"].as_u64(), Some(u64::from(egress_guard_lambda::MAX_RECEIVES)), "{redrive}");
    assert_eq!(redrive["deadLetterTargetArn"], "FailureQueue.Arn");
    let timeout = stack.resource("EgressGuardFunction").unwrap()["Properties"]["Timeout"].as_u64().unwrap();
    assert!(
        queue["Properties"]["VisibilityTimeout"].as_u64().unwrap() >= 6 * timeout,
        "six times the function's timeout"
    );
}

/// `sam deploy` keeps what the stack has for every parameter it is not given (`UsePreviousValue`), so a plain deploy
/// after `DryRun=false` stays enforcing only if `samconfig.toml` pins none of the parameters the README has users
/// set; and the capabilities it grants are the ones the template needs: unnamed IAM resources, no macro but SAM's.
#[test]
fn samconfig_pins_no_parameter_users_set_and_grants_only_the_capabilities_the_template_needs() {
    let readme = std::fs::read_to_string(repo_root().join("docs/deploy.md")).unwrap();
    let table = regex_lite::Regex::new(r"(?m)^\| `([A-Za-z]+)` \|").unwrap();
    let documented: BTreeSet<String> = table.captures_iter(&readme).map(|c| c[1].to_owned()).collect();
    let template = cfn::load("template.yaml");
    let declared: BTreeSet<String> = template["Parameters"].as_object().unwrap().keys().cloned().collect();
    assert!(
        documented.is_superset(&declared),
        "every parameter is in docs/deploy.md's table: {:?}",
        declared.difference(&documented).collect::<Vec<_>>()
    );
    let samconfig = std::fs::read_to_string(repo_root().join("samconfig.toml")).unwrap();
    let overrides = regex_lite::Regex::new(r#"(?m)^\s*parameter_overrides\s*=\s*"(.*)"\s*$"#).unwrap();
    let key = regex_lite::Regex::new(r"([A-Za-z]+)=").unwrap();
    let pinned: BTreeSet<String> = overrides
        .captures_iter(&samconfig)
        .flat_map(|c| key.captures_iter(&c[1]).map(|k| k[1].to_owned()).collect::<Vec<_>>())
        .collect();
    let both: Vec<&String> = pinned.intersection(&documented).collect();
    assert!(both.is_empty(), "samconfig.toml pins {both:?}: a plain sam deploy would undo what a user set");
    let capabilities = regex_lite::Regex::new(r#"(?m)^capabilities\s*=\s*"([^"]*)""#).unwrap();
    let granted: Vec<String> = capabilities.captures_iter(&samconfig).map(|c| c[1].to_owned()).collect();
    let resources = template["Resources"].as_object().unwrap();
    let iam = resources.values().any(|r| r["Type"].as_str().unwrap().starts_with("AWS::IAM::"));
    let named = resources.values().any(|r| {
        ["RoleName", "ManagedPolicyName", "UserName", "GroupName", "InstanceProfileName"]
            .iter()
            .any(|n| !r["Properties"][*n].is_null())
    });
    assert!(iam && !named, "IAM resources, none with a name of its own: CAPABILITY_IAM, not NAMED_IAM");
    assert_eq!(template["Transform"], "AWS::Serverless-2016-10-31", "SAM's transform alone: no AUTO_EXPAND");
    assert_eq!(granted, vec!["CAPABILITY_IAM".to_owned()]);
}

/// A region the template does not know (one launched after it) is refused before anything is created: an opt-in
/// region without its principal in the administration role would fail its stack instance and roll back the stack.
#[test]
fn regions_the_template_does_not_know_are_refused_and_every_known_region_is_taken() {
    let template = cfn::load("template.yaml");
    let defaults = Stack::new(&template, &[]);
    let mut known: Vec<String> = defaults
        .eval(&json!({ "Ref": "Regions" }))
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    known.extend(OPT_IN_REGIONS.iter().map(|r| r.to_string()));
    known.extend(["us-gov-east-1", "us-gov-west-1", "cn-north-1", "cn-northwest-1"].map(String::from));
    assert!(defaults.refusals().is_empty(), "{:?}", defaults.refusals());
    for region in &known {
        let stack = Stack::new(&template, &[("Regions", region)]);
        assert!(stack.refusals().is_empty(), "{region}: {:?}", stack.refusals());
    }
    let every = known.join(",");
    assert!(Stack::new(&template, &[("Regions", &every)]).refusals().is_empty());
    for unknown in ["xx-north-9", "us-east-1,ap-southeast-9", "eu-west-1,af-south-10"] {
        let refusals = Stack::new(&template, &[("Regions", unknown)]).refusals();
        assert!(refusals.iter().any(|r| r.starts_with("RegionsAreKnown")), "{unknown}: {refusals:?}");
    }
}

/// The deployer's policy (`docs/deployer-policy.json`) lets `sam deploy` create every resource type the stack holds,
/// through a change set and SAM's transform, and names every action: no `*`. The create action of each type is the
/// test's own table (from each type's CloudFormation handler permissions); a type it does not know fails the test, so
/// a new resource type cannot ship without the deployer's permission for it.
#[test]
fn the_deployers_policy_creates_every_resource_type_the_stack_holds_and_names_each_action() {
    let policy: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("docs/deployer-policy.json")).unwrap()).unwrap();
    let mut actions = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        match &statement["Action"] {
            Value::String(a) => actions.insert(a.clone()),
            list => list.as_array().unwrap().iter().all(|a| actions.insert(a.as_str().unwrap().to_owned())),
        };
    }
    let wild: Vec<&String> = actions.iter().filter(|a| a.contains('*')).collect();
    assert!(wild.is_empty(), "every action named: {wild:?}");
    let creates = |kind: &str| -> &[&str] {
        match kind {
            "AWS::Serverless::Function" => &["lambda:CreateFunction", "iam:PassRole"],
            "AWS::Lambda::Permission" => &["lambda:AddPermission"],
            "AWS::IAM::Role" => &["iam:CreateRole"],
            "AWS::IAM::Policy" => &["iam:PutRolePolicy"],
            "AWS::IAM::ManagedPolicy" => &["iam:CreatePolicy"],
            "AWS::SQS::Queue" => &["sqs:CreateQueue"],
            "AWS::SNS::Topic" => &["sns:CreateTopic"],
            "AWS::SNS::Subscription" => &["sns:Subscribe"],
            "AWS::DynamoDB::Table" => &["dynamodb:CreateTable"],
            "AWS::KMS::Key" => &["kms:CreateKey"],
            "AWS::Logs::LogGroup" => &["logs:CreateLogGroup"],
            "AWS::Events::Rule" => &["events:PutRule", "events:PutTargets"],
            "AWS::Events::EventBus" => &["events:CreateEventBus"],
            "AWS::Events::EventBusPolicy" => &["events:PutPermission"],
            "AWS::CloudWatch::Alarm" => &["cloudwatch:PutMetricAlarm"],
            "AWS::CloudTrail::Trail" => &["cloudtrail:CreateTrail"],
            "AWS::S3::Bucket" => &["s3:CreateBucket"],
            "AWS::S3::BucketPolicy" => &["s3:PutBucketPolicy"],
            "AWS::CloudFormation::StackSet" => &["cloudformation:CreateStackSet"],
            "AWS::CloudFormation::WaitConditionHandle" => &[],
            other => panic!("{other}: which action creates it? Add it here and to docs/deployer-policy.json"),
        }
    };
    let mut missing = Vec::new();
    for file in ["template.yaml", "templates/spoke.yaml", "templates/region.yaml"] {
        let template = cfn::load(file);
        for resource in template["Resources"].as_object().unwrap().values() {
            let kind = resource["Type"].as_str().unwrap();
            missing
                .extend(creates(kind).iter().filter(|a| !actions.contains(**a)).map(|a| format!("{file} {kind}: {a}")));
        }
    }
    for deploy in ["cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet", "cloudformation:DescribeStacks"]
    {
        if !actions.contains(deploy) {
            missing.push(deploy.to_owned());
        }
    }
    assert!(missing.is_empty(), "the deployer's policy lacks: {missing:#?}");
}
