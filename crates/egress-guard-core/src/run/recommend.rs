//! Observe: a group's evidence read through the `FlowLogs` port (its interfaces, the flow logs that capture them,
//! the VPC, every log's records) and fed to the tally, which proposes.

use futures_util::StreamExt;

use crate::Error;
use crate::model::SecurityGroup;
use crate::ports::{FlowLogs, SecurityGroups};
use crate::recommend::evidence::Network;
use crate::recommend::proposal::Proposal;
use crate::recommend::tally::{Request, Tally, resources};
use crate::settings::Settings;

/// Flow logs read at once.
const LOGS_AT_ONCE: usize = 2;

/// Reads the group and proposes its egress: `recommend_for` on the group as EC2 holds it now.
pub async fn recommend<G: SecurityGroups, F: FlowLogs>(
    group_id: &str,
    request: &Request<'_>,
    settings: &Settings,
    groups: &G,
    logs: &F,
) -> Result<Proposal, Error> {
    crate::model::validate_group_id(group_id)?;
    let read_error =
        |source: G::Error| Error::SecurityGroups { group_id: group_id.to_owned(), source: Box::new(source) };
    let group = groups.describe(group_id).await.map_err(read_error)?.ok_or_else(|| Error::SecurityGroups {
        group_id: group_id.to_owned(),
        source: "the group does not exist".into(),
    })?;
    recommend_for(&group, request, settings, logs).await
}

/// Proposes egress for `group` as read: its interfaces, their flow logs and records over the window, tallied and
/// fitted.
pub async fn recommend_for<F: FlowLogs>(
    group: &SecurityGroup,
    request: &Request<'_>,
    settings: &Settings,
    logs: &F,
) -> Result<Proposal, Error> {
    let port_error = |source: F::Error| Error::FlowLogs { group_id: group.id.clone(), source: Box::new(source) };
    let interfaces = logs.interfaces(&group.id).await.map_err(port_error)?;
    let resources = resources(&interfaces);
    // The flow logs and the VPC at once, then every log's records at once: a notice's budget is a few seconds.
    let flow_logs = async { if resources.is_empty() { Ok(vec![]) } else { logs.flow_logs(&resources).await } };
    let network = async {
        match &group.vpc_id {
            Some(vpc) => logs.network(vpc).await,
            None => Ok(Network::default()),
        }
    };
    let (flow_logs, network) = futures_util::future::join(flow_logs, network).await;
    let (flow_logs, network) = (flow_logs.map_err(port_error)?, network.map_err(port_error)?);

    let (mut tally, reads) = Tally::new(group, &interfaces, &flow_logs, &network, *request);
    let window = request.window();
    // Two logs read at once, each taken in as it comes, in order: at most two logs' records held at a time.
    let records = reads
        .iter()
        .map(|read| async move { (read, logs.records(read.log, &read.covered, window, request.max_records).await) });
    let mut records = futures_util::stream::iter(records).buffered(LOGS_AT_ONCE);
    while let Some((read, result)) = records.next().await {
        tally.take(read, result.map_err(port_error)?);
    }
    Ok(tally.propose(&network, settings))
}
