//! reference-site: a site server implementing the whole site admin contract
//! (docs/site-api.md). Tests and the demo run it as a separate process.
//!
//! It keeps mode, epoch and service definitions in a state file written
//! atomically (temporary file, fsync, rename), so a restart loses nothing;
//! answers `PUT /mode` with 409 for an older epoch (fencing); can be told to
//! answer unhealthy (`PUT /_control/health`, or `--unhealthy`); writes a
//! request log of JSON lines saying which calls it received and when; and
//! serves HTTPS instead of HTTP with `--tls-cert` and `--tls-key` (PEM).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// A reference site server implementing the sitehapair site admin contract.
#[derive(Parser, Debug)]
#[command(name = "reference-site")]
struct Args {
    /// Address to listen on; port 0 picks a free port. The first line on
    /// stdout is `listening on ADDR`.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// State file (mode, epoch, services); created when absent.
    #[arg(long)]
    state: PathBuf,
    /// Bearer token every call but GET /health must carry.
    #[arg(long, env = "REFERENCE_SITE_TOKEN", hide_env_values = true)]
    token: String,
    /// The site's name, reported by GET /info.
    #[arg(long)]
    name: String,
    /// Product version reported by GET /info.
    #[arg(long, default_value = "1.0")]
    version: String,
    /// Fingerprint of the shared token key reported by GET /info.
    #[arg(long)]
    token_key_fingerprint: Option<String>,
    /// Start answering GET /health with 503.
    #[arg(long)]
    unhealthy: bool,
    /// Answer GET /health with 503 while the site holds a service of this
    /// name (a change that breaks the site, for the tests).
    #[arg(long)]
    unhealthy_with_service: Option<String>,
    /// Where the open health check is served (a GIS server's load-balancer
    /// check lives at its own path, such as /arcgis/rest/info/healthCheck).
    #[arg(long, default_value = "/health")]
    health_path: String,
    /// Append one JSON line per request here: time, method, path, status.
    #[arg(long)]
    request_log: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM, the site's own
    /// certificate first); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// What the state file holds.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Persisted {
    mode: String,
    epoch: i64,
    services: Map<String, Value>,
}

impl Default for Persisted {
    fn default() -> Self {
        Self {
            mode: "passive".into(),
            epoch: 0,
            services: Map::new(),
        }
    }
}

struct Site {
    args: Args,
    state: Mutex<Persisted>,
    health: Mutex<(bool, String)>,
    log: Mutex<Option<tokio::fs::File>>,
}

type Shared = Arc<Site>;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

async fn load(path: &Path) -> std::io::Result<Persisted> {
    match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Persisted::default()),
        Err(e) => Err(e),
    }
}

/// Write the state atomically: a temporary file beside it, fsync, rename.
async fn persist(path: &Path, state: &Persisted) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    let mut f = tokio::fs::File::create(&tmp).await?;
    f.write_all(&bytes).await?;
    f.sync_all().await?;
    drop(f);
    tokio::fs::rename(&tmp, path).await
}

async fn health(State(site): State<Shared>) -> Response {
    let (mut ok, mut reason) = site.health.lock().await.clone();
    if let Some(bad) = &site.args.unhealthy_with_service
        && site.state.lock().await.services.contains_key(bad)
    {
        ok = false;
        reason = format!("service {bad} breaks the site");
    }
    if ok {
        (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unhealthy", "reason": reason})),
        )
            .into_response()
    }
}

async fn info(State(site): State<Shared>) -> Response {
    let mut body = json!({"product": "sitehapair-reference-site", "version": site.args.version, "name": site.args.name});
    if let Some(fp) = &site.args.token_key_fingerprint {
        body["tokenKeyFingerprint"] = json!(fp);
    }
    Json(body).into_response()
}

async fn get_mode(State(site): State<Shared>) -> Response {
    let st = site.state.lock().await;
    Json(json!({"mode": st.mode, "epoch": st.epoch})).into_response()
}

#[derive(Deserialize)]
struct ModeRequest {
    mode: String,
    epoch: i64,
}

async fn put_mode(
    State(site): State<Shared>,
    body: Result<Json<ModeRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(req)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "body must be {\"mode\": \"active\"|\"passive\", \"epoch\": <int>}",
        );
    };
    if req.mode != "active" && req.mode != "passive" {
        return error(
            StatusCode::BAD_REQUEST,
            format!("mode must be active or passive, not {:?}", req.mode),
        );
    }
    let mut st = site.state.lock().await;
    if req.epoch < st.epoch {
        return error(
            StatusCode::CONFLICT,
            format!(
                "epoch {} is older than this site's epoch {}",
                req.epoch, st.epoch
            ),
        );
    }
    let mut next = st.clone();
    next.mode = req.mode;
    next.epoch = req.epoch;
    if let Err(e) = persist(&site.args.state, &next).await {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not persist: {e}"),
        );
    }
    *st = next;
    Json(json!({"mode": st.mode, "epoch": st.epoch})).into_response()
}

async fn list_services(State(site): State<Shared>) -> Response {
    let st = site.state.lock().await;
    Json(json!({"services": st.services})).into_response()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && !name.contains('/')
        && !name.contains("..")
        && !name.chars().any(char::is_whitespace)
}

async fn put_service(
    State(site): State<Shared>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if !valid_name(&name) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("service name {name:?} is not allowed"),
        );
    }
    let Ok(Json(def)) = body else {
        return error(StatusCode::BAD_REQUEST, "body must be one JSON object");
    };
    if !def.is_object() {
        return error(StatusCode::BAD_REQUEST, "body must be one JSON object");
    }
    let mut st = site.state.lock().await;
    let mut next = st.clone();
    let existed = next.services.insert(name, def.clone()).is_some();
    if let Err(e) = persist(&site.args.state, &next).await {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not persist: {e}"),
        );
    }
    *st = next;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (status, Json(def)).into_response()
}

async fn delete_service(State(site): State<Shared>, UrlPath(name): UrlPath<String>) -> Response {
    let mut st = site.state.lock().await;
    if !st.services.contains_key(&name) {
        return error(StatusCode::NOT_FOUND, format!("no service {name:?}"));
    }
    let mut next = st.clone();
    next.services.remove(&name);
    if let Err(e) = persist(&site.args.state, &next).await {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not persist: {e}"),
        );
    }
    *st = next;
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct HealthControl {
    healthy: bool,
    #[serde(default)]
    reason: String,
}

/// Test control: make GET /health answer healthy or not.
async fn control_health(State(site): State<Shared>, Json(req): Json<HealthControl>) -> Response {
    let reason = if req.reason.is_empty() {
        "made unhealthy by /_control/health".to_string()
    } else {
        req.reason
    };
    *site.health.lock().await = (req.healthy, reason);
    Json(json!({"healthy": req.healthy})).into_response()
}

/// Every call but the health check needs the bearer token; compared in constant time.
async fn auth(
    State(site): State<Shared>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path() == site.args.health_path {
        return next.run(req).await;
    }
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), site.args.token.as_bytes()) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Append one JSON line per request: time, method, path, status.
async fn request_log(State(site): State<Shared>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let mut log = site.log.lock().await;
    if let Some(f) = log.as_mut() {
        let line = json!({
            "time": jiff::Timestamp::now().to_string(),
            "site": site.args.name,
            "method": method,
            "path": path,
            "status": resp.status().as_u16(),
        });
        let _ = f.write_all(format!("{line}\n").as_bytes()).await;
        let _ = f.flush().await;
    }
    resp
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let state = match load(&args.state).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "reference-site: cannot read state {}: {e}",
                args.state.display()
            );
            return std::process::ExitCode::from(2);
        }
    };
    let log = match &args.request_log {
        None => None,
        Some(p) => match tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .await
        {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!(
                    "reference-site: cannot open request log {}: {e}",
                    p.display()
                );
                return std::process::ExitCode::from(2);
            }
        },
    };
    let healthy = !args.unhealthy;
    let listen = args.listen;
    let health_path = args.health_path.clone();
    let site: Shared = Arc::new(Site {
        args,
        state: Mutex::new(state),
        health: Mutex::new((healthy, "started with --unhealthy".to_string())),
        log: Mutex::new(log),
    });
    let app = Router::new()
        .route(&health_path, get(health))
        .route("/info", get(info))
        .route("/mode", get(get_mode).put(put_mode))
        .route("/services", get(list_services))
        .route("/services/{name}", put(put_service).delete(delete_service))
        .route("/_control/health", put(control_health))
        .layer(middleware::from_fn_with_state(site.clone(), auth))
        .layer(middleware::from_fn_with_state(site.clone(), request_log));
    let tls = match (&site.args.tls_cert, &site.args.tls_key) {
        (Some(cert), Some(key)) => match tls_config(cert, key) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("reference-site: {e}");
                return std::process::ExitCode::from(2);
            }
        },
        _ => None,
    };
    let app = app.with_state(site);
    let listener = match TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("reference-site: cannot listen on {listen}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on {addr}"),
        Err(e) => eprintln!("reference-site: {e}"),
    }
    match tls {
        None => serve(listener, app).await,
        Some(config) => match TlsListener::new(listener, config) {
            Ok(l) => serve(l, app).await,
            Err(e) => {
                eprintln!("reference-site: {e}");
                std::process::ExitCode::from(2)
            }
        },
    }
}

/// Serve until Ctrl-C (SIGINT).
async fn serve<L>(listener: L, app: Router) -> std::process::ExitCode
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("reference-site: {e}");
        return std::process::ExitCode::from(1);
    }
    std::process::ExitCode::SUCCESS
}

/// The server side of TLS from a PEM certificate chain and key (ring,
/// TLS 1.2 and 1.3, HTTP/1.1).
fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let chain = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no PEM certificate", cert.display()));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Longest a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// HTTPS for `axum::serve`: TCP connections are accepted by a task of their
/// own, each handshake runs in its own task (so one slow or failing client
/// holds up nobody), and finished TLS streams are handed over here.
struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    fn new(tcp: TcpListener, config: rustls::ServerConfig) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("reference-site: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => eprintln!("reference-site: TLS handshake with {peer}: {e}"),
                        Err(_) => eprintln!("reference-site: TLS handshake with {peer} timed out"),
                    }
                });
            }
        });
        Ok(Self { local, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accepting task is gone: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
