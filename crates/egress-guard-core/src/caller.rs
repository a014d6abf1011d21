//! Who opened the rule, told from the event alone (no AWS call): the tool behind the call, and the one change that
//! stops it re-opening the rule. A caller that cannot be told is named by its ARN, never guessed.

use serde::{Deserialize, Serialize};

use crate::model::SecurityGroup;
use crate::trigger::Actor;

/// The tag CloudFormation puts on every resource of a stack.
pub const STACK_NAME_TAG: &str = "aws:cloudformation:stack-name";
const CLOUDFORMATION: &str = "cloudformation.amazonaws.com";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallerKind {
    Cloudformation,
    Cdk,
    Terraform,
    Pulumi,
    Console,
    AwsCli,
    Sdk,
    Unknown,
}

impl CallerKind {
    /// The value of the notice's `caller` message attribute.
    pub fn as_str(&self) -> &'static str {
        match self {
            CallerKind::Cloudformation => "cloudformation",
            CallerKind::Cdk => "cdk",
            CallerKind::Terraform => "terraform",
            CallerKind::Pulumi => "pulumi",
            CallerKind::Console => "console",
            CallerKind::AwsCli => "aws-cli",
            CallerKind::Sdk => "sdk",
            CallerKind::Unknown => "unknown",
        }
    }
}

/// The caller's kind, and the plain line the notice carries about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub kind: CallerKind,
    pub line: String,
}

/// SDK user-agent prefixes, as each SDK sends them (`Boto3/1.35.76 md/Botocore#…`, `aws-sdk-go-v2/1.32.6 …`).
const SDKS: [&str; 10] = [
    "Boto3/",
    "Botocore/",
    "aws-sdk-go",
    "aws-sdk-java",
    "aws-sdk-js",
    "aws-sdk-rust",
    "aws-sdk-dotnet",
    "aws-sdk-ruby",
    "aws-sdk-php",
    "aws-sdk-cpp",
];

/// Tells the caller from CloudTrail's `userIdentity.invokedBy`, `sourceIPAddress` and `userAgent`, and the group's
/// CloudFormation stack tag (the group was read anyway).
pub fn classify(actor: &Actor, group: &SecurityGroup) -> Caller {
    let who = actor.name();
    let agent = actor.user_agent.as_deref().unwrap_or("");
    let via_cloudformation = actor.invoked_by.as_deref() == Some(CLOUDFORMATION)
        || actor.source_ip.as_deref() == Some(CLOUDFORMATION)
        || agent == CLOUDFORMATION;
    let stack = match group.tags.get(STACK_NAME_TAG) {
        Some(name) => format!("stack {name}"),
        None => "its stack".to_owned(),
    };
    let (kind, line) = if via_cloudformation && is_cdk_role(actor.arn.as_deref().unwrap_or("")) {
        (
            CallerKind::Cdk,
            format!(
                "The AWS CDK ({stack}, through CloudFormation) manages this group and will drift: give the \
                 SecurityGroup allowAllOutbound: false (and allowAllIpv6Outbound: false) with the egress it needs, \
                 or the next cdk deploy re-opens it."
            ),
        )
    } else if via_cloudformation {
        (
            CallerKind::Cloudformation,
            format!(
                "CloudFormation ({stack}) manages this group and will drift: change the template's \
                 SecurityGroupEgress, or the next stack update re-opens it."
            ),
        )
    } else if agent.contains("Pulumi/") || agent.contains("pulumi-aws") {
        (
            CallerKind::Pulumi,
            format!(
                "Pulumi ({who}) manages this group: remove the open egress from its SecurityGroup or \
                 SecurityGroupEgressRule resource, or the next pulumi up re-opens it."
            ),
        )
    } else if agent.contains("Terraform/") {
        (
            CallerKind::Terraform,
            format!(
                "Terraform ({who}) manages this group: remove the open egress from its aws_security_group or \
                 aws_vpc_security_group_egress_rule, or the next terraform apply re-opens it."
            ),
        )
    } else if agent.starts_with("console.") && agent.ends_with(".amazonaws.com") {
        (
            CallerKind::Console,
            format!("Opened by hand in the AWS console by {who}: no code will re-open it; ask them why it was needed."),
        )
    } else if agent.starts_with("aws-cli/") {
        (
            CallerKind::AwsCli,
            format!(
                "Opened with the AWS CLI by {who}: look for scripts and runbooks that run \
                 aws ec2 authorize-security-group-egress."
            ),
        )
    } else if let Some(sdk) = SDKS.iter().find(|p| agent.starts_with(*p)) {
        let name = agent.split_whitespace().next().unwrap_or(sdk);
        (CallerKind::Sdk, format!("Opened by a program using {name} as {who}: find the code that calls the EC2 API."))
    } else {
        let agent = if agent.is_empty() { "none".to_owned() } else { format!("{agent:?}") };
        (CallerKind::Unknown, format!("Opened by {who} (user agent {agent}); the tool behind the call is not known."))
    };
    Caller { kind, line }
}

/// CDK's bootstrap creates the role CloudFormation deploys with: `cdk-<qualifier>-cfn-exec-role-<account>-<region>`.
fn is_cdk_role(arn: &str) -> bool {
    arn.split(['/', ':']).any(|part| part.starts_with("cdk-") && part.contains("-cfn-exec-role-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(arn: &str, invoked_by: Option<&str>, source_ip: &str, agent: &str) -> Actor {
        Actor {
            arn: Some(arn.into()),
            invoked_by: invoked_by.map(Into::into),
            source_ip: Some(source_ip.into()),
            user_agent: Some(agent.into()),
            ..Actor::default()
        }
    }

    fn group(stack: Option<&str>) -> SecurityGroup {
        let mut g = SecurityGroup { id: "sg-0123abcd".into(), ..Default::default() };
        if let Some(stack) = stack {
            g.tags.insert(STACK_NAME_TAG.into(), stack.into());
        }
        g
    }

    const CFN: &str = "cloudformation.amazonaws.com";

    #[test]
    fn cloudformation_names_the_stack_from_the_groups_tag() {
        let a = actor("arn:aws:sts::123456789012:assumed-role/deployer/alice", Some(CFN), CFN, CFN);
        let c = classify(&a, &group(Some("payments-prod")));
        assert_eq!(c.kind, CallerKind::Cloudformation);
        assert!(c.line.contains("stack payments-prod") && c.line.contains("SecurityGroupEgress"), "{}", c.line);
        assert!(classify(&a, &group(None)).line.contains("its stack"));
    }

    #[test]
    fn cdk_is_cloudformation_with_the_cdk_execution_role() {
        let arn = "arn:aws:sts::123456789012:assumed-role/cdk-hnb659fds-cfn-exec-role-123456789012-eu-west-1/AWSCloudFormation";
        let c = classify(&actor(arn, Some(CFN), CFN, CFN), &group(Some("WebStack")));
        assert_eq!(c.kind, CallerKind::Cdk);
        assert!(c.line.contains("allowAllOutbound: false") && c.line.contains("WebStack"), "{}", c.line);
    }

    #[test]
    fn user_agents_tell_terraform_pulumi_console_cli_and_sdks() {
        let arn = "arn:aws:iam::123456789012:user/alice";
        for (agent, kind) in [
            (
                "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.80.0 \
                 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.6 os/linux lang/go#1.23.3",
                CallerKind::Terraform,
            ),
            ("APN/1.0 Pulumi/1.0 PulumiAwsNative/1.12.0 aws-sdk-go-v2/1.32.6", CallerKind::Pulumi),
            ("console.ec2.amazonaws.com", CallerKind::Console),
            (
                "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0 md/command#ec2.authorize-security-group-egress",
                CallerKind::AwsCli,
            ),
            ("Boto3/1.35.76 md/Botocore#1.35.76 ua/2.0 os/linux#6.8.0 lang/python#3.12.7", CallerKind::Sdk),
            ("aws-sdk-go-v2/1.32.6 os/linux lang/go#1.23.3 api/ec2#1.196.0", CallerKind::Sdk),
        ] {
            let c = classify(&actor(arn, None, "203.0.113.7", agent), &group(None));
            assert_eq!(c.kind, kind, "{agent}");
            assert!(c.line.contains(arn), "the line names who: {}", c.line);
        }
    }

    #[test]
    fn an_unknown_caller_is_named_by_its_arn_never_guessed() {
        let arn = "arn:aws:sts::123456789012:assumed-role/ops/bob";
        let c = classify(&actor(arn, None, "198.51.100.9", "curl/8.5.0"), &group(Some("a-stack")));
        assert_eq!(c.kind, CallerKind::Unknown);
        assert!(c.line.contains(arn) && c.line.contains("curl/8.5.0"), "{}", c.line);
        assert!(!c.line.contains("a-stack"), "a stack tag alone does not make CloudFormation the caller");
    }
}
