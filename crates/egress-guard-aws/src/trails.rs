//! A region's trails, read-only: `DescribeTrails` (shadow, multi-region and organization trails included), then each
//! trail's `GetTrailStatus` and `GetEventSelectors` in its home region, as the core's `TrailObservation`s. Shared by
//! `preflight` and the sweep's watch.

use aws_config::{Region, SdkConfig};
use egress_guard_core::preflight::{
    AdvancedSelector, ClassicSelector, FieldSelector, Seen, Selectors, TrailObservation,
};

use crate::error::{Error, code_and_message};

/// A trail as `DescribeTrails` lists it, before its state is read.
#[derive(Clone, Debug)]
pub(crate) struct Listed {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) home_region: String,
    multi_region: bool,
    organization: bool,
    custom_selectors: bool,
}

impl Listed {
    /// The trail with its state, as the core judges it.
    pub(crate) fn observed(self, (logging, selectors): (Seen<bool>, Seen<Selectors>)) -> TrailObservation {
        TrailObservation {
            name: self.name,
            arn: self.arn,
            home_region: self.home_region,
            multi_region: self.multi_region,
            organization: self.organization,
            logging,
            selectors,
        }
    }
}

fn in_region(config: &SdkConfig, region: &str) -> SdkConfig {
    config.to_builder().region(Region::new(region.to_owned())).build()
}

/// Every trail that applies to `region`, each with its state; the listing's failure is the whole answer's, a trail's
/// state's failure is that trail's.
pub async fn region_trails(config: &SdkConfig, region: &str) -> Seen<Vec<TrailObservation>> {
    let listed = listed(config, region).await.map_err(|e| e.to_string())?;
    let states = futures_util::future::join_all(listed.iter().map(|t| state(config, t))).await;
    Ok(listed.into_iter().zip(states).map(|(t, state)| t.observed(state)).collect())
}

/// A trail's `IsLogging` and event selectors, each read or its error.
pub(crate) async fn state(config: &SdkConfig, trail: &Listed) -> (Seen<bool>, Seen<Selectors>) {
    let (logging, selectors) = futures_util::future::join(is_logging(config, trail), selectors(config, trail)).await;
    (logging.map_err(|e| e.to_string()), selectors.map_err(|e| e.to_string()))
}

/// The trails that apply to `region`: its own and the shadows of multi-region and organization trails.
pub(crate) async fn listed(config: &SdkConfig, region: &str) -> Result<Vec<Listed>, Error> {
    // DescribeTrails with includeShadowTrails: "information for all trails in the current Region and any
    // associated shadow trails in other Regions", organization trails in a member account included:
    // https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_DescribeTrails.html
    let client = aws_sdk_cloudtrail::Client::new(&in_region(config, region));
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

async fn is_logging(config: &SdkConfig, trail: &Listed) -> Result<bool, Error> {
    // GetTrailStatus by ARN (a shadow trail, and an organization trail in a member account, must be named by its
    // ARN), in the trail's home region: IsLogging.
    // https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_GetTrailStatus.html
    let client = aws_sdk_cloudtrail::Client::new(&in_region(config, &trail.home_region));
    match client.get_trail_status().name(&trail.arn).send().await {
        Ok(out) => Ok(out.is_logging().unwrap_or(false)),
        Err(err) => {
            let (code, message) = code_and_message(&err);
            Err(Error::CloudTrail { operation: "GetTrailStatus", region: trail.home_region.clone(), code, message })
        }
    }
}

async fn selectors(config: &SdkConfig, trail: &Listed) -> Result<Selectors, Error> {
    // GetEventSelectors by ARN in the trail's home region: classic EventSelectors or AdvancedEventSelectors.
    // https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_GetEventSelectors.html
    let client = aws_sdk_cloudtrail::Client::new(&in_region(config, &trail.home_region));
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
