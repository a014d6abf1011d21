//! `egress-guard preflight`'s observations: read-only calls only (Describe, Get, and `sts:AssumeRole`, whose
//! credentials are dropped), turned into the core's `Observations`; every failed call is kept as its error, never
//! taken for a pass.

use std::collections::BTreeMap;

use aws_config::{Region, SdkConfig};
use egress_guard_core::preflight::{
    AccountConcurrency, Assume, ConcurrencyObservation, ListedRegion, MemberObservation, Observations, OptIn,
    RegionObservation, SESSION_NAME, Scope, Seen, Selectors, TrailObservation,
};
use futures_util::StreamExt;

use crate::ec2::ec2_error;
use crate::error::{Error, code_and_message};
use crate::trails::Listed;

/// Calls in flight at once, per stage (the regions, then the trails they list).
const AT_ONCE: usize = 8;

/// Each trail's `IsLogging` and event selectors, by ARN.
type States = BTreeMap<String, (Seen<bool>, Seen<Selectors>)>;

/// A region, its trails as listed (before their states are read) and its hub; `None` where not looked into.
type Listing = (String, Option<Seen<Vec<Listed>>>, Option<Seen<bool>>);

/// The probes, with the caller's credentials; `home` is the region the function is (or would be) deployed to.
#[derive(Clone, Debug)]
pub struct AwsPreflight {
    config: SdkConfig,
    home: String,
}

impl AwsPreflight {
    pub fn new(config: &SdkConfig, home: &str) -> AwsPreflight {
        AwsPreflight { config: config.clone(), home: home.to_owned() }
    }

    fn in_region(&self, region: &str) -> SdkConfig {
        self.config.to_builder().region(Region::new(region.to_owned())).build()
    }

    /// Everything `scope` asks about: the account's regions first (a region not enabled is not looked into), then
    /// each region's trails and hub, each trail's state once in its home region; Lambda's account settings and the
    /// member roles alongside.
    pub async fn observe(&self, scope: &Scope) -> Observations {
        let listed = self.regions().await.map_err(|e| e.to_string());
        let (regions, concurrency, members) = futures_util::future::join3(
            self.in_each_region(scope, &listed),
            self.concurrency(scope),
            self.members(scope),
        )
        .await;
        Observations { listed, regions, concurrency, members }
    }

    /// Each region asked, in its order: its trails (the trail check) and its hub (the Security Hub check), read at
    /// once; then the state of every trail listed.
    async fn in_each_region(&self, scope: &Scope, listed: &Seen<Vec<ListedRegion>>) -> Vec<RegionObservation> {
        let regions = futures_util::stream::iter(scope.regions.iter().map(|region| async move {
            if !RegionObservation::is_probed(listed, region) {
                return (region.clone(), None, None);
            }
            let trails = async { crate::trails::listed(&self.config, region).await.map_err(|e| e.to_string()) };
            let (trails, hub) = futures_util::future::join(trails, self.hub(scope, region)).await;
            (region.clone(), Some(trails), hub)
        }))
        .buffered(AT_ONCE)
        .collect::<Vec<_>>()
        .await;
        let states = self.trail_states(&regions).await;
        regions
            .into_iter()
            .map(|(region, trails, hub)| {
                let trails = trails.map(|listed| listed.map(|trails| with_states(trails, &states)));
                RegionObservation { region, trails, hub }
            })
            .collect()
    }

    /// The Security Hub check's observation in `region`: whether its hub is enabled, when asked.
    async fn hub(&self, scope: &Scope, region: &str) -> Option<Seen<bool>> {
        if !scope.security_hub {
            return None;
        }
        Some(self.hub_enabled(region).await.map_err(|e| e.to_string()))
    }

    /// The state of each trail the regions list. A multi-region trail is listed in every region: its state is read
    /// once, in its home region.
    async fn trail_states(&self, regions: &[Listing]) -> States {
        let mut distinct: BTreeMap<String, Listed> = BTreeMap::new();
        for (_, trails, _) in regions {
            for trail in trails.iter().flatten().flatten() {
                distinct.entry(trail.arn.clone()).or_insert_with(|| trail.clone());
            }
        }
        futures_util::stream::iter(
            distinct
                .into_values()
                .map(|trail| async move { (trail.arn.clone(), crate::trails::state(&self.config, &trail).await) }),
        )
        .buffer_unordered(AT_ONCE)
        .collect()
        .await
    }

    /// The concurrency check's observation: Lambda's account settings in the home region, when a reservation is
    /// asked about.
    async fn concurrency(&self, scope: &Scope) -> Option<ConcurrencyObservation> {
        let requested = scope.function_concurrency?;
        let limit = self.account_concurrency().await.map_err(|e| e.to_string());
        Some(ConcurrencyObservation { region: self.home.clone(), requested, limit })
    }

    /// The member role check's observations: each member account's role tried, in the request's order.
    async fn members(&self, scope: &Scope) -> Vec<MemberObservation> {
        futures_util::stream::iter(scope.member_accounts.iter().map(|account| async move {
            let role_arn = scope.role_arn(&self.home, account);
            let assumed = self.assume(&role_arn).await.map_err(|e| e.to_string());
            MemberObservation { account: account.clone(), role_arn, assumed }
        }))
        .buffered(AT_ONCE)
        .collect()
        .await
    }

    /// Every region of the partition and its opt-in status.
    async fn regions(&self) -> Result<Vec<ListedRegion>, Error> {
        // DescribeRegions with AllRegions lists disabled regions too, each with its OptInStatus
        // (opt-in-not-required | opted-in | not-opted-in):
        // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeRegions.html
        let ec2 = aws_sdk_ec2::Client::new(&self.in_region(&self.home));
        let out =
            ec2.describe_regions().all_regions(true).send().await.map_err(|e| ec2_error("DescribeRegions", &e))?;
        Ok(out
            .regions()
            .iter()
            .filter_map(|r| {
                let name = r.region_name()?.to_owned();
                Some(ListedRegion { name, opt_in: OptIn::from_status(r.opt_in_status().unwrap_or_default()) })
            })
            .collect())
    }

    /// Whether Security Hub is enabled in `region`.
    async fn hub_enabled(&self, region: &str) -> Result<bool, Error> {
        // DescribeHub answers the hub of the calling account, or InvalidAccessException when the account is not
        // subscribed to Security Hub in the region:
        // https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_DescribeHub.html
        let client = aws_sdk_securityhub::Client::new(&self.in_region(region));
        match client.describe_hub().send().await {
            Ok(_) => Ok(true),
            Err(err) => {
                let (code, message) = code_and_message(&err);
                if code == "InvalidAccessException" {
                    return Ok(false);
                }
                let account = "the caller's account".to_owned();
                Err(Error::SecurityHub { operation: "DescribeHub", account, region: region.to_owned(), code, message })
            }
        }
    }

    /// Lambda's concurrency quota and what is unreserved of it, in the home region.
    async fn account_concurrency(&self) -> Result<AccountConcurrency, Error> {
        // GetAccountSettings: AccountLimit.ConcurrentExecutions and UnreservedConcurrentExecutions.
        // https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html
        let client = aws_sdk_lambda::Client::new(&self.in_region(&self.home));
        let fail =
            |code, message| Error::Lambda { operation: "GetAccountSettings", region: self.home.clone(), code, message };
        let out = client.get_account_settings().send().await.map_err(|err| {
            let (code, message) = code_and_message(&err);
            fail(code, message)
        })?;
        let limit = out.account_limit();
        match limit.and_then(|l| l.unreserved_concurrent_executions()) {
            Some(unreserved) => Ok(AccountConcurrency {
                quota: limit.map_or(0, |l| i64::from(l.concurrent_executions())),
                unreserved: i64::from(unreserved),
            }),
            None => Err(fail("MissingField".into(), "no AccountLimit.UnreservedConcurrentExecutions".into())),
        }
    }

    /// Whether these credentials may assume `role_arn`. The credentials are dropped: nothing is called with them.
    async fn assume(&self, role_arn: &str) -> Result<Assume, Error> {
        let client = aws_sdk_sts::Client::new(&self.in_region(&self.home));
        Ok(match crate::organizations::probe_role(&client, role_arn, SESSION_NAME).await? {
            Ok(()) => Assume::Assumed,
            Err(message) => Assume::Denied { message },
        })
    }
}

/// The trails a region lists, each with its state; a trail whose state is missing is named as not read.
fn with_states(trails: Vec<Listed>, states: &States) -> Vec<TrailObservation> {
    trails
        .into_iter()
        .map(|t| {
            let state = states.get(&t.arn).cloned().unwrap_or_else(|| {
                let unread = format!("trail {} was not read", t.arn);
                (Err(unread.clone()), Err(unread))
            });
            t.observed(state)
        })
        .collect()
}
