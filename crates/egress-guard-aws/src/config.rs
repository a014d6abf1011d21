//! How every AWS call is made: attempts, per-attempt and whole-call timeouts, the SDK's standard retry, and the
//! session name of an assumed role.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use std::time::Duration;

/// The session name of every role the function assumes, as it shows in the member account's CloudTrail
/// (`assumed-role/<role>/egress-guard`).
pub const SESSION_NAME: &str = "egress-guard";

/// Attempts per AWS call, first try included. Past them the call fails, and Lambda's own retries take over.
pub const MAX_ATTEMPTS: u32 = 4;

/// Each attempt of an AWS call gives up after this long; a hung connection is then retried like a 5xx.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// A whole AWS call, its retries and their backoff included, gives up after this long: no call can hold an
/// invocation past its time budget.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// `ATTEMPT_TIMEOUT` and `OPERATION_TIMEOUT`, for every client.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder().operation_attempt_timeout(ATTEMPT_TIMEOUT).operation_timeout(OPERATION_TIMEOUT).build()
}

/// The SDK's standard retry (exponential backoff with jitter; throttling, 5xx and transport errors retried), bounded
/// at `MAX_ATTEMPTS`. There is no retry loop of egress-guard's own.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}
