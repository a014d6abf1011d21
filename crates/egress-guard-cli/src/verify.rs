//! `verify`: the deployment's canary. Per region, a temporary group opened (`tcp 9` to `0.0.0.0/0`) and watched until
//! the deployment revokes it and its notice arrives on the topic (through a temporary queue subscribed to it);
//! everything verify made is removed again, on success, timeout, error, Ctrl-C or SIGTERM. `--dry-run` says what it
//! would make and makes nothing.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use egress_guard_aws::{Canary, Clients};
use egress_guard_core::SecurityGroups;
use egress_guard_core::verify::{
    DEFAULT_TIMEOUT_SECS, GROUP_PREFIX, RegionReport, Told, VerifyReport, Watched, about_probe, description, probe,
};

use crate::output::Format;
use crate::regions;
use crate::settings::DryRunArgs;
use crate::verb::{Aws, Verb};

/// The deployment's canary, run after a deploy (or on a schedule): in each region, a temporary group in the
/// default VPC (tagged egress-guard:verify) opened to tcp 9 (0.0.0.0/0), watched until the deployment revokes it
/// and its notice arrives on the topic (through a temporary SQS queue subscribed to it); everything it made is
/// deleted again, also on timeout, error or Ctrl-C. Exit code: 0 every region revoked (or, in a dry-run
/// deployment, told), 1 one not revoked within the timeout, 2 an error.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `all` (the regions enabled for the account) or a comma-separated list; default: the configured region.
    #[arg(long)]
    regions: Option<String>,
    /// The stack's notice topic (its NoticeTopicArn output).
    #[arg(long, env = "EGRESS_GUARD_TOPIC_ARN")]
    topic_arn: String,
    /// The VPC the canary groups go in (default: each region's default VPC).
    #[arg(long)]
    vpc_id: Option<String>,
    /// Seconds to wait for each region's revoke and notice.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(5..=3600))]
    timeout: u64,
    /// How to print the report: one line per region, or JSON.
    #[arg(long, value_parser = Format::among(&[Format::Text, Format::Json]), default_value = "text")]
    format: Format,
    #[command(flatten)]
    dry_run: DryRunArgs,
}

/// `--regions` as given: none (the configured region), or `all` (`None`) or a list.
enum Regions {
    Configured,
    Listed(Option<BTreeSet<String>>),
}

/// What `verify` is asked, checked; its regions are resolved once the configuration is loaded.
pub struct Asked {
    regions: Regions,
    topic_arn: String,
    vpc_id: Option<String>,
    timeout: Duration,
    json: bool,
    dry_run: bool,
}

/// What `verify` is asked, its regions resolved.
struct Ask {
    regions: Vec<String>,
    topic_arn: String,
    vpc_id: Option<String>,
    timeout: Duration,
    json: bool,
    dry_run: bool,
}

impl Verb for Args {
    type Ask = Asked;

    fn validate(self) -> anyhow::Result<Asked> {
        let topic_arn = topic_arn(&self.topic_arn)?;
        let vpc_id = self.vpc_id.as_deref().map(vpc_id).transpose()?;
        let regions = match self.regions.as_deref() {
            None => Regions::Configured,
            Some(text) => Regions::Listed(regions::parse(text)?),
        };
        let timeout = Duration::from_secs(self.timeout);
        let (json, dry_run) = (self.format == Format::Json, self.dry_run.dry_run);
        Ok(Asked { regions, topic_arn, vpc_id, timeout, json, dry_run })
    }

    async fn run(asked: Asked, aws: &Aws) -> anyhow::Result<u8> {
        let Asked { regions, topic_arn, vpc_id, timeout, json, dry_run } = asked;
        let regions = match regions {
            Regions::Listed(listed) => regions::each(&aws.clients, listed).await?,
            Regions::Configured => aws
                .clients
                .region()
                .map(|r| vec![r])
                .ok_or_else(|| anyhow::anyhow!("no region: pass --regions, --region or set AWS_REGION"))?,
        };
        canaries(&aws.clients, Ask { regions, topic_arn, vpc_id, timeout, json, dry_run }).await
    }
}

/// `--topic-arn`: an SNS topic's ARN (`arn:<partition>:sns:<region>:<account>:<name>`), checked before any call.
fn topic_arn(text: &str) -> anyhow::Result<String> {
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "sns", region, account, name]
            if partition.starts_with("aws")
                && egress_guard_core::org::is_region(region)
                && egress_guard_core::model::is_account_id(account)
                && !name.is_empty() =>
        {
            Ok(text.to_owned())
        }
        _ => anyhow::bail!("--topic-arn {text:?} is not an SNS topic ARN (the stack's NoticeTopicArn output)"),
    }
}

/// `--vpc-id`, checked before any call.
fn vpc_id(text: &str) -> anyhow::Result<String> {
    let hex = text.strip_prefix("vpc-").unwrap_or_default();
    if !(8..=17).contains(&hex.len()) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        anyhow::bail!("--vpc-id {text:?} is not a VPC id (vpc- and 8 or 17 hexadecimal digits)");
    }
    Ok(text.to_owned())
}

/// The groups verify made, noted as soon as each answers, so that every exit removes them (and those tagged with the
/// run's id, made by a call whose answer an interruption cut off).
#[derive(Default)]
struct Made {
    groups: Mutex<Vec<(String, String)>>,
    listener: Mutex<Option<egress_guard_aws::Listener>>,
}

/// Runs the canary in every region asked and reports; exit 0 every region revoked (or told in a dry run), 1 one not
/// revoked in time, 2 an error or an interruption.
async fn canaries(clients: &Clients, ask: Ask) -> anyhow::Result<u8> {
    let run = run_id();
    if ask.dry_run {
        println!(
            "Dry run: would make a queue {GROUP_PREFIX}{run} subscribed to {}, and in {} a group {GROUP_PREFIX}{run} \
             opened to tcp 9 (0.0.0.0/0), wait up to {} s for its revoke and notice, then delete them.\nNothing was \
             made.",
            ask.topic_arn,
            ask.regions.join(", "),
            ask.timeout.as_secs()
        );
        return Ok(0);
    }
    let canary = Canary::new(&clients.config);
    let made = Made::default();
    let report = tokio::select! {
        report = canary_run(clients, &canary, &ask, &run, &made) => report,
        () = stopped() => {
            eprintln!("\negress-guard verify: interrupted; removing what it made");
            let regions = ask.regions.iter().map(|r| RegionReport::failed(r, None, "interrupted".into())).collect();
            VerifyReport::new(regions)
        }
    };
    let left = clean_up(&canary, &ask, &run, &made).await;
    if ask.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.text());
    }
    if !left.is_empty() {
        eprintln!("egress-guard verify: could not remove (delete them by hand): {}", left.join("; "));
        return Ok(2);
    }
    Ok(report.exit_code())
}

/// Ctrl-C or SIGTERM.
async fn stopped() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// A run's id: the groups' and the queue's names, and the groups' tag.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:x}", (nanos as u64) ^ (u64::from(std::process::id()) << 40))
}

async fn canary_run(clients: &Clients, canary: &Canary, ask: &Ask, run: &str, made: &Made) -> VerifyReport {
    let listener = match canary.listen(&ask.topic_arn, &format!("{GROUP_PREFIX}{run}")).await {
        Ok(listener) => {
            *made.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(listener.clone());
            listener
        }
        Err(err) => {
            let error = format!("the topic could not be listened to: {err}");
            return VerifyReport::new(
                ask.regions.iter().map(|r| RegionReport::failed(r, None, error.clone())).collect(),
            );
        }
    };
    let opened =
        futures_util::future::join_all(ask.regions.iter().map(|region| open(clients, canary, ask, run, region, made)))
            .await;
    let mut reports: Vec<Option<RegionReport>> = Vec::new();
    let mut watching = Vec::new();
    for (i, opened) in opened.into_iter().enumerate() {
        match opened {
            Ok(canary) => {
                watching.push((i, canary, Watched::default(), false));
                reports.push(None);
            }
            Err(report) => reports.push(Some(report)),
        }
    }
    let deadline = Instant::now() + ask.timeout;
    let progress = !ask.json && std::io::stderr().is_terminal();
    let started = Instant::now();
    while !watching.iter().all(|(_, _, w, _)| w.settled()) && Instant::now() < deadline {
        for (_, c, watched, seen_open) in watching.iter_mut().filter(|(_, _, w, _)| w.revoked_after.is_none()) {
            match clients.security_groups_in(&c.region).describe(&c.group_id).await {
                Ok(Some(group)) => {
                    let open = group.egress.iter().any(|r| r.same_traffic(&probe()));
                    *seen_open |= open;
                    // Read without the rule once it was seen there, or once its notice said it was revoked: EC2 may
                    // not show a rule right after its authorize.
                    if !open && (*seen_open || watched.notice == Some(Told::Revoked)) {
                        watched.revoked_after = Some(c.authorized.elapsed().as_secs_f64());
                    }
                }
                Ok(None) => {}
                Err(err) => warn(&format!("{}: {err}", c.region)),
            }
        }
        match canary.hear(&listener).await {
            Ok(heard) => {
                for h in &heard {
                    for (_, c, watched, _) in watching.iter_mut() {
                        if let Some(told) = about_probe(h, &c.group_id) {
                            watched.hear(told);
                        }
                    }
                }
            }
            Err(err) => warn(&format!("the queue: {err}")),
        }
        if progress {
            let states: Vec<String> = watching
                .iter()
                .map(|(_, c, w, _)| {
                    let state = if w.settled() { w.outcome().as_str() } else { "waiting" };
                    format!("{} {state}", c.region)
                })
                .collect();
            eprint!("\r{} s: {}   ", started.elapsed().as_secs(), states.join(", "));
            let _ = std::io::stderr().flush();
        }
    }
    if progress {
        eprintln!();
    }
    for (i, c, watched, _) in watching {
        reports[i] = Some(RegionReport::watched(&c.region, &c.group_id, &watched));
    }
    VerifyReport::new(reports.into_iter().flatten().collect())
}

fn warn(what: &str) {
    eprintln!("egress-guard verify: {what} (retrying)");
}

/// One region's canary, opened.
struct Opened {
    region: String,
    group_id: String,
    /// When the authorize answered.
    authorized: Instant,
}

/// Makes the region's group (noted in `made` at once), strips its default egress, and authorizes the probe.
async fn open(
    clients: &Clients,
    canary: &Canary,
    ask: &Ask,
    run: &str,
    region: &str,
    made: &Made,
) -> Result<Opened, RegionReport> {
    let failed = |group: Option<&str>, err: String| RegionReport::failed(region, group.map(str::to_owned), err);
    let vpc = match &ask.vpc_id {
        Some(vpc) => vpc.clone(),
        None => match canary.default_vpc(region).await {
            Ok(Some(vpc)) => vpc,
            Ok(None) => return Err(failed(None, format!("no default VPC in {region}: pass --vpc-id"))),
            Err(err) => return Err(failed(None, err.to_string())),
        },
    };
    let name = format!("{GROUP_PREFIX}{run}");
    let group_id = canary
        .create_group(region, &vpc, &name, &description(run), run)
        .await
        .map_err(|e| failed(None, e.to_string()))?;
    made.groups.lock().unwrap_or_else(|e| e.into_inner()).push((region.to_owned(), group_id.clone()));
    canary.strip_egress(region, &group_id).await.map_err(|e| failed(Some(&group_id), e.to_string()))?;
    let groups = clients.security_groups_in(region);
    groups.authorize(&group_id, &[probe()]).await.map_err(|e| failed(Some(&group_id), e.to_string()))?;
    Ok(Opened { region: region.to_owned(), group_id, authorized: Instant::now() })
}

/// Deletes every group verify made (noted, or tagged with the run's id) and its queue with its subscription (found by
/// name); answers what could not be removed.
async fn clean_up(canary: &Canary, ask: &Ask, run: &str, made: &Made) -> Vec<String> {
    let mut groups: BTreeSet<(String, String)> =
        std::mem::take(&mut *made.groups.lock().unwrap_or_else(|e| e.into_inner())).into_iter().collect();
    let mut left = Vec::new();
    for region in &ask.regions {
        match canary.tagged_groups(region, run).await {
            Ok(tagged) => groups.extend(tagged.into_iter().map(|g| (region.clone(), g))),
            Err(err) => left.push(format!("the groups tagged {run} in {region} could not be listed: {err}")),
        }
    }
    let deleted =
        futures_util::future::join_all(groups.iter().map(|(region, group)| canary.delete_group(region, group))).await;
    left.extend(
        groups
            .iter()
            .zip(deleted)
            .filter_map(|((region, group), answer)| answer.err().map(|e| format!("group {group} in {region}: {e}"))),
    );
    // The queue and subscription as noted, then anything of the run's name a cut-off call may have made.
    let noted = made.listener.lock().unwrap_or_else(|e| e.into_inner()).take();
    match noted {
        Some(listener) => left.extend(canary.unlisten(&listener).await),
        None => left.extend(canary.forget(&ask.topic_arn, &format!("{GROUP_PREFIX}{run}")).await),
    }
    left
}
