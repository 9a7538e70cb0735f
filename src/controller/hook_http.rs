//! One HTTP hook call, the site client's way: reqwest with rustls, TLS
//! verified (against the hook's CA when given), a deadline on the whole
//! call, redirects never followed, the answer read in chunks up to a cap.
//! The bearer token comes from its Secret and goes nowhere but the
//! Authorization header: messages name the hook and what failed, never
//! the token, the URL or its credentials.

use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::secrets::TripSecrets;
use crate::api::redact::{MAX_MESSAGE, trim};
use crate::api::{HttpHook, duration};
use crate::plan::hooks::{Outcome, http_outcome};

/// The most of an answer read (only its start reaches status).
pub const MAX_ANSWER: usize = 64 * 1024;
/// The deadline when spec timeout cannot be read (the API server checks it).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest deadline allowed.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// One request of an attempt: what is sent besides the hook's spec.
pub struct Call<'a> {
    /// Idempotency-Key and X-Sitehapair-Hook-Id.
    pub id: &'a str,
    pub attempt: i32,
    pub body: &'a Value,
}

/// Make one attempt of an HTTP hook; every failure is a failed attempt
/// with a message fit for status.
pub async fn call(secrets: &TripSecrets<'_>, spec: &HttpHook, call: &Call<'_>) -> Outcome {
    match send(secrets, spec, call).await {
        Ok(outcome) => outcome,
        Err(message) => Outcome::AttemptFailed(message),
    }
}

async fn send(
    secrets: &TripSecrets<'_>,
    spec: &HttpHook,
    call: &Call<'_>,
) -> Result<Outcome, String> {
    let timeout = duration::parse("spec.promotion.hooks[].http.timeout", &spec.timeout)
        .unwrap_or(DEFAULT_TIMEOUT)
        .clamp(Duration::from_secs(1), MAX_TIMEOUT);
    let token = match &spec.token_secret_ref {
        Some(r) => Some(
            secrets
                .required(&r.name, &r.key)
                .await
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let ca = match &spec.ca_secret_ref {
        Some(r) => Some(
            secrets
                .required(&r.name, &r.key)
                .await
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let url = Url::parse(&spec.url).map_err(|e| format!("http.url is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("http.url must be an http(s) URL".to_string());
    }
    let client = client(timeout, ca.as_deref())?;
    let mut req = client
        .post(url)
        .json(call.body)
        .header("Idempotency-Key", call.id)
        .header("X-Sitehapair-Hook-Id", call.id)
        .header("X-Sitehapair-Attempt", call.attempt.to_string());
    if call.body.get("rehearsal") == Some(&Value::Bool(true)) {
        // A rehearsal's call (spec.promotion.hooks[].rehearse): nothing is to change.
        req = req.header("X-Sitehapair-Rehearsal", "true");
    }
    if let Some(t) = token {
        req = req.bearer_auth(t.trim());
    }
    let mut resp = req.send().await.map_err(|e| transport(e, timeout))?;
    let status = resp.status().as_u16();
    // The status decides; the answer is only read for its start.
    let body = read_capped(&mut resp, MAX_ANSWER).await;
    Ok(http_outcome(status, &body))
}

fn client(timeout: Duration, ca_pem: Option<&str>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sitehapair/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| format!("CA bundle: {e}"))?;
        if certs.is_empty() {
            return Err("CA bundle holds no certificate".to_string());
        }
        builder = builder.tls_built_in_root_certs(false);
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    builder.build().map_err(|e| format!("HTTP client: {e}"))
}

/// Up to `limit` bytes of the answer, as text; what does not arrive in
/// time or past the cap is left unread.
async fn read_capped(resp: &mut reqwest::Response, limit: usize) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// A transport failure, without the URL (it may carry credentials).
fn transport(e: reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {}s", timeout.as_secs());
    }
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    format!("no answer: {}", trim(&message, MAX_MESSAGE))
}
