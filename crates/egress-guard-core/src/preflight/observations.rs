//! What the preflight adapter observes, read-only, and hands to the checks: the account's regions, the trails listed
//! in each (their state and event selectors), Security Hub, Lambda's account concurrency and the member accounts'
//! roles. Each observation is `Seen`: what was found, or why it could not be.

/// The session name of a member probe, as it shows in the member account's CloudTrail.
pub const SESSION_NAME: &str = "egress-guard-preflight";

/// What an observation found, or why it could not be made (the service's code and message).
pub type Seen<T> = Result<T, String>;

/// Everything the checks read, as the adapter observed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observations {
    /// The account's regions and their opt-in status (EC2 `DescribeRegions` with `AllRegions`).
    pub listed: Seen<Vec<ListedRegion>>,
    /// One per region asked, in the request's order.
    pub regions: Vec<RegionObservation>,
    /// When a reservation was asked about.
    pub concurrency: Option<ConcurrencyObservation>,
    /// One per member account asked, in the request's order.
    pub members: Vec<MemberObservation>,
}

/// A region as `DescribeRegions` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedRegion {
    pub name: String,
    pub opt_in: OptIn,
}

/// A region's `OptInStatus`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptIn {
    /// `opt-in-not-required`: enabled in every account.
    NotRequired,
    /// `opted-in`: enabled by the account.
    OptedIn,
    /// `not-opted-in`: disabled.
    NotOptedIn,
    /// Any other status EC2 may answer, taken as not enabled.
    Other(String),
}

impl OptIn {
    pub fn from_status(status: &str) -> OptIn {
        match status {
            "opt-in-not-required" => OptIn::NotRequired,
            "opted-in" => OptIn::OptedIn,
            "not-opted-in" => OptIn::NotOptedIn,
            other => OptIn::Other(other.to_owned()),
        }
    }

    pub fn is_enabled(&self) -> bool {
        matches!(self, OptIn::NotRequired | OptIn::OptedIn)
    }
}

/// What was read in one region. A region not enabled (or not a region) is not looked into: `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionObservation {
    pub region: String,
    /// The trails `DescribeTrails` (shadow trails included) lists there, each with its state read in its home region.
    pub trails: Option<Seen<Vec<TrailObservation>>>,
    /// Security Hub enabled there (`DescribeHub`), when asked.
    pub hub: Option<Seen<bool>>,
}

impl RegionObservation {
    /// Whether `region` is looked into: it is listed as enabled, or the listing itself failed (its own calls then say
    /// whether it answers).
    pub fn is_probed(listed: &Seen<Vec<ListedRegion>>, region: &str) -> bool {
        match listed {
            Ok(regions) => regions.iter().any(|r| r.name == region && r.opt_in.is_enabled()),
            Err(_) => true,
        }
    }
}

/// A trail as `DescribeTrails` lists it in a region, with its state read in its home region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailObservation {
    pub name: String,
    pub arn: String,
    pub home_region: String,
    pub multi_region: bool,
    pub organization: bool,
    /// `GetTrailStatus`'s `IsLogging`.
    pub logging: Seen<bool>,
    /// `GetEventSelectors`.
    pub selectors: Seen<Selectors>,
}

/// A trail's event selectors: classic or advanced (a trail has one kind or the other).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selectors {
    /// `DescribeTrails`' `HasCustomEventSelectors`: false means CloudTrail's default, every management event.
    pub custom: bool,
    pub classic: Vec<ClassicSelector>,
    pub advanced: Vec<AdvancedSelector>,
}

/// A classic `EventSelector`; absent fields take CloudTrail's defaults (`All`, management events included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassicSelector {
    pub read_write_type: Option<String>,
    pub include_management_events: Option<bool>,
    pub exclude_management_event_sources: Vec<String>,
}

/// An `AdvancedEventSelector`: its field selectors all hold for an event it logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdvancedSelector {
    pub name: Option<String>,
    pub fields: Vec<FieldSelector>,
}

/// An `AdvancedFieldSelector`: each operator given must hold (an operator holds when the value matches any of its
/// values; a `Not` operator when it matches none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub field: String,
    pub equals: Vec<String>,
    pub starts_with: Vec<String>,
    pub ends_with: Vec<String>,
    pub not_equals: Vec<String>,
    pub not_starts_with: Vec<String>,
    pub not_ends_with: Vec<String>,
}

/// The account's concurrency where the function would run, when a reservation was asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConcurrencyObservation {
    /// The home region, where the function is deployed.
    pub region: String,
    /// The reservation the deploy would ask for.
    pub requested: u32,
    /// `GetAccountSettings`' `AccountLimit`.
    pub limit: Seen<AccountConcurrency>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountConcurrency {
    /// `ConcurrentExecutions`: the account's quota in the region.
    pub quota: i64,
    /// `UnreservedConcurrentExecutions`: the quota less what functions reserve already.
    pub unreserved: i64,
}

/// A member account's remediation role, as `sts:AssumeRole` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberObservation {
    pub account: String,
    pub role_arn: String,
    pub assumed: Seen<Assume>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assume {
    Assumed,
    /// `AccessDenied`: no such role, or its trust policy does not admit the caller; STS does not say which.
    Denied {
        message: String,
    },
}
