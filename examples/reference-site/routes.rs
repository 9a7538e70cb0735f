//! The site admin contract over HTTP: one handler takes every request,
//! finds the site it is for (the only one, or the virtual site named by the
//! `/v/<name>` prefix), checks the bearer token (all calls but the health
//! check), answers the call and appends a line to the request log.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::state::{SiteState, persist};

/// One site: its name, token, state and health switch.
pub struct Site {
    pub name: String,
    pub token: String,
    /// Where its state is persisted; None keeps it in memory only.
    pub state_file: Option<PathBuf>,
    pub state: Mutex<SiteState>,
    pub health: std::sync::Mutex<(bool, String)>,
}

impl Site {
    pub fn new(
        name: String,
        token: String,
        state_file: Option<PathBuf>,
        state: SiteState,
        healthy: bool,
    ) -> Self {
        Self {
            name,
            token,
            state_file,
            state: Mutex::new(state),
            health: std::sync::Mutex::new((healthy, "started with --unhealthy".to_string())),
        }
    }
}

/// The sites one process serves.
pub enum Sites {
    /// One site at the root of the URL space (the default).
    Single(Arc<Site>),
    /// Many, each under `/v/<name>`.
    Virtual(HashMap<String, Arc<Site>>),
}

/// What every site of the process shares.
pub struct Settings {
    pub version: String,
    pub token_key_fingerprint: Option<String>,
    pub unhealthy_with_service: Option<String>,
    pub health_path: String,
    /// `GET /services` sends no `ETag` and ignores `If-None-Match` (as
    /// ArcGIS Server's and pygeoapi's admin APIs do): every listing whole.
    pub no_etag: bool,
}

pub struct Server {
    pub settings: Settings,
    pub sites: Sites,
    /// The request log, appended one line per request.
    pub log: std::sync::Mutex<Option<std::fs::File>>,
}

pub type Shared = Arc<Server>;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The site a path is for, and the path relative to that site.
fn route<'a>(sites: &'a Sites, path: &'a str) -> Option<(&'a Arc<Site>, &'a str)> {
    match sites {
        Sites::Single(site) => Some((site, path)),
        Sites::Virtual(all) => {
            let rest = path.strip_prefix("/v/")?;
            let (name, rest) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            all.get(name).map(|site| (site, rest))
        }
    }
}

/// Every request: find the site, check the token, answer, log.
pub async fn dispatch(State(server): State<Shared>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // Who called, and the query (ignored by the contract): the shard test
    // tells replicas and pairs apart by them.
    let caller = Caller {
        agent: req
            .headers()
            .get(axum::http::header::USER_AGENT)
            .and_then(|a| a.to_str().ok())
            .map(|a| a.chars().take(200).collect()),
        query: req.uri().query().map(|q| q.chars().take(200).collect()),
    };
    let (site, resp) = match route(&server.sites, &path) {
        None => (None, error(StatusCode::NOT_FOUND, "no such site")),
        Some((site, rest)) => {
            let resp =
                if rest != server.settings.health_path && !authorized(req.headers(), &site.token) {
                    error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
                } else {
                    call(&server, site, rest, req).await
                };
            let logged = match &server.sites {
                Sites::Single(_) => path.clone(),
                Sites::Virtual(_) => rest.to_string(),
            };
            (Some((site.name.as_str(), logged)), resp)
        }
    };
    let (name, logged) = match &site {
        Some((n, p)) => (Some(*n), p.as_str()),
        None => (None, path.as_str()),
    };
    log_request(&server, name, &method, logged, resp.status(), &caller);
    resp
}

/// The caller's User-Agent and the request's query, for the log.
struct Caller {
    agent: Option<String>,
    query: Option<String>,
}

/// One call of the contract, `rest` being the path under the site.
async fn call(server: &Server, site: &Site, rest: &str, req: Request) -> Response {
    let m = req.method().clone();
    if rest == server.settings.health_path {
        return match m {
            Method::GET => health(server, site).await,
            _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        };
    }
    match rest {
        "/info" if m == Method::GET => info(server, site),
        "/mode" if m == Method::GET => get_mode(site).await,
        "/mode" if m == Method::PUT => put_mode(site, Json::from_request(req, &()).await).await,
        "/services" if m == Method::GET => {
            list_services(site, req.headers(), server.settings.no_etag).await
        }
        "/_control/health" if m == Method::PUT => {
            match Json::<HealthControl>::from_request(req, &()).await {
                Ok(Json(body)) => control_health(site, body),
                Err(rejection) => rejection.into_response(),
            }
        }
        "/info" | "/mode" | "/services" | "/_control/health" => {
            StatusCode::METHOD_NOT_ALLOWED.into_response()
        }
        _ => match rest
            .strip_prefix("/services/")
            .filter(|n| !n.is_empty() && !n.contains('/'))
        {
            None => StatusCode::NOT_FOUND.into_response(),
            Some(raw) => {
                let Some(name) = percent_decode(raw) else {
                    return error(StatusCode::BAD_REQUEST, "service name is not UTF-8");
                };
                match m {
                    Method::PUT => {
                        put_service(site, name, Json::from_request(req, &()).await).await
                    }
                    Method::DELETE => delete_service(site, &name).await,
                    _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
                }
            }
        },
    }
}

/// `%XX` escapes decoded; None when the result is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn health(server: &Server, site: &Site) -> Response {
    let (mut ok, mut reason) = site
        .health
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    if let Some(bad) = &server.settings.unhealthy_with_service
        && site.state.lock().await.contains(bad)
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

fn info(server: &Server, site: &Site) -> Response {
    let mut body = json!({"product": "sitehapair-reference-site", "version": server.settings.version, "name": site.name});
    if let Some(fp) = &server.settings.token_key_fingerprint {
        body["tokenKeyFingerprint"] = json!(fp);
    }
    Json(body).into_response()
}

async fn get_mode(site: &Site) -> Response {
    let st = site.state.lock().await;
    Json(json!({"mode": st.mode, "epoch": st.epoch})).into_response()
}

#[derive(Deserialize)]
pub struct ModeRequest {
    mode: String,
    epoch: i64,
}

async fn put_mode(site: &Site, body: Result<Json<ModeRequest>, JsonRejection>) -> Response {
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
    let before = (st.mode.clone(), st.epoch);
    st.mode = req.mode;
    st.epoch = req.epoch;
    if let Err(e) = persist(site.state_file.as_ref(), &st).await {
        (st.mode, st.epoch) = before;
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not persist: {e}"),
        );
    }
    Json(json!({"mode": st.mode, "epoch": st.epoch})).into_response()
}

/// `GET /services`, with its entity tag; `If-None-Match` naming exactly
/// that tag gets 304 and no body. With `no_etag`, the whole listing and no
/// tag, whatever was asked.
async fn list_services(site: &Site, headers: &HeaderMap, no_etag: bool) -> Response {
    if no_etag {
        let body = site.state.lock().await.services_body();
        return (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
    }
    let asked = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let mut st = site.state.lock().await;
    if let (Some(asked), Some(tag)) = (asked, st.known_etag())
        && asked == tag
    {
        return not_modified(tag);
    }
    let body = st.services_body();
    let tag = st.etag_of(&body);
    drop(st);
    if asked == Some(tag.as_str()) {
        return not_modified(&tag);
    }
    let mut resp = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

fn not_modified(tag: &str) -> Response {
    let mut resp = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(v) = HeaderValue::from_str(tag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && !name.contains('/')
        && !name.contains("..")
        && !name.chars().any(char::is_whitespace)
}

async fn put_service(
    site: &Site,
    name: String,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    if !valid_name(&name) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("service name {name:?} is not allowed"),
        );
    }
    let def = match body {
        Ok(Json(def)) if def.is_object() => def,
        _ => return error(StatusCode::BAD_REQUEST, "body must be one JSON object"),
    };
    let mut st = site.state.lock().await;
    let old = st.insert(name.clone(), &def);
    let existed = old.is_some();
    if let Err(e) = persist(site.state_file.as_ref(), &st).await {
        st.restore(name, old);
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not persist: {e}"),
        );
    }
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (status, Json(def)).into_response()
}

async fn delete_service(site: &Site, name: &str) -> Response {
    let mut st = site.state.lock().await;
    let Some(old) = st.remove(name) else {
        return error(StatusCode::NOT_FOUND, format!("no service {name:?}"));
    };
    if let Err(e) = persist(site.state_file.as_ref(), &st).await {
        st.restore(name.to_string(), Some(old));
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not persist: {e}"),
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
pub struct HealthControl {
    healthy: bool,
    #[serde(default)]
    reason: String,
}

/// Test control: make the health check answer healthy or not.
fn control_health(site: &Site, req: HealthControl) -> Response {
    let reason = if req.reason.is_empty() {
        "made unhealthy by /_control/health".to_string()
    } else {
        req.reason
    };
    let mut h = site.health.lock().unwrap_or_else(|p| p.into_inner());
    *h = (req.healthy, reason);
    Json(json!({"healthy": req.healthy})).into_response()
}

/// The bearer token matches, compared in constant time.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    constant_time_eq(given.as_bytes(), token.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Append one JSON line: time, site, method, path, status, the caller's
/// User-Agent and the query. One write of a
/// whole line to a file opened for appending, so lines never interleave.
fn log_request(
    server: &Server,
    site: Option<&str>,
    method: &Method,
    path: &str,
    status: StatusCode,
    caller: &Caller,
) {
    let mut log = server.log.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(f) = log.as_mut() {
        let line = json!({
            "time": jiff::Timestamp::now().to_string(),
            "site": site,
            "method": method.as_str(),
            "path": path,
            "status": status.as_u16(),
            "agent": caller.agent,
            "query": caller.query,
        });
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}
