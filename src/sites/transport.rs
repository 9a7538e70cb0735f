//! What every site driver shares about HTTP: the client (rustls, TLS
//! verified against the site's CA when given, a timeout on every call,
//! redirects never followed, the operator's User-Agent), reading an answer
//! under its cap, and turning a transport failure or a redirect into a
//! `SiteError` that names the site and the call and carries no credential.
//!
//! Only silence is forced, so a failed call is silence (`Unreachable`,
//! `Timeout`) only when the site's address takes no connection (refused,
//! host or network unreachable, DNS, connect timeout) or the call times
//! out before the answer's head. Anything a site does once connected is an
//! answer (`Broken`): a TLS alert or a certificate the CA does not sign,
//! bytes that are not TLS or not HTTP, a connection closed or reset before
//! the answer, and any failure once the head arrived (a body cut short or
//! stalled past the timeout).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::io;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};

use super::SiteError;
use super::answers::MAX_LOCATION;
use crate::api::redact::{MAX_MESSAGE, trim};

/// How long a site's admin connection stays open with no call on it. A
/// trip's admin calls (listing, writes) follow each other closely and share
/// one connection; between trips it is closed. An idle keep-alive
/// connection that carried a listing costs some 70 KiB here (its read
/// buffer grows to the largest answer) and a socket at the site: at 2,000
/// sites that was most of the operator's memory.
pub const IDLE_CONNECTION: Duration = Duration::from_secs(1);

/// How long a site's probe connection (its health check, and a contract
/// site's `GET /mode`: the calls of every trip) stays open with no call on
/// it: longer than a health interval, so the next trip's probes go out on
/// it, with no TCP connect and no TLS handshake per trip at each site. Its
/// answers are small, so its buffers stay at their first size (measured:
/// about 24 KiB a connection with its task, over plain HTTP; no listing
/// ever grows them). A site that closes it sooner costs a connect, as
/// before; a read sent as it closed is sent again (`send`).
pub const IDLE_PROBE_CONNECTION: Duration = Duration::from_secs(90);

/// Which calls a client carries, and so how long its idle connections
/// live: `Admin` (listings and writes: closed soon, their buffers are
/// large) or `Probes` (health check and mode: kept across trips).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Calls {
    Admin,
    Probes,
}

impl Calls {
    fn idle(self) -> Duration {
        match self {
            Calls::Admin => IDLE_CONNECTION,
            Calls::Probes => IDLE_PROBE_CONNECTION,
        }
    }
}

/// TCP keep-alive on the probes' kept connections: a site that went away
/// without closing them (its host died, a middlebox forgot the flow) is
/// found out while they idle between trips (first probe after 4 s, two
/// more 2 s apart), and the dead connection leaves the pool, so the next
/// trip's probes connect afresh instead of timing out on it and reading a
/// site that a new connection would reach as silent.
const PROBE_KEEPALIVE_IDLE: Duration = Duration::from_secs(4);
const PROBE_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
const PROBE_KEEPALIVE_RETRIES: u32 = 2;

/// Clients shared by every site with the same calls, timeout and CA
/// bundle. A reqwest client holds a connection pool and its settings (some
/// 9 KiB): one per site was 18 MiB at 2,000 sites. The pool is keyed by
/// scheme, host and port, so sites still never share a connection. Bounded:
/// past `MAX_CLIENTS` distinct settings the table starts again (clients in
/// use live on in their sites).
type ClientKey = (Calls, Duration, Option<[u8; 32]>);
static SHARED: LazyLock<Mutex<HashMap<ClientKey, reqwest::Client>>> =
    LazyLock::new(Default::default);
const MAX_CLIENTS: usize = 256;

/// An HTTP client for the admin calls of sites whose certificates `ca_pem`
/// signs (without it the webpki roots are used). TLS is never skipped and
/// redirects are never followed. Connections close after
/// `IDLE_CONNECTION`; a reused one that the site closed under a call is
/// retried once for reads (`send`).
pub fn client(
    site: &str,
    timeout: Duration,
    ca_pem: Option<&[u8]>,
) -> Result<reqwest::Client, SiteError> {
    client_for(Calls::Admin, site, timeout, ca_pem)
}

/// The same, for a site's probes (health check, `GET /mode`): its idle
/// connections live `IDLE_PROBE_CONNECTION`, from one trip to the next.
pub fn probe_client(
    site: &str,
    timeout: Duration,
    ca_pem: Option<&[u8]>,
) -> Result<reqwest::Client, SiteError> {
    client_for(Calls::Probes, site, timeout, ca_pem)
}

fn client_for(
    calls: Calls,
    site: &str,
    timeout: Duration,
    ca_pem: Option<&[u8]>,
) -> Result<reqwest::Client, SiteError> {
    use sha2::Digest;
    let bundle = ca_pem.map(|pem| sha2::Sha256::digest(pem).into());
    let key = (calls, timeout, bundle);
    let mut table = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = table.get(&key) {
        return Ok(c.clone());
    }
    let c = build(site, timeout, ca_pem, calls)?;
    if table.len() >= MAX_CLIENTS {
        table.clear();
    }
    table.insert(key, c.clone());
    Ok(c)
}

fn build(
    site: &str,
    timeout: Duration,
    ca_pem: Option<&[u8]>,
    calls: Calls,
) -> Result<reqwest::Client, SiteError> {
    let config = |message: String| SiteError::Config {
        site: site.to_string(),
        message,
    };
    let tls = super::tls_config::shared(ca_pem).map_err(config)?;
    let builder = match calls {
        Calls::Admin => reqwest::Client::builder(),
        Calls::Probes => reqwest::Client::builder()
            .tcp_keepalive(PROBE_KEEPALIVE_IDLE)
            .tcp_keepalive_interval(PROBE_KEEPALIVE_INTERVAL)
            .tcp_keepalive_retries(PROBE_KEEPALIVE_RETRIES),
    };
    builder
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent())
        .pool_idle_timeout(calls.idle())
        .use_preconfigured_tls(tls)
        .build()
        .map_err(|e| config(format!("HTTP client: {e}")))
}

/// Send `req`, mapping a failure to the site's `SiteError`
/// (`transport_error`). A read (GET, HEAD) that fails on a pooled
/// connection the site closed under it (a restarted site, or its
/// keep-alive timer firing as the call went out) is sent once more, on a
/// new connection: the site answered no call, and a read changes nothing;
/// the error is then the second try's. A refused connection or a timeout
/// is not retried (the site does not answer), nor is a write (the next
/// trip writes again).
pub async fn send(
    site: &str,
    call: &str,
    timeout: Duration,
    client: &reqwest::Client,
    req: reqwest::RequestBuilder,
) -> Result<reqwest::Response, SiteError> {
    let fail = |e: &reqwest::Error| transport_error(site, call, timeout, e);
    let request = req.build().map_err(|e| fail(&e))?;
    let again = matches!(*request.method(), Method::GET | Method::HEAD)
        .then(|| request.try_clone())
        .flatten();
    match (client.execute(request).await, again) {
        (Ok(resp), _) => Ok(resp),
        (Err(e), Some(again)) if closed_under_the_call(&e) => {
            client.execute(again).await.map_err(|e| fail(&e))
        }
        (Err(e), _) => Err(fail(&e)),
    }
}

/// A failure after the connection was made and before any answer: the
/// pooled connection was closed (or reset) by the site.
fn closed_under_the_call(e: &reqwest::Error) -> bool {
    e.is_request() && !e.is_connect() && !e.is_timeout()
}

/// An admin URL the drivers accept: http(s) and a base for paths.
pub fn base_url(site: &str, admin_url: &str) -> Result<Url, SiteError> {
    let config = |message: String| SiteError::Config {
        site: site.to_string(),
        message,
    };
    let base = Url::parse(admin_url).map_err(|e| config(format!("adminUrl {admin_url:?}: {e}")))?;
    if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
        return Err(config(format!(
            "adminUrl {admin_url:?} must be an http(s) URL"
        )));
    }
    Ok(base)
}

/// `base` with `segments` appended (each one percent-encoded).
pub fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        for s in segments {
            path.push(s);
        }
    }
    url
}

/// Where a site's health check is called, and how the call is named in
/// errors: `path` (with its query) under `base`, or `full_url` when given
/// (a load balancer's check on another port or host; http(s) only).
pub fn health_check(
    site: &str,
    base: &Url,
    path: &str,
    full_url: Option<&str>,
) -> Result<(Url, String), SiteError> {
    let config = |message: String| SiteError::Config {
        site: site.to_string(),
        message,
    };
    let Some(u) = full_url else {
        let (p, query) = path
            .split_once('?')
            .map_or((path, None), |(p, q)| (p, Some(q)));
        let segments: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
        let mut url = join(base, &segments);
        url.set_query(query);
        return Ok((url, format!("GET {path}")));
    };
    let url = Url::parse(u).map_err(|e| config(format!("healthCheckUrl {u:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(config(format!(
            "healthCheckUrl {u:?} must be an http(s) URL"
        )));
    }
    let call = format!("GET {}", trim(url.as_str(), MAX_MESSAGE));
    Ok((url, call))
}

/// The User-Agent of every site call: the operator, its version and, once
/// `set_replica` named it, this replica (sites' logs then say which replica
/// called them).
static REPLICA: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Name this process's replica in the User-Agent of site calls (once, at start).
pub fn set_replica(identity: &str) {
    let _ = REPLICA.set(identity.to_string());
}

fn user_agent() -> String {
    let base = concat!("sitehapair/", env!("CARGO_PKG_VERSION"));
    match REPLICA.get() {
        Some(id) => format!("{base} ({id})"),
        None => base.to_string(),
    }
}

/// Read an answer's body in chunks up to `limit`: a site's answer is never
/// read whole. A redirect (other than 304) is an error naming its target. A
/// body that fails to arrive whole is `Broken` (`body_error`): the site
/// answered.
pub async fn read(
    site: &str,
    call: &str,
    timeout: Duration,
    limit: usize,
    mut resp: reqwest::Response,
) -> Result<(StatusCode, String), SiteError> {
    let status = resp.status();
    if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok());
        return Err(redirect_error(site, call, status, resp.url(), location));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| body_error(site, call, timeout, &e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(SiteError::Decode {
                site: site.to_string(),
                call: call.to_string(),
                message: format!("the answer is larger than {limit} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A call that failed before its answer's head arrived. Silence only when
/// no connection was made (refused, unreachable, DNS: `Unreachable`) or the
/// call timed out (`Timeout`); a TLS failure, a connection closed or reset
/// once made, or bytes that are not HTTP are answers (`Broken`). A request
/// that could not be built is `Config`.
pub fn transport_error(site: &str, call: &str, timeout: Duration, e: &reqwest::Error) -> SiteError {
    if e.is_builder() {
        return SiteError::Config {
            site: site.to_string(),
            message: trim(&format!("{call}: {}", describe(e)), MAX_MESSAGE),
        };
    }
    if let Some(tls) = errors_under(e).find_map(|s| s.downcast_ref::<rustls::Error>()) {
        return broken(site, call, &format!("TLS: {tls}"));
    }
    if e.is_timeout() {
        return SiteError::Timeout {
            site: site.to_string(),
            call: call.to_string(),
            timeout_ms: timeout.as_millis(),
        };
    }
    if e.is_connect() && closed_by_the_site(e) {
        // Only a TLS handshake runs on a connection made while connecting.
        let what = "TLS: the connection was closed during the handshake";
        return broken(site, call, &format!("{what}: {}", describe(e)));
    }
    if e.is_connect() {
        return SiteError::Unreachable {
            site: site.to_string(),
            call: call.to_string(),
            message: trim(&describe(e), MAX_MESSAGE),
        };
    }
    // Closed, reset, or bytes that are not HTTP.
    let what = "the site took the connection but gave no HTTP answer";
    broken(site, call, &format!("{what}: {}", describe(e)))
}

/// A failure while reading an answer's body: the head arrived, so the site
/// answered, and whatever broke the body (a reset, a close, the timeout) is
/// `Broken`, never silence.
fn body_error(site: &str, call: &str, timeout: Duration, e: &reqwest::Error) -> SiteError {
    let why = if e.is_timeout() {
        format!("timed out after {} ms", timeout.as_millis())
    } else {
        describe(e)
    };
    broken(site, call, &format!("the answer was cut short: {why}"))
}

fn broken(site: &str, call: &str, message: &str) -> SiteError {
    SiteError::Broken {
        site: site.to_string(),
        call: call.to_string(),
        message: trim(message, MAX_MESSAGE),
    }
}

/// Why `e` failed, as text: its sources (the call and the site are named
/// by the error, and the reason comes last, where `trim` would cut it), or
/// `e` itself when it has none. The URL's user info and query are masked
/// (either may hold a credential).
fn describe(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = StdError::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    let mut message = if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    };
    if let Some(url) = e.url() {
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        let query = url.query().filter(|q| !q.is_empty());
        if query.is_some() {
            shown.set_query(Some("***"));
        }
        message = message.replace(url.as_str(), shown.as_str());
        if let Some(q) = query {
            message = message.replace(q, "***");
        }
    }
    message
}

/// `e` and every error under it, looking inside an `io::Error` that wraps
/// another error (its `source()` skips the one it wraps: a TLS failure is
/// a `rustls::Error` in an `io::Error` in another).
fn errors_under<'a>(
    e: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(e), |&e| {
        match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(wrapped) => Some(wrapped as &(dyn StdError + 'static)),
            None => e.source(),
        }
    })
}

/// The site closed or reset a connection it had taken (a refused one is
/// `ConnectionRefused`, never one of these).
fn closed_by_the_site(e: &reqwest::Error) -> bool {
    use io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    errors_under(e)
        .filter_map(|s| s.downcast_ref::<io::Error>())
        .any(|io| {
            matches!(
                io.kind(),
                UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
            )
        })
}

/// A 3xx answer, naming the target without user info or query (they may
/// carry someone's credentials).
pub fn redirect_error(
    site: &str,
    call: &str,
    status: StatusCode,
    from: &Url,
    location: Option<&str>,
) -> SiteError {
    let target = location.map(|l| match from.join(l) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            trim(u.as_str(), MAX_LOCATION)
        }
        Err(_) => "a Location that is not a URL".to_string(),
    });
    let message = match target {
        Some(t) => format!(
            "the site answers with a redirect to {t}, which is not followed: set adminUrl to the address that answers"
        ),
        None => "the site answers with a redirect (no Location), which is not followed".to_string(),
    };
    SiteError::Status {
        site: site.to_string(),
        call: call.to_string(),
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
#[path = "transport_tests.rs"]
mod tests;
