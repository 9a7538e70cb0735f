//! The command line: `run` (the operator), `crd` (print the CRD), the
//! pull-request checks `validate` and `diff`, `promote`, `status` and `ack`, and
//! adopting running sites: `export` and `check`.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

mod ack;
pub mod api_client;
mod check;
mod diff;
mod export;
mod export_plan;
pub mod pair_input;
mod promote;
mod record_lines;
mod rehearse;
mod validate;

use crate::controller::leader::LeaseConfig;
use crate::controller::{RunConfig, run};
use crate::telemetry::logging::{self, LogFormat};

#[derive(Parser, Debug)]
#[command(
    name = "sitehapair",
    version,
    about = "Operator for active/passive pairs of sibling sites"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the operator against the cluster of the current kubeconfig (or in-cluster config).
    Run(Box<RunArgs>),
    /// Print the SiteHAPair CustomResourceDefinition as YAML.
    Crd,
    /// Check the service files of a checkout: exit 0 when valid, 1 with
    /// file:line messages when not.
    Validate(validate::ValidateArgs),
    /// Compare a checkout with the live sites of a pair: a unified diff per
    /// site, secrets masked; exit 0 no change, 1 changes, 2 error.
    Diff(diff::DiffArgs),
    /// Promote a site: patch spec.activeSite; --wait follows the phases,
    /// --dry-run prints the preflight and the steps and changes nothing.
    Promote(promote::PromoteArgs),
    /// The sites of a pair (mode, health, epoch, synced revision, drift),
    /// the running promotion, the verification and hold, and the last
    /// promotions with their steps.
    Status(promote::StatusArgs),
    /// Acknowledge a pair's hold after a failed verification: automatic
    /// failover and revert run again; exit 1 when the pair is not held.
    Ack(ack::AckArgs),
    /// Write one live site's services into a folder, one file per service
    /// in the kind's canonical form, secret values masked; say what was
    /// left out. Refuses a non-empty folder unless --force.
    Export(Box<export::ExportArgs>),
    /// Before adopting running sites: contact every site of a pair and
    /// report whether it is ready (reachable, credentials, privileges,
    /// health, versions, token keys, modes, claims, service difference,
    /// the git folder); exit 0 ready, 1 problems, 2 could not run.
    Check(check::CheckArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "SITEHAPAIR_NAMESPACE")]
    pub namespace: Option<String>,
    /// Address of the health, readiness and metrics port.
    #[arg(long, env = "SITEHAPAIR_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Serve the endpoint for external load balancers on this address:
    /// GET /traffic/<namespace>/<pair>/<site> answers 200 while the pair's
    /// traffic goes to that site, 503 otherwise (off when not set).
    #[arg(long, env = "SITEHAPAIR_TRAFFIC_LISTEN")]
    pub traffic_listen: Option<SocketAddr>,
    /// Seconds the traffic endpoint keeps answering from its last view
    /// while its watch of the pairs fails; then every site gets 503.
    #[arg(long, env = "SITEHAPAIR_TRAFFIC_STALE_AFTER", default_value_t = 30)]
    pub traffic_stale_after: u64,
    /// Log format.
    #[arg(
        long,
        env = "SITEHAPAIR_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Turn off leader election (run exactly one replica then).
    #[arg(long)]
    pub no_leader_election: bool,
    /// Namespace of the leader Lease (default: --namespace, else POD_NAMESPACE, else default).
    #[arg(long, env = "SITEHAPAIR_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Name of the leader Lease.
    #[arg(
        long,
        env = "SITEHAPAIR_LEASE_NAME",
        default_value = "sitehapair-operator"
    )]
    pub lease_name: String,
    /// Seconds a leader's Lease stays valid without renewal.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(2..=300))]
    pub lease_duration: u64,
    /// Seconds before expiry at which the leader renews (less than --lease-duration).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=299))]
    pub lease_grace: u64,
    /// Seconds after its last renewal at which a leader that could not renew
    /// stops writing: after its renewal point (duration - grace) and before
    /// the Lease can be taken (duration). Default: two thirds of the duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=299))]
    pub lease_renew_deadline: Option<u64>,
    /// This replica's identity in the Lease and in Events (default: POD_NAME, else host-pid).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Folder for the shared git checkouts (default: a sitehapair folder
    /// under the system temporary directory).
    #[arg(long, env = "SITEHAPAIR_CACHE_DIR")]
    pub cache_dir: Option<std::path::PathBuf>,
    /// Longest one git check or fetch may take, in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub git_timeout: u64,
    /// Serve POST /hooks/git, checking signatures with this Secret (GitHub and
    /// Gitea HMAC X-Hub-Signature-256, or GitLab X-Gitlab-Token).
    #[arg(long, env = "SITEHAPAIR_WEBHOOK_SECRET")]
    pub webhook_secret: Option<String>,
    /// Key of the webhook secret in that Secret.
    #[arg(long, default_value = "token")]
    pub webhook_secret_key: String,
    /// Namespace of the webhook Secret (default: the Lease namespace).
    #[arg(long, env = "SITEHAPAIR_WEBHOOK_SECRET_NAMESPACE")]
    pub webhook_secret_namespace: Option<String>,
    /// Read `file://` repositories. Off by default and in the chart: a
    /// file:// source reads the operator's own disk, including other pairs'
    /// cached checkouts. For the demo and tests on one machine only.
    #[arg(long, env = "SITEHAPAIR_ALLOW_FILE_SOURCES")]
    pub allow_file_sources: bool,
    /// Reconcile only pairs whose labels match this selector (such as
    /// `shard=a` or `team in (gis,roads)`): several operators, each with its
    /// own selector and Lease, can share one cluster.
    #[arg(long)]
    pub pair_selector: Option<String>,
    /// At most this many pairs are reconciled at once; the rest wait their
    /// turn (each reconcile mostly waits on sites and git).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_concurrent_reconciles: u16,
    /// Split the pairs into this many shards (by a stable hash of
    /// namespace/name), each led through its own Lease
    /// `<lease name>-shard-<i>`: any replica may lead any shard, and a
    /// replica that goes away hands over only the shards it led. Every
    /// replica must be started with the same number.
    #[arg(long, env = "SITEHAPAIR_SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub shards: u32,
}

/// Run the parsed command line. Ok carries the exit code of a command that
/// finished (1 = "no" for validate); Err is a failure (exit 2).
pub async fn main(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    use std::process::ExitCode;
    match cli.command {
        Command::Crd => {
            print!("{}", crate::api::crd_yaml()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate(args) => validate::validate(&args),
        Command::Diff(args) => diff::run(args).await,
        Command::Promote(args) => promote::promote(args).await,
        Command::Status(args) => promote::status(args).await,
        Command::Ack(args) => ack::ack(args).await,
        Command::Export(args) => Ok(export::run(*args).await?),
        Command::Check(args) => Ok(check::run(args).await?),
        Command::Run(args) => run_operator(*args).await.map(|()| ExitCode::SUCCESS),
    }
}

async fn run_operator(args: RunArgs) -> anyhow::Result<()> {
    logging::init(args.log_format);
    crate::source::git::bound_server_time(std::time::Duration::from_secs(args.git_timeout))?;
    if args.lease_grace >= args.lease_duration {
        anyhow::bail!(
            "--lease-grace ({}) must be less than --lease-duration ({})",
            args.lease_grace,
            args.lease_duration
        );
    }
    let renew_deadline = args
        .lease_renew_deadline
        .unwrap_or(args.lease_duration * 2 / 3);
    let renews_at = args.lease_duration - args.lease_grace;
    if renew_deadline <= renews_at || renew_deadline >= args.lease_duration {
        anyhow::bail!(
            "--lease-renew-deadline ({renew_deadline}) must lie after the renewal point \
             (--lease-duration - --lease-grace = {renews_at}) and before --lease-duration ({}): \
             a leader must stop writing before its Lease can be taken; raise --lease-grace or set the deadline",
            args.lease_duration
        );
    }
    if args.shards > 1 && args.no_leader_election {
        anyhow::bail!(
            "--shards {} needs leader election: each shard is led through its own Lease; \
             drop --no-leader-election or run with --shards 1",
            args.shards
        );
    }
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    crate::sites::http::set_replica(&identity);
    let lease_namespace = args
        .lease_namespace
        .clone()
        .or_else(|| args.namespace.clone())
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| "default".to_string());
    let webhook =
        args.webhook_secret
            .clone()
            .map(|name| crate::controller::webhook::WebhookConfig {
                secret_namespace: args
                    .webhook_secret_namespace
                    .clone()
                    .unwrap_or_else(|| lease_namespace.clone()),
                secret_name: name,
                secret_key: args.webhook_secret_key.clone(),
                watch_namespace: args.namespace.clone(),
            });
    let lease = (!args.no_leader_election).then(|| LeaseConfig {
        namespace: lease_namespace.clone(),
        name: args.lease_name.clone(),
        identity: identity.clone(),
        duration_s: args.lease_duration,
        grace_s: args.lease_grace,
        renew_deadline_s: renew_deadline,
    });
    let client = operator_client(&identity).await?;
    run(
        client,
        RunConfig {
            namespace: args.namespace,
            listen: args.listen,
            lease,
            identity,
            cache_dir: args
                .cache_dir
                .unwrap_or_else(|| std::env::temp_dir().join("sitehapair-git")),
            git_timeout: std::time::Duration::from_secs(args.git_timeout),
            webhook,
            allow_file_sources: args.allow_file_sources,
            pair_selector: args.pair_selector,
            max_concurrent_reconciles: args.max_concurrent_reconciles,
            shards: args.shards,
            traffic_listen: args.traffic_listen,
            traffic_stale_after: std::time::Duration::from_secs(args.traffic_stale_after),
        },
    )
    .await?;
    Ok(())
}

/// The operator's API client: in-cluster or kubeconfig, with a User-Agent
/// naming the operator and this replica, so that the API server's audit log
/// and its request metrics tell the operator's calls from everyone else's.
async fn operator_client(identity: &str) -> anyhow::Result<kube::Client> {
    let mut config = kube::Config::infer().await?;
    let agent = format!("sitehapair/{} ({identity})", env!("CARGO_PKG_VERSION"));
    let value = axum::http::HeaderValue::from_str(&agent)
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("sitehapair"));
    config.headers.push((axum::http::header::USER_AGENT, value));
    Ok(api_client::client(config)?)
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "sitehapair".to_string());
    format!("{host}-{}", std::process::id())
}
