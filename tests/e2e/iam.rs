//! The function under its own role as `template.yaml` writes it, on moto with IAM enforcement on. The role's policies
//! (its own and every conditional one attached to it) are rendered for the parameters each test deploys with, with
//! this world's topic, queues and table for the stack's; the function is wired from the rendered environment as
//! `main.rs` wires it; every call it makes must be allowed (moto denies the rest, and the proxy lists each denial).
//! moto checks actions, and resource ARNs only for SQS, IAM and STS, never conditions (`EMULATORS.md` §13): other
//! statements are rendered on `*`, and their resource and condition scoping stay with the template tests. Security Hub cannot run under moto's
//! enforcement (every call fails its signature check), so `SecurityHubFindings` stays off here.

use egress_guard_aws::Clients;
use egress_guard_core::{Home, Outcome};
use egress_guard_lambda::{Config, InvocationReport, handle};
use egress_guard_tests::{REGION, World, event_for, perm, run_schedule};
use serde_json::{Value, json};

use crate::cfn::{self, Stack};

const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:egress-guard-egress-guard";

/// A stack deployed into `world` for `parameters`: the function's role (its rendered policies, less `without`) as
/// a world of its own, and the function's configuration from its rendered environment.
struct Deployed {
    role: World,
    config: Config,
    notices: String,
    sweeps: String,
}

async fn deploy(world: &World, parameters: &[(&str, &str)], without: Option<&str>) -> Deployed {
    let (topic, notices) = world.topic_with_queue().await;
    let (sweeps, sweeps_arn) = world.queue("sweeps").await;
    let (_, failures_arn) = world.queue("failures").await;
    let table = world.history_table().await;
    let template = cfn::load("template.yaml");
    let account = cfn::ACCOUNT;
    let resolve = |id: &str, attribute: Option<&str>| -> Value {
        match (id, attribute) {
            ("NoticeTopic", None) => json!(topic),
            ("SweepQueue", None) => json!(sweeps),
            ("SweepQueue", Some("Arn")) => json!(sweeps_arn),
            ("FailureQueue", Some("Arn")) => json!(failures_arn),
            ("RevokeHistory", None) => json!(table),
            ("RevokeHistory", Some("Arn")) => json!(format!("arn:aws:dynamodb:{REGION}:{account}:table/{table}")),
            ("Key", Some("Arn")) => {
                json!(format!("arn:aws:kms:{REGION}:{account}:key/0e1d2c3b-0000-4000-8000-000000000001"))
            }
            ("FunctionLogGroup", Some("Arn")) => {
                json!(format!("arn:aws:logs:{REGION}:{account}:log-group:/aws/lambda/egress-guard-egress-guard"))
            }
            (id, None) => json!(id),
            (id, Some(attribute)) => json!(format!("{id}.{attribute}")),
        }
    };
    let stack = Stack::resolving(&template, parameters, resolve).in_region(REGION);
    assert!(stack.refusals().is_empty(), "the template takes these parameters: {:?}", stack.refusals());
    let policies = function_policies(&template, &stack, without);
    let role = world.with_role("egress-guard-function", &policies).await;
    let function = stack.resource("EgressGuardFunction").unwrap();
    let env = function["Properties"]["Environment"]["Variables"].as_object().unwrap().clone();
    let config = Config::from_vars(|name| env.get(name).and_then(Value::as_str).map(str::to_owned)).unwrap();
    drop(stack);
    Deployed { role, config, notices, sweeps }
}

/// Every policy the stack attaches to `FunctionRole` when deployed (its inline policies, and each `AWS::IAM::Policy`
/// or `AWS::IAM::ManagedPolicy` naming it whose condition holds), less the action `without`, as moto checks them.
fn function_policies(template: &Value, stack: &Stack, without: Option<&str>) -> Vec<(String, Value)> {
    let role = stack.resource("FunctionRole").unwrap();
    let mut policies: Vec<(String, Value)> = role["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["PolicyName"].as_str().unwrap().to_owned(), p["PolicyDocument"].clone()))
        .collect();
    for (id, resource) in template["Resources"].as_object().unwrap() {
        let kind = resource["Type"].as_str().unwrap();
        if kind != "AWS::IAM::Policy" && kind != "AWS::IAM::ManagedPolicy" {
            continue;
        }
        let Some(rendered) = stack.resource(id) else { continue };
        if rendered["Properties"]["Roles"].as_array().unwrap().contains(&json!("FunctionRole")) {
            policies.push((id.clone(), rendered["Properties"]["PolicyDocument"].clone()));
        }
    }
    let mut removed = false;
    for (_, document) in &mut policies {
        for statement in document["Statement"].as_array_mut().unwrap() {
            // moto matches resource ARNs for SQS, IAM and STS only, and checks every other call against `*`.
            let matched = ["\"sqs:", "\"sts:", "\"iam:"].iter().any(|s| statement["Action"].to_string().contains(s));
            if !matched {
                statement["Resource"] = json!("*");
            }
            // AWS authorizes a batch call by its single action (SendMessageBatch by sqs:SendMessage:
            // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html);
            // moto checks the batch call's own name, so the batch name goes wherever its single action is.
            let mut actions = match statement["Action"].take() {
                Value::String(a) => vec![a],
                other => other.as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
            };
            if let Some(action) = without {
                removed |= actions.iter().any(|a| a == action);
                actions.retain(|a| a != action);
            }
            for single in ["sqs:SendMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"] {
                if actions.iter().any(|a| a == single) {
                    actions.push(format!("{single}Batch"));
                }
            }
            // AWS authorizes TransactWriteItems by the actions inside it, here PutItem and UpdateItem, and has no
            // action of its own for it (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html);
            // moto checks `dynamodb:TransactWriteItems`, so it goes wherever both are granted.
            if ["dynamodb:PutItem", "dynamodb:UpdateItem"].iter().all(|x| actions.iter().any(|a| a == x)) {
                actions.push("dynamodb:TransactWriteItems".into());
            }
            statement["Action"] = json!(actions);
        }
        let statements = document["Statement"].as_array_mut().unwrap();
        statements.retain(|s| !s["Action"].as_array().unwrap().is_empty());
    }
    policies.retain(|(_, document)| !document["Statement"].as_array().unwrap().is_empty());
    assert!(without.is_none() || removed, "the template grants {without:?}");
    policies
}

fn ports(
    role: &World,
    config: &Config,
) -> (egress_guard_aws::Fleet, egress_guard_aws::SnsNotifier, Option<egress_guard_aws::DynamoHistory>) {
    let clients = Clients { ec2: aws_sdk_ec2::Client::new(&role.config), config: role.config.clone() };
    let fleet = clients.fleet(config.integrations.clone());
    let notifier = clients.notifier(&config.topic_arn);
    let history = config.history_table.as_deref().map(|table| clients.history(table));
    (fleet, notifier, history)
}

/// Enforcing, with the repeat history, the observed-egress section and outcome events on: an event's remediation
/// (describe, revoke, re-read, history, flow-log lookups, the bus, the notice), then a schedule's fan-out and the
/// sweep it queues (send, receive and delete on the sweep queue, list, revoke, summary), all under the role.
#[tokio::test]
async fn the_function_role_allows_every_call_of_an_event_a_schedule_and_its_sweep() {
    let world = World::start().await;
    let vpc = world.dual_stack_vpc().await;
    let opened = world.group_with(&vpc, "opened", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &["::/0"])]).await;
    let older = world.group_with(&vpc, "older", vec![perm("udp", Some((53, 53)), &["0.0.0.0/0"], &[])]).await;
    let parameters = [("DryRun", "false"), ("Regions", REGION), ("ObservedEgressDays", "7"), ("OutcomeEvents", "true")];
    let deployed = deploy(&world, &parameters, None).await;
    assert!(deployed.config.history_table.is_some() && deployed.config.sweep_queue_url.is_some());
    world.moto.enforce_iam(true);
    let (fleet, notifier, history) = ports(&deployed.role, &deployed.config);
    let home = Home::from_function_arn(FUNCTION_ARN).unwrap();
    let settings = &deployed.config.settings;
    let event = event_for("authorize-egress-open-both", &opened);
    let answer = handle(event, settings, Some(&home), (&fleet, &notifier, &history), || true).await;
    let regions = deployed.config.regions.clone();
    let (dispatch, sweeps) = run_schedule(
        &deployed.role,
        &deployed.sweeps,
        &regions,
        settings,
        Some(&home),
        (&fleet, &notifier, &history),
        || true,
    )
    .await;
    world.moto.enforce_iam(false);
    assert_eq!(world.moto.denied(), Vec::<Value>::new(), "every call the function made was allowed");
    let Ok(InvocationReport::Event(report)) = answer.result else { panic!("{:?}", answer.result) };
    assert_eq!(report.results[0].outcome, Outcome::Remediated, "{report:?}");
    assert_eq!(dispatch.queued, vec![format!("{}/{REGION}", cfn::ACCOUNT)]);
    let lines: Vec<_> = sweeps.iter().flatten().flat_map(|s| s.lines.iter()).collect();
    assert!(lines.iter().any(|l| l.group_id == older), "the older group was swept: {lines:?}");
    assert!(lines.iter().all(|l| l.outcome == Outcome::Remediated), "the default groups' allow-all too: {lines:?}");
    assert!(world.all_groups_closed().await, "nothing open is left");
    assert_eq!(world.notices(&deployed.notices).await.len(), 2, "the event's notice and the sweep's summary");
}

/// The same deploy less one action: the call it allows is denied, the test's oracle sees it, and the group stays
/// open. What proves the run above is enforced, not merely allowed.
#[tokio::test]
async fn the_function_role_without_revoke_egress_is_denied_and_leaves_the_group_open() {
    let world = World::start().await;
    let vpc = world.dual_stack_vpc().await;
    let opened = world.group_with(&vpc, "opened", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let parameters = [("DryRun", "false"), ("Regions", REGION)];
    let deployed = deploy(&world, &parameters, Some("ec2:RevokeSecurityGroupEgress")).await;
    world.moto.enforce_iam(true);
    let (fleet, notifier, history) = ports(&deployed.role, &deployed.config);
    let home = Home::from_function_arn(FUNCTION_ARN).unwrap();
    let event = event_for("authorize-egress-open-ipv4", &opened);
    let answer = handle(event, &deployed.config.settings, Some(&home), (&fleet, &notifier, &history), || true).await;
    world.moto.enforce_iam(false);
    let denied: Vec<String> = world.moto.denied().iter().map(|d| d["operation"].as_str().unwrap().to_owned()).collect();
    assert!(!denied.is_empty() && denied.iter().all(|op| op == "RevokeSecurityGroupEgress"), "{denied:?}");
    let outcome = match &answer.result {
        Ok(InvocationReport::Event(report)) => Some(report.results[0].outcome),
        _ => None,
    };
    assert_ne!(outcome, Some(Outcome::Remediated), "{:?}", answer.result);
    assert!(world.egress(&opened).await.iter().any(|r| r.ends_with("0.0.0.0/0")), "the group stays open");
}

/// Organization mode with every member (`*`): the schedule's fan-out lists the organization's accounts and tries
/// each member's remediation role under the function's role, and queues each account's sweep, all allowed.
#[tokio::test]
async fn in_organization_mode_the_function_role_allows_listing_the_members_and_trying_their_roles() {
    let world = World::start().await;
    let orgs = aws_sdk_organizations::Client::new(&world.config);
    let organization = orgs
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let organization_id = organization.organization().unwrap().id().unwrap().to_owned();
    let created = orgs.create_account().email("payments@example.com").account_name("payments").send().await.unwrap();
    let member = created.create_account_status().unwrap().account_id().unwrap().to_owned();
    let parameters = [("Regions", REGION), ("OrganizationId", organization_id.as_str()), ("MemberAccounts", "*")];
    let deployed = deploy(&world, &parameters, None).await;
    world.moto.enforce_iam(true);
    let (fleet, notifier, history) = ports(&deployed.role, &deployed.config);
    let home = Home::from_function_arn(FUNCTION_ARN).unwrap();
    let queue = egress_guard_aws::SqsSweepQueue::new(deployed.role.sqs.clone(), &deployed.sweeps);
    let accounts = deployed.role.organization_accounts();
    let regions = deployed.config.regions.clone();
    let fanout = Some(egress_guard_lambda::Fanout { queue: &queue, accounts: &accounts, regions: &regions });
    let schedule = event_for("scheduled-sweep", "-");
    let answer = egress_guard_lambda::invoke(
        schedule,
        &deployed.config.settings,
        Some(&home),
        (&fleet, &notifier, &history),
        fanout,
        || true,
    )
    .await;
    world.moto.enforce_iam(false);
    assert_eq!(world.moto.denied(), Vec::<Value>::new(), "every call the fan-out made was allowed");
    let Ok(InvocationReport::Dispatch(dispatch)) = answer.result else { panic!("{:?}", answer.result) };
    assert!(dispatch.without_role.is_empty(), "{dispatch:?}");
    let want = vec![format!("{}/{REGION}", cfn::ACCOUNT), format!("{member}/{REGION}")];
    assert_eq!(dispatch.queued, want);
}
