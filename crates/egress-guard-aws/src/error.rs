//! The adapter's one error type. EC2 and SNS error codes survive, so that callers can tell "gone" from "failed".

use aws_sdk_ec2::error::ProvideErrorMetadata;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("EC2 {operation} failed: {code}: {message}")]
    Ec2 { operation: &'static str, code: String, message: String },
    #[error("SNS Publish to {topic} failed: {code}: {message}")]
    Sns { topic: String, code: String, message: String },
}

impl Error {
    /// The AWS error code (`InvalidGroup.NotFound`, `RequestLimitExceeded`, …), or `transport` when none came back.
    pub fn code(&self) -> &str {
        match self {
            Error::Ec2 { code, .. } | Error::Sns { code, .. } => code,
        }
    }
}

/// The code and message of an SDK error; `transport` (with the full error chain) when the service sent none.
pub(crate) fn code_and_message<E, R>(err: &aws_sdk_ec2::error::SdkError<E, R>) -> (String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err.code() {
        Some(code) => (code.to_owned(), err.message().unwrap_or_default().to_owned()),
        None => ("transport".to_owned(), aws_sdk_ec2::error::DisplayErrorContext(err).to_string()),
    }
}
