//! Findings into Security Hub: `BatchImportFindings` 100 at a time, then `BatchUpdateFindings` to set each one's
//! workflow status, which Security Hub ignores on an import of a finding it already holds.

use aws_sdk_securityhub::types::{
    AwsEc2SecurityGroupDetails, AwsSecurityFinding, AwsSecurityFindingIdentifier, Compliance, ComplianceStatus,
    Recommendation, RecordState, Remediation, Resource, ResourceDetails, Severity, SeverityLabel, Workflow,
    WorkflowUpdate,
};
use egress_guard_core::notify::asff::{AsffFinding, MAX_FINDINGS_PER_CALL, WorkflowStatus};

use crate::error::{Error, code_and_message};
use crate::lazy::OnFirstUse;

/// The hub of one account and region: findings of that account's groups in that region go there.
#[derive(Clone, Debug)]
pub struct SecurityHubFindings {
    client: OnFirstUse<aws_sdk_securityhub::Client>,
}

impl SecurityHubFindings {
    /// Its client made from `config` on the first call.
    pub(crate) fn from_config(config: &aws_config::SdkConfig) -> Self {
        SecurityHubFindings { client: OnFirstUse::new(config, aws_sdk_securityhub::Client::new) }
    }

    pub fn new(client: aws_sdk_securityhub::Client) -> Self {
        SecurityHubFindings { client: OnFirstUse::ready(client) }
    }

    /// Imports `findings`, then sets each one's workflow status (new, resolved, suppressed: a status set by hand lasts
    /// until egress-guard sees the group again). The error names each finding refused and why (`InvalidAccess`:
    /// Security Hub is not enabled there). A finding the update does not find yet was just created, with its status.
    pub async fn import(&self, findings: &[AsffFinding]) -> Result<(), Error> {
        let Some(first) = findings.first() else { return Ok(()) };
        let fail = |operation, code: String, message: String| Error::SecurityHub {
            operation,
            account: first.aws_account_id.clone(),
            region: first.resources.first().map(|r| r.region.clone()).unwrap_or_default(),
            code,
            message,
        };
        let mut refused = Vec::new();
        for batch in findings.chunks(MAX_FINDINGS_PER_CALL) {
            let request =
                self.client.get().batch_import_findings().set_findings(Some(batch.iter().map(to_sdk).collect()));
            match request.send().await {
                Ok(out) => refused
                    .extend(out.failed_findings().iter().map(|f| refusal(f.id(), f.error_code(), f.error_message()))),
                Err(err) => {
                    let (code, message) = code_and_message(&err);
                    return Err(fail("BatchImportFindings", code, message));
                }
            }
        }
        if !refused.is_empty() {
            return Err(fail("BatchImportFindings", "FailedFindings".into(), refused.join("; ")));
        }
        for status in [WorkflowStatus::New, WorkflowStatus::Resolved, WorkflowStatus::Suppressed] {
            let same: Vec<&AsffFinding> = findings.iter().filter(|f| f.workflow.status == status).collect();
            for batch in same.chunks(MAX_FINDINGS_PER_CALL) {
                let ids = batch
                    .iter()
                    .map(|f| AwsSecurityFindingIdentifier::builder().id(&f.id).product_arn(&f.product_arn).build())
                    .collect();
                let request = self
                    .client
                    .get()
                    .batch_update_findings()
                    .set_finding_identifiers(Some(ids))
                    .workflow(WorkflowUpdate::builder().status(status.as_str().into()).build());
                match request.send().await {
                    // Security Hub applies an import within moments, an update "can take several minutes": a finding
                    // not found yet is one just created, and creation honours the status it was imported with.
                    Ok(out) => refused.extend(
                        out.unprocessed_findings().iter().filter(|f| f.error_code() != Some("FindingNotFound")).map(
                            |f| refusal(f.finding_identifier().and_then(|i| i.id()), f.error_code(), f.error_message()),
                        ),
                    ),
                    Err(err) => {
                        let (code, message) = code_and_message(&err);
                        return Err(fail("BatchUpdateFindings", code, message));
                    }
                }
            }
        }
        if !refused.is_empty() {
            return Err(fail("BatchUpdateFindings", "UnprocessedFindings".into(), refused.join("; ")));
        }
        tracing::info!(findings = findings.len(), "findings imported");
        Ok(())
    }
}

/// One finding Security Hub refused: its id, code and message.
fn refusal(id: Option<&str>, code: Option<&str>, message: Option<&str>) -> String {
    format!("{}: {}: {}", id.unwrap_or("-"), code.unwrap_or("-"), message.unwrap_or_default())
}

/// The finding as the SDK sends it: the same fields as its ASFF JSON.
fn to_sdk(f: &AsffFinding) -> AwsSecurityFinding {
    let resources = f
        .resources
        .iter()
        .map(|r| {
            let g = &r.details.aws_ec2_security_group;
            let group = AwsEc2SecurityGroupDetails::builder()
                .group_name(&g.group_name)
                .group_id(&g.group_id)
                .owner_id(&g.owner_id)
                .set_vpc_id(g.vpc_id.clone())
                .build();
            Resource::builder()
                .r#type(&r.kind)
                .id(&r.id)
                .partition(aws_sdk_securityhub::types::Partition::from(r.partition.as_str()))
                .region(&r.region)
                .details(ResourceDetails::builder().aws_ec2_security_group(group).build())
                .build()
        })
        .collect();
    AwsSecurityFinding::builder()
        .schema_version(&f.schema_version)
        .id(&f.id)
        .product_arn(&f.product_arn)
        .generator_id(&f.generator_id)
        .aws_account_id(&f.aws_account_id)
        .set_types(Some(f.types.clone()))
        .created_at(&f.created_at)
        .updated_at(&f.updated_at)
        .first_observed_at(&f.first_observed_at)
        .last_observed_at(&f.last_observed_at)
        .severity(Severity::builder().label(SeverityLabel::from(f.severity.label.as_str())).build())
        .title(&f.title)
        .description(&f.description)
        .remediation(
            Remediation::builder()
                .recommendation(Recommendation::builder().text(&f.remediation.recommendation.text).build())
                .build(),
        )
        .set_product_fields(Some(f.product_fields.clone().into_iter().collect()))
        .set_resources(Some(resources))
        .compliance(Compliance::builder().status(ComplianceStatus::from(f.compliance.status.as_str())).build())
        .workflow(Workflow::builder().status(f.workflow.status.as_str().into()).build())
        .record_state(RecordState::from(f.record_state.as_str()))
        .build()
}
