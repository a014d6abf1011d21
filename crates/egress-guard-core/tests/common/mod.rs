//! Test helpers shared by the core's tests: the sample events, the rule parser and in-memory fakes of the ports
//! (security groups, notifier, history, flow logs, outlets; the reach into accounts and regions, the sweep queue,
//! the organization's accounts, the table's switch and digest).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use egress_guard_core::history::{Last, Revocation};
use egress_guard_core::ports::Revoked;
use egress_guard_core::{
    EgressRule, History, Message, Notice, Notifier, Outlets, RevokePlan, SecurityGroup, SecurityGroups,
};

/// The group id every file in `events/` names.
pub const EVENT_GROUP: &str = "sg-0a1b2c3d4e5f60718";

pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// The bytes of `events/<name>.json`.
pub fn event(name: &str) -> Vec<u8> {
    let path = events_dir().join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every sample event's name, sorted.
pub fn event_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".json").map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// A rule as `Display` prints it: `rule("tcp 443 to 0.0.0.0/0")`, `rule("all traffic to pl-0123abcd")`.
pub fn rule(text: &str) -> EgressRule {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

pub fn group(id: &str, egress: Vec<EgressRule>) -> SecurityGroup {
    SecurityGroup {
        id: id.into(),
        name: "web".into(),
        vpc_id: Some("vpc-0f1e2d3c4b5a69788".into()),
        owner_id: Some("123456789012".into()),
        tags: BTreeMap::new(),
        egress,
        ingress: vec![],
    }
}

#[derive(Debug, thiserror::Error)]
#[error("fake failure: {0}")]
pub struct FakeError(pub String);

/// Security groups in memory. A revoke removes rules of exactly the same traffic, as EC2's `IpPermissions` revoke does.
#[derive(Debug, Default)]
pub struct FakeGroups {
    pub groups: Mutex<BTreeMap<String, SecurityGroup>>,
    pub calls: Mutex<Vec<String>>,
    /// Added to the group right after a revoke: someone re-opens egress between revoke and verify.
    pub reopen_after_revoke: Mutex<Option<EgressRule>>,
    /// The group is deleted by someone else just as the revoke arrives.
    pub delete_on_revoke: bool,
    /// Describe calls from this one on fail (0-based).
    pub fail_describe_from: Option<usize>,
    /// Revokes of this group fail, removing nothing (an SCP, a protected group).
    pub fail_revoke: Option<String>,
    /// Describes of the event's group that find nothing before it shows (EC2's eventual consistency).
    pub hidden_describes: Mutex<usize>,
    /// Another invocation revokes the planned rules just before this one does.
    pub concurrent_revoke: bool,
    /// A revoke removes the plan's first rule, then fails (throttled past its attempts).
    pub partial_revoke: bool,
    /// After this many `default_group` reads, the rule is added to the default group (an IPv6 block that finishes
    /// associating after the VPC shows).
    pub late_default_rule: Mutex<Option<(usize, EgressRule)>>,
    /// Revokes under way now, and the most there ever were at once.
    pub in_flight: Mutex<(usize, usize)>,
    /// An authorize succeeds but its rules never show (EC2 still has not made them visible).
    pub hide_authorized: bool,
    /// Listing the region's groups fails (a sweep that cannot start).
    pub fail_list: bool,
}

impl FakeGroups {
    pub fn with(groups: impl IntoIterator<Item = SecurityGroup>) -> Self {
        FakeGroups { groups: Mutex::new(groups.into_iter().map(|g| (g.id.clone(), g)).collect()), ..Default::default() }
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    pub fn egress(&self, id: &str) -> Vec<EgressRule> {
        self.groups.lock().unwrap()[id].egress.clone()
    }
}

impl SecurityGroups for FakeGroups {
    type Error = FakeError;

    async fn describe(&self, group_id: &str) -> Result<Option<SecurityGroup>, FakeError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(format!("describe {group_id}"));
            calls.iter().filter(|c| c.starts_with("describe")).count() - 1
        };
        if self.fail_describe_from.is_some_and(|from| n >= from) {
            return Err(FakeError("describe throttled".into()));
        }
        let mut hidden = self.hidden_describes.lock().unwrap();
        if *hidden > 0 {
            *hidden -= 1;
            return Ok(None);
        }
        Ok(self.groups.lock().unwrap().get(group_id).cloned())
    }

    async fn default_group(&self, vpc_id: &str) -> Result<Option<SecurityGroup>, FakeError> {
        let reads = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(format!("default_group {vpc_id}"));
            calls.iter().filter(|c| c.starts_with("default_group")).count()
        };
        let mut groups = self.groups.lock().unwrap();
        let mut late = self.late_default_rule.lock().unwrap();
        if late.as_ref().is_some_and(|(after, _)| reads > *after)
            && let Some((_, rule)) = late.take()
            && let Some(g) = groups.values_mut().find(|g| g.vpc_id.as_deref() == Some(vpc_id) && g.name == "default")
        {
            g.egress.push(rule);
        }
        drop(groups);
        let mut hidden = self.hidden_describes.lock().unwrap();
        if *hidden > 0 {
            *hidden -= 1;
            return Ok(None);
        }
        let groups = self.groups.lock().unwrap();
        Ok(groups.values().find(|g| g.vpc_id.as_deref() == Some(vpc_id) && g.name == "default").cloned())
    }

    async fn list(&self) -> Result<Vec<SecurityGroup>, FakeError> {
        self.calls.lock().unwrap().push("list".into());
        if self.fail_list {
            return Err(FakeError("describe throttled".into()));
        }
        Ok(self.groups.lock().unwrap().values().cloned().collect())
    }

    async fn revoke(&self, plan: &RevokePlan) -> Revoked<FakeError> {
        self.calls.lock().unwrap().push(format!("revoke {} x{}", plan.group_id, plan.rules.len()));
        {
            let mut n = self.in_flight.lock().unwrap();
            n.0 += 1;
            n.1 = n.1.max(n.0);
        }
        // A revoke takes a while: the others the sweep started meanwhile are under way too.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.in_flight.lock().unwrap().0 -= 1;
        if self.fail_revoke.as_deref() == Some(plan.group_id.as_str()) {
            return Revoked { removed: vec![], error: Some(FakeError("UnauthorizedOperation".into())) };
        }
        let mut groups = self.groups.lock().unwrap();
        if self.concurrent_revoke
            && let Some(g) = groups.get_mut(&plan.group_id)
        {
            g.egress.retain(|r| !plan.rules.iter().any(|p| p.same_traffic(r)));
        }
        if self.delete_on_revoke {
            groups.remove(&plan.group_id);
        }
        if self.partial_revoke
            && let Some(g) = groups.get_mut(&plan.group_id)
        {
            g.egress.retain(|r| !plan.rules[0].same_traffic(r));
            let error = Some(FakeError("RequestLimitExceeded".into()));
            return Revoked { removed: vec![plan.rules[0].clone()], error };
        }
        let mut removed = Vec::new();
        if let Some(g) = groups.get_mut(&plan.group_id) {
            removed = plan.rules.iter().filter(|p| g.egress.iter().any(|r| p.same_traffic(r))).cloned().collect();
            g.egress.retain(|r| !plan.rules.iter().any(|p| p.same_traffic(r)));
            if let Some(rule) = self.reopen_after_revoke.lock().unwrap().take() {
                g.egress.push(rule);
            }
        }
        Revoked::removed(removed)
    }

    async fn settle(&self, attempt: u32) {
        self.calls.lock().unwrap().push(format!("settle {attempt}"));
    }

    /// Adds each rule the group does not already hold for the same traffic, as EC2's authorize does.
    async fn authorize(&self, group_id: &str, rules: &[EgressRule]) -> Result<(), FakeError> {
        self.calls.lock().unwrap().push(format!("authorize {group_id} {}", rules.len()));
        if self.hide_authorized {
            return Ok(());
        }
        let mut groups = self.groups.lock().unwrap();
        let group = groups.get_mut(group_id).ok_or_else(|| FakeError(format!("{group_id} not found")))?;
        for rule in rules {
            if !group.egress.iter().any(|r| r.same_traffic(rule)) {
                group.egress.push(rule.clone());
            }
        }
        Ok(())
    }
}

/// A message as it was published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub subject: String,
    pub text: String,
    pub attributes: Vec<(&'static str, String)>,
}

/// Records published messages; fails every publish when `fail` is set.
#[derive(Debug, Default)]
pub struct FakeNotifier {
    pub sent: Mutex<Vec<Sent>>,
    pub fail: bool,
}

impl FakeNotifier {
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }
}

impl Notifier for FakeNotifier {
    type Error = FakeError;

    async fn publish(&self, message: &(dyn Message + Sync)) -> Result<(), FakeError> {
        if self.fail {
            return Err(FakeError("topic not found".into()));
        }
        let sent = Sent { subject: message.subject(), text: message.text(), attributes: message.attributes() };
        self.sent.lock().unwrap().push(sent);
        Ok(())
    }
}

/// `handle` on `trigger` over the fakes, with no history and no flow logs, its notices also going to `outlets`.
pub fn handled<O: Outlets + Sync>(
    trigger: &egress_guard_core::Trigger,
    settings: &egress_guard_core::Settings,
    groups: &FakeGroups,
    notifier: &FakeNotifier,
    outlets: &O,
) -> Result<egress_guard_core::EventReport, egress_guard_core::Error> {
    use egress_guard_core::{NoFlowLogs, NoHistory, Ports};
    let ports = Ports { groups, notifier, history: &NoHistory, flow_logs: &NoFlowLogs, outlets };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(egress_guard_core::handle(trigger, settings, ports))
}

/// Records the notices each delivery carried; fails every delivery when `fail` is set.
#[derive(Debug, Default)]
pub struct FakeOutlets {
    pub delivered: Mutex<Vec<Vec<Notice>>>,
    pub fail: bool,
}

impl Outlets for FakeOutlets {
    type Error = FakeError;

    async fn deliver(&self, notices: &[Notice]) -> Result<(), FakeError> {
        self.delivered.lock().unwrap().push(notices.to_vec());
        if self.fail {
            return Err(FakeError("hub not enabled".into()));
        }
        Ok(())
    }
}

/// Revocations in memory: the times each (group, destination) was revoked, what each group was last left with open,
/// and each region's first schedule; fails every call when `fail` is set.
#[derive(Debug, Default)]
pub struct FakeHistory {
    pub revoked_at: Mutex<BTreeMap<(String, String), Vec<i64>>>,
    pub calls: Mutex<Vec<Revocation>>,
    /// The open key last recorded per group key.
    pub open: Mutex<BTreeMap<String, String>>,
    /// The schedule time of each region's first sweep.
    pub first_schedule: Mutex<BTreeMap<String, String>>,
    pub fail: bool,
}

impl History for FakeHistory {
    type Error = FakeError;

    async fn record(&self, r: &Revocation) -> Result<Option<Vec<u32>>, FakeError> {
        self.calls.lock().unwrap().push(r.clone());
        if self.fail {
            return Err(FakeError("table unavailable".into()));
        }
        let mut all = self.revoked_at.lock().unwrap();
        let counts = r
            .destinations
            .iter()
            .map(|d| {
                let times = all.entry((r.group_key(), d.clone())).or_default();
                times.push(r.at);
                times.iter().filter(|t| **t > r.at - r.window_secs).count() as u32
            })
            .collect();
        Ok(Some(counts))
    }

    async fn seen(&self, group_key: &str, open: &str, _: i64) -> Result<Last, FakeError> {
        if self.fail {
            return Err(FakeError("table unavailable".into()));
        }
        let before = self.open.lock().unwrap().insert(group_key.to_owned(), open.to_owned());
        Ok(before.map_or(Last::Never, Last::Was))
    }

    /// Every sweep of the schedule that first swept the region is its first.
    async fn first_sweep(&self, region_key: &str, schedule_time: &str, _: i64) -> Result<Option<bool>, FakeError> {
        if self.fail {
            return Err(FakeError("table unavailable".into()));
        }
        let mut first = self.first_schedule.lock().unwrap();
        let first = first.entry(region_key.to_owned()).or_insert_with(|| schedule_time.to_owned());
        Ok(Some(first == schedule_time))
    }
}

/// Flow logs in memory: the interfaces that use the group, their flow logs and each log's records, the VPC around
/// them.
#[derive(Debug, Default)]
pub struct FakeFlowLogs {
    pub interfaces: Vec<egress_guard_core::recommend::Interface>,
    pub logs: Vec<egress_guard_core::recommend::FlowLog>,
    pub records: BTreeMap<String, egress_guard_core::recommend::Records>,
    pub network: egress_guard_core::recommend::Network,
}

impl egress_guard_core::FlowLogs for FakeFlowLogs {
    type Error = FakeError;

    async fn interfaces(&self, _: &str) -> Result<Vec<egress_guard_core::recommend::Interface>, FakeError> {
        Ok(self.interfaces.clone())
    }
    async fn flow_logs(&self, ids: &[String]) -> Result<Vec<egress_guard_core::recommend::FlowLog>, FakeError> {
        Ok(self.logs.iter().filter(|l| ids.contains(&l.resource_id)).cloned().collect())
    }
    async fn records(
        &self,
        log: &egress_guard_core::recommend::FlowLog,
        _: &[&egress_guard_core::recommend::Interface],
        _: egress_guard_core::recommend::Window,
        limit: usize,
    ) -> Result<egress_guard_core::recommend::Records, FakeError> {
        let mut records = self.records.get(&log.id).cloned().unwrap_or_default();
        let total: usize = records.batches.iter().map(|b| b.lines.len()).sum();
        if total > limit {
            records.truncated = true;
            for batch in &mut records.batches {
                batch.lines.truncate(limit);
            }
        }
        Ok(records)
    }
    async fn network(&self, _: &str) -> Result<egress_guard_core::recommend::Network, FakeError> {
        Ok(self.network.clone())
    }
}

/// One account and region's groups, shared: what `FakeReach` lends for each (account, region) it is asked for.
#[derive(Clone, Debug, Default)]
pub struct SharedGroups(pub std::sync::Arc<FakeGroups>);

impl SecurityGroups for SharedGroups {
    type Error = FakeError;
    async fn describe(&self, group_id: &str) -> Result<Option<SecurityGroup>, FakeError> {
        self.0.describe(group_id).await
    }
    async fn default_group(&self, vpc_id: &str) -> Result<Option<SecurityGroup>, FakeError> {
        self.0.default_group(vpc_id).await
    }
    async fn list(&self) -> Result<Vec<SecurityGroup>, FakeError> {
        self.0.list().await
    }
    async fn revoke(&self, plan: &RevokePlan) -> Revoked<FakeError> {
        self.0.revoke(plan).await
    }
    async fn authorize(&self, group_id: &str, rules: &[EgressRule]) -> Result<(), FakeError> {
        self.0.authorize(group_id, rules).await
    }
    async fn settle(&self, attempt: u32) {
        self.0.settle(attempt).await
    }
}

/// Every account and region's groups, each `account/region` its own fake (made empty on first use), and each reach
/// recorded (`account/region`, and `role` when through a member's role).
#[derive(Debug, Default)]
pub struct FakeReach {
    pub places: Mutex<BTreeMap<String, SharedGroups>>,
    pub reached: Mutex<Vec<String>>,
}

impl FakeReach {
    /// `account/region` holding `groups`.
    pub fn with(places: impl IntoIterator<Item = (String, Vec<SecurityGroup>)>) -> Self {
        let places = places
            .into_iter()
            .map(|(place, groups)| (place, SharedGroups(std::sync::Arc::new(FakeGroups::with(groups)))))
            .collect();
        FakeReach { places: Mutex::new(places), ..Default::default() }
    }

    pub fn groups(&self, place: &str) -> SharedGroups {
        self.places.lock().unwrap().entry(place.to_owned()).or_default().clone()
    }

    pub fn reached(&self) -> Vec<String> {
        self.reached.lock().unwrap().clone()
    }
}

impl egress_guard_core::Reach for FakeReach {
    type Groups = SharedGroups;
    type FlowLogs = egress_guard_core::NoFlowLogs;
    type Outlets = egress_guard_core::NoOutlets;
    async fn security_groups(&self, access: &egress_guard_core::Access, region: &str) -> SharedGroups {
        let account = match access {
            egress_guard_core::Access::Own => "own".to_owned(),
            egress_guard_core::Access::AssumeRole { account, .. } => account.clone(),
        };
        self.reached.lock().unwrap().push(format!("{account}/{region}"));
        self.groups(&format!("{account}/{region}"))
    }
    async fn flow_logs(&self, _: &egress_guard_core::Access, _: &str) -> Self::FlowLogs {
        egress_guard_core::NoFlowLogs
    }
    async fn outlets(&self, _: &egress_guard_core::Access, _: &str) -> Self::Outlets {
        egress_guard_core::NoOutlets
    }
}

/// The sweep queue in memory: every request sent, in order; fails every send when `fail` is set.
#[derive(Debug, Default)]
pub struct FakeQueue {
    pub sent: Mutex<Vec<egress_guard_core::SweepRequest>>,
    pub fail: bool,
}

impl egress_guard_core::SweepQueue for FakeQueue {
    type Error = FakeError;
    async fn send(&self, requests: &[egress_guard_core::SweepRequest]) -> Result<(), FakeError> {
        if self.fail {
            return Err(FakeError("queue does not exist".into()));
        }
        self.sent.lock().unwrap().extend_from_slice(requests);
        Ok(())
    }
}

/// The organization's accounts: `listed` (an error when `None`), and the roles AssumeRole denies (`denied`, by
/// account id inside the role ARN); each role tried is recorded.
#[derive(Debug, Default)]
pub struct FakeAccounts {
    pub listed: Option<Vec<String>>,
    pub denied: Vec<String>,
    pub tried: Mutex<Vec<String>>,
}

impl egress_guard_core::Accounts for FakeAccounts {
    type Error = FakeError;
    async fn list(&self) -> Result<Vec<String>, FakeError> {
        self.listed.clone().ok_or_else(|| FakeError("AWSOrganizationsNotInUseException".into()))
    }
    async fn can_assume(&self, role_arn: &str) -> Result<bool, FakeError> {
        self.tried.lock().unwrap().push(role_arn.to_owned());
        Ok(!self.denied.iter().any(|account| role_arn.contains(&format!("::{account}:"))))
    }
}

/// The history table in memory, as the function sees it: no revoke history, the kill switch (`pause`), and a
/// schedule's digest: each request's share kept once, each request counted done once by its last run, the sending
/// claimed by one sweep, given back on `release`, marked on `published`. `fail_add` fails that many adds first.
#[derive(Debug, Default)]
pub struct FakeTable {
    pub pause: Option<egress_guard_core::Pause>,
    pub shares: Mutex<BTreeMap<(String, u32), egress_guard_core::notify::digest::DigestPart>>,
    pub done: Mutex<BTreeMap<String, std::collections::BTreeSet<u32>>>,
    pub claimed: Mutex<std::collections::BTreeSet<String>>,
    pub sent: Mutex<std::collections::BTreeSet<String>>,
    pub fail_add: Mutex<usize>,
    pub released: Mutex<usize>,
}

impl History for FakeTable {
    type Error = FakeError;
    async fn record(&self, _: &Revocation) -> Result<Option<Vec<u32>>, FakeError> {
        Ok(None)
    }
}

impl egress_guard_core::Switch for FakeTable {
    type Error = FakeError;
    async fn paused(&self) -> Result<Option<egress_guard_core::Pause>, FakeError> {
        Ok(self.pause.clone())
    }
}

impl egress_guard_core::Digests for FakeTable {
    type Error = FakeError;
    fn gathers(&self) -> bool {
        true
    }
    async fn add(
        &self,
        request: &egress_guard_core::SweepRequest,
        share: &egress_guard_core::notify::digest::DigestPart,
        last: bool,
    ) -> Result<egress_guard_core::Gather, FakeError> {
        {
            let mut fail = self.fail_add.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err(FakeError("TransactionCanceledException".into()));
            }
        }
        let schedule = request.schedule_id.clone();
        self.shares.lock().unwrap().entry((schedule.clone(), request.index)).or_insert_with(|| share.clone());
        if self.sent.lock().unwrap().contains(&schedule) {
            return Ok(egress_guard_core::Gather::AlreadySent);
        }
        let mut done = self.done.lock().unwrap();
        let of_this = done.entry(schedule.clone()).or_default();
        if last {
            of_this.insert(request.index);
        }
        if of_this.len() < request.of as usize || !self.claimed.lock().unwrap().insert(schedule.clone()) {
            return Ok(egress_guard_core::Gather::Waiting);
        }
        let shares = self.shares.lock().unwrap();
        let all = shares.iter().filter(|((s, _), _)| *s == schedule).map(|(_, share)| share.clone()).collect();
        Ok(egress_guard_core::Gather::Complete(all))
    }
    async fn published(&self, schedule_id: &str) -> Result<(), FakeError> {
        self.sent.lock().unwrap().insert(schedule_id.to_owned());
        Ok(())
    }
    async fn release(&self, schedule_id: &str) -> Result<(), FakeError> {
        self.claimed.lock().unwrap().remove(schedule_id);
        *self.released.lock().unwrap() += 1;
        Ok(())
    }
}
