//! `egress-guard preflight`'s observations: read-only calls only (Describe, Get, and `sts:AssumeRole`, whose
//! credentials are dropped), turned into the core's `Observations`; every failed call is kept as its error, never
//! taken for a pass.

use std::collections::BTreeMap;

use aws_config::{Region, SdkConfig};
use egress_guard_core::preflight::{
    AccountConcurrency, AdvancedSelector, Assume, ClassicSelector, ConcurrencyObservation, FieldSelector, ListedRegion,
    MemberObservation, Observations, OptIn, RegionObservation, Request, SESSION_NAME, Seen, Selectors,
    TrailObservation,
};
use futures_util::StreamExt;

use crate::ec2::ec2_error;
use crate::error::{Error, code_and_message};

/// Calls in flight at once, per stage (the regions, then the trails they list).
const AT_ONCE: usize = 8;

/// The probes, with the caller's credentials; `home` is the region the function is (or would be) deployed to.
#[derive(Clone, Debug)]
pub struct AwsPreflight {
    config: SdkConfig,
    home: String,
}

/// A trail as `DescribeTrails` lists it, before its state is read.
#[derive(Clone, Debug)]
struct Listed {
    name: String,
    arn: String,
    home_region: String,
    multi_region: bool,
    organization: bool,
    custom_selectors: bool,
}

impl AwsPreflight {
    pub fn new(config: &SdkConfig, home: &str) -> AwsPreflight {
        AwsPreflight { config: config.clone(), home: home.to_owned() }
    }

    fn in_region(&self, region: &str) -> SdkConfig {
        self.config.to_builder().region(Region::new(region.to_owned())).build()
    }

    /// Everything `request` asks about: the account's regions first (a region not enabled is not looked into), then
    /// each region's trails and hub, each trail's state once in its home region; Lambda's account settings and the
    /// member roles alongside.
    pub async fn observe(&self, request: &Request) -> Observations {
        let listed = self.regions().await.map_err(|e| e.to_string());
        let probed = |region: &str| RegionObservation::is_probed(&listed, region);
        let regions = futures_util::stream::iter(request.regions.iter().map(|region| {
            let probe = probed(region);
            async move {
                if !probe {
                    return (region.clone(), None, None);
                }
                let hub = async {
                    if request.security_hub {
                        Some(self.hub_enabled(region).await.map_err(|e| e.to_string()))
                    } else {
                        None
                    }
                };
                let (trails, hub) = futures_util::future::join(self.trails(region), hub).await;
                (region.clone(), Some(trails.map_err(|e| e.to_string())), hub)
            }
        }))
        .buffered(AT_ONCE)
        .collect::<Vec<_>>();
        let concurrency = async {
            let requested = request.function_concurrency?;
            let limit = self.account_concurrency().await.map_err(|e| e.to_string());
            Some(ConcurrencyObservation { region: self.home.clone(), requested, limit })
        };
        let members = futures_util::stream::iter(request.member_accounts.iter().map(|account| async move {
            let role_arn = request.role_arn(&self.home, account);
            let assumed = self.assume(&role_arn).await.map_err(|e| e.to_string());
            MemberObservation { account: account.clone(), role_arn, assumed }
        }))
        .buffered(AT_ONCE)
        .collect::<Vec<_>>();
        let (regions, concurrency, members) = futures_util::future::join3(regions, concurrency, members).await;

        // A multi-region trail is listed in every region: its state is read once, in its home region.
        let mut distinct: BTreeMap<String, Listed> = BTreeMap::new();
        for (_, trails, _) in &regions {
            for trail in trails.iter().flatten().flatten() {
                distinct.entry(trail.arn.clone()).or_insert_with(|| trail.clone());
            }
        }
        let states: BTreeMap<String, (Seen<bool>, Seen<Selectors>)> =
            futures_util::stream::iter(distinct.into_values().map(|trail| async move {
                let (logging, selectors) =
                    futures_util::future::join(self.is_logging(&trail), self.selectors(&trail)).await;
                (trail.arn.clone(), (logging.map_err(|e| e.to_string()), selectors.map_err(|e| e.to_string())))
            }))
            .buffer_unordered(AT_ONCE)
            .collect()
            .await;
        let regions = regions
            .into_iter()
            .map(|(region, trails, hub)| {
                let trails = trails.map(|listed| {
                    listed.map(|trails| {
                        trails
                            .into_iter()
                            .map(|t| {
                                let (logging, selectors) = states.get(&t.arn).cloned().unwrap_or_else(|| {
                                    let unread = format!("trail {} was not read", t.arn);
                                    (Err(unread.clone()), Err(unread))
                                });
                                TrailObservation {
                                    name: t.name,
                                    arn: t.arn,
                                    home_region: t.home_region,
                                    multi_region: t.multi_region,
                                    organization: t.organization,
                                    logging,
                                    selectors,
                                }
                            })
                            .collect()
                    })
                });
                RegionObservation { region, trails, hub }
            })
            .collect();
        Observations { listed, regions, concurrency, members }
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

    /// The trails that apply to `region`: its own and the shadows of multi-region and organization trails.
    async fn trails(&self, region: &str) -> Result<Vec<Listed>, Error> {
        // DescribeTrails with includeShadowTrails: "information for all trails in the current Region and any
        // associated shadow trails in other Regions", organization trails in a member account included:
        // https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_DescribeTrails.html
        let client = aws_sdk_cloudtrail::Client::new(&self.in_region(region));
        let out = client.describe_trails().include_shadow_trails(true).send().await.map_err(|err| {
            let (code, message) = code_and_message(&err);
            Error::CloudTrail { operation: "DescribeTrails", region: region.to_owned(), code, message }
        })?;
        Ok(out
            .trail_list()
            .iter()
            .filter_map(|t| {
                let arn = t.trail_arn()?.to_owned();
                Some(Listed {
                    name: t.name().unwrap_or(&arn).to_owned(),
                    home_region: t.home_region().unwrap_or(region).to_owned(),
                    multi_region: t.is_multi_region_trail().unwrap_or(false),
                    organization: t.is_organization_trail().unwrap_or(false),
                    // Unknown counts as custom: the selectors read then decide, never a default assumed.
                    custom_selectors: t.has_custom_event_selectors().unwrap_or(true),
                    arn,
                })
            })
            .collect())
    }

    async fn is_logging(&self, trail: &Listed) -> Result<bool, Error> {
        // GetTrailStatus by ARN (a shadow trail, and an organization trail in a member account, must be named by its
        // ARN), in the trail's home region: IsLogging.
        // https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_GetTrailStatus.html
        let client = aws_sdk_cloudtrail::Client::new(&self.in_region(&trail.home_region));
        match client.get_trail_status().name(&trail.arn).send().await {
            Ok(out) => Ok(out.is_logging().unwrap_or(false)),
            Err(err) => {
                let (code, message) = code_and_message(&err);
                Err(Error::CloudTrail { operation: "GetTrailStatus", region: trail.home_region.clone(), code, message })
            }
        }
    }

    async fn selectors(&self, trail: &Listed) -> Result<Selectors, Error> {
        // GetEventSelectors by ARN in the trail's home region: classic EventSelectors or AdvancedEventSelectors.
        // https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_GetEventSelectors.html
        let client = aws_sdk_cloudtrail::Client::new(&self.in_region(&trail.home_region));
        let out = match client.get_event_selectors().trail_name(&trail.arn).send().await {
            Ok(out) => out,
            Err(err) => {
                let (code, message) = code_and_message(&err);
                let region = trail.home_region.clone();
                return Err(Error::CloudTrail { operation: "GetEventSelectors", region, code, message });
            }
        };
        let classic = out
            .event_selectors()
            .iter()
            .map(|s| ClassicSelector {
                read_write_type: s.read_write_type().map(|t| t.as_str().to_owned()),
                include_management_events: s.include_management_events(),
                exclude_management_event_sources: s.exclude_management_event_sources().to_vec(),
            })
            .collect();
        let advanced = out
            .advanced_event_selectors()
            .iter()
            .map(|s| AdvancedSelector {
                name: s.name().map(str::to_owned),
                fields: s
                    .field_selectors()
                    .iter()
                    .map(|f| FieldSelector {
                        field: f.field().to_owned(),
                        equals: f.equals().to_vec(),
                        starts_with: f.starts_with().to_vec(),
                        ends_with: f.ends_with().to_vec(),
                        not_equals: f.not_equals().to_vec(),
                        not_starts_with: f.not_starts_with().to_vec(),
                        not_ends_with: f.not_ends_with().to_vec(),
                    })
                    .collect(),
            })
            .collect();
        Ok(Selectors { custom: trail.custom_selectors, classic, advanced })
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
