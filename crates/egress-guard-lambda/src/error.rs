//! The Lambda crate's one error type (configuration), and how the core's failures reach Lambda: the error type
//! chosen on purpose, and the AWS error code for the logs.

use lambda_runtime::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{variable} is not set: it must name the SNS topic that receives notices")]
    MissingSetting { variable: &'static str },
    #[error(
        "{variable}={value:?} is invalid: expected an SNS topic ARN, arn:<partition>:sns:<region>:<account>:<name>"
    )]
    InvalidTopicArn { variable: &'static str, value: String },
    #[error("{variable}={value:?} is invalid: expected a DynamoDB table name (3 to 255 of letters, digits, _ - .)")]
    InvalidTableName { variable: &'static str, value: String },
    #[error("{variable} holds {value:?}, which is not a region name (e.g. eu-west-1)")]
    InvalidRegion { variable: &'static str, value: String },
    #[error(
        "{variable}={value:?} is invalid: expected an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)"
    )]
    InvalidQueueUrl { variable: &'static str, value: String },
    #[error("{variable}={value:?} is invalid: expected true or false")]
    InvalidFlag { variable: &'static str, value: String },
    #[error("{variable}={value:?} is invalid: expected an event bus name (default) or ARN")]
    InvalidBusName { variable: &'static str, value: String },
    #[error(transparent)]
    Core(#[from] egress_guard_core::Error),
}

/// The AWS error code behind a failure (`RequestLimitExceeded`, `AuthorizationError`, …), for the logs.
pub fn error_code(err: &egress_guard_core::Error) -> Option<&str> {
    use egress_guard_core::Error as E;
    match err {
        E::SecurityGroups { source, .. }
        | E::Notify { source, .. }
        | E::NotifySummary { source, .. }
        | E::Outlets { source, .. } => {
            source.downcast_ref::<egress_guard_aws::Error>().map(egress_guard_aws::Error::code)
        }
        _ => None,
    }
}

/// The Lambda error type, chosen on purpose: a bad event, an AWS failure worth retrying, or an undelivered notice
/// (whose message carries the whole notice, so that the on-failure destination holds it).
pub fn diagnostic(err: egress_guard_core::Error) -> Diagnostic {
    use egress_guard_core::Error as E;
    let error_type = match &err {
        E::Notify { .. } | E::NotifySummary { .. } => "EgressGuard.NoticeUndelivered",
        E::Outlets { .. } => "EgressGuard.OutletUndelivered",
        E::SecurityGroups { .. } => "EgressGuard.Ec2Failed",
        e if e.is_bad_input() => "EgressGuard.BadEvent",
        _ => "EgressGuard.Failed",
    };
    Diagnostic { error_type: error_type.to_owned(), error_message: err.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_event_is_typed_as_such() {
        let d = diagnostic(egress_guard_core::Error::MissingField("detail"));
        assert_eq!(d.error_type, "EgressGuard.BadEvent");
    }
}
