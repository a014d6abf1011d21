//! The outlets' adapters against mocked SDK clients: Security Hub's 100-finding batches and workflow update,
//! refused findings, and EventBridge's 10-entry batches, size limit and retry of failed entries.

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_eventbridge::Client as Events;
use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_sdk_securityhub::Client as Hub;
use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput;
use aws_sdk_securityhub::operation::batch_update_findings::BatchUpdateFindingsOutput;
use aws_sdk_securityhub::types::ImportFindingsError;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use common::notice;
use egress_guard_aws::{EventBus, SecurityHubFindings};
use egress_guard_core::notify::asff::{self, WorkflowStatus};
use egress_guard_core::{EgressRule, Notice, Outcome};

fn open() -> Vec<EgressRule> {
    vec!["all traffic to 0.0.0.0/0".parse::<EgressRule>().unwrap()]
}

/// 150 groups remediated and 100 in dry run: one finding each.
fn findings() -> Vec<asff::AsffFinding> {
    let mut all = Vec::new();
    for i in 0..250 {
        let outcome = if i < 150 { Outcome::Remediated } else { Outcome::DryRun };
        all.extend(asff::from_notice(&notice(&format!("sg-{i:017x}"), outcome, open()), "2026-11-26T10:00:00.000Z"));
    }
    all
}

#[tokio::test]
async fn findings_go_100_a_call_then_each_gets_its_status_set_100_a_call() {
    let imported = Arc::new(Mutex::new(Vec::new()));
    let updated = Arc::new(Mutex::new(Vec::new()));
    let (i, u) = (imported.clone(), updated.clone());
    let import = mock!(Hub::batch_import_findings)
        .match_requests(move |req| {
            i.lock().unwrap().push(req.findings().len());
            true
        })
        .sequence()
        .output(|| BatchImportFindingsOutput::builder().failed_count(0).success_count(1).build())
        .repeatedly()
        .build();
    let update = mock!(Hub::batch_update_findings)
        .match_requests(move |req| {
            let status = req.workflow().and_then(|w| w.status()).map(|s| s.as_str().to_owned());
            u.lock().unwrap().push((req.finding_identifiers().len(), status));
            true
        })
        .sequence()
        .output(|| BatchUpdateFindingsOutput::builder().build())
        .repeatedly()
        .build();
    let hub = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&import, &update]);
    let all = findings();
    assert_eq!(all.iter().filter(|f| f.workflow.status == WorkflowStatus::Resolved).count(), 150);
    SecurityHubFindings::new(hub).import(&all).await.unwrap();
    assert_eq!(*imported.lock().unwrap(), [100, 100, 50]);
    let (new, resolved) = (Some("NEW".to_owned()), Some("RESOLVED".to_owned()));
    assert_eq!(*updated.lock().unwrap(), [(100, new), (100, resolved.clone()), (50, resolved)]);
}

#[tokio::test]
async fn refused_findings_are_an_error_naming_each_and_nothing_is_updated() {
    let import = mock!(Hub::batch_import_findings).then_output(|| {
        let refused = ImportFindingsError::builder()
            .id("egress-guard/123456789012/eu-west-1/sg-1/0.0.0.0/0")
            .error_code("InvalidAccess")
            .error_message("Account is not subscribed to AWS Security Hub")
            .build();
        BatchImportFindingsOutput::builder().failed_count(1).success_count(0).failed_findings(refused).build()
    });
    let update = mock!(Hub::batch_update_findings).then_output(|| BatchUpdateFindingsOutput::builder().build());
    let hub = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&import, &update]);
    let one = asff::from_notice(&notice("sg-1", Outcome::Remediated, open()), "2026-11-26T10:00:00.000Z");
    let err = SecurityHubFindings::new(hub).import(&one).await.unwrap_err().to_string();
    assert!(err.contains("InvalidAccess") && err.contains("sg-1/0.0.0.0/0") && err.contains("eu-west-1"), "{err}");
    assert_eq!(update.num_calls(), 0);
}

#[tokio::test]
async fn a_finding_the_update_does_not_find_yet_is_one_just_created_and_no_error() {
    use aws_sdk_securityhub::types::{AwsSecurityFindingIdentifier, BatchUpdateFindingsUnprocessedFinding};
    let import = mock!(Hub::batch_import_findings)
        .then_output(|| BatchImportFindingsOutput::builder().failed_count(0).success_count(2).build());
    let unprocessed = |id: &str, code: &str| {
        BatchUpdateFindingsUnprocessedFinding::builder()
            .finding_identifier(AwsSecurityFindingIdentifier::builder().id(id).product_arn("p").build())
            .error_code(code)
            .error_message("m")
            .build()
    };
    let not_found = mock!(Hub::batch_update_findings).then_output(move || {
        BatchUpdateFindingsOutput::builder()
            .unprocessed_findings(unprocessed("sg-1/0.0.0.0/0", "FindingNotFound"))
            .build()
    });
    let hub = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&import, &not_found]);
    let one = asff::from_notice(&notice("sg-1", Outcome::Remediated, open()), "2026-11-26T10:00:00.000Z");
    SecurityHubFindings::new(hub).import(&one).await.unwrap();

    let concurrent = mock!(Hub::batch_update_findings).then_output(move || {
        BatchUpdateFindingsOutput::builder()
            .unprocessed_findings(unprocessed("sg-1/0.0.0.0/0", "ConcurrentUpdateError"))
            .build()
    });
    let import = mock!(Hub::batch_import_findings)
        .then_output(|| BatchImportFindingsOutput::builder().failed_count(0).success_count(1).build());
    let hub = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&import, &concurrent]);
    let err = SecurityHubFindings::new(hub).import(&one).await.unwrap_err().to_string();
    assert!(err.contains("ConcurrentUpdateError"), "{err}");
}

fn accepted(n: usize) -> PutEventsOutput {
    let entries = (0..n).map(|i| PutEventsResultEntry::builder().event_id(format!("ev-{i}")).build());
    PutEventsOutput::builder().failed_entry_count(0).set_entries(Some(entries.collect())).build()
}

#[tokio::test]
async fn events_go_ten_a_call_with_the_source_detail_type_and_group_arn() {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let s = sizes.clone();
    let put = mock!(Events::put_events)
        .match_requests(move |req| {
            let e = &req.entries()[0];
            assert_eq!(e.source(), Some("egress-guard"));
            assert_eq!(e.detail_type(), Some("Security Group Egress Remediated"));
            assert!(e.resources()[0].starts_with("arn:aws:ec2:eu-west-1:123456789012:security-group/sg-"));
            s.lock().unwrap().push(req.entries().len());
            true
        })
        .sequence()
        .output(|| accepted(10))
        .repeatedly()
        .build();
    let bus = EventBus::new(mock_client!(aws_sdk_eventbridge, [&put]), "default");
    let notices: Vec<Notice> = (0..25).map(|i| notice(&format!("sg-{i}"), Outcome::Remediated, open())).collect();
    bus.put(&notices).await.unwrap();
    assert_eq!(*sizes.lock().unwrap(), [10, 10, 5]);
}

#[tokio::test]
async fn a_detail_over_256_kb_drops_its_longest_parts_and_names_them() {
    let details = Arc::new(Mutex::new(Vec::new()));
    let d = details.clone();
    let put = mock!(Events::put_events)
        .match_requests(move |req| {
            d.lock().unwrap().extend(req.entries().iter().map(|e| e.detail().unwrap().to_owned()));
            true
        })
        .sequence()
        .output(|| accepted(1))
        .repeatedly()
        .build();
    let bus = EventBus::new(mock_client!(aws_sdk_eventbridge, [&put]), "default");
    let rules = |n: u32| -> Vec<EgressRule> {
        (1..=n).map(|p| format!("tcp {p} to 0.0.0.0/0").parse::<EgressRule>().unwrap()).collect()
    };
    // 2,000 rules: the before and after lists go; 6,000: every rule list and the undo command go.
    let (large, huge) =
        (notice("sg-1", Outcome::Remediated, rules(2000)), notice("sg-2", Outcome::Remediated, rules(6000)));
    for n in [&large, &huge] {
        assert!(serde_json::to_string(n).unwrap().len() > egress_guard_aws::MAX_ENTRY_BYTES);
    }
    bus.put(&[large, huge]).await.unwrap();
    let sent: Vec<serde_json::Value> =
        details.lock().unwrap().iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["truncated"], serde_json::json!(["before", "after", "observed_egress"]));
    assert_eq!(sent[0]["revoked"].as_array().unwrap().len(), 2000);
    assert!(sent[1]["truncated"].as_array().unwrap().contains(&serde_json::json!("revoked")));
    assert_eq!(
        (&sent[1]["outcome"], &sent[1]["group"]["id"]),
        (&serde_json::json!("remediated"), &serde_json::json!("sg-2"))
    );
    assert!(details.lock().unwrap().iter().all(|d| d.len() < egress_guard_aws::MAX_ENTRY_BYTES));
}

#[tokio::test]
async fn a_throttled_entry_is_sent_once_more_and_a_refused_one_is_an_error() {
    let throttled = mock!(Events::put_events).then_output(|| {
        let failed = PutEventsResultEntry::builder().error_code("ThrottlingException").error_message("slow").build();
        PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(PutEventsResultEntry::builder().event_id("ev-0").build())
            .entries(failed)
            .build()
    });
    let retried = mock!(Events::put_events).match_requests(|req| req.entries().len() == 1).then_output(|| accepted(1));
    let bus = EventBus::new(mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&throttled, &retried]), "default");
    let two = [notice("sg-1", Outcome::Remediated, open()), notice("sg-2", Outcome::DryRun, open())];
    bus.put(&two).await.unwrap();
    assert_eq!((throttled.num_calls(), retried.num_calls()), (1, 1), "only the failed entry is sent again");

    let refused = mock!(Events::put_events).then_output(|| {
        let failed = PutEventsResultEntry::builder().error_code("AccessDeniedException").error_message("no").build();
        PutEventsOutput::builder().failed_entry_count(1).entries(failed).build()
    });
    let bus = EventBus::new(mock_client!(aws_sdk_eventbridge, [&refused]), "default");
    let err = bus.put(&two[..1]).await.unwrap_err().to_string();
    assert!(err.contains("AccessDeniedException") && err.contains("security-group/sg-1"), "{err}");
    assert_eq!(refused.num_calls(), 1, "not retried");
}
