//! The core's one error type: bad events and settings, and failures of the ports.

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the event is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the event is {size} bytes, over the {limit} bytes an EventBridge event can hold")]
    EventTooLarge { size: usize, limit: usize },
    #[error("the event's field `{path}` is wrong: {message}")]
    InvalidField { path: String, message: String },
    #[error("not an EventBridge \"AWS API Call via CloudTrail\" event (detail-type is {0:?})")]
    NotCloudTrail(Option<String>),
    #[error("the event is a call to {0}, not to ec2.amazonaws.com")]
    OtherService(String),
    /// `handled`: the calls egress-guard handles, from `EventName::ALL`.
    #[error("the event is {name}; egress-guard handles {handled}")]
    UnsupportedEvent { name: String, handled: String },
    #[error("the event has no `{0}`")]
    MissingField(&'static str),
    #[error("the {event_name} event names no security group or VPC (looked in {looked_in})")]
    MissingGroupId { event_name: &'static str, looked_in: &'static str },
    #[error("{0:?} is not a security group id: expected sg- and 8 or 17 lowercase hex digits")]
    InvalidGroupId(String),
    #[error("{0:?} is not a VPC id: expected vpc- and 8 or 17 lowercase hex digits")]
    InvalidVpcId(String),
    #[error("{0:?} is not a CIDR block")]
    InvalidCidr(String),
    #[error("{text:?} is not an egress rule: {why}")]
    InvalidRule { text: String, why: String },
    #[error("{0:?} is not an IP protocol")]
    InvalidProtocol(String),
    #[error("allowed port {entry:?}: {why}")]
    InvalidAllowedPort { entry: String, why: String },
    #[error("{variable}={value:?} is invalid: {why}")]
    InvalidSetting { variable: &'static str, value: String, why: String },
    /// A command-line value that is wrong, named with its flag (`--regions "eu-west-1!"`).
    #[error("{flag} {value:?}: {why}")]
    InvalidArgument { flag: &'static str, value: String, why: String },
    #[error("flow log format {format:?} cannot be read: {why}")]
    InvalidFlowLogFormat { format: String, why: String },
    #[error("the flow logs of {group_id} could not be read: {source}")]
    FlowLogs { group_id: String, source: BoxError },
    #[error("security group {group_id}: {source}")]
    SecurityGroups { group_id: String, source: BoxError },
    /// The revoke (if any) stands; the notice travels with the error so that it is not lost.
    #[error("the notice for {group_id} could not be published ({source}); the notice follows:\n{subject}\n\n{text}")]
    Notify { group_id: String, subject: String, text: String, source: BoxError },
    /// The kill switch could not be read: nothing was read or revoked, and the invocation fails so that the event is
    /// kept (the failure queue) and the alarm fires.
    #[error("the pause switch could not be read, so nothing was done: {source}")]
    PauseUnread { source: BoxError },
    /// The scheduled dispatch could not queue some (account, region) sweeps; those queued stand.
    #[error("the sweeps could not all be queued: {source}")]
    Dispatch { source: BoxError },
    /// The sweep's revokes stand; its summary travels with the error.
    #[error("the sweep summary could not be published ({source}); it follows:\n{text}")]
    NotifySummary { text: String, source: BoxError },
    /// The notices went to people; Security Hub or the event bus did not get them all. `notices` is their JSON (an
    /// event's, so that the failure queue holds it; a sweep's are in the log), from which nothing is lost.
    #[error("the notices of {group_ids} were published but not delivered to every outlet ({source}){notices}")]
    Outlets { group_ids: String, notices: String, source: BoxError },
}

impl Error {
    /// True when the input (the event, a setting) is at fault and retrying the same event cannot help.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::MalformedJson(_)
            | Error::EventTooLarge { .. }
            | Error::InvalidField { .. }
            | Error::NotCloudTrail(_)
            | Error::OtherService(_)
            | Error::UnsupportedEvent { .. }
            | Error::MissingField(_)
            | Error::MissingGroupId { .. }
            | Error::InvalidGroupId(_)
            | Error::InvalidVpcId(_)
            | Error::InvalidCidr(_)
            | Error::InvalidRule { .. }
            | Error::InvalidProtocol(_)
            | Error::InvalidAllowedPort { .. }
            | Error::InvalidSetting { .. }
            | Error::InvalidArgument { .. }
            | Error::InvalidFlowLogFormat { .. } => true,
            Error::PauseUnread { .. }
            | Error::SecurityGroups { .. }
            | Error::FlowLogs { .. }
            | Error::Notify { .. }
            | Error::NotifySummary { .. }
            | Error::Outlets { .. }
            | Error::Dispatch { .. } => false,
        }
    }
}
