//! The webhook receiver, the I/O half: `POST /hooks/git` checks the
//! signature against the Secret named by flag, then hands the push to a
//! debouncing task. After a quiet moment that task wakes every pair whose
//! source matches the pushed repository and ref. In the leader this happens
//! in memory (the push trigger: no API write per pair, one fetch for all
//! through the shared cache). A replica that does not lead asks the leader
//! through the API instead, by setting the annotation
//! `sitehapair.io/reconcile-requested-at` on each matching pair.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::Context;
use super::secrets::{SecretStore, text_of};
use crate::api::{ANNOTATION_RECONCILE_REQUESTED_AT, FIELD_MANAGER, SiteHAPair};
use crate::plan::shard::Shard;
use crate::source::webhook::{MAX_BODY_BYTES, Push, normalize_repo_url, parse_push, verify};
use kube::runtime::reflector::ObjectRef;

/// Where the webhook secret lives and which pairs a push may refresh.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub secret_namespace: String,
    pub secret_name: String,
    pub secret_key: String,
    /// Refresh pairs in this namespace only (None: all).
    pub watch_namespace: Option<String>,
}

#[derive(Clone)]
pub struct WebhookState {
    secrets: Arc<SecretStore>,
    cfg: Arc<WebhookConfig>,
    pushes: mpsc::Sender<Push>,
}

/// Quiet time after the last push before pairs are refreshed.
const QUIET: Duration = Duration::from_millis(500);
/// A burst never delays the refresh longer than this.
const MAX_DELAY: Duration = Duration::from_secs(2);

/// The `/hooks/git` route and its debouncing task.
/// The Secret comes from `secrets` (a watch), so requests, signed or not,
/// cost the API server nothing.
pub fn routes(
    client: Client,
    cfg: WebhookConfig,
    secrets: Arc<SecretStore>,
    shards: Vec<Arc<Context>>,
) -> Router {
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(refresher(client, cfg.watch_namespace.clone(), rx, shards));
    let state = WebhookState {
        secrets,
        cfg: Arc::new(cfg),
        pushes: tx,
    };
    Router::new()
        .route("/hooks/git", post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn receive(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let cfg = &state.cfg;
    let secret = match state
        .secrets
        .get(&cfg.secret_namespace, &cfg.secret_name)
        .await
        .and_then(|d| text_of(&d, &cfg.secret_namespace, &cfg.secret_name, &cfg.secret_key))
    {
        Ok(Some(s)) => s,
        Ok(None) => {
            warn!(secret = %cfg.secret_name, key = %cfg.secret_key, "webhook Secret has no such key");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "webhook secret not configured\n".into(),
            );
        }
        Err(e) => {
            warn!(error = %e, "reading the webhook Secret");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "webhook secret not readable\n".into(),
            );
        }
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if !verify(
        secret.trim().as_bytes(),
        &body,
        header("x-hub-signature-256"),
        header("x-gitlab-token"),
    ) {
        warn!("webhook refused: bad or missing signature");
        return (StatusCode::UNAUTHORIZED, "bad signature\n".into());
    }
    let Some(push) = parse_push(&body) else {
        return (
            StatusCode::ACCEPTED,
            "not a push with a repository; ignored\n".into(),
        );
    };
    if state.pushes.try_send(push).is_err() {
        warn!("webhook queue full; the interval refresh will catch up");
    }
    (StatusCode::ACCEPTED, "refresh scheduled\n".into())
}

/// Collect pushes until a quiet moment, then refresh the matching pairs once.
async fn refresher(
    client: Client,
    namespace: Option<String>,
    mut rx: mpsc::Receiver<Push>,
    shards: Vec<Arc<Context>>,
) {
    while let Some(first) = rx.recv().await {
        let mut burst = vec![first];
        let started = tokio::time::Instant::now();
        loop {
            let wait = QUIET.min(MAX_DELAY.saturating_sub(started.elapsed()));
            match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(p)) => burst.push(p),
                Ok(None) => return,
                Err(_) => break,
            }
            if started.elapsed() >= MAX_DELAY {
                break;
            }
        }
        // Shards this replica leads are woken in memory; the others'
        // leaders are asked through the API.
        let elsewhere: Vec<Shard> = shards
            .iter()
            .filter(|ctx| !wake_in_memory(ctx, &burst))
            .map(|ctx| ctx.shard)
            .collect();
        if elsewhere.is_empty() {
            continue;
        }
        if let Err(e) = refresh_matching(&client, namespace.as_deref(), &burst, &elsewhere).await {
            warn!(error = %e, "webhook refresh failed; the interval refresh will catch up");
        }
    }
}

/// In the leader: record the pushes and wake the matching pairs from the
/// pair store. False when this replica does not lead (or has no store yet).
fn wake_in_memory(ctx: &Context, pushes: &[Push]) -> bool {
    if !ctx.is_leader() {
        return false;
    }
    let Some(store) = ctx.pairs.get() else {
        return false;
    };
    let pairs: Vec<ObjectRef<SiteHAPair>> = store
        .state()
        .iter()
        .filter(|p| pair_matches(p, pushes) && in_shard(&ctx.shard, p))
        .map(|p| ObjectRef::from_obj(p.as_ref()))
        .collect();
    let repositories: Vec<String> = pushes
        .iter()
        .flat_map(|p| p.repositories.iter().cloned())
        .collect();
    let woken = pairs.len();
    if !ctx
        .push
        .fire(&repositories, pairs, std::time::SystemTime::now())
    {
        return false;
    }
    info!(
        pushes = pushes.len(),
        pairs = woken,
        "webhook: pairs woken in memory"
    );
    true
}

fn in_shard(shard: &Shard, pair: &SiteHAPair) -> bool {
    shard.holds(&pair.namespace().unwrap_or_default(), &pair.name_any())
}

/// Does this pair follow what one of the pushes moved?
fn pair_matches(pair: &SiteHAPair, pushes: &[Push]) -> bool {
    let Some(src) = &pair.spec.source else {
        return false;
    };
    let url = normalize_repo_url(&src.git.url);
    let r = &src.git.reference;
    pushes.iter().any(|p| {
        p.repositories.contains(&url)
            && match (&r.branch, &r.tag, &r.commit) {
                (_, _, Some(_)) => false,
                (_, Some(t), _) => p.tag.as_ref() == Some(t),
                (Some(b), _, _) => p.branch.as_ref() == Some(b),
                _ => p.branch.as_deref() == Some("main"),
            }
    })
}

async fn refresh_matching(
    client: &Client,
    namespace: Option<&str>,
    pushes: &[Push],
    shards: &[Shard],
) -> Result<(), kube::Error> {
    let api: Api<SiteHAPair> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let now = jiff::Timestamp::now().to_string();
    let mut refreshed = 0usize;
    for pair in api.list(&ListParams::default()).await? {
        if !pair_matches(&pair, pushes) || !shards.iter().any(|s| in_shard(s, &pair)) {
            continue;
        }
        let ns = pair.namespace().unwrap_or_default();
        let patch = json!({"metadata": {"annotations": {ANNOTATION_RECONCILE_REQUESTED_AT: now}}});
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        let one: Api<SiteHAPair> = Api::namespaced(client.clone(), &ns);
        match one
            .patch(&pair.name_any(), &pp, &Patch::Merge(&patch))
            .await
        {
            Ok(_) => refreshed += 1,
            Err(e) => {
                warn!(pair = %format!("{ns}/{}", pair.name_any()), error = %e, "could not request a refresh")
            }
        }
    }
    info!(
        pushes = pushes.len(),
        pairs = refreshed,
        "webhook: refresh requested"
    );
    Ok(())
}
