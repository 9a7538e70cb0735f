//! Secrets, read cheaply: a metadata-only watch says which Secrets exist and
//! at which resourceVersion; the data of a Secret the operator uses is read
//! once (GET) and kept until its resourceVersion moves, it is deleted, or it
//! goes unused. Without the watch (RBAC without list/watch, or before the
//! first list) every read is a GET. `TripSecrets` reads each Secret at most
//! once per reconcile either way.
//!
//! Only Secrets some pair or the webhook names are ever held in memory; the
//! watch keeps names and resourceVersions, not data.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use prometheus_client::metrics::counter::Counter;
use tracing::{debug, warn};

/// The keys of one Secret and their bytes.
pub type SecretData = BTreeMap<String, Vec<u8>>;

/// Why a Secret could not be read. Messages name the Secret, never its data.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("Secret {namespace}/{name} does not exist")]
    Missing { namespace: String, name: String },
    #[error("reading Secret {namespace}/{name}: {message}")]
    Read {
        namespace: String,
        name: String,
        message: String,
    },
    #[error("Secret {namespace}/{name} has no key {key}")]
    NoKey {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("Secret {namespace}/{name} key {key} is not UTF-8 text")]
    NotText {
        namespace: String,
        name: String,
        key: String,
    },
}

/// Data of a Secret not used for this long is dropped.
const UNUSED_FOR: Duration = Duration::from_secs(600);

struct Held {
    resource_version: String,
    data: Arc<SecretData>,
    used: Instant,
}

/// One watched scope: all namespaces (None) or one.
struct Scope {
    namespace: Option<String>,
    /// Only this Secret of the namespace (the webhook's, outside the
    /// operator's namespaces).
    name: Option<String>,
    store: Store<PartialObjectMeta<Secret>>,
    ready: Arc<AtomicBool>,
}

/// Secret reads shared by every reconcile and the webhook.
pub struct SecretStore {
    client: Client,
    scopes: Vec<Scope>,
    held: Mutex<HashMap<(String, String), Held>>,
    /// GETs made (the `secret_reads` metric).
    reads: Counter,
}

impl SecretStore {
    /// A store with no watch: every read is a GET.
    pub fn unwatched(client: Client) -> Self {
        Self {
            client,
            scopes: Vec::new(),
            held: Mutex::new(HashMap::new()),
            reads: Counter::default(),
        }
    }

    /// A store that watches Secret metadata in `namespace` (None: all), and
    /// the one Secret `extra` (namespace, name) when it lies outside that.
    /// The watches run until the process ends; a watch that cannot run
    /// (forbidden, say) leaves reads to GETs.
    pub fn watched(
        client: Client,
        namespace: Option<&str>,
        extra: Option<(&str, &str)>,
        reads: Counter,
    ) -> Arc<Self> {
        let mut scopes = vec![spawn_scope(&client, namespace, None)];
        if let Some((ns, name)) = extra
            && namespace.is_some_and(|w| w != ns)
        {
            scopes.push(spawn_scope(&client, Some(ns), Some(name)));
        }
        Arc::new(Self {
            client,
            scopes,
            held: Mutex::new(HashMap::new()),
            reads,
        })
    }

    /// The resourceVersion the watch knows for this Secret: Some(None) when
    /// the watch is ready and does not know it, None without a ready watch.
    fn watched_version(&self, namespace: &str, name: &str) -> Option<Option<String>> {
        let scope = self.scopes.iter().find(|s| {
            s.ready.load(Ordering::Acquire)
                && s.namespace.as_deref().is_none_or(|n| n == namespace)
                && s.name.as_deref().is_none_or(|n| n == name)
        })?;
        let key = ObjectRef::new(name).within(namespace);
        Some(scope.store.get(&key).and_then(|m| m.resource_version()))
    }

    /// The data of Secret `namespace/name`.
    pub async fn get(&self, namespace: &str, name: &str) -> Result<Arc<SecretData>, SecretError> {
        let key = (namespace.to_string(), name.to_string());
        if let Some(Some(rv)) = self.watched_version(namespace, name) {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(h) = held.get_mut(&key).filter(|h| h.resource_version == rv) {
                h.used = Instant::now();
                return Ok(h.data.clone());
            }
        }
        let secret = self.read(namespace, name).await?;
        let data: SecretData = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        let data = Arc::new(data);
        if let Some(rv) = secret.metadata.resource_version {
            self.held.lock().unwrap_or_else(|p| p.into_inner()).insert(
                key,
                Held {
                    resource_version: rv,
                    data: data.clone(),
                    used: Instant::now(),
                },
            );
        }
        Ok(data)
    }

    async fn read(&self, namespace: &str, name: &str) -> Result<Secret, SecretError> {
        self.reads.inc();
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name)
            .await
            .map_err(|e| SecretError::Read {
                namespace: namespace.to_string(),
                name: name.to_string(),
                message: match &e {
                    kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
                    other => other.to_string(),
                },
            })?
            .ok_or_else(|| SecretError::Missing {
                namespace: namespace.to_string(),
                name: name.to_string(),
            })
    }

    /// Drop what is held of a Secret whose value was refused (a site or a
    /// repository said no): the next read is a GET, in case the watch is
    /// behind.
    pub fn invalidate(&self, namespace: &str, name: &str) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Drop data not used for a while, or of Secrets the watch says are gone.
    pub fn prune(&self, now: Instant) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.retain(|(ns, name), h| {
            let gone = matches!(self.watched_version(ns, name), Some(None));
            !gone && now.saturating_duration_since(h.used) < UNUSED_FOR
        });
    }

    /// How many Secrets' data is held.
    pub fn held(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

fn spawn_scope(client: &Client, namespace: Option<&str>, name: Option<&str>) -> Scope {
    let api: Api<PartialObjectMeta<Secret>> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut config = watcher::Config::default();
    if let Some(n) = name {
        config = config.fields(&format!("metadata.name={n}"));
    }
    let (store, writer) = reflector::store();
    let ready = Arc::new(AtomicBool::new(false));
    let stream = watcher(api, config)
        .default_backoff()
        // Keep names and versions only.
        .modify(|m| {
            m.metadata.managed_fields = None;
            m.metadata.annotations = None;
            m.metadata.labels = None;
        })
        .reflect(writer);
    let scope = namespace.unwrap_or("all namespaces").to_string();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut warned = false;
        while let Some(ev) = stream.next().await {
            if let Err(e) = ev
                && !warned
            {
                warn!(scope = %scope, error = %e, "cannot watch Secrets; reading them with GET on every use");
                warned = true;
            }
        }
        debug!(scope = %scope, "Secret watch ended");
    });
    let flag = ready.clone();
    let ready_store = store.clone();
    tokio::spawn(async move {
        if ready_store.wait_until_ready().await.is_ok() {
            flag.store(true, Ordering::Release);
        }
    });
    Scope {
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        store,
        ready,
    }
}

/// One reconcile's view of Secrets: each read at most once.
pub struct TripSecrets<'a> {
    store: &'a SecretStore,
    namespace: String,
    seen: tokio::sync::Mutex<HashMap<String, Result<Arc<SecretData>, SecretError>>>,
}

impl<'a> TripSecrets<'a> {
    pub fn new(store: &'a SecretStore, namespace: &str) -> Self {
        Self {
            store,
            namespace: namespace.to_string(),
            seen: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn store(&self) -> &SecretStore {
        self.store
    }

    /// The data of Secret `name` in the trip's namespace.
    pub async fn data(&self, name: &str) -> Result<Arc<SecretData>, SecretError> {
        let mut seen = self.seen.lock().await;
        if let Some(r) = seen.get(name) {
            return r.clone();
        }
        let r = self.store.get(&self.namespace, name).await;
        seen.insert(name.to_string(), r.clone());
        r
    }

    /// One key as text; None when the Secret lacks it.
    pub async fn text(&self, name: &str, key: &str) -> Result<Option<String>, SecretError> {
        let data = self.data(name).await?;
        text_of(&data, &self.namespace, name, key)
    }

    /// One key as text, which must be there.
    pub async fn required(&self, name: &str, key: &str) -> Result<String, SecretError> {
        self.text(name, key)
            .await?
            .ok_or_else(|| SecretError::NoKey {
                namespace: self.namespace.clone(),
                name: name.to_string(),
                key: key.to_string(),
            })
    }
}

/// One key of a Secret's data as text.
pub fn text_of(
    data: &SecretData,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Option<String>, SecretError> {
    match data.get(key) {
        None => Ok(None),
        Some(b) => String::from_utf8(b.clone())
            .map(Some)
            .map_err(|_| SecretError::NotText {
                namespace: namespace.to_string(),
                name: name.to_string(),
                key: key.to_string(),
            }),
    }
}
