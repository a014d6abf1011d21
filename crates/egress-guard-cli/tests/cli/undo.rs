//! `undo` against moto, after the Lambda's handler revoked groups in two regions of the hub and in a member account
//! (reached through its remediation role): the list is exactly what was revoked, minus a group deleted and a rule
//! re-added since, and changes nothing; `--apply` is refused while egress-guard enforces there; paused, it puts back
//! exactly the revoked rules, in the member's account too; the window, groups and regions narrow it; a member whose
//! role the operator may not assume is skipped and named while the rest are listed; bad input exits 2 before any AWS
//! call.

use aws_sdk_ec2::types::IpPermission;
use egress_guard_aws::{DynamoHistory, Fleet, SnsNotifier};
use egress_guard_core::settings::vars;
use egress_guard_core::{Home, Outcome, Settings};
use egress_guard_lambda::{InvocationReport, handle};
use egress_guard_tests::{World, event_in, perm};
use serde_json::{Value, json};

use super::egress_guard;

const HUB: &str = "123456789012";
const MEMBER: &str = "111111111111";
/// The revokes are made by the test, now: inside it (the events' own time, 2026-11-25, is not what undo compares).
const WINDOW: [&str; 2] = ["--since", "1h"];

struct Revoked {
    hub: World,
    table: String,
    /// (account, region, group, the permissions it had, as the test made them).
    groups: Vec<(&'static str, &'static str, String, Vec<IpPermission>)>,
    deleted: String,
}

fn open(port: i32, v4: &[&str], v6: &[&str]) -> IpPermission {
    perm("tcp", Some((port, port)), v4, v6)
}

/// Four groups revoked by the function: two in the hub's eu-west-1 (one then deleted), one in its us-east-1, one in
/// the member's eu-west-1.
async fn revoked() -> Revoked {
    let hub = World::start().await;
    let table = hub.history_table().await;
    let (topic, _) = hub.topic_with_queue().await;
    let hub_east = hub.as_account(HUB, "us-east-1").await;
    let member = hub.as_account(MEMBER, "eu-west-1").await;
    let web = vec![open(443, &["0.0.0.0/0"], &[]), open(80, &[], &["::/0"])];
    let api = vec![open(8443, &["0.0.0.0/0"], &[])];
    let (vpc, vpc_east, vpc_member) =
        (hub.dual_stack_vpc().await, hub_east.dual_stack_vpc().await, member.dual_stack_vpc().await);
    let groups = vec![
        (HUB, "eu-west-1", hub.group_with(&vpc, "web", web.clone()).await, web),
        (HUB, "us-east-1", hub_east.group_with(&vpc_east, "api", api.clone()).await, api.clone()),
        (MEMBER, "eu-west-1", member.group_with(&vpc_member, "member-api", api.clone()).await, api.clone()),
    ];
    let deleted = hub.group_with(&vpc, "gone", api).await;

    let settings = Settings::from_vars(|name| match name {
        vars::REMEDIATION_ROLE => Some("egress-guard-remediation".into()),
        vars::MEMBER_ACCOUNTS => Some(MEMBER.into()),
        _ => None,
    })
    .unwrap();
    let home = Home::from_function_arn(&format!("arn:aws:lambda:eu-west-1:{HUB}:function:egress-guard")).unwrap();
    let fleet = Fleet::new(hub.config.clone(), Default::default());
    let notifier = SnsNotifier::new(hub.sns.clone(), &topic);
    let history = DynamoHistory::new(aws_sdk_dynamodb::Client::new(&hub.config), &table);
    let all = groups.iter().map(|(a, r, g, _)| (*a, *r, g.as_str())).chain([(HUB, "eu-west-1", deleted.as_str())]);
    for (account, region, group) in all {
        let event = event_in("authorize-egress-open-ipv4", group, account, region);
        let answer = handle(event, &settings, Some(&home), (&fleet, &notifier, &history), || true).await;
        let Ok(InvocationReport::Event(report)) = answer.result else { panic!("{:?}", answer.result) };
        assert_eq!(report.results[0].outcome, Outcome::Remediated, "{report:?}");
    }
    hub.ec2.delete_security_group().group_id(&deleted).send().await.unwrap();
    Revoked { hub, table, groups, deleted }
}

impl Revoked {
    async fn world(&self, account: &str, region: &str) -> World {
        self.hub.as_account(account, region).await
    }

    /// Each group's egress as `World::egress` prints it, sorted.
    async fn egress(&self) -> Vec<Vec<String>> {
        let mut all = Vec::new();
        for (account, region, group, _) in &self.groups {
            let mut egress = self.world(account, region).await.egress(group).await;
            egress.sort();
            all.push(egress);
        }
        all
    }

    fn undo(&self, more: &[&str]) -> (i32, Value, String) {
        let args = [&["undo", "--history-table", &self.table, "--format", "json"][..], &WINDOW[..], more].concat();
        let (code, stdout, stderr) = egress_guard(&self.hub.moto, &args);
        (code, serde_json::from_str(&stdout).unwrap_or(Value::Null), format!("{stderr}{stdout}"))
    }
}

/// The JSON the test expects for a group's rules, from the permissions it made (its own oracle, not the product's).
fn rules(permissions: &[IpPermission]) -> Vec<Value> {
    let mut out = Vec::new();
    for p in permissions {
        let ports = json!({"from": p.from_port().unwrap(), "to": p.to_port().unwrap()});
        for r in p.ip_ranges() {
            out.push(json!({"protocol": "tcp", "ports": ports, "destination": {"cidr": r.cidr_ip().unwrap()}}));
        }
        for r in p.ipv6_ranges() {
            out.push(json!({"protocol": "tcp", "ports": ports, "destination": {"cidr": r.cidr_ipv6().unwrap()}}));
        }
    }
    out
}

/// A rule of the report as the test compares it: protocol, ports, destination.
fn bare(report: &Value, list: &str) -> Vec<(String, String, String, Vec<Value>)> {
    let mut out: Vec<_> = report[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let rules = r["rules"].as_array().map_or(vec![], |rules| {
                rules
                    .iter()
                    .map(|x| json!({"protocol": x["protocol"], "ports": x["ports"], "destination": x["destination"]}))
                    .collect()
            });
            (
                r["account"].as_str().unwrap().to_owned(),
                r["region"].as_str().unwrap().to_owned(),
                r["group_id"].as_str().unwrap().to_owned(),
                rules,
            )
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    out
}

#[tokio::test]
async fn undo_lists_every_revoke_in_two_regions_and_a_member_and_changes_nothing() {
    let r = revoked().await;
    let (web, api_east, member_api) = (&r.groups[0], &r.groups[1], &r.groups[2]);
    // The IPv6 rule of `web` is put back by hand: it is no longer egress-guard's to restore.
    r.hub.authorize(&web.2, vec![web.3[1].clone()]).await;
    let before = r.egress().await;
    let setup = r.hub.moto.calls().len();

    let (code, report, out) = r.undo(&[]);
    assert_eq!(code, 1, "a group deleted and a rule re-added since: {out}");
    assert_eq!(report["schema"], "egress-guard.undo/v1");
    let mut expected = vec![
        (HUB.to_owned(), "eu-west-1".to_owned(), web.2.clone(), rules(&web.3[..1])),
        (HUB.to_owned(), "us-east-1".to_owned(), api_east.2.clone(), rules(&api_east.3)),
        (MEMBER.to_owned(), "eu-west-1".to_owned(), member_api.2.clone(), rules(&member_api.3)),
    ];
    expected.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    assert_eq!(bare(&report, "restored"), expected, "{out}");
    let skipped = report["skipped"].as_array().unwrap();
    let reason = |group: &str| skipped.iter().find(|s| s["group_id"] == group).map(|s| s["reason"].clone());
    assert_eq!(skipped.len(), 2, "{out}");
    assert_eq!(reason(&r.deleted), Some("the group no longer exists".into()));
    assert!(reason(&web.2).unwrap().as_str().unwrap().contains("re-added since: tcp 80 to ::/0"), "{out}");
    assert_eq!(r.egress().await, before, "listing changed nothing");

    let (code, report, out) = r.undo(&["--regions", "us-east-1"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(bare(&report, "restored").len(), 1);
    assert_eq!(report["restored"][0]["group_id"], api_east.2.as_str());
    let (code, report, out) = r.undo(&["--group-id", &member_api.2]);
    assert_eq!((code, bare(&report, "restored").len()), (0, 1), "{out}");
    let args = ["undo", "--history-table", &r.table, "--since", "7d", "--until", "2h"];
    let (code, stdout, stderr) = egress_guard(&r.hub.moto, &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "No revoke by egress-guard in the window.\n");
    let (code, _, out) = r.undo(&["--apply", "--dry-run"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(r.egress().await, before, "--dry-run --apply changed nothing");
    let changes: Vec<Value> = r.hub.moto.calls()[setup..]
        .iter()
        .filter(|c| {
            !["Describe", "Scan", "Get", "AssumeRole"].iter().any(|p| c["operation"].as_str().unwrap().starts_with(p))
        })
        .cloned()
        .collect();
    assert_eq!(changes, Vec::<Value>::new(), "undo without --apply only reads");
}

/// AWS refuses the operator the member's role (its trust admits only the hub's function role; moto never checks a
/// trust, so the limits proxy answers as AWS does): that group is skipped with the refusal, the hub's are listed.
#[tokio::test]
async fn a_member_whose_role_cannot_be_assumed_is_skipped_and_named_and_the_rest_are_listed() {
    let r = revoked().await;
    let (web, api_east, member_api) = (&r.groups[0], &r.groups[1], &r.groups[2]);
    r.hub.moto.inject_query_error("AssumeRole", MEMBER, 50, 403, "AccessDenied");
    let (code, report, out) = r.undo(&[]);
    assert_eq!(code, 1, "something could not be restored: {out}");
    let listed: Vec<String> = bare(&report, "restored").into_iter().map(|(_, _, group, _)| group).collect();
    let mut hub_groups = vec![web.2.clone(), api_east.2.clone()];
    hub_groups.sort();
    assert_eq!(listed, hub_groups, "the hub's groups are still listed: {out}");
    let skipped = report["skipped"].as_array().unwrap();
    let member = skipped.iter().find(|s| s["group_id"] == member_api.2.as_str()).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(member["account"], MEMBER);
    let reason = member["reason"].as_str().unwrap();
    assert!(reason.starts_with("could not be read") && reason.contains("AccessDenied"), "{reason}");
}

#[tokio::test]
async fn undo_apply_is_refused_while_egress_guard_enforces_and_paused_restores_exactly() {
    let r = revoked().await;
    let before = r.egress().await;
    let (code, _, out) = r.undo(&["--apply"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("nothing restored: egress-guard enforces where these groups are"), "{out}");
    assert!(out.contains("egress-guard pause --regions eu-west-1,us-east-1 --history-table"), "{out}");
    assert_eq!(r.egress().await, before, "refused: nothing changed");

    let (code, _, stderr) = egress_guard(&r.hub.moto, &["pause", "--history-table", &r.table]);
    assert_eq!(code, 0, "{stderr}");
    let (code, report, out) = r.undo(&["--apply"]);
    assert_eq!(code, 1, "the deleted group cannot be restored: {out}");
    assert_eq!(report["applied"], true);
    assert_eq!(bare(&report, "restored").len(), 3, "{out}");
    for (account, region, group, permissions) in &r.groups {
        let mut now = r.world(account, region).await.egress(group).await;
        now.sort();
        let mut made: Vec<String> = rules(permissions)
            .iter()
            .map(|x| format!("tcp {} to {}", x["ports"]["from"], x["destination"]["cidr"].as_str().unwrap()))
            .collect();
        made.sort();
        assert_eq!(now, made, "{account} {region} {group}: exactly the revoked rules are back");
    }
    // Run again: everything is back already, so each group is skipped, and nothing is authorized twice.
    let (code, report, out) = r.undo(&["--apply"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(bare(&report, "restored").len(), 0, "{out}");
    assert_eq!(report["skipped"].as_array().unwrap().len(), 4, "{out}");
}

#[tokio::test]
async fn undo_refuses_bad_input_before_any_aws_call() {
    let w = World::start().await;
    for (args, says) in [
        (&["undo", "--history-table", "t", "--since", "yesterday"][..], "--since \"yesterday\""),
        (&["undo", "--history-table", "t", "--since", "91d"][..], "kept 90 days"),
        (&["undo", "--history-table", "t", "--since", "7\u{434}"][..], "a time ago (90m, 24h, 7d)"),
        (&["undo", "--history-table", "t", "--since", "1h", "--until", "2h"][..], "--since is after --until"),
        (&["undo", "--history-table", "t", "--since", "1h", "--group-id", "sg-xyz"][..], "not a security group id"),
        (&["undo", "--history-table", "t", "--since", "1h", "--regions", "eu west"][..], "not a region name"),
        (&["undo", "--since", "1h"][..], "--history-table"),
    ] {
        let (code, _, stderr) = egress_guard(&w.moto, args);
        assert_eq!(code, 2, "{args:?}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert_eq!(w.moto.calls(), Vec::<Value>::new(), "no AWS call");
}
