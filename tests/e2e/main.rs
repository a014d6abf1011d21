//! egress-guard end to end, one test binary: moto server behind `scripts/limits_proxy.py` for the AWS services, the
//! Lambda Runtime Interface Emulator for the release `bootstrap`, and the SAM templates read as CloudFormation
//! does. A new subject is a new module here; helpers live in `tests/harness/mod.rs`, the template renderer in
//! `cfn.rs`.

/// CloudFormation templates read and rendered for given parameters, as CloudFormation would.
mod cfn;
/// A schedule's one digest, and missed events told apart from the first sweep's baseline.
mod digest;
/// The function under its role as the template writes it, on moto with IAM enforcement.
mod iam;
/// Every Allow statement of the templates and the deployer's policy judged by AWS's Service Authorization Reference.
mod iam_reference;
/// The Lambda handler on real (moto) groups: every sample event, races, faults, limits.
mod lambda;
/// Organization mode: a member's groups through its remediation role, two accounts and two regions.
mod organization;
/// Where notices also go: Security Hub findings read back, the message per protocol, events routed by rules.
mod outlets;
/// The kill switch: paused, resumed, other regions, unreadable.
mod pause;
/// The release bootstrap under the Runtime Interface Emulator.
mod rie;
/// The templates against the code, and their event patterns on moto's EventBridge.
mod template;
/// Blind regions: a sweep's region whose trail stopped logging, or whose rule is off, named BLIND.
mod watch;
