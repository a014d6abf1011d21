//! The adapter's one error type. The services' error codes survive, so that callers can tell "gone" from "failed".

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("EC2 {operation} failed: {code}: {message}")]
    Ec2 { operation: &'static str, code: String, message: String },
    #[error("SNS Publish to {topic} failed: {code}: {message}")]
    Sns { topic: String, code: String, message: String },
    #[error("DynamoDB {operation} on {table} failed: {code}: {message}")]
    Dynamo { operation: &'static str, table: String, code: String, message: String },
    #[error("SQS SendMessageBatch to {queue} failed: {code}: {message}")]
    Sqs { queue: String, code: String, message: String },
    #[error("Organizations DescribeOrganization or ListAccounts failed: {code}: {message}")]
    Organizations { code: String, message: String },
    #[error("STS AssumeRole of {role_arn} failed: {code}: {message}")]
    Sts { role_arn: String, code: String, message: String },
    #[error("CloudWatch Logs {operation} failed: {code}: {message}")]
    Logs { operation: &'static str, code: String, message: String },
    #[error("S3 {operation} in {bucket} failed: {code}: {message}")]
    S3 { operation: &'static str, bucket: String, code: String, message: String },
    #[error("Security Hub {operation} in {account} {region} failed: {code}: {message}")]
    SecurityHub { operation: &'static str, account: String, region: String, code: String, message: String },
    #[error("CloudTrail {operation} in {region} failed: {code}: {message}")]
    CloudTrail { operation: &'static str, region: String, code: String, message: String },
    #[error("Lambda {operation} in {region} failed: {code}: {message}")]
    Lambda { operation: &'static str, region: String, code: String, message: String },
    #[error("EventBridge PutEvents on {bus} failed: {code}: {message}")]
    Events { bus: String, code: String, message: String },
    #[error("{service} {operation} failed: {code}: {message}")]
    Call { service: &'static str, operation: &'static str, code: String, message: String },
    #[error("{message}")]
    Budget { message: String },
}

impl Error {
    /// The AWS error code (`InvalidGroup.NotFound`, `RequestLimitExceeded`, …), or `transport` when none came back.
    pub fn code(&self) -> &str {
        match self {
            Error::Ec2 { code, .. }
            | Error::Sns { code, .. }
            | Error::Dynamo { code, .. }
            | Error::Sqs { code, .. }
            | Error::Organizations { code, .. }
            | Error::Sts { code, .. }
            | Error::Logs { code, .. }
            | Error::S3 { code, .. }
            | Error::SecurityHub { code, .. }
            | Error::Events { code, .. }
            | Error::CloudTrail { code, .. }
            | Error::Lambda { code, .. }
            | Error::Call { code, .. } => code,
            Error::Budget { .. } => "budget",
        }
    }
}

/// A DynamoDB call on `table` that failed, as the crate's error.
pub(crate) fn dynamo<E>(operation: &'static str, table: &str, err: &SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, message) = code_and_message(err);
    Error::Dynamo { operation, table: table.to_owned(), code, message }
}

/// A call of `service` that failed, as the crate's error.
pub(crate) fn call<E>(service: &'static str, operation: &'static str, err: &SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, message) = code_and_message(err);
    Error::Call { service, operation, code, message }
}

/// The code and message of an SDK error. Without a code from the service: `HTTP <status>`, `timeout` or `transport`.
pub(crate) fn code_and_message<E>(err: &SdkError<E, HttpResponse>) -> (String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let Some(code) = err.code() {
        return (code.to_owned(), err.message().unwrap_or_default().to_owned());
    }
    match err {
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            (format!("HTTP {status}"), "the service answered without an error code".to_owned())
        }
        SdkError::TimeoutError(_) => ("timeout".to_owned(), DisplayErrorContext(err).to_string()),
        _ => ("transport".to_owned(), DisplayErrorContext(err).to_string()),
    }
}
