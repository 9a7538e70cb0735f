//! What every site driver shares about HTTP: the client (rustls, TLS
//! verified against the site's CA when given, a timeout on every call,
//! redirects never followed, the operator's User-Agent), reading an answer
//! under its cap, and turning a transport failure or a redirect into a
//! `SiteError` that names the site and the call and carries no credential.

use std::time::Duration;

use reqwest::{StatusCode, Url};

use super::SiteError;
use super::answers::{MAX_LOCATION, MAX_MESSAGE, trim};

/// How long a site's connection stays open with no call on it. A trip's
/// calls (health, mode, listing, writes) follow each other closely and share
/// one connection; between trips (the health interval, seconds) the
/// connection is closed. An idle keep-alive connection costs some 70 KiB
/// here (its read buffer grows to the largest answer, the listing) and a
/// socket at the site: at 2,000 sites that was most of the operator's
/// memory. The price is a TCP connect per trip (and a TLS handshake,
/// resumed from the configuration's session cache of 256 servers, for
/// HTTPS sites).
pub const IDLE_CONNECTION: Duration = Duration::from_secs(1);

/// An HTTP client for one site: `ca_pem` is the PEM bundle that signs the
/// site's certificate (without it the platform roots are used). TLS is
/// never skipped and redirects are never followed. Each site keeps its own
/// connection pool (a pooled connection never outlives its site's driver),
/// closed after `IDLE_CONNECTION`; the TLS configuration is shared by every
/// site with the same bundle.
pub fn client(
    site: &str,
    timeout: Duration,
    ca_pem: Option<&[u8]>,
) -> Result<reqwest::Client, SiteError> {
    let config = |message: String| SiteError::Config {
        site: site.to_string(),
        message,
    };
    let tls = super::tls_config::shared(ca_pem).map_err(config)?;
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent())
        .pool_idle_timeout(IDLE_CONNECTION)
        .use_preconfigured_tls(tls)
        .build()
        .map_err(|e| config(format!("HTTP client: {e}")))
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
/// read whole. A redirect (other than 304) is an error naming its target.
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
        .map_err(|e| transport_error(site, call, timeout, &e))?
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

/// A call that got no answer: a timeout, or unreachable (refused, reset,
/// DNS, TLS handshake). The URL's query is masked in case it holds a
/// credential.
pub fn transport_error(site: &str, call: &str, timeout: Duration, e: &reqwest::Error) -> SiteError {
    if e.is_timeout() {
        return SiteError::Timeout {
            site: site.to_string(),
            call: call.to_string(),
            timeout_ms: timeout.as_millis(),
        };
    }
    let mut message = e.to_string();
    if let Some(q) = e.url().and_then(Url::query) {
        message = message.replace(q, "***");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    SiteError::Unreachable {
        site: site.to_string(),
        call: call.to_string(),
        message: trim(&message, MAX_MESSAGE),
    }
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
