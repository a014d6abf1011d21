//! The trigger: an EventBridge "AWS API Call via CloudTrail" event, reduced to the groups to re-read and who changed them.
//!
//! The event only says which groups to look at. Nothing in it decides what is revoked.

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::model::{validate_group_id, validate_vpc_id};

/// EventBridge accepts events of at most 256 KiB; anything larger is not one.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

const DETAIL_TYPE: &str = "AWS API Call via CloudTrail";
const SCHEDULED: &str = "Scheduled Event";
const EVENT_SOURCE: &str = "ec2.amazonaws.com";

/// The CloudTrail calls that can open egress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventName {
    AuthorizeSecurityGroupEgress,
    CreateSecurityGroup,
    ModifySecurityGroupRules,
    /// A new VPC, made with a default group that allows all egress.
    CreateVpc,
    /// A new default VPC, with its default group.
    CreateDefaultVpc,
    /// A CIDR block added to a VPC: an IPv6 block adds `::/0` egress to the VPC's default group.
    AssociateVpcCidrBlock,
    /// Not a CloudTrail call: a person ran `egress-guard fix` on the group.
    ManualFix,
    /// Not a CloudTrail call: the scheduled sweep.
    ScheduledSweep,
}

/// What a trigger asks for: the groups one event names, or a sweep of the whole region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    Event,
    Sweep,
}

impl TriggerKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            TriggerKind::Event => "event",
            TriggerKind::Sweep => "sweep",
        }
    }
}

impl Trigger {
    /// True for a CloudTrail call; false for `egress-guard fix` and the scheduled sweep.
    pub fn is_cloudtrail(&self) -> bool {
        EventName::ALL.contains(&self.event_name)
    }

    pub fn kind(&self) -> TriggerKind {
        if self.event_name == EventName::ScheduledSweep { TriggerKind::Sweep } else { TriggerKind::Event }
    }
}

impl EventName {
    /// The CloudTrail calls egress-guard handles, as the templates' event patterns name them.
    pub const ALL: [EventName; 6] = [
        EventName::AuthorizeSecurityGroupEgress,
        EventName::CreateSecurityGroup,
        EventName::ModifySecurityGroupRules,
        EventName::CreateVpc,
        EventName::CreateDefaultVpc,
        EventName::AssociateVpcCidrBlock,
    ];

    /// The calls of `ALL` as a person lists them: `A, B and C`.
    pub fn handled() -> String {
        let names = EventName::ALL.map(|n| n.as_str());
        let (last, rest) = names.split_last().expect("ALL is not empty");
        format!("{} and {last}", rest.join(", "))
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            EventName::AuthorizeSecurityGroupEgress => "AuthorizeSecurityGroupEgress",
            EventName::CreateSecurityGroup => "CreateSecurityGroup",
            EventName::ModifySecurityGroupRules => "ModifySecurityGroupRules",
            EventName::CreateVpc => "CreateVpc",
            EventName::CreateDefaultVpc => "CreateDefaultVpc",
            EventName::AssociateVpcCidrBlock => "AssociateVpcCidrBlock",
            EventName::ManualFix => "egress-guard fix",
            EventName::ScheduledSweep => "scheduled sweep",
        }
    }
}

/// Who made the change, as CloudTrail recorded it. Every field may be missing in a real event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl Actor {
    /// The best name CloudTrail gives: the ARN, else the principal, else the calling service.
    pub fn name(&self) -> &str {
        self.arn
            .as_deref()
            .or(self.principal_id.as_deref())
            .or(self.invoked_by.as_deref())
            .unwrap_or("an unknown caller")
    }
}

/// A call that CloudTrail recorded as failed: nothing changed, so nothing is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedCall {
    pub error_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// What egress-guard takes from an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub event_id: String,
    pub event_name: EventName,
    pub event_time: String,
    pub account: String,
    pub region: String,
    /// Groups to re-read, deduplicated, each of the shape `sg-…`.
    pub group_ids: Vec<String>,
    /// VPCs whose default group is re-read (`CreateVpc`, `CreateDefaultVpc`, `AssociateVpcCidrBlock`), each of the
    /// shape `vpc-…`. This and `group_ids` are both empty only for a failed call or a sweep.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_ids: Vec<String>,
    pub actor: Actor,
    /// Set when the call failed: the event is skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<FailedCall>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    event_source: Option<String>,
    event_name: Option<String>,
    #[serde(rename = "eventID")]
    event_id: Option<String>,
    event_time: Option<String>,
    aws_region: Option<String>,
    recipient_account_id: Option<String>,
    user_identity: Option<UserIdentity>,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: Option<String>,
    user_agent: Option<String>,
    request_parameters: Option<RequestParameters>,
    response_elements: Option<ResponseElements>,
    error_code: Option<String>,
    error_message: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    #[serde(rename = "type")]
    identity_type: Option<String>,
    principal_id: Option<String>,
    arn: Option<String>,
    invoked_by: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestParameters {
    group_id: Option<String>,
    vpc_id: Option<String>,
    #[serde(rename = "ModifySecurityGroupRulesRequest")]
    modify: Option<ModifyRequest>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct ModifyRequest {
    #[serde(rename = "GroupId")]
    group_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseElements {
    group_id: Option<String>,
    security_group_rule_set: Option<RuleSet>,
    vpc_id: Option<String>,
    vpc: Option<Vpc>,
    /// Some EC2 calls are recorded inside a `<Call>Response` element.
    #[serde(rename = "CreateVpcResponse")]
    create_vpc: Option<Box<ResponseElements>>,
    #[serde(rename = "CreateDefaultVpcResponse")]
    create_default_vpc: Option<Box<ResponseElements>>,
    #[serde(rename = "AssociateVpcCidrBlockResponse")]
    associate_vpc_cidr_block: Option<Box<ResponseElements>>,
}

impl ResponseElements {
    /// The VPC ids the response names, its `<Call>Response` wrappers included.
    fn vpc_ids(self) -> Vec<String> {
        let nested = [self.create_vpc, self.create_default_vpc, self.associate_vpc_cidr_block];
        self.vpc_id
            .into_iter()
            .chain(self.vpc.and_then(|vpc| vpc.vpc_id))
            .chain(nested.into_iter().flatten().flat_map(|inner| inner.vpc_ids()))
            .collect()
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Vpc {
    vpc_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct RuleSet {
    #[serde(default)]
    items: Vec<RuleItem>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleItem {
    group_id: Option<String>,
}

impl Trigger {
    /// A trigger for one group that a person asked to fix, with no CloudTrail event behind it.
    pub fn manual(group_id: &str, region: &str, account: &str, who: &str, now: &str) -> Result<Trigger, Error> {
        validate_group_id(group_id)?;
        Ok(Trigger {
            event_id: format!("manual-{now}"),
            event_name: EventName::ManualFix,
            event_time: now.to_owned(),
            account: account.to_owned(),
            region: region.to_owned(),
            group_ids: vec![group_id.to_owned()],
            vpc_ids: Vec::new(),
            actor: Actor { principal_id: Some(who.to_owned()), ..Actor::default() },
            failed: None,
        })
    }
}

/// Parses an event: a CloudTrail call, or a Scheduled Event (`event_name` is then `ScheduledSweep`). Checks size, JSON, shape and group ids before anything else can happen.
pub fn parse_event(bytes: &[u8]) -> Result<Trigger, Error> {
    let event: CloudWatchEvent<Detail> = decode(bytes, "")?;
    from_event(event)
}

/// Decodes JSON of at most `MAX_EVENT_BYTES`: a syntax error is `MalformedJson`, a wrong field `InvalidField` with
/// its path (after `context`).
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], context: &str) -> Result<T, Error> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(Error::EventTooLarge { size: bytes.len(), limit: MAX_EVENT_BYTES });
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Error::MalformedJson(inner.to_string())
        } else {
            Error::InvalidField { path: format!("{context}{path}"), message: inner.to_string() }
        }
    })
}

/// Parses an event already decoded as JSON (the Lambda runtime hands it over this way).
pub fn parse_value(value: serde_json::Value) -> Result<Trigger, Error> {
    let bytes = serde_json::to_vec(&value).map_err(|err| Error::MalformedJson(err.to_string()))?;
    parse_event(&bytes)
}

fn from_event(event: CloudWatchEvent<Detail>) -> Result<Trigger, Error> {
    if event.detail_type.as_deref() == Some(SCHEDULED) && event.source.as_deref() == Some("aws.events") {
        return Ok(Trigger {
            event_id: event.id.ok_or(Error::MissingField("id"))?,
            event_name: EventName::ScheduledSweep,
            event_time: event.time.to_rfc3339(),
            account: event.account_id.ok_or(Error::MissingField("account"))?,
            region: event.region.ok_or(Error::MissingField("region"))?,
            group_ids: Vec::new(),
            vpc_ids: Vec::new(),
            actor: Actor { principal_id: Some("the EventBridge schedule".into()), ..Actor::default() },
            failed: None,
        });
    }
    if event.detail_type.as_deref() != Some(DETAIL_TYPE) {
        return Err(Error::NotCloudTrail(event.detail_type));
    }
    let detail = event.detail.ok_or(Error::MissingField("detail"))?;
    let source = detail.event_source.as_deref().ok_or(Error::MissingField("detail.eventSource"))?;
    if source != EVENT_SOURCE {
        return Err(Error::OtherService(source.to_owned()));
    }
    let name = detail.event_name.as_deref().ok_or(Error::MissingField("detail.eventName"))?;
    let event_name = EventName::ALL
        .into_iter()
        .find(|n| n.as_str() == name)
        .ok_or_else(|| Error::UnsupportedEvent { name: name.to_owned(), handled: EventName::handled() })?;
    let event_id = detail.event_id.clone().or(event.id).ok_or(Error::MissingField("detail.eventID"))?;
    let account =
        event.account_id.or_else(|| detail.recipient_account_id.clone()).ok_or(Error::MissingField("account"))?;
    // Where the call was made: a rule that forwards the event to another region's bus may leave that region in the
    // envelope, never in the CloudTrail record.
    let region = detail.aws_region.clone().or(event.region).ok_or(Error::MissingField("region"))?;
    let event_time = detail.event_time.clone().unwrap_or_else(|| event.time.to_rfc3339());
    let identity = detail.user_identity.unwrap_or_default();
    let actor = Actor {
        identity_type: identity.identity_type,
        arn: identity.arn,
        principal_id: identity.principal_id,
        invoked_by: identity.invoked_by,
        source_ip: detail.source_ip_address,
        user_agent: detail.user_agent,
    };
    let failed = detail.error_code.map(|error_code| FailedCall { error_code, error_message: detail.error_message });
    let (groups, vpcs) = targets(event_name, detail.request_parameters, detail.response_elements);
    let (group_ids, vpc_ids) = if failed.is_some() {
        // A failed call changed nothing; its ids are only shown, so a malformed one is dropped, not an error.
        (
            groups.into_iter().filter(|id| validate_group_id(id).is_ok()).collect(),
            vpcs.into_iter().filter(|id| validate_vpc_id(id).is_ok()).collect(),
        )
    } else {
        for id in &groups {
            validate_group_id(id)?;
        }
        for id in &vpcs {
            validate_vpc_id(id)?;
        }
        if groups.is_empty() && vpcs.is_empty() {
            return Err(Error::MissingGroupId {
                event_name: event_name.as_str(),
                looked_in: where_group_ids_live(event_name),
            });
        }
        (groups, vpcs)
    };
    Ok(Trigger { event_id, event_name, event_time, account, region, group_ids, vpc_ids, actor, failed })
}

/// The groups an event names, and the VPCs whose default group it concerns, each deduplicated in order.
fn targets(
    name: EventName,
    request: Option<RequestParameters>,
    response: Option<ResponseElements>,
) -> (Vec<String>, Vec<String>) {
    let request = request.unwrap_or_default();
    let response = response.unwrap_or_default();
    let (groups, vpcs): (Vec<String>, Vec<String>) = match name {
        EventName::CreateSecurityGroup => (response.group_id.into_iter().collect(), vec![]),
        EventName::AuthorizeSecurityGroupEgress => {
            let items = response.security_group_rule_set.into_iter().flat_map(|set| set.items);
            (request.group_id.into_iter().chain(items.filter_map(|item| item.group_id)).collect(), vec![])
        }
        EventName::ModifySecurityGroupRules => (request.modify.and_then(|m| m.group_id).into_iter().collect(), vec![]),
        EventName::CreateVpc | EventName::CreateDefaultVpc | EventName::AssociateVpcCidrBlock => {
            (vec![], request.vpc_id.into_iter().chain(response.vpc_ids()).collect())
        }
        EventName::ManualFix | EventName::ScheduledSweep => (vec![], vec![]),
    };
    (unique(groups), unique(vpcs))
}

pub(crate) fn unique(ids: Vec<String>) -> Vec<String> {
    let mut unique = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    unique
}

fn where_group_ids_live(name: EventName) -> &'static str {
    match name {
        EventName::CreateSecurityGroup => "responseElements.groupId",
        EventName::AuthorizeSecurityGroupEgress => {
            "requestParameters.groupId, responseElements.securityGroupRuleSet.items[].groupId"
        }
        EventName::ModifySecurityGroupRules => "requestParameters.ModifySecurityGroupRulesRequest.GroupId",
        EventName::CreateVpc | EventName::CreateDefaultVpc | EventName::AssociateVpcCidrBlock => {
            "requestParameters.vpcId, responseElements.vpc.vpcId (also inside a <Call>Response element)"
        }
        EventName::ManualFix | EventName::ScheduledSweep => "nowhere: not a CloudTrail call",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsupported_call_is_told_every_call_that_is_handled() {
        let err = Error::UnsupportedEvent { name: "DeleteSecurityGroup".into(), handled: EventName::handled() };
        assert_eq!(
            err.to_string(),
            "the event is DeleteSecurityGroup; egress-guard handles AuthorizeSecurityGroupEgress, CreateSecurityGroup, \
             ModifySecurityGroupRules, CreateVpc, CreateDefaultVpc and AssociateVpcCidrBlock"
        );
    }
}
