//! The endpoint for external load balancers, on a port of its own
//! (`--traffic-listen`): `GET /traffic/<namespace>/<pair>/<site>` answers
//! 200 while the pair's traffic goes to that site (status.trafficSite), 503
//! otherwise, 404 for a pair or site this replica does not know. Every
//! replica answers from a watch of its own (leader or not), so a load
//! balancer's check does not depend on which replica leads. When the watch
//! fails, the last view stands for `stale_after`, then every site gets 503
//! until the watch lists again (see docs/concepts.md, "Load balancers").

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, runtime::reflector::ObjectRef};
use tracing::{info, warn};

use crate::api::SiteHAPair;
use crate::plan::traffic_check::{TrafficAnswer, answer};

/// This replica's view of the pairs and how far it can vouch for it.
pub struct TrafficView {
    store: reflector::Store<SiteHAPair>,
    health: Mutex<WatchHealth>,
    stale_after: Duration,
}

#[derive(Debug, Default)]
struct WatchHealth {
    /// The first list arrived.
    listed: bool,
    /// The watch has failed since this moment (None: it is fine).
    failing_since: Option<Instant>,
}

impl TrafficView {
    /// The view vouches for what it holds: the first list arrived, and
    /// the watch has not been failing for `stale_after` or longer.
    fn fresh(&self, now: Instant) -> bool {
        let h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        h.listed
            && h.failing_since
                .is_none_or(|since| now.saturating_duration_since(since) < self.stale_after)
    }

    /// The watch gave an event (`ok`; `listed`: the end of a list) or
    /// failed, at `now`.
    fn saw(&self, ok: bool, listed: bool, now: Instant) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        h.listed |= listed;
        if ok {
            h.failing_since = None;
        } else if h.failing_since.is_none() {
            h.failing_since = Some(now);
        }
    }

    /// The answer for one site, now.
    pub fn answer(&self, namespace: &str, pair: &str, site: &str) -> TrafficAnswer {
        let now = Instant::now();
        if !self.fresh(now) {
            return TrafficAnswer::Stale;
        }
        let found = self.store.get(&ObjectRef::new(pair).within(namespace));
        answer(found.as_deref(), site, true)
    }
}

/// Watch the pairs in scope (one namespace or all; a label selector) on
/// this replica, for the endpoint.
pub fn watch_pairs(
    client: Client,
    namespace: Option<&str>,
    selector: Option<&str>,
    stale_after: Duration,
) -> Arc<TrafficView> {
    let api: Api<SiteHAPair> = match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let mut config = watcher::Config::default().any_semantic();
    if let Some(sel) = selector {
        config = config.labels(sel);
    }
    let (store, writer) = reflector::store();
    let view = Arc::new(TrafficView {
        store,
        health: Mutex::new(WatchHealth::default()),
        stale_after,
    });
    let seen = view.clone();
    tokio::spawn(async move {
        watcher(api, config)
            .default_backoff()
            .modify(|p| p.metadata.managed_fields = None)
            .reflect(writer)
            .for_each(|event| {
                let listed = matches!(event, Ok(watcher::Event::InitDone));
                if let Err(e) = &event {
                    warn!(error = %e, "traffic endpoint: the pair watch failed; retrying");
                }
                seen.saw(event.is_ok(), listed, Instant::now());
                futures::future::ready(())
            })
            .await;
    });
    view
}

/// `GET /traffic/{namespace}/{pair}/{site}`.
pub fn routes(view: Arc<TrafficView>) -> Router {
    Router::new()
        .route("/traffic/{namespace}/{pair}/{site}", get(traffic))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(view)
}

async fn traffic(
    State(view): State<Arc<TrafficView>>,
    Path((namespace, pair, site)): Path<(String, String, String)>,
) -> (StatusCode, String) {
    let a = view.answer(&namespace, &pair, &site);
    let status = StatusCode::from_u16(a.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (status, a.body(&site))
}

/// Serve the endpoint on `listener` until `stop` turns true.
pub fn serve(
    listener: tokio::net::TcpListener,
    view: Arc<TrafficView>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    if let Ok(addr) = listener.local_addr() {
        info!(address = %addr, "serving GET /traffic/<namespace>/<pair>/<site> for load balancers");
    }
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, routes(view))
            .with_graceful_shutdown(shutdown)
            .await
        {
            warn!(error = %e, "traffic endpoint failed");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(stale_after: Duration) -> TrafficView {
        let (store, _writer) = reflector::store();
        TrafficView {
            store,
            health: Mutex::new(WatchHealth::default()),
            stale_after,
        }
    }

    /// No list yet: no answer is vouched for. Listed: fresh. A failing
    /// watch keeps the view for `stale_after`, then every site is stale,
    /// until the watch gives an event again.
    #[test]
    fn the_view_vouches_from_the_first_list_until_the_watch_has_failed_too_long() {
        let v = view(Duration::from_secs(30));
        let t0 = Instant::now();
        assert!(!v.fresh(t0), "fresh before any list");
        assert_eq!(v.answer("prod", "gis", "east"), TrafficAnswer::Stale);
        v.saw(true, true, t0);
        assert!(v.fresh(t0));
        assert_eq!(v.answer("prod", "gis", "east"), TrafficAnswer::Unknown);
        v.saw(false, false, t0);
        assert!(v.fresh(t0 + Duration::from_secs(29)));
        assert!(!v.fresh(t0 + Duration::from_secs(30)));
        // A second failure does not restart the clock.
        v.saw(false, false, t0 + Duration::from_secs(20));
        assert!(!v.fresh(t0 + Duration::from_secs(31)));
        v.saw(true, false, t0 + Duration::from_secs(40));
        assert!(v.fresh(t0 + Duration::from_secs(41)));
    }
}
