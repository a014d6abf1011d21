//! The Lambda's entry point: JSON logs, configuration and SDK clients once at init, then the event loop.
#![recursion_limit = "256"] // the handler's nested futures (event, sweep, fan-out) are deep

use egress_guard_aws::Clients;
use egress_guard_core::Home;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use egress_guard_lambda::{Config, Fanout, diagnostic, invoke, metrics_line};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use tracing_subscriber::EnvFilter;

/// A sweep takes on another group only with this much time left: the worst case of one group and of the report. The
/// revoke: `MAX_ATTEMPTS` attempts of `ATTEMPT_TIMEOUT` with 1.4 s of backoff, each waiting behind at most
/// 4 x 4 revokes of the groups under way for a token at 5 a second (24.6 s); the re-read, a settle and a second look
/// (30.25 s); the history (15 s); the report in up to three parts (45 s). 115 s, rounded up.
const SWEEP_MARGIN: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_else(|_| "info".into()).to_lowercase();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)))
        .with_target(false)
        .with_current_span(false)
        .flatten_event(true)
        .init();

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(error = %err, "invalid configuration");
            eprintln!("egress-guard: invalid configuration: {err}");
            std::process::exit(2);
        }
    };
    let clients = Clients::from_env().await;
    let fleet = clients.fleet(config.integrations.clone());
    let notifier = clients.notifier(&config.topic_arn);
    let history = config.history_table.as_deref().map(|table| clients.history(table));
    let queue = config.sweep_queue_url.as_deref().map(|url| clients.sweep_queue(url));
    let accounts = clients.organization_accounts();
    let settings = &config.settings;
    let (fleet, notifier, history) = (&fleet, &notifier, &history);
    let fanout = queue.as_ref().map(|queue| Fanout { queue, accounts: &accounts, regions: &config.regions });

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let started = Instant::now();
        let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        let has_time = || SystemTime::now() + SWEEP_MARGIN < deadline;
        let home = Home::from_function_arn(&event.context.invoked_function_arn);
        let ports = (fleet, notifier, history);
        let invocation = invoke(event.payload, settings, home.as_ref(), ports, fanout, has_time).await;
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        println!("{}", metrics_line(&invocation, started.elapsed().as_secs_f64() * 1000.0, now_ms));
        invocation.result.map_err(diagnostic)
    }))
    .await
}
