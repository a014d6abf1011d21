//! The outlets port on AWS: each notice as Security Hub findings in its group's account and region, and as an event
//! on the function's bus. Either is off when not configured.

use egress_guard_core::notify::asff;
use egress_guard_core::{Notice, Outlets};

use crate::error::Error;
use crate::{EventBus, SecurityHubFindings};

/// Which outlets a function or a command uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Integrations {
    /// Import findings into Security Hub, in each group's account and region.
    pub security_hub: bool,
    /// Put an event per outcome on this bus (`default`); `None`: no events.
    pub event_bus: Option<String>,
}

impl Integrations {
    /// The hub that `config`'s account and region reach, when findings are asked for.
    pub fn hub(&self, config: &aws_config::SdkConfig) -> Option<SecurityHubFindings> {
        self.security_hub.then(|| SecurityHubFindings::from_config(config))
    }

    /// The bus in `config`'s region, when events are asked for.
    pub fn bus(&self, config: &aws_config::SdkConfig) -> Option<EventBus> {
        self.event_bus.as_ref().map(|bus| EventBus::from_config(config, bus.clone()))
    }
}

#[derive(Clone, Debug, Default)]
pub struct AwsOutlets {
    pub hub: Option<SecurityHubFindings>,
    pub bus: Option<EventBus>,
}

impl Outlets for AwsOutlets {
    type Error = Error;

    /// Both outlets are tried whatever the other does; the first failure is the answer, each one is logged.
    async fn deliver(&self, notices: &[Notice]) -> Result<(), Error> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let hub = async {
            match &self.hub {
                Some(hub) => {
                    let findings: Vec<asff::AsffFinding> =
                        notices.iter().flat_map(|n| asff::from_notice(n, &now)).collect();
                    hub.import(&findings).await
                }
                None => Ok(()),
            }
        };
        let bus = async {
            match &self.bus {
                Some(bus) => bus.put(notices).await,
                None => Ok(()),
            }
        };
        let (hub, bus) = futures_util::future::join(hub, bus).await;
        for err in [&hub, &bus].into_iter().filter_map(|r| r.as_ref().err()) {
            tracing::error!(error = %err, "notice not delivered to an outlet");
        }
        hub.and(bus)
    }
}
