//! A schedule's one digest on moto, with the history table: a dry-run Organization (the hub and two members, two
//! regions each) gets one e-mail per schedule, not one per (account, region); the next schedule counts what it already
//! reported and details only what changed. The first enforcing sweep after a dry run, or of a region never swept, is a
//! baseline (no missed event); a rule re-opened with no event after egress-guard closed it is MISSED, in the digest and
//! the `MissedEvents` metric that the alarm watches.

use std::collections::BTreeSet;

use egress_guard_aws::{DynamoHistory, Fleet, SnsNotifier};
use egress_guard_core::settings::vars;
use egress_guard_core::{Home, Outcome, Settings, SweepReport, TriggerKind};
use egress_guard_lambda::{Invocation, InvocationReport, handle, metrics_line};
use egress_guard_tests::{World, event_in, perm, run_schedule_at};
use serde_json::Value;

const HUB: &str = "123456789012";
const MEMBERS: [&str; 2] = ["111111111111", "333333333333"];

struct Deployment {
    hub: World,
    notices: String,
    sweeps: String,
    regions: Vec<String>,
    fleet: Fleet,
    notifier: SnsNotifier,
    history: DynamoHistory,
    home: Home,
}

impl Deployment {
    async fn start(regions: &[&str]) -> Deployment {
        let hub = World::start().await;
        let (topic, notices) = hub.topic_with_queue().await;
        let (sweeps, _) = hub.queue("sweeps").await;
        let table = hub.history_table().await;
        // A deployment whose regions are all seen: a trail in every account, the function's rule and forwarders.
        let regions: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
        let function_arn = format!("arn:aws:lambda:eu-west-1:{HUB}:function:egress-guard");
        hub.watched("eu-west-1", &regions, Some(&function_arn)).await;
        for member in MEMBERS {
            hub.as_account(member, "eu-west-1").await.watched("eu-west-1", &regions, None).await;
        }
        Deployment {
            fleet: Fleet::new(hub.config.clone(), Default::default()),
            notifier: SnsNotifier::new(hub.sns.clone(), &topic),
            history: DynamoHistory::new(aws_sdk_dynamodb::Client::new(&hub.config), &table),
            home: Home::from_function_arn(&function_arn).unwrap(),
            regions,
            hub,
            notices,
            sweeps,
        }
    }

    fn settings(&self, members: &[&str], dry_run: bool) -> Settings {
        let members = members.join(",");
        Settings::from_vars(|name| match name {
            vars::REMEDIATION_ROLE if !members.is_empty() => Some("egress-guard-remediation".into()),
            vars::MEMBER_ACCOUNTS if !members.is_empty() => Some(members.clone()),
            vars::DRY_RUN => Some(dry_run.to_string()),
            _ => None,
        })
        .unwrap()
    }

    /// One schedule at `time`: its sweeps' reports, and the messages it published.
    async fn schedule(&self, settings: &Settings, time: &str) -> (Vec<SweepReport>, Vec<Value>) {
        let ports = (&self.fleet, &self.notifier, &self.history);
        let (_, invocations) =
            run_schedule_at(&self.hub, &self.sweeps, &self.regions, settings, Some(&self.home), ports, || true, time)
                .await;
        (invocations.into_iter().flatten().collect(), self.hub.notices(&self.notices).await)
    }

    /// Invokes the function with `event` as the deployed one is (its queue, its fan-out).
    async fn invoke(&self, event: Value, settings: &Settings) -> Invocation {
        let queue = egress_guard_aws::SqsSweepQueue::new(self.hub.sqs.clone(), &self.sweeps);
        let accounts = self.hub.organization_accounts();
        let fanout = Some(egress_guard_lambda::Fanout { queue: &queue, accounts: &accounts, regions: &self.regions });
        let ports = (&self.fleet, &self.notifier, &self.history);
        egress_guard_lambda::invoke(event, settings, Some(&self.home), ports, fanout, || true).await
    }

    /// The schedule fanned out, and the sweep requests it queued (not yet taken).
    async fn fan_out(&self, settings: &Settings) -> Vec<String> {
        let schedule = egress_guard_tests::event_for("scheduled-sweep", "-");
        self.invoke(schedule, settings).await.result.unwrap();
        self.hub.drain(&self.sweeps).await
    }

    /// Every group with egress open to the world in (account, region), as the test reads it from EC2.
    async fn open_groups(&self, accounts: &[&str]) -> BTreeSet<String> {
        let mut open = BTreeSet::new();
        for account in accounts {
            for region in &self.regions {
                let world = self.hub.as_account(account, region).await;
                let groups = world.ec2.describe_security_groups().send().await.unwrap();
                for g in groups.security_groups() {
                    let world_open = g.ip_permissions_egress().iter().any(|p| {
                        p.ip_ranges().iter().any(|r| r.cidr_ip() == Some("0.0.0.0/0"))
                            || p.ipv6_ranges().iter().any(|r| r.cidr_ipv6() == Some("::/0"))
                    });
                    if world_open {
                        open.insert(g.group_id().unwrap().to_owned());
                    }
                }
            }
        }
        open
    }
}

/// The groups a digest's text details: its lines that start with a group id.
fn detailed(digest: &Value) -> BTreeSet<String> {
    let text = digest["Message"].as_str().unwrap();
    text.lines().filter(|l| l.starts_with("sg-")).map(|l| l.split(' ').next().unwrap().to_owned()).collect()
}

fn subject(message: &Value) -> &str {
    message["Subject"].as_str().unwrap()
}

/// `MissedEvents` of the metrics line for these sweeps, as CloudWatch would read it.
fn missed_events(reports: &[SweepReport]) -> f64 {
    let invocation = Invocation { trigger: TriggerKind::Sweep, result: Ok(InvocationReport::Sweeps(reports.to_vec())) };
    let line: Value = serde_json::from_str(&metrics_line(&invocation, 1.0, 0)).unwrap();
    line["MissedEvents"].as_f64().unwrap()
}

#[tokio::test]
async fn a_dry_run_organization_gets_one_digest_a_schedule_which_details_only_what_changed() {
    let d = Deployment::start(&["eu-west-1", "us-east-1"]).await;
    let accounts = [HUB, MEMBERS[0], MEMBERS[1]];
    for account in accounts {
        for region in &d.regions {
            let world = d.hub.as_account(account, region).await;
            let vpc = world.dual_stack_vpc().await;
            world.group_with(&vpc, "web", vec![perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])]).await;
        }
    }
    let open = d.open_groups(&accounts).await;
    assert!(open.len() >= 12, "a web group and default groups in each of the 6 (account, region)s: {open:?}");
    let settings = d.settings(&MEMBERS, true);

    let (reports, told) = d.schedule(&settings, "2026-12-01T06:00:00Z").await;
    assert_eq!(reports.len(), 6, "one sweep per (account, region)");
    assert_eq!(told.len(), 1, "one digest for the six sweeps: {:?}", told.iter().map(subject).collect::<Vec<_>>());
    let digest = &told[0];
    assert!(subject(digest).starts_with("egress-guard digest [dry run]: "), "{}", subject(digest));
    assert!(subject(digest).ends_with("- 3 account(s), 2 region(s)"), "{}", subject(digest));
    assert_eq!(digest["MessageAttributes"]["outcome"]["Value"], "digest");
    assert_eq!(detailed(digest), open, "every open group detailed once, the first time");
    assert!(d.open_groups(&accounts).await == open, "a dry run changes nothing");

    // Nothing changed: the next schedule's digest counts what it reported and details nothing.
    let (_, told) = d.schedule(&settings, "2026-12-02T06:00:00Z").await;
    assert_eq!(told.len(), 1);
    assert_eq!(detailed(&told[0]), BTreeSet::new(), "{}", told[0]["Message"]);
    assert!(subject(&told[0]).contains(&format!("{} already reported", open.len())), "{}", subject(&told[0]));
    assert!(told[0]["Message"].as_str().unwrap().contains("Nothing changed since the last report."));

    // A member opens a group with no event seen: the next digest details that group alone.
    let member = d.hub.as_account(MEMBERS[1], "us-east-1").await;
    let vpc = member.dual_stack_vpc().await;
    let new = member.group_with(&vpc, "batch", vec![perm("udp", Some((53, 53)), &["0.0.0.0/0"], &[])]).await;
    let (_, told) = d.schedule(&settings, "2026-12-03T06:00:00Z").await;
    assert_eq!(told.len(), 1);
    let mut also_default = d.open_groups(&[MEMBERS[1]]).await;
    also_default.retain(|g| !open.contains(g));
    assert!(also_default.contains(&new));
    assert_eq!(detailed(&told[0]), also_default, "only the new VPC's groups: {}", told[0]["Message"]);
}

#[tokio::test]
async fn the_first_enforcing_sweep_is_a_baseline_and_a_rule_reopened_unseen_is_missed() {
    let d = Deployment::start(&["eu-west-1"]).await;
    let vpc = d.hub.dual_stack_vpc().await;
    let tcp = |port| vec![perm("tcp", Some((port, port)), &["0.0.0.0/0"], &[])];
    let before_deploy = d.hub.group_with(&vpc, "legacy", tcp(443)).await;

    // A week in dry run: its sweeps see the groups open before egress-guard; a group opened meanwhile is told by its
    // event's notice (a dry run too).
    let (reports, _) = d.schedule(&d.settings(&[], true), "2026-12-01T06:00:00Z").await;
    assert!(reports[0].lines.iter().all(|l| l.since == Some(egress_guard_core::history::Since::Baseline)));
    let during_dry_run = d.hub.group_with(&vpc, "api", tcp(8443)).await;
    let event = event_in("authorize-egress-open-ipv4", &during_dry_run, HUB, "eu-west-1");
    let ports = (&d.fleet, &d.notifier, &d.history);
    let answer = handle(event, &d.settings(&[], true), Some(&d.home), ports, || true).await;
    assert!(matches!(answer.result, Ok(InvocationReport::Event(ref r)) if r.results[0].outcome == Outcome::DryRun));
    d.hub.notices(&d.notices).await;

    // The first enforcing day: everything open is revoked, nothing of it was missed by events.
    let enforcing = d.settings(&[], false);
    let (reports, told) = d.schedule(&enforcing, "2026-12-02T06:00:00Z").await;
    let revoked: BTreeSet<&str> = reports[0].lines.iter().map(|l| l.group_id.as_str()).collect();
    assert!(revoked.contains(before_deploy.as_str()) && revoked.contains(during_dry_run.as_str()), "{revoked:?}");
    assert!(reports[0].lines.iter().all(|l| l.outcome == Outcome::Remediated));
    assert_eq!(missed_events(&reports), 0.0, "no false alarm on the first enforcing day: {:?}", reports[0].lines);
    assert!(!subject(&told[0]).contains("MISSED"), "{}", subject(&told[0]));

    // Later, a rule is put back on a closed group, and a new group opened, with no event reaching egress-guard.
    d.hub.authorize(&before_deploy, tcp(443)).await;
    let unseen = d.hub.group_with(&vpc, "unseen", tcp(22)).await;
    let (reports, told) = d.schedule(&enforcing, "2026-12-03T06:00:00Z").await;
    let missed: BTreeSet<&str> = reports[0].lines.iter().filter(|l| l.missed()).map(|l| l.group_id.as_str()).collect();
    assert_eq!(missed, BTreeSet::from([before_deploy.as_str(), unseen.as_str()]));
    assert_eq!(missed_events(&reports), 2.0);
    assert!(subject(&told[0]).starts_with("egress-guard digest: MISSED 2"), "{}", subject(&told[0]));
    let text = told[0]["Message"].as_str().unwrap();
    assert_eq!(text.matches("MISSED: changed since egress-guard last looked and no event closed it").count(), 2);
}

#[tokio::test]
async fn no_digest_before_the_last_sweep_and_a_sweep_failing_its_last_delivery_is_named_in_it() {
    let d = Deployment::start(&["eu-west-1", "us-east-1"]).await;
    let settings = d.settings(&[], true);
    let bodies = d.fan_out(&settings).await;
    assert_eq!(bodies.len(), 2);

    d.invoke(egress_guard_tests::sqs_event(&bodies[0]), &settings).await.result.unwrap();
    assert_eq!(d.hub.notices(&d.notices).await, Vec::<Value>::new(), "no digest before the last sweep");

    // The other sweep fails (its region's groups cannot be listed) on the delivery SQS makes last.
    d.hub.moto.inject_ec2_error("DescribeSecurityGroups", "", 8, "UnauthorizedOperation");
    let mut last = egress_guard_tests::sqs_event(&bodies[1]);
    last["Records"][0]["attributes"]["ApproximateReceiveCount"] = egress_guard_lambda::MAX_RECEIVES.to_string().into();
    let failed = d.invoke(last, &settings).await;
    assert!(failed.result.is_err(), "the sweep still fails, into the failure queue");
    let told = d.hub.notices(&d.notices).await;
    assert_eq!(told.len(), 1, "the digest goes out without the failed sweep");
    assert!(subject(&told[0]).contains("1 sweep(s) FAILED"), "{}", subject(&told[0]));
    let request: Value = serde_json::from_str(&bodies[1]).unwrap();
    let text = told[0]["Message"].as_str().unwrap();
    let named = format!("FAILED: the sweep of {HUB} {} did not run", request["region"].as_str().unwrap());
    assert!(text.contains(&named) && text.contains("UnauthorizedOperation"), "{text}");
}

/// SQS delivers at least once: a sweep delivered again after its schedule's digest went out finds the digest sent
/// and tells what it did on its own, once; a digest is never sent twice.
#[tokio::test]
async fn a_sweep_delivered_again_after_the_digest_reports_on_its_own_and_the_digest_is_not_sent_twice() {
    let d = Deployment::start(&["eu-west-1"]).await;
    let settings = d.settings(&[], false);
    let body = d.fan_out(&settings).await.remove(0);
    let deliver = || async {
        d.invoke(egress_guard_tests::sqs_event(&body), &settings).await.result.unwrap();
        d.hub.notices(&d.notices).await
    };
    let told = deliver().await;
    assert_eq!(told.len(), 1);
    assert!(subject(&told[0]).starts_with("egress-guard digest:"), "{}", subject(&told[0]));

    assert_eq!(deliver().await, Vec::<Value>::new(), "nothing new, nothing told: the digest is not sent again");
    let vpc = d.hub.dual_stack_vpc().await;
    let late = d.hub.group_with(&vpc, "late", vec![perm("tcp", Some((25, 25)), &["0.0.0.0/0"], &[])]).await;
    let told = deliver().await;
    assert_eq!(told.len(), 1, "what the redelivery revoked is told, on its own");
    assert!(subject(&told[0]).starts_with("egress-guard sweep: revoked open egress on"), "{}", subject(&told[0]));
    assert!(told[0]["Message"].as_str().unwrap().contains(&late));
}
