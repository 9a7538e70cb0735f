//! Every request: read the parameters (query and form body, capped at
//! [`MAX_BODY`]), send it to the Administrator API (`admin`), the REST info
//! resources or the test controls, and append a line to the request log.
//!
//! REST resources (no token):
//! - `GET /arcgis/rest/info` answers currentVersion (a number, e.g. 11.3),
//!   fullVersion, soapUrl, secureSoapUrl and authInfo {isTokenBasedSecurity,
//!   tokenServicesUrl, shortLivedTokenValidity}
//!   (<https://developers.arcgis.com/rest/services-reference/enterprise/server-info.htm>);
//!   owningSystemUrl is left out (the emulated site is not federated).
//! - `GET /arcgis/rest/info/healthCheck`: healthy, HTTP 200 and
//!   `{"success": true}`; "an unhealthy (unavailable) site will return
//!   messaging other than HTTP 200"
//!   (<https://developers.arcgis.com/rest/services-reference/enterprise/health-check.htm>),
//!   for which the emulator answers HTTP 503 with `{"success": false,
//!   "error": {"code": 503, "message": ...}}` (that body is its own choice).
//!
//! Test controls (not ArcGIS, no token): `PUT /_control/health` with
//! `{"healthy": bool, "reason"?: string}` and `PUT /_control/shared-key`
//! with `{"sharedKey": "..."}` (a new key invalidates earlier tokens).
//!
//! The request log never holds the query, the body, tokens or passwords.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::model::{ApiError, Site};
use crate::params::Params;
use crate::reply::Reply;
use crate::state::persist;

/// The largest request body read.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// Fixed for the process.
pub struct Settings {
    pub username: String,
    pub password: String,
    /// Full version, e.g. "11.3.0".
    pub version: String,
    pub build: String,
    pub max_token_minutes: u64,
    /// Token lifetime override in seconds (tests).
    pub token_seconds: Option<u64>,
}

pub struct Server {
    pub settings: Settings,
    pub site: Mutex<Site>,
    pub state_file: Option<PathBuf>,
    /// Healthy, and the reason given when not.
    pub health: std::sync::Mutex<(bool, String)>,
    pub log: std::sync::Mutex<Option<std::fs::File>>,
}

pub type Shared = Arc<Server>;

/// One request as the handlers see it.
pub struct Call {
    pub method: Method,
    pub headers: HeaderMap,
    pub params: Params,
    /// The caller's address (absent when served without connect info).
    pub peer: Option<IpAddr>,
    pub now_ms: i64,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// currentVersion as ArcGIS shows it: major.minor with the patch digits
/// appended when not 0 ("10.5.1" is 10.51, as a real 10.5.1 site answers;
/// "11.3.0" is 11.3).
pub fn current_version_text(full: &str) -> String {
    let mut parts = full.trim().split('.');
    let major = parts.next().unwrap_or("0");
    let minor = parts.next().unwrap_or("0");
    let patch: String = parts.collect();
    if patch.chars().all(|c| c == '0') {
        format!("{major}.{minor}")
    } else {
        format!("{major}.{minor}{patch}")
    }
}

pub fn current_version(full: &str) -> Value {
    let text = current_version_text(full);
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::String(text))
}

/// Persist the site after a change; on failure put `before` back.
pub async fn persist_or_undo(
    server: &Server,
    site: &mut Site,
    before: Site,
) -> Result<(), ApiError> {
    if let Err(e) = persist(server.state_file.as_deref(), site).await {
        *site = before;
        return Err(ApiError::new(
            500,
            format!("Could not persist the site: {e}"),
        ));
    }
    Ok(())
}

/// Every request.
pub async fn dispatch(State(server): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let method = parts.method.clone();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (logged, reply, operation) = match axum::body::to_bytes(body, MAX_BODY).await {
        Err(_) => {
            let e = ApiError::new(413, format!("The request body exceeds {MAX_BODY} bytes."));
            let mut r = Reply::error(e);
            r.status = StatusCode::PAYLOAD_TOO_LARGE;
            let logged = path
                .strip_prefix("/arcgis")
                .filter(|r| r.is_empty() || r.starts_with('/'))
                .unwrap_or(&path);
            (logged.to_string(), r, "body".to_string())
        }
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            route(
                &server,
                &parts.headers,
                &method,
                &path,
                parts.uri.query(),
                text,
                peer,
            )
            .await
        }
    };
    log_request(&server, &method, &logged, &operation, &reply);
    reply.into_response()
}

/// Send a request to its handler: (path for the log, answer, operation).
async fn route(
    server: &Server,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: String,
    peer: Option<IpAddr>,
) -> (String, Reply, String) {
    if let Some(rest) = path.strip_prefix("/_control/") {
        let (reply, op) = control(server, method, rest, &body).await;
        return (path.to_string(), reply, op);
    }
    let Some(rest) = path
        .strip_prefix("/arcgis")
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        let r = Reply::plain(StatusCode::NOT_FOUND, json!({"error": "not found"}));
        return (path.to_string(), r, "unknown".into());
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/") {
        let e = ApiError::new(
            400,
            "The emulator reads form-encoded bodies only, not multipart.",
        );
        return (rest.to_string(), Reply::error(e), "body".into());
    }
    let form = (content_type.is_empty()
        || content_type.starts_with("application/x-www-form-urlencoded"))
    .then_some(body.as_str());
    let call = Call {
        method: method.clone(),
        headers: headers.clone(),
        params: Params::parse(query, form),
        peer,
        now_ms: now_ms(),
    };
    let format = call.params.format();
    let (reply, op) = if let Some(sub) = rest
        .strip_prefix("/admin")
        .filter(|s| s.is_empty() || s.starts_with('/'))
    {
        crate::admin::admin(server, &call, sub).await
    } else {
        rest_api(server, &call, rest).await
    };
    (rest.to_string(), reply.with_format(format), op)
}

/// The REST API resources the emulator serves.
async fn rest_api(server: &Server, call: &Call, rest: &str) -> (Reply, String) {
    let rest = rest.trim_end_matches('/');
    if rest.eq_ignore_ascii_case("/rest/info/healthcheck") {
        return (health(server), "healthCheck".into());
    }
    if rest == "/rest/info" {
        let host = call
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let short = server.site.lock().await.short_timeout;
        let v = &server.settings.version;
        let body = json!({
            "currentVersion": current_version(v),
            "fullVersion": v,
            "soapUrl": format!("http://{host}/arcgis/services"),
            "secureSoapUrl": null,
            "authInfo": {
                "isTokenBasedSecurity": true,
                "tokenServicesUrl": format!("http://{host}/arcgis/tokens/"),
                "shortLivedTokenValidity": short,
            },
        });
        return (Reply::ok(body), "info".into());
    }
    let body = json!({"error": {"code": 404, "message": "Not Found", "details": []}});
    (Reply::plain(StatusCode::NOT_FOUND, body), "unknown".into())
}

fn health(server: &Server) -> Reply {
    let (ok, reason) = server
        .health
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    if ok {
        return Reply::ok(json!({"success": true}));
    }
    let body = json!({"success": false, "error": {"code": 503, "message": reason}});
    Reply::plain(StatusCode::SERVICE_UNAVAILABLE, body)
}

/// `PUT /_control/<what>` with a JSON body.
async fn control(server: &Server, method: &Method, what: &str, body: &str) -> (Reply, String) {
    let op = what.trim_end_matches('/').to_string();
    let bad = |m: &str| Reply::plain(StatusCode::BAD_REQUEST, json!({"error": m}));
    if *method != Method::PUT {
        let r = Reply::plain(StatusCode::METHOD_NOT_ALLOWED, json!({"error": "use PUT"}));
        return (r, op);
    }
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return (bad("body must be a JSON object"), op);
    };
    let reply = match op.as_str() {
        "health" => match v.get("healthy").and_then(Value::as_bool) {
            None => bad("body must be {\"healthy\": bool, \"reason\"?: string}"),
            Some(healthy) => {
                let reason = v
                    .get("reason")
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty())
                    .unwrap_or("made unhealthy by /_control/health")
                    .to_string();
                *server.health.lock().unwrap_or_else(|p| p.into_inner()) = (healthy, reason);
                Reply::plain(StatusCode::OK, json!({"healthy": healthy}))
            }
        },
        "shared-key" => match v
            .get("sharedKey")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
        {
            None => bad("body must be {\"sharedKey\": \"<non-empty>\"}"),
            Some(key) => {
                let mut site = server.site.lock().await;
                let before = site.clone();
                let changed = site.shared_key != key;
                site.shared_key = key.to_string();
                match persist_or_undo(server, &mut site, before).await {
                    Ok(()) => Reply::plain(StatusCode::OK, json!({"changed": changed})),
                    Err(e) => Reply::plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        json!({"error": e.messages}),
                    ),
                }
            }
        },
        _ => Reply::plain(StatusCode::NOT_FOUND, json!({"error": "no such control"})),
    };
    (reply, op)
}

/// Append `{"at", "method", "path", "operation", "status", "error_code"}`:
/// one write of a whole line to a file opened for appending.
fn log_request(server: &Server, method: &Method, path: &str, operation: &str, reply: &Reply) {
    let mut log = server.log.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(f) = log.as_mut() {
        let line = json!({
            "at": now_ms(),
            "method": method.as_str(),
            "path": path,
            "operation": operation,
            "status": reply.status.as_u16(),
            "error_code": reply.error_code,
        });
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}
