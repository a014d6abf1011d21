//! A region's watch, read-only: its trails (`trails`) and the rule that takes (or forwards) its changes, found by
//! what it targets (`ListRuleNamesByTarget`) and read (`DescribeRule`), for the core's `Watch` to judge.

use aws_config::{Region, SdkConfig};
use egress_guard_core::preflight::Seen;
use egress_guard_core::watch::RuleState;

use crate::error::code_and_message;

/// Rule names asked for at most, page after page: a target is the target of a few rules, not thousands.
const MAX_PAGES: usize = 5;

/// The call every rule of the stack matches: a rule targeting the same place without it (the sweep's schedule,
/// another stack's rule) is not the one that takes the region's changes.
const WATCHED_CALL: &str = "AuthorizeSecurityGroupEgress";

/// The state of the rule in `region` that sends the region's security-group changes to `target_arn` (the function at
/// home, the home region's default bus elsewhere): enabled if any such rule is, disabled if all are, missing if none.
pub async fn rule_state(config: &SdkConfig, region: &str, target_arn: &str) -> Seen<RuleState> {
    let config = config.to_builder().region(Region::new(region.to_owned())).build();
    let client = aws_sdk_eventbridge::Client::new(&config);
    let failed = |operation: &str, code: String, message: String| {
        format!("EventBridge {operation} in {region} failed: {code}: {message}")
    };
    // ListRuleNamesByTarget: "Lists the rules for the specified target", on the default bus, paginated by NextToken:
    // https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_ListRuleNamesByTarget.html
    let mut names = Vec::new();
    let mut token = None;
    for _ in 0..MAX_PAGES {
        let out = client.list_rule_names_by_target().target_arn(target_arn).set_next_token(token).send().await;
        let out = out.map_err(|err| {
            let (code, message) = code_and_message(&err);
            failed("ListRuleNamesByTarget", code, message)
        })?;
        names.extend(out.rule_names().iter().cloned());
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut disabled = None;
    for name in names {
        // DescribeRule: State is ENABLED, DISABLED or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS:
        // https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DescribeRule.html
        let rule = client.describe_rule().name(&name).send().await.map_err(|err| {
            let (code, message) = code_and_message(&err);
            failed("DescribeRule", code, message)
        })?;
        if !rule.event_pattern().is_some_and(|p| p.contains(WATCHED_CALL)) {
            continue;
        }
        match rule.state() {
            Some(aws_sdk_eventbridge::types::RuleState::Disabled) => disabled = disabled.or(Some(name)),
            _ => return Ok(RuleState::Enabled { name }),
        }
    }
    Ok(match disabled {
        Some(name) => RuleState::Disabled { name },
        None => RuleState::Missing { target: target_arn.to_owned() },
    })
}
