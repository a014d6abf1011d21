//! The metrics: one CloudWatch Embedded Metric Format line per invocation, success or failure.

use serde_json::Value;

use egress_guard_core::Outcome;

use egress_guard_core::{Invocation, InvocationReport};

/// One CloudWatch Embedded Metric Format line for an invocation: CloudWatch makes the metrics (namespace
/// `EgressGuard`, dimension `Trigger` = `event` or `sweep`) from the log line, with no PutMetricData call.
pub fn metrics_line(invocation: &Invocation, duration_ms: f64, now_ms: u64) -> String {
    let result = &invocation.result;
    let mut counts = std::collections::BTreeMap::<String, f64>::new();
    let (mut revoked, mut repeats, mut split, mut missed) = (0usize, 0usize, 0usize, 0usize);
    let mut exposures: Vec<f64> = Vec::new();
    let (mut outlet_failures, mut blind) = (0usize, 0usize);
    let mut sweeps: Vec<&egress_guard_core::SweepReport> = Vec::new();
    match result {
        Ok(InvocationReport::Event(r)) => {
            for report in &r.results {
                *counts.entry(report.outcome.as_str().to_owned()).or_default() += 1.0;
                let repeat = report.notice.as_ref().and_then(|n| n.repeat.as_ref()).and_then(|p| p.times());
                repeats += usize::from(repeat.is_some_and(|n| n >= 2));
                split += report.split_ranges.len();
                exposures.extend(report.notice.as_ref().and_then(|n| n.exposure_seconds).map(|s| s as f64));
                if report.outcome.revoked() {
                    revoked += report.revoked.len();
                }
            }
        }
        Ok(InvocationReport::Sweep(s)) => sweeps.push(s),
        Ok(InvocationReport::Sweeps(all)) => sweeps.extend(all),
        Ok(InvocationReport::Dispatch(_)) | Err(_) => {}
    }
    let without_role = match result {
        Ok(InvocationReport::Dispatch(d)) => d.without_role.len(),
        _ => 0,
    };
    for s in sweeps {
        for (outcome, n) in &s.counts {
            *counts.entry(outcome.as_str().to_owned()).or_default() += *n as f64;
        }
        revoked += s.lines.iter().filter(|l| l.outcome != Outcome::DryRun).map(|l| l.revoked.len()).sum::<usize>();
        missed += s.lines.iter().filter(|l| l.missed()).count();
        outlet_failures += usize::from(s.outlets_failed.is_some());
        blind += usize::from(s.is_blind());
    }
    let notice_failed =
        matches!(result, Err(egress_guard_core::Error::Notify { .. } | egress_guard_core::Error::NotifySummary { .. }));
    let mut metrics = Vec::new();
    let mut values = serde_json::Map::new();
    for outcome in Outcome::ALL {
        let name = metric_name(outcome.as_str());
        values.insert(name.clone(), counts.get(outcome.as_str()).copied().unwrap_or(0.0).into());
        metrics.push(serde_json::json!({"Name": name, "Unit": "Count"}));
    }
    for (name, value, unit) in [
        ("Failed", f64::from(u8::from(result.is_err())), "Count"),
        ("RulesRevoked", revoked as f64, "Count"),
        ("NoticeFailures", f64::from(u8::from(notice_failed)), "Count"),
        ("Repeats", repeats as f64, "Count"),
        ("SplitRanges", split as f64, "Count"),
        ("MembersWithoutRole", without_role as f64, "Count"),
        // Groups a sweep revoked that changed since egress-guard last looked with no event telling: missed events.
        ("MissedEvents", missed as f64, "Count"),
        // Sweeps whose notices Security Hub or the bus did not take (events fail instead: Failed, the failure queue).
        ("OutletFailures", outlet_failures as f64, "Count"),
        // Sweeps of a region whose changes are not seen: no trail logging them, or the rule that takes them off.
        ("BlindRegions", blind as f64, "Count"),
        ("Duration", duration_ms, "Milliseconds"),
    ] {
        values.insert(name.to_owned(), value.into());
        metrics.push(serde_json::json!({"Name": name, "Unit": unit}));
    }
    // How long each revoked group's egress was open, from its change to the revoke: one value each, so that
    // CloudWatch gives its percentiles (p50, p99). Only when there is one.
    if !exposures.is_empty() {
        values.insert("ExposureSeconds".into(), exposures.into());
        metrics.push(serde_json::json!({"Name": "ExposureSeconds", "Unit": "Seconds"}));
    }
    values.insert("Trigger".into(), invocation.trigger.as_str().into());
    values.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{"Namespace": "EgressGuard", "Dimensions": [["Trigger"]], "Metrics": metrics}],
        }),
    );
    Value::Object(values).to_string()
}

/// `dry_run` -> `DryRun`.
fn metric_name(outcome: &str) -> String {
    outcome.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}
