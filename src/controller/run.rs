//! `sitehapair run`: the HTTP port, leader election, and the Controller that
//! runs only while this replica leads; graceful shutdown on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::{
    Controller, Predicate, WatchStreamExt, controller, predicates, reflector, watcher,
};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use super::Context;
use super::leader::{LeaseConfig, elect, hold_lost};
use super::reconcile::{error_policy, reconcile};
use super::secrets::SecretStore;
use super::server::{ServerState, bind, router};
use crate::api::SiteHAPair;
use crate::plan::shard::Shard;
use crate::source::cache::SourceCache;
use crate::telemetry::Metrics;

/// Everything `run` needs besides the client.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Watch one namespace, or all when None.
    pub namespace: Option<String>,
    /// Where health, readiness and metrics are served.
    pub listen: SocketAddr,
    /// Lease settings; None runs without leader election (one replica only).
    pub lease: Option<LeaseConfig>,
    pub identity: String,
    /// Where git checkouts are cached.
    pub cache_dir: std::path::PathBuf,
    /// Longest one git check or fetch may take.
    pub git_timeout: std::time::Duration,
    /// The webhook receiver, when a secret is configured.
    pub webhook: Option<super::webhook::WebhookConfig>,
    /// Read `file://` repositories (demo and tests only).
    pub allow_file_sources: bool,
    /// Reconcile only pairs matching this label selector.
    pub pair_selector: Option<String>,
    /// At most this many pairs are reconciled at once.
    pub max_concurrent_reconciles: u16,
    /// Split the pairs into this many shards, each with its own Lease
    /// (`<lease name>-shard-<i>`); 1: one Lease, as without shards.
    pub shards: u32,
    /// Where the endpoint for external load balancers is served (`GET
    /// /traffic/<namespace>/<pair>/<site>`); None: not served.
    pub traffic_listen: Option<SocketAddr>,
    /// How long the endpoint keeps answering from its last view while its
    /// watch fails, before it answers 503 for every site.
    pub traffic_stale_after: std::time::Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the API server did not answer: {0}")]
    ApiServer(#[source] kube::Error),
    #[error("leader election on Lease {namespace}/{name}: {message}")]
    Lease {
        namespace: String,
        name: String,
        message: String,
    },
}

/// Run the operator until SIGTERM or SIGINT.
pub async fn run(client: Client, cfg: RunConfig) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let source = Arc::new(SourceCache::new(cfg.cache_dir.clone(), cfg.git_timeout));
    // Secrets are watched (metadata only) on every replica: the webhook
    // needs its Secret whether or not this replica leads.
    let secrets = SecretStore::watched(
        client.clone(),
        cfg.namespace.as_deref(),
        cfg.webhook
            .as_ref()
            .map(|w| (w.secret_namespace.as_str(), w.secret_name.as_str())),
        metrics.secret_reads.clone(),
    );
    let contexts = shard_contexts(&client, &cfg, &metrics, &source, &secrets);
    let state = ServerState {
        metrics: metrics.clone(),
        ready: ready.clone(),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = serve(&client, &cfg, state, &secrets, &contexts, stop_rx.clone()).await?;
    let traffic = serve_traffic(&client, &cfg, stop_rx.clone()).await?;
    tokio::spawn(forward_signals(stop_tx));

    client
        .apiserver_version()
        .await
        .map_err(RunError::ApiServer)?;
    ready.store(true, Ordering::Release);

    let result = match &cfg.lease {
        None => {
            let ctx = &contexts[0];
            set_leader(&ctx.leader, &metrics, true);
            info!("leader election disabled: reconciling");
            run_controller(
                client.clone(),
                cfg.namespace.clone(),
                cfg.pair_selector.clone(),
                cfg.max_concurrent_reconciles,
                ctx.clone(),
                stop_rx.clone(),
            )
            .await;
            set_leader(&ctx.leader, &metrics, false);
            Ok(())
        }
        Some(lease) => lead_shards(&client, &cfg, lease, &contexts, &stop_rx).await,
    };
    if result.is_ok() {
        let _ = server.await;
    } else {
        server.abort();
    }
    if let Some(t) = traffic {
        t.abort();
    }
    info!("stopped");
    result
}

/// One context per shard: its own leader flag and per-pair state; the
/// git cache, Secrets and metrics are shared.
fn shard_contexts(
    client: &Client,
    cfg: &RunConfig,
    metrics: &Arc<Metrics>,
    source: &Arc<SourceCache>,
    secrets: &Arc<SecretStore>,
) -> Vec<Arc<Context>> {
    let shards = cfg.shards.max(1);
    (0..shards)
        .map(|index| {
            Arc::new(
                Context::new(
                    client.clone(),
                    &cfg.identity,
                    metrics.clone(),
                    Arc::new(AtomicBool::new(false)),
                    source.clone(),
                    secrets.clone(),
                    cfg.allow_file_sources,
                )
                .with_shard(Shard {
                    index,
                    count: shards,
                }),
            )
        })
        .collect()
}

/// Bind the HTTP port and serve health, readiness, metrics and, when
/// configured, the webhook, until `stop` turns true.
async fn serve(
    client: &Client,
    cfg: &RunConfig,
    state: ServerState,
    secrets: &Arc<SecretStore>,
    contexts: &[Arc<Context>],
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, RunError> {
    let listener = bind(cfg.listen).await.map_err(|source| RunError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let local = listener.local_addr().map_err(|source| RunError::Bind {
        addr: cfg.listen,
        source,
    })?;
    info!(address = %local, "serving /healthz, /readyz and /metrics");
    let mut app = router(state);
    if let Some(hook) = &cfg.webhook {
        info!(secret = %format!("{}/{}", hook.secret_namespace, hook.secret_name), "serving POST /hooks/git");
        app = app.merge(super::webhook::routes(
            client.clone(),
            hook.clone(),
            secrets.clone(),
            contexts.to_vec(),
        ));
    }
    Ok(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            error!(error = %e, "HTTP server failed");
        }
    }))
}

/// The endpoint for external load balancers, when configured: a watch of
/// the pairs of its own on every replica, its own port.
async fn serve_traffic(
    client: &Client,
    cfg: &RunConfig,
    stop: watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>, RunError> {
    let Some(addr) = cfg.traffic_listen else {
        return Ok(None);
    };
    let listener = bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, source })?;
    let view = super::traffic_endpoint::watch_pairs(
        client.clone(),
        cfg.namespace.as_deref(),
        cfg.pair_selector.as_deref(),
        cfg.traffic_stale_after,
    );
    Ok(Some(super::traffic_endpoint::serve(listener, view, stop)))
}

/// Compete for every shard's Lease; a replica may lead any of them.
/// Losing one stops the process (one term per process), so its shards
/// move to the other replicas while theirs stay put. Replicas started
/// together spread out: each competes for the shard its identity hashes
/// to at once, and for each further one half a Lease duration later than
/// the one before.
async fn lead_shards(
    client: &Client,
    cfg: &RunConfig,
    lease: &LeaseConfig,
    contexts: &[Arc<Context>],
    stop: &watch::Receiver<bool>,
) -> Result<(), RunError> {
    let shards = cfg.shards.max(1);
    let first = Shard::of("", &cfg.identity, shards).index;
    let all = contexts.iter().map(|ctx| {
        let lease = shard_lease(lease, ctx.shard);
        let mut stop = stop.clone();
        let (client, cfg) = (client.clone(), cfg.clone());
        let later = (ctx.shard.index + shards - first) % shards;
        let delay = std::time::Duration::from_millis(u64::from(later) * lease.duration_s * 500);
        async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|s| *s) => return Ok(()),
            }
            lead_while_elected(&client, &cfg, &lease, ctx, stop).await
        }
    });
    futures::future::try_join_all(all).await.map(|_| ())
}

/// The Lease of one shard: the configured one when pairs are not split.
fn shard_lease(lease: &LeaseConfig, shard: Shard) -> LeaseConfig {
    if shard.count <= 1 {
        return lease.clone();
    }
    LeaseConfig {
        name: format!("{}-shard-{}", lease.name, shard.index),
        ..lease.clone()
    }
}

/// Compete for the Lease; run the Controller while holding it, stop it at
/// once when the Lease is lost, release the Lease on shutdown.
async fn lead_while_elected(
    client: &Client,
    cfg: &RunConfig,
    lease: &LeaseConfig,
    ctx: &Arc<Context>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let lease_err = |message: String| RunError::Lease {
        namespace: lease.namespace.clone(),
        name: lease.name.clone(),
        message,
    };
    let (mut holder, lease_task) = elect(client.clone(), lease)
        .await
        .map_err(|e| lease_err(e.to_string()))?;
    info!(lease = %format!("{}/{}", lease.namespace, lease.name), identity = %lease.identity, "competing for the leader Lease");
    let mut lost = false;
    // Wait until we hold the Lease, or shutdown. One term per process: a
    // replica that stops leading exits and competes afresh when restarted.
    let acquired = tokio::select! {
        r = holder.wait_for(|h| *h) => r.is_ok(),
        _ = stop.wait_for(|s| *s) => false,
    };
    if acquired {
        // Just acquired means just renewed: writes may start until the
        // renew deadline, which the guard moves on at every renewal.
        ctx.leader_until.set(Some(
            std::time::Instant::now() + std::time::Duration::from_secs(lease.renew_deadline_s),
        ));
        ctx.new_term();
        set_leader(&ctx.leader, &ctx.metrics, true);
        info!(identity = %lease.identity, "acquired the leader Lease: reconciling");
        let mut ctrl = tokio::spawn(run_controller(
            client.clone(),
            cfg.namespace.clone(),
            cfg.pair_selector.clone(),
            cfg.max_concurrent_reconciles,
            ctx.clone(),
            stop.clone(),
        ));
        tokio::select! {
            _ = holder.wait_for(|h| !*h) => {
                // Lost the Lease: stop writing at once and exit.
                set_leader(&ctx.leader, &ctx.metrics, false);
                ctrl.abort();
                error!(identity = %lease.identity, "lost the leader Lease: stopped reconciling");
                lost = true;
            }
            _ = hold_lost(client.clone(), lease.clone(), ctx.leader_until.clone()) => {
                // The hold could not be shown valid (renewals failing past
                // the renew deadline, or another holder): stop and exit.
                set_leader(&ctx.leader, &ctx.metrics, false);
                ctrl.abort();
                error!(identity = %lease.identity, "leader Lease hold not valid any more: stopped reconciling");
                lost = true;
            }
            _ = &mut ctrl => {
                // The controller ends only on shutdown.
                set_leader(&ctx.leader, &ctx.metrics, false);
            }
        }
    }
    set_leader(&ctx.leader, &ctx.metrics, false);
    drop(holder);
    match lease_task.await {
        Ok(Ok(_)) => info!("released the leader Lease"),
        Ok(Err(e)) => warn!(error = %e, "releasing the leader Lease"),
        Err(e) => warn!(error = %e, "lease task ended abnormally"),
    }
    if lost {
        return Err(lease_err(
            "this replica's hold on the Lease expired without renewal".to_string(),
        ));
    }
    Ok(())
}

/// Set one shard's leader flag; the `leader` gauge counts the shards this
/// replica leads (0 or 1 without shards).
fn set_leader(flag: &AtomicBool, metrics: &Metrics, leads: bool) {
    if flag.swap(leads, Ordering::AcqRel) != leads {
        if leads {
            metrics.leader.inc();
        } else {
            metrics.leader.dec();
        }
    }
}

/// The kube-runtime Controller for SiteHAPair; ends when `stop` turns true,
/// letting reconciles in flight finish.
async fn run_controller(
    client: Client,
    namespace: Option<String>,
    selector: Option<String>,
    concurrency: u16,
    ctx: Arc<Context>,
    stop: watch::Receiver<bool>,
) {
    let apis = WatchedApis::new(client, namespace.as_deref());
    let mut grace_stop = stop.clone();
    let prune_stop = stop.clone();
    let shutdown = async move {
        let mut stop = stop;
        let _ = stop.wait_for(|s| *s).await;
    };
    let (svc_stream, slice_stream) = traffic_watches(apis.services, apis.slices, &ctx);
    let hook_jobs = watcher::Config::default().labels(super::hook_job::LABEL_HOOK);
    let (reader, writer) = reflector::store();
    let pairs = pair_stream(apis.pairs, selector.as_deref(), &ctx, writer);
    let _ = ctx.pairs.set(reader.clone());
    tokio::spawn(prune_forgotten(ctx.clone(), reader.clone(), prune_stop));
    let config = controller::Config::default().concurrency(concurrency);
    let controller = Controller::for_stream(pairs, reader)
        .with_config(config)
        .owns_stream(svc_stream)
        .owns_stream(slice_stream)
        // A hook's Job that finishes is news: its metadata (with backoff,
        // should the RBAC lack jobs) wakes the pair at once.
        .owns_stream(
            watcher(apis.jobs, hook_jobs)
                .default_backoff()
                .touched_objects(),
        )
        .reconcile_on(ctx.push.stream())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => debug!(object = %obj.name, "reconciled"),
                Err(e) => debug!(error = %e, "controller stream error"),
            }
        });
    // kube-runtime holds its runner until the first list completes; a
    // shutdown that arrives before then would wait forever. Give reconciles
    // in flight SHUTDOWN_GRACE to finish, then drop the rest.
    let grace = async move {
        let _ = grace_stop.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        _ = controller => {}
        _ = grace => warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "controller did not stop within the grace period; stopped it"),
    }
}

/// What the Controller watches, in one namespace or in all.
struct WatchedApis {
    pairs: Api<SiteHAPair>,
    services: Api<PartialObjectMeta<Service>>,
    slices: Api<PartialObjectMeta<EndpointSlice>>,
    jobs: Api<PartialObjectMeta<Job>>,
}

impl WatchedApis {
    fn new(client: Client, namespace: Option<&str>) -> Self {
        match namespace {
            Some(ns) => Self {
                pairs: Api::namespaced(client.clone(), ns),
                services: Api::namespaced(client.clone(), ns),
                slices: Api::namespaced(client.clone(), ns),
                jobs: Api::namespaced(client, ns),
            },
            None => Self {
                pairs: Api::all(client.clone()),
                services: Api::all(client.clone()),
                slices: Api::all(client.clone()),
                jobs: Api::all(client),
            },
        }
    }
}

/// The traffic objects are watched too (metadata only): an edit or a
/// deletion by hand triggers the pair and is put back, and the stores
/// (handed to `ctx.traffic`) tell an idle pair's traffic apart from one
/// that needs writing.
fn traffic_watches(
    services: Api<PartialObjectMeta<Service>>,
    slices: Api<PartialObjectMeta<EndpointSlice>>,
    ctx: &Context,
) -> (
    impl Stream<Item = Result<PartialObjectMeta<Service>, watcher::Error>> + Send + 'static,
    impl Stream<Item = Result<PartialObjectMeta<EndpointSlice>, watcher::Error>> + Send + 'static,
) {
    let owned = watcher::Config::default().labels(crate::traffic::objects::LABEL_PAIR);
    let (svc_reader, svc_writer) = reflector::store();
    let svc_stream = watcher(services, owned.clone())
        .default_backoff()
        .modify(|m| m.metadata.managed_fields = None)
        .reflect(svc_writer)
        .touched_objects();
    let (slice_reader, slice_writer) = reflector::store();
    let slice_stream = watcher(slices, owned)
        .default_backoff()
        .modify(|m| m.metadata.managed_fields = None)
        .reflect(slice_writer)
        .touched_objects();
    let _ = ctx.traffic.stores.set(super::traffic_memo::TrafficStores {
        services: svc_reader,
        slices: slice_reader,
    });
    (svc_stream, slice_stream)
}

/// The pairs in scope (`selector`), reflected into `writer` and noted by
/// `ctx` (the claim index, the pairs' memory); the Controller gets this
/// shard's, on spec (generation), annotation and finalizer changes, not on
/// the operator's own status writes: timers requeue the rest.
fn pair_stream(
    api: Api<SiteHAPair>,
    selector: Option<&str>,
    ctx: &Arc<Context>,
    writer: reflector::store::Writer<SiteHAPair>,
) -> impl Stream<Item = Result<SiteHAPair, watcher::Error>> + Send + 'static {
    let mut pair_config = watcher::Config::default().any_semantic();
    if let Some(sel) = selector {
        pair_config = pair_config.labels(sel);
    }
    // The store holds every pair in scope (a site claimed by a pair of
    // another shard is still seen); the Controller gets this shard's.
    let shard = ctx.shard;
    let claims_ctx = ctx.clone();
    watcher(api, pair_config)
        .default_backoff()
        .modify(super::pair_memory::keep_active_site_managers)
        .reflect(writer)
        .inspect_ok(move |event| claims_ctx.note_pair_event(event))
        .applied_objects()
        .try_filter(move |p| {
            let ns = p.metadata.namespace.as_deref().unwrap_or_default();
            let name = p.metadata.name.as_deref().unwrap_or_default();
            futures::future::ready(shard.holds(ns, name))
        })
        .predicate_filter(
            predicates::generation
                .combine(predicates::annotations)
                .combine(predicates::finalizers),
            Default::default(),
        )
}

/// Every PRUNE_EVERY, forget the state of pairs that are gone (however
/// they went: deleted while another replica led, or moved out of scope)
/// and drop cached Secrets, site clients and source entries no pair used.
async fn prune_forgotten(
    ctx: Arc<Context>,
    pairs: reflector::Store<SiteHAPair>,
    mut stop: watch::Receiver<bool>,
) {
    if pairs.wait_until_ready().await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let exists = |key: &super::PairKey| {
            pairs
                .get(&reflector::ObjectRef::new(&key.name).within(&key.namespace))
                .is_some()
        };
        ctx.prune(exists, std::time::Instant::now());
        debug!(
            objects = ctx.tracked_objects(),
            secrets = ctx.secrets.held(),
            site_clients = ctx.site_clients.len(),
            sources = ctx.source.len(),
            "pruned per-object state and caches"
        );
    }
}

const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// How long reconciles in flight may take to finish after SIGTERM.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Turn the first SIGTERM or SIGINT into `stop = true`.
async fn forward_signals(stop: watch::Sender<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => info!("SIGTERM: shutting down"),
                    _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the operator");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop.send(true);
}
