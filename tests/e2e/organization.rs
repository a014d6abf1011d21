//! Organization mode against moto, two accounts and two regions: the hub's function reaches a member account's
//! groups through the member's remediation role, leaves the restricted group next door alone, names the member's
//! account and region in the notice, assumes the role once for many events, and refuses an account it does not
//! guard before any AWS call.
//!
//! moto keeps accounts apart by the credentials STS issued for a role in them (`EMULATORS.md` §6), which is exactly
//! how the function reaches a member account.

use egress_guard_aws::{Ec2SecurityGroups, Fleet, SnsNotifier};
use egress_guard_core::settings::vars;
use egress_guard_core::{EventReport, Home, NoHistory, Outcome, Settings};
use egress_guard_lambda::{InvocationReport, handle};
use egress_guard_tests::{Counted, Moto, Rie, World, bootstrap, event_in, on_a_large_stack, perm};
use serde_json::Value;

/// moto's default account: the hub, whose function, topic and queue these are.
const HUB: &str = "123456789012";
const MEMBER: &str = "111111111111";
const OUTSIDER: &str = "222222222222";
const ROLE: &str = "egress-guard-remediation";

fn org_settings() -> Settings {
    org_settings_for(MEMBER)
}

/// Organization mode acting in `members` (`EGRESS_GUARD_MEMBER_ACCOUNTS`: ids, or `*`).
fn org_settings_for(members: &str) -> Settings {
    Settings::from_vars(|name| match name {
        vars::REMEDIATION_ROLE => Some(ROLE.into()),
        vars::MEMBER_ACCOUNTS => Some(members.into()),
        _ => None,
    })
    .unwrap()
}

fn hub_home() -> Home {
    Home::from_function_arn(&format!("arn:aws:lambda:eu-west-1:{HUB}:function:egress-guard")).unwrap()
}

fn only_report(answer: InvocationReport) -> (Outcome, EventReport) {
    let InvocationReport::Event(response) = answer else { panic!("an event answered as a sweep") };
    assert_eq!(response.results.len(), 1, "{response:?}");
    (response.results[0].outcome, response)
}

/// A member's open group, and a restricted one beside it, in `region`.
async fn member_groups(member: &World) -> (String, String) {
    let vpc = member.dual_stack_vpc().await;
    let open = member.group_with(&vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
    let restricted = member.group_with(&vpc, "db", vec![perm("tcp", Some((5432, 5432)), &["10.20.0.0/16"], &[])]).await;
    (open, restricted)
}

/// The hub (its topic and queue) and one member in two regions, each region with an open and a restricted group.
struct Organization {
    hub: World,
    topic: String,
    queue: String,
    member_east: World,
    member_west: World,
    open_east: String,
    restricted_east: String,
    open_west: String,
}

impl Organization {
    async fn start() -> Organization {
        let hub = World::start().await;
        let (topic, queue) = hub.topic_with_queue().await;
        let member_east = hub.as_account(MEMBER, "us-east-1").await;
        let member_west = hub.as_account(MEMBER, "eu-west-1").await;
        let (open_east, restricted_east) = member_groups(&member_east).await;
        let (open_west, _) = member_groups(&member_west).await;
        Organization { hub, topic, queue, member_east, member_west, open_east, restricted_east, open_west }
    }
}

#[tokio::test]
async fn hub_function_remediates_member_accounts_in_two_regions_and_its_own() {
    let Organization { hub, topic, queue, member_east, member_west, open_east, restricted_east, open_west } =
        Organization::start().await;
    let hub_vpc = hub.dual_stack_vpc().await;
    let open_hub = hub.group(&hub_vpc, "hub-web").await;
    // The hub's own credentials do not see the member's groups: only the member's role reaches them.
    assert!(hub.ec2_in("us-east-1").describe_security_groups().group_ids(&open_east).send().await.is_err());
    let restricted_before = member_east.egress(&restricted_east).await;

    let (settings, home) = (org_settings(), hub_home());
    let fleet = Fleet::new(hub.config.clone(), Default::default());
    let notifier = SnsNotifier::new(hub.sns.clone(), &topic);
    let run = async |name: &str, group: &str, account: &str, region: &str| {
        let event = event_in(name, group, account, region);
        only_report(
            handle(event, &settings, Some(&home), (&fleet, &notifier, &NoHistory), || true).await.result.unwrap(),
        )
    };

    let (outcome, _) = run("authorize-egress-open-ipv4", &open_east, MEMBER, "us-east-1").await;
    assert_eq!(outcome, Outcome::Remediated);
    let (outcome, _) = run("authorize-egress-restricted", &restricted_east, MEMBER, "us-east-1").await;
    assert_eq!(outcome, Outcome::Compliant);
    let (outcome, _) = run("authorize-egress-open-ipv4", &open_west, MEMBER, "eu-west-1").await;
    assert_eq!(outcome, Outcome::Remediated);
    let (outcome, _) = run("create-security-group", &open_hub, HUB, "eu-west-1").await;
    assert_eq!(outcome, Outcome::Remediated, "the hub's own account, with its own credentials");

    assert!(member_east.egress(&open_east).await.is_empty(), "the member's open rule is gone");
    assert!(member_west.egress(&open_west).await.is_empty(), "in the member's other region too");
    assert!(hub.egress(&open_hub).await.is_empty(), "and in the hub's own account");
    assert_eq!(member_east.egress(&restricted_east).await, restricted_before, "the restricted group is untouched");

    let notices = hub.notices(&queue).await;
    assert_eq!(notices.len(), 3, "one notice per remediation, none for the compliant group");
    let east = notices.iter().find(|n| n["Message"].as_str().unwrap().contains(&open_east)).unwrap();
    let text = east["Message"].as_str().unwrap();
    assert!(text.contains(&format!("Account  {MEMBER}  Region us-east-1")), "{text}");
    assert!(text.contains(&format!("run it in account {MEMBER}")) && text.contains("--region us-east-1"), "{text}");
    assert!(east["Subject"].as_str().unwrap().ends_with("us-east-1"), "{east}");
    assert_eq!(east["MessageAttributes"]["account"]["Value"], MEMBER);
    assert_eq!(east["MessageAttributes"]["region"]["Value"], "us-east-1");
}

#[test]
fn a_members_findings_go_into_its_own_hub_through_its_role_never_with_the_hubs_credentials() {
    on_a_large_stack(member_findings);
}

/// Security Hub takes a default-product finding only from the account it names (`AwsAccountId`): the hub's function
/// imports a member's findings through the member's role, into the member's hub; the same finding sent with the hub's
/// credentials is refused, as AWS refuses it.
async fn member_findings() {
    let Organization { hub, topic, member_east, open_east, .. } = Organization::start().await;
    member_east.enable_security_hub("us-east-1").await;
    hub.enable_security_hub("us-east-1").await;
    let (settings, home) = (org_settings(), hub_home());
    let fleet = Fleet::new(hub.config.clone(), egress_guard_aws::Integrations { security_hub: true, event_bus: None });
    let notifier = SnsNotifier::new(hub.sns.clone(), &topic);
    let event = event_in("authorize-egress-open-ipv4", &open_east, MEMBER, "us-east-1");
    let answer = handle(event, &settings, Some(&home), (&fleet, &notifier, &NoHistory), || true).await;
    let (outcome, report) = only_report(answer.result.expect("the findings went in"));
    assert_eq!(outcome, Outcome::Remediated);
    assert_eq!(hub.moto.rejected(), Vec::<Value>::new(), "nothing refused");

    let id = format!("egress-guard/{MEMBER}/us-east-1/{open_east}/0.0.0.0/0");
    let ids = |world: &World| {
        let config = world.config.to_builder().region(aws_config::Region::new("us-east-1")).build();
        async move {
            let found = aws_sdk_securityhub::Client::new(&config).get_findings().send().await.unwrap();
            found
                .findings()
                .iter()
                .map(|f| (f.id().unwrap().to_owned(), f.aws_account_id().unwrap().to_owned()))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(&member_east).await, vec![(id.clone(), MEMBER.to_owned())], "in the member's own hub");
    assert_eq!(ids(&hub).await, vec![], "nothing in the hub account's");

    // The same finding with the hub's own credentials: refused, named, and not imported.
    let notice = report.results[0].notice.clone().expect("the notice");
    let findings = egress_guard_core::notify::asff::from_notice(&notice, "2026-12-03T12:00:00Z");
    let config = hub.config.to_builder().region(aws_config::Region::new("us-east-1")).build();
    let hub_creds = egress_guard_aws::SecurityHubFindings::new(aws_sdk_securityhub::Client::new(&config));
    let err = hub_creds.import(&findings).await.expect_err("AWS refuses another account's finding");
    assert!(err.to_string().contains(&id), "{err}");
    let refused = hub.moto.rejected();
    assert!(
        refused.iter().any(|r| r["problem"].as_str().unwrap().contains("is not the calling account")),
        "{refused:?}"
    );
    assert_eq!(ids(&hub).await, vec![]);
}

#[tokio::test]
async fn event_from_an_account_outside_the_allow_list_is_refused_with_no_aws_call() {
    let hub = World::start().await;
    let (topic, queue) = hub.topic_with_queue().await;
    let outsider = hub.as_account(OUTSIDER, "us-east-1").await;
    let (open, _) = member_groups(&outsider).await;

    // Counted in place of the fleet: any read or revoke, in any account, would show.
    let groups = Counted::new(Ec2SecurityGroups::new(aws_sdk_ec2::Client::new(&hub.config)));
    let notifier = Counted::new(SnsNotifier::new(hub.sns.clone(), &topic));
    let event = event_in("authorize-egress-open-ipv4", &open, OUTSIDER, "us-east-1");
    let answer = handle(event, &org_settings(), Some(&hub_home()), (&groups, &notifier, &NoHistory), || true)
        .await
        .result
        .unwrap();
    let (outcome, response) = only_report(answer);

    assert_eq!(outcome, Outcome::Refused);
    let reason = response.results[0].reason.as_deref().unwrap();
    assert!(reason.contains(OUTSIDER) && reason.contains(vars::MEMBER_ACCOUNTS), "{reason}");
    assert!(groups.calls().is_empty() && notifier.calls().is_empty(), "no AWS call for a refused event");
    assert_eq!(outsider.egress(&open).await.len(), 1, "the outsider's group is not ours to change");
    assert!(hub.notices(&queue).await.is_empty());
}

/// The function's environment in organization mode.
fn hub_env(moto: &Moto, topic: &str) -> Vec<(&'static str, String)> {
    let mut env = moto.env();
    env.push(("AWS_LAMBDA_FUNCTION_TIMEOUT", "30".into()));
    env.push(("EGRESS_GUARD_TOPIC_ARN", topic.into()));
    env.push((vars::REMEDIATION_ROLE, ROLE.into()));
    env.push((vars::MEMBER_ACCOUNTS, MEMBER.into()));
    env
}

#[tokio::test]
async fn bootstrap_assumes_a_members_role_once_for_many_events_under_the_rie() {
    let Organization { hub, topic, queue, member_east, member_west, open_east, restricted_east, open_west } =
        Organization::start().await;
    let outsider = hub.as_account(OUTSIDER, "us-east-1").await;
    let (outsider_open, _) = member_groups(&outsider).await;

    let rie = Rie::start(&bootstrap(), &hub_env(&hub.moto, &topic));
    let outcome = |name: &str, group: &str, account: &str, region: &str| {
        let (status, body) = rie.invoke(&event_in(name, group, account, region));
        assert_eq!(status, 200, "{body}");
        let response: Value = serde_json::from_str(&body).unwrap();
        response["results"][0]["outcome"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(outcome("authorize-egress-open-ipv4", &open_east, MEMBER, "us-east-1"), "remediated");
    assert_eq!(outcome("authorize-egress-restricted", &restricted_east, MEMBER, "us-east-1"), "compliant");
    assert_eq!(outcome("authorize-egress-open-ipv4", &open_west, MEMBER, "eu-west-1"), "remediated");
    assert_eq!(outcome("authorize-egress-open-ipv4", &outsider_open, OUTSIDER, "us-east-1"), "refused");

    assert!(member_east.egress(&open_east).await.is_empty());
    assert!(member_west.egress(&open_west).await.is_empty());
    assert_eq!(outsider.egress(&outsider_open).await.len(), 1);
    assert_eq!(hub.notices(&queue).await.len(), 2);

    let output = rie.output();
    let assumed: Vec<Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "assumed the remediation role")
        .collect();
    assert_eq!(assumed.len(), 1, "one AssumeRole for three events in two regions: {output}");
    assert_eq!(assumed[0]["account"], MEMBER);
    assert_eq!(assumed[0]["role_arn"], format!("arn:aws:iam::{MEMBER}:role/{ROLE}"));
    assert!(output.contains("event refused"), "{output}");
}

/// Organization mode: one schedule sweeps every named member's regions and the hub's own, each (account, region) in
/// an invocation of its own, through the member's remediation role; each that acted sends its own summary.
#[tokio::test]
async fn a_schedule_sweeps_two_members_two_regions_each_and_the_hub() {
    const SECOND: &str = "333333333333";
    let hub = World::start().await;
    let (topic, notices) = hub.topic_with_queue().await;
    let (sweeps, _) = hub.queue("sweeps").await;
    let regions: Vec<String> = ["eu-west-1", "us-east-1"].map(str::to_owned).into();
    let mut open = Vec::new();
    for account in [MEMBER, SECOND] {
        for region in &regions {
            let member = hub.as_account(account, region).await;
            let (group, _) = member_groups(&member).await;
            open.push((member, group));
        }
    }
    let settings = org_settings_for(&format!("{MEMBER},{SECOND}"));
    let fleet = Fleet::new(hub.config.clone(), Default::default());
    let notifier = SnsNotifier::new(hub.sns.clone(), &topic);
    let home = hub_home();
    let ports = (&fleet, &notifier, &NoHistory);
    let (dispatch, invocations) =
        egress_guard_tests::run_schedule(&hub, &sweeps, &regions, &settings, Some(&home), ports, || true).await;

    let mut want = std::collections::BTreeSet::new();
    for account in [HUB, MEMBER, SECOND] {
        for region in &regions {
            want.insert(format!("{account}/{region}"));
        }
    }
    assert_eq!(dispatch.queued.iter().cloned().collect::<std::collections::BTreeSet<_>>(), want);
    assert_eq!(invocations.len(), 6, "one invocation per (account, region)");
    let swept: std::collections::BTreeSet<String> = invocations
        .iter()
        .map(|reports| {
            assert_eq!(reports.len(), 1);
            format!("{}/{}", reports[0].account, reports[0].region)
        })
        .collect();
    assert_eq!(swept, want);
    for (member, group) in &open {
        assert!(member.egress(group).await.iter().all(|r| !r.ends_with("/0")), "{group} still open");
    }
    // Every (account, region) acted (at least on its default VPC's default group), and each told its own summary.
    let summaries = hub.notices(&notices).await;
    assert_eq!(summaries.len(), 6, "one summary each, no more");
    let told: std::collections::BTreeSet<String> = summaries
        .iter()
        .map(|n| {
            let attr = |k: &str| n["MessageAttributes"][k]["Value"].as_str().unwrap().to_owned();
            format!("{}/{}", attr("account"), attr("region"))
        })
        .collect();
    assert_eq!(told, want, "one summary per (account, region)");
}

/// A hub world whose account manages an organization (all features), and its Organizations client.
async fn organization_hub() -> (World, aws_sdk_organizations::Client) {
    let hub = World::start().await;
    let orgs = aws_sdk_organizations::Client::new(&hub.config);
    orgs.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    (hub, orgs)
}

/// With every member (`*`), the schedule lists the organization's accounts (`organizations:ListAccounts`, moto's
/// Organizations here) and sweeps each of them in each region.
#[tokio::test]
async fn with_every_member_the_schedule_sweeps_the_organizations_accounts() {
    let (hub, orgs) = organization_hub().await;
    let mut members = Vec::new();
    for name in ["payments", "analytics"] {
        let created =
            orgs.create_account().email(format!("{name}@example.com")).account_name(name).send().await.unwrap();
        members.push(created.create_account_status().unwrap().account_id().unwrap().to_owned());
    }
    let (topic, notices) = hub.topic_with_queue().await;
    let (sweeps, _) = hub.queue("sweeps").await;
    let regions: Vec<String> = vec!["us-east-1".to_owned()];
    let mut open = Vec::new();
    for account in &members {
        let member = hub.as_account(account, "us-east-1").await;
        let (group, _) = member_groups(&member).await;
        open.push((member, group));
    }
    let settings = org_settings_for("*");
    let fleet = Fleet::new(hub.config.clone(), Default::default());
    let notifier = SnsNotifier::new(hub.sns.clone(), &topic);
    let home = hub_home();
    let ports = (&fleet, &notifier, &NoHistory);
    let (dispatch, invocations) =
        egress_guard_tests::run_schedule(&hub, &sweeps, &regions, &settings, Some(&home), ports, || true).await;
    let queued: std::collections::BTreeSet<String> = dispatch.queued.iter().cloned().collect();
    let mut want: std::collections::BTreeSet<String> = members.iter().map(|a| format!("{a}/us-east-1")).collect();
    want.insert(format!("{HUB}/us-east-1"));
    assert_eq!(queued, want, "the hub and every account ListAccounts names");
    assert_eq!(invocations.len(), 3);
    for (member, group) in &open {
        assert!(member.egress(group).await.iter().all(|r| !r.ends_with("/0")), "{group} still open");
    }
    assert_eq!(hub.notices(&notices).await.len(), 3, "one summary per (account, region)");
}

/// With every member (`*`) and no way to list them (the hub is not the management account or a delegated
/// administrator), the hub's own regions are still swept and the invocation fails, saying why, so the alarm fires.
#[tokio::test]
async fn members_that_cannot_be_listed_fail_the_schedule_after_the_hub_is_queued() {
    let (hub, _) = organization_hub().await;
    // What a hub that is neither the management account nor a delegated administrator gets from Organizations.
    hub.moto.inject_json_error("ListAccounts", 4, "AccessDeniedException");
    let regions: Vec<String> = vec!["eu-west-1".to_owned(), "us-east-1".to_owned()];
    let (answer, queued) = every_member_fan_out(&hub, &regions).await;
    let err = answer.result.unwrap_err().to_string();
    assert!(err.contains("could not be listed") && err.contains("MemberAccounts"), "{err}");
    assert!(err.contains("AccessDeniedException"), "the cause is named: {err}");
    assert_eq!(queued.len(), 2, "{queued:?}");
    assert!(queued.iter().all(|q| q.starts_with(HUB)), "the hub's own regions are queued: {queued:?}");
}

/// With every member (`*`), a member whose remediation role STS denies (no spoke there; AWS answers `AccessDenied`,
/// injected here since moto lets anyone assume any role) is tried once by the fan-out, named once in its report and
/// its metric, and never queued: no sweep of it fails into the failure queue every day. A member whose answer is
/// unknown (throttled) is queued as before.
#[tokio::test]
async fn with_every_member_a_member_without_the_spoke_is_told_once_and_never_queued() {
    let (hub, orgs) = organization_hub().await;
    let mut members = Vec::new();
    for name in ["payments", "sandbox", "analytics"] {
        let created =
            orgs.create_account().email(format!("{name}@example.com")).account_name(name).send().await.unwrap();
        members.push(created.create_account_status().unwrap().account_id().unwrap().to_owned());
    }
    let (with_spoke, without_spoke, throttled) = (&members[0], &members[1], &members[2]);
    hub.moto.inject_query_error("AssumeRole", without_spoke, 1, 403, "AccessDenied");
    // Throttled on every attempt the SDK makes: the answer stays unknown.
    hub.moto.inject_query_error("AssumeRole", throttled, egress_guard_aws::MAX_ATTEMPTS, 400, "Throttling");
    let regions: Vec<String> = vec!["eu-west-1".to_owned(), "us-east-1".to_owned()];
    let (invocation, queued) = every_member_fan_out(&hub, &regions).await;
    let Ok(InvocationReport::Dispatch(dispatch)) = &invocation.result else { panic!("{:?}", invocation.result) };
    assert_eq!(dispatch.without_role, vec![without_spoke.clone()], "named once");
    let metrics: Value = serde_json::from_str(&egress_guard_lambda::metrics_line(&invocation, 1.0, 0)).unwrap();
    assert_eq!(metrics["MembersWithoutRole"], 1.0, "{metrics}");
    let queued: std::collections::BTreeSet<String> = queued.into_iter().collect();
    let want: std::collections::BTreeSet<String> = [HUB, with_spoke.as_str(), throttled.as_str()]
        .iter()
        .flat_map(|a| regions.iter().map(move |r| format!("{a}/{r}")))
        .collect();
    assert_eq!(queued, want, "every account but the one without the spoke, in every region");
    assert_eq!(dispatch.queued.len(), want.len());
    let faults = hub.moto.faults();
    let left =
        |code: &str| faults.iter().find(|f| f["body"].as_str().unwrap().contains(code)).unwrap()["times"].clone();
    assert_eq!(left("AccessDenied"), 0, "the denial was answered: {faults:?}");
    // Every attempt the client made was throttled (more were on offer): the answer stayed unknown, and still queued.
    assert!(left("Throttling").as_u64().unwrap() < u64::from(egress_guard_aws::MAX_ATTEMPTS), "{faults:?}");
}

/// With every member (`*`) and every member's role denied, the fault is on the hub's side (its role, its policy, an
/// SCP, the role's name), not members without the spoke: the hub is swept and the invocation fails, saying why, so
/// the alarm fires.
#[tokio::test]
async fn with_every_member_all_roles_denied_fails_the_schedule_after_the_hub_is_queued() {
    let (hub, orgs) = organization_hub().await;
    for name in ["payments", "sandbox"] {
        let created =
            orgs.create_account().email(format!("{name}@example.com")).account_name(name).send().await.unwrap();
        let member = created.create_account_status().unwrap().account_id().unwrap().to_owned();
        hub.moto.inject_query_error("AssumeRole", &member, 1, 403, "AccessDenied");
    }
    let regions: Vec<String> = vec!["us-east-1".to_owned()];
    let (answer, queued) = every_member_fan_out(&hub, &regions).await;
    let err = answer.result.unwrap_err().to_string();
    assert!(err.contains("no member's remediation role could be assumed (2 denied)"), "{err}");
    assert_eq!(queued, vec![format!("{HUB}/us-east-1")], "the hub's own region is queued");
}

/// The hub's Scheduled Event with every member (`*`), fanned out over `regions` as the deployed function does: the
/// invocation, and the `account/region` of each sweep it queued.
async fn every_member_fan_out(hub: &World, regions: &[String]) -> (egress_guard_lambda::Invocation, Vec<String>) {
    let (sweeps, _) = hub.queue("sweeps").await;
    let queue = egress_guard_aws::SqsSweepQueue::new(hub.sqs.clone(), &sweeps);
    let accounts = hub.organization_accounts();
    let (topic, _) = hub.topic_with_queue().await;
    let fleet = Fleet::new(hub.config.clone(), Default::default());
    let notifier = SnsNotifier::new(hub.sns.clone(), &topic);
    let fanout = Some(egress_guard_lambda::Fanout { queue: &queue, accounts: &accounts, regions });
    let schedule = egress_guard_tests::event_for("scheduled-sweep", "-");
    let settings = org_settings_for("*");
    let ports = (&fleet, &notifier, &NoHistory);
    let invocation = egress_guard_lambda::invoke(schedule, &settings, Some(&hub_home()), ports, fanout, || true).await;
    let queued = hub
        .drain(&sweeps)
        .await
        .iter()
        .map(|b| {
            let r: Value = serde_json::from_str(b).unwrap();
            format!("{}/{}", r["account"].as_str().unwrap(), r["region"].as_str().unwrap())
        })
        .collect();
    (invocation, queued)
}
