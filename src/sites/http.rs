//! The HTTP driver of the site admin contract: reqwest with rustls, TLS
//! verified (against the site's CA when given), a timeout on every call, the
//! bearer token kept out of every Debug, log and error.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Mode, ModeState, Site, SiteError, SiteInfo};

/// Largest answer read from `GET /services` (thousands of services).
pub const MAX_SERVICES_BODY: usize = 64 * 1024 * 1024;
/// Largest answer read from any other call.
pub const MAX_BODY: usize = 1024 * 1024;
/// Longest site-provided text kept in an error (it reaches status and Events).
pub const MAX_MESSAGE: usize = 200;

/// At most `max` characters of `s`, marked when cut.
pub fn trim(s: &str, max: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// A bearer token; its Debug and Display never show the value.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().trim().to_string())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// One site reached over HTTP(S).
#[derive(Debug, Clone)]
pub struct HttpSite {
    name: String,
    base: Url,
    token: Token,
    client: reqwest::Client,
    timeout: Duration,
}

impl HttpSite {
    /// `ca_pem`: PEM bundle that signs the site's certificate; without it the
    /// platform roots are used. TLS is never skipped.
    pub fn new(
        name: &str,
        admin_url: &str,
        token: Token,
        ca_pem: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Self, SiteError> {
        let config = |message: String| SiteError::Config {
            site: name.to_string(),
            message,
        };
        let base =
            Url::parse(admin_url).map_err(|e| config(format!("adminUrl {admin_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(config(format!(
                "adminUrl {admin_url:?} must be an http(s) URL"
            )));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sitehapair/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| config(format!("CA bundle: {e}")))?;
            if certs.is_empty() {
                return Err(config("CA bundle holds no certificate".to_string()));
            }
            builder = builder.tls_built_in_root_certs(false);
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let client = builder
            .build()
            .map_err(|e| config(format!("HTTP client: {e}")))?;
        Ok(Self {
            name: name.to_string(),
            base,
            token,
            client,
            timeout,
        })
    }

    /// The same site with another per-call timeout (the client is shared).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        url
    }

    /// One call: send, map transport failures and error statuses to SiteError.
    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<(StatusCode, String), SiteError> {
        let call = format!("{method} /{}", segments.join("/"));
        let mut req = self
            .client
            .request(method, self.url(segments))
            .timeout(self.timeout)
            .bearer_auth(&self.token.0);
        if let Some(b) = body {
            req = req.json(b);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(&call, &e))?;
        let status = resp.status();
        // Read in chunks up to a cap: a site's answer is never read whole.
        let limit = if segments == ["services"] {
            MAX_SERVICES_BODY
        } else {
            MAX_BODY
        };
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport_error(&call, &e))?
        {
            if body.len() + chunk.len() > limit {
                return Err(SiteError::Decode {
                    site: self.name.clone(),
                    call,
                    message: format!("the answer is larger than {limit} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    fn transport_error(&self, call: &str, e: &reqwest::Error) -> SiteError {
        if e.is_timeout() {
            return SiteError::Timeout {
                site: self.name.clone(),
                call: call.to_string(),
                timeout_ms: self.timeout.as_millis(),
            };
        }
        // reqwest errors carry the URL but never the headers; still strip
        // the URL's query in case someone put a credential there.
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
            site: self.name.clone(),
            call: call.to_string(),
            message: trim(&message, MAX_MESSAGE),
        }
    }

    fn status_error(&self, call: &str, status: StatusCode, body: &str) -> SiteError {
        let message = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(String::from))
            .unwrap_or_else(|| body.to_string());
        let message = trim(&message, MAX_MESSAGE);
        match status {
            StatusCode::UNAUTHORIZED => SiteError::Unauthorized {
                site: self.name.clone(),
                call: call.to_string(),
            },
            StatusCode::CONFLICT => SiteError::Fenced {
                site: self.name.clone(),
                call: call.to_string(),
                message,
            },
            _ => SiteError::Status {
                site: self.name.clone(),
                call: call.to_string(),
                status: status.as_u16(),
                message,
            },
        }
    }

    fn decode<T: DeserializeOwned>(&self, call: &str, body: &str) -> Result<T, SiteError> {
        serde_json::from_str(body).map_err(|e| SiteError::Decode {
            site: self.name.clone(),
            call: call.to_string(),
            message: trim(&e.to_string(), MAX_MESSAGE),
        })
    }

    async fn get_json<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, SiteError> {
        let call = format!("GET /{}", segments.join("/"));
        let (status, body) = self.call(Method::GET, segments, None).await?;
        if !status.is_success() {
            return Err(self.status_error(&call, status, &body));
        }
        self.decode(&call, &body)
    }
}

#[derive(serde::Deserialize)]
struct ServicesAnswer {
    services: BTreeMap<String, Value>,
}

impl Site for HttpSite {
    fn name(&self) -> &str {
        &self.name
    }

    async fn health(&self) -> Result<bool, SiteError> {
        let (status, body) = self.call(Method::GET, &["health"], None).await?;
        match status {
            s if s.is_success() => Ok(true),
            StatusCode::SERVICE_UNAVAILABLE => Ok(false),
            s => Err(self.status_error("GET /health", s, &body)),
        }
    }

    async fn info(&self) -> Result<SiteInfo, SiteError> {
        self.get_json(&["info"]).await
    }

    async fn mode(&self) -> Result<ModeState, SiteError> {
        self.get_json(&["mode"]).await
    }

    async fn set_mode(&self, mode: Mode, epoch: i64) -> Result<ModeState, SiteError> {
        let body = json!({"mode": mode, "epoch": epoch});
        let (status, text) = self.call(Method::PUT, &["mode"], Some(&body)).await?;
        if !status.is_success() {
            return Err(self.status_error("PUT /mode", status, &text));
        }
        self.decode("PUT /mode", &text)
    }

    async fn services(&self) -> Result<BTreeMap<String, Value>, SiteError> {
        let answer: ServicesAnswer = self.get_json(&["services"]).await?;
        Ok(answer.services)
    }

    async fn put_service(&self, name: &str, definition: &Value) -> Result<(), SiteError> {
        let (status, text) = self
            .call(Method::PUT, &["services", name], Some(definition))
            .await?;
        if !status.is_success() {
            return Err(self.status_error(&format!("PUT /services/{name}"), status, &text));
        }
        Ok(())
    }

    async fn delete_service(&self, name: &str) -> Result<(), SiteError> {
        let (status, text) = self.call(Method::DELETE, &["services", name], None).await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(self.status_error(&format!("DELETE /services/{name}"), status, &text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_never_shows_in_debug() {
        let site = HttpSite::new(
            "east",
            "http://127.0.0.1:1/admin",
            Token::new("s3cr3t"),
            None,
            Duration::from_secs(1),
        )
        .expect("site");
        assert!(!format!("{site:?}").contains("s3cr3t"));
    }

    #[test]
    fn urls_keep_the_admin_path_and_encode_names() {
        let site = HttpSite::new(
            "east",
            "https://h:6443/site-admin/",
            Token::new("t"),
            None,
            Duration::from_secs(1),
        )
        .expect("site");
        assert_eq!(
            site.url(&["services", "a b?c"]).as_str(),
            "https://h:6443/site-admin/services/a%20b%3Fc"
        );
        assert_eq!(
            site.url(&["mode"]).as_str(),
            "https://h:6443/site-admin/mode"
        );
    }

    #[test]
    fn site_text_is_trimmed() {
        let long = "x".repeat(5000);
        let site = HttpSite::new(
            "east",
            "http://127.0.0.1:1/admin",
            Token::new("t"),
            None,
            Duration::from_secs(1),
        )
        .expect("site");
        let e = site.status_error("GET /mode", StatusCode::INTERNAL_SERVER_ERROR, &long);
        assert!(e.to_string().len() < 300, "{e}");
        let echo = format!("{{\"error\": \"{long}\"}}");
        let e = site.status_error("PUT /services/a", StatusCode::BAD_REQUEST, &echo);
        assert!(e.to_string().len() < 300, "{e}");
        assert_eq!(trim("  short  ", 10), "short");
    }

    #[test]
    fn bad_admin_url_is_a_config_error_naming_the_site() {
        let e = HttpSite::new(
            "west",
            "ftp://x",
            Token::new("t"),
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("site west:"), "{e}");
    }
}
