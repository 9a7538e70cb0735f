//! The HTTP driver of the site admin contract: reqwest with rustls, TLS
//! verified (against the site's CA when given), a timeout on every call,
//! redirects never followed (they are errors naming where the site pointed),
//! the bearer token kept out of every Debug, log and error, and the text a
//! site answers with masked (secret-looking JSON values) and trimmed before
//! it reaches an error. Reading an answer (status and body) is pure, in the
//! `decode_*` functions and [`status_error`], so it is tested and fuzzed
//! without a network.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

pub use super::answers::*;
use super::{Listing, Mode, ModeState, Site, SiteError, SiteInfo};

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

/// How a call goes out: an admin call (bearer token, the admin client), or
/// a probe (the health check without credentials, `GET /mode` with them)
/// on the probe client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Admin,
    Probe { bearer: bool },
}

/// One site reached over HTTP(S).
#[derive(Debug, Clone)]
pub struct HttpSite {
    name: String,
    base: Url,
    token: Token,
    client: reqwest::Client,
    /// The health check's and `GET /mode`'s client, whose connections live
    /// from one trip to the next (`transport::IDLE_PROBE_CONNECTION`).
    probes: reqwest::Client,
    timeout: Duration,
    /// Where the health check is called (no credentials), and how calls
    /// to it are named in errors.
    health: Url,
    health_call: String,
    /// `GET /mode`, asked on every trip: joined once, not per call.
    mode_url: Url,
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
        let base = super::transport::base_url(name, admin_url)?;
        let client = super::transport::client(name, timeout, ca_pem)?;
        let probes = super::transport::probe_client(name, timeout, ca_pem)?;
        let mut site = Self {
            name: name.to_string(),
            health: base.clone(),
            health_call: "GET /health".to_string(),
            mode_url: base.clone(),
            base,
            token,
            client,
            probes,
            timeout,
        };
        site.health = site.url(&["health"]);
        site.mode_url = site.url(&["mode"]);
        Ok(site)
    }

    /// How a health check call is named in errors (`GET /health`).
    pub fn health_call(&self) -> &str {
        &self.health_call
    }

    /// The same site with its health check at `path` (and query) under the
    /// admin URL, or at `full_url` when given.
    pub fn with_health_check(
        mut self,
        path: &str,
        full_url: Option<&str>,
    ) -> Result<Self, SiteError> {
        (self.health, self.health_call) =
            super::transport::health_check(&self.name, &self.base, path, full_url)?;
        Ok(self)
    }

    /// The same site with another per-call timeout (the client is shared).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn url(&self, segments: &[&str]) -> Url {
        super::transport::join(&self.base, segments)
    }

    /// One call with the bearer token: send, map transport failures to
    /// SiteError, read the answer under its cap.
    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<(StatusCode, String), SiteError> {
        let call = format!("{method} /{}", segments.join("/"));
        // The cap: generous for the service listing, small for the rest.
        let limit = if segments == ["services"] {
            MAX_SERVICES_BODY
        } else {
            MAX_BODY
        };
        self.send(&call, method, self.url(segments), body, Via::Admin, limit)
            .await
    }

    async fn send(
        &self,
        call: &str,
        method: Method,
        url: Url,
        body: Option<&Value>,
        via: Via,
        limit: usize,
    ) -> Result<(StatusCode, String), SiteError> {
        let (status, body, _) = self
            .send_with(call, method, url, body, via, limit, None)
            .await?;
        Ok((status, body))
    }

    /// `send`, with an optional `If-None-Match`; also returns the answer's
    /// `ETag` (trimmed, at most 256 characters).
    #[allow(clippy::too_many_arguments)]
    async fn send_with(
        &self,
        call: &str,
        method: Method,
        url: Url,
        body: Option<&Value>,
        via: Via,
        limit: usize,
        if_none_match: Option<&str>,
    ) -> Result<(StatusCode, String, Option<String>), SiteError> {
        let call = call.to_string();
        let client = match via {
            Via::Admin => &self.client,
            Via::Probe { .. } => &self.probes,
        };
        let mut req = client.request(method, url).timeout(self.timeout);
        if !matches!(via, Via::Probe { bearer: false }) {
            req = req.bearer_auth(&self.token.0);
        }
        if let Some(tag) = if_none_match {
            req = req.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = super::transport::send(&self.name, &call, self.timeout, client, req).await?;
        // Only the tag is read from the headers, before the body.
        let etag = resp
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|t| t.to_str().ok())
            .filter(|t| t.len() <= MAX_ETAG)
            .map(str::to_string);
        // A redirect is never followed (the bearer token would go wherever
        // the site points) and the body is read under its cap.
        let (status, body) =
            super::transport::read(&self.name, &call, self.timeout, limit, resp).await?;
        Ok((status, body, etag))
    }
}

pub use super::transport::set_replica;

impl Site for HttpSite {
    fn name(&self) -> &str {
        &self.name
    }

    /// The health check, called without credentials (it is open, as a load
    /// balancer calls it; a `healthCheckUrl` may be another host).
    async fn health(&self) -> Result<bool, SiteError> {
        let call = &self.health_call;
        let (status, body) = self
            .send(
                call,
                Method::GET,
                self.health.clone(),
                None,
                Via::Probe { bearer: false },
                MAX_BODY,
            )
            .await?;
        decode_health(&self.name, call, status.as_u16(), &body)
    }

    async fn info(&self) -> Result<SiteInfo, SiteError> {
        let (status, body) = self.call(Method::GET, &["info"], None).await?;
        decode_info(&self.name, status.as_u16(), &body)
    }

    async fn mode(&self) -> Result<ModeState, SiteError> {
        let (status, body) = self
            .send(
                "GET /mode",
                Method::GET,
                self.mode_url.clone(),
                None,
                Via::Probe { bearer: true },
                MAX_BODY,
            )
            .await?;
        decode_mode(&self.name, "GET /mode", status.as_u16(), &body)
    }

    async fn set_mode(&self, mode: Mode, epoch: i64) -> Result<ModeState, SiteError> {
        let body = json!({"mode": mode, "epoch": epoch});
        let (status, text) = self.call(Method::PUT, &["mode"], Some(&body)).await?;
        decode_mode(&self.name, "PUT /mode", status.as_u16(), &text)
    }

    async fn services(&self) -> Result<BTreeMap<String, Value>, SiteError> {
        let (status, body) = self.call(Method::GET, &["services"], None).await?;
        decode_services(&self.name, status.as_u16(), &body)
    }

    /// `GET /services` with `If-None-Match`: a site that offers an `ETag`
    /// answers 304 while its services are unchanged. A site that offers
    /// none is remembered by a hash of its listing's bytes (never sent):
    /// the same bytes again are `Unchanged` and not parsed.
    async fn services_if_changed(&self, etag: Option<&str>) -> Result<Listing, SiteError> {
        let url = self.url(&["services"]);
        let sent = etag.filter(|t| !is_body_tag(t));
        let (status, body, tag) = self
            .send_with(
                "GET /services",
                Method::GET,
                url,
                None,
                Via::Admin,
                MAX_SERVICES_BODY,
                sent,
            )
            .await?;
        let scope = format!("contract {}", self.base);
        decode_listing(&self.name, &scope, etag, status.as_u16(), &body, tag)
    }

    async fn put_service(&self, name: &str, definition: &Value) -> Result<(), SiteError> {
        let (status, text) = self
            .call(Method::PUT, &["services", name], Some(definition))
            .await?;
        if !status.is_success() {
            let call = format!("PUT /services/{name}");
            return Err(status_error(&self.name, &call, status.as_u16(), &text));
        }
        Ok(())
    }

    async fn delete_service(&self, name: &str) -> Result<(), SiteError> {
        let (status, text) = self.call(Method::DELETE, &["services", name], None).await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        let call = format!("DELETE /services/{name}");
        Err(status_error(&self.name, &call, status.as_u16(), &text))
    }
}

#[cfg(test)]
mod tests {

    fn site_at(admin: &str) -> HttpSite {
        HttpSite::new("east", admin, Token::new("t"), None, Duration::from_secs(1)).expect("site")
    }

    #[test]
    fn the_health_check_path_is_under_the_admin_url_with_its_query() {
        let s = site_at("https://gis.example:6443/site-admin/");
        assert_eq!(
            s.health.as_str(),
            "https://gis.example:6443/site-admin/health"
        );
        assert_eq!(
            s.mode_url.as_str(),
            "https://gis.example:6443/site-admin/mode"
        );
        let s = s
            .with_health_check("/arcgis/rest/info/healthCheck?f=json", None)
            .expect("path");
        assert_eq!(
            s.health.as_str(),
            "https://gis.example:6443/site-admin/arcgis/rest/info/healthCheck?f=json"
        );
        assert_eq!(s.health_call(), "GET /arcgis/rest/info/healthCheck?f=json");
    }

    #[test]
    fn a_health_check_url_replaces_the_path_and_must_be_http() {
        let s = site_at("https://gis.example/admin")
            .with_health_check("/health", Some("http://lb.example:8080/check"))
            .expect("url");
        assert_eq!(s.health.as_str(), "http://lb.example:8080/check");
        let e = site_at("https://gis.example/admin")
            .with_health_check("/health", Some("ftp://lb.example/check"))
            .unwrap_err();
        assert!(e.to_string().contains("must be an http(s) URL"), "{e}");
    }
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

    /// Serve one connection on a loopback port with `answer`; returns the base URL.
    async fn one_answer(answer: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            if let Ok((mut c, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf).await;
                let _ = c.write_all(answer.as_bytes()).await;
                let _ = c.shutdown().await;
            }
        });
        format!("http://{addr}/admin")
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed_and_names_its_target_without_credentials() {
        let base = one_answer(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://bob:pw@127.0.0.1:9/elsewhere/mode?token=abc\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        let site = HttpSite::new("west", &base, Token::new("t"), None, Duration::from_secs(5))
            .expect("site");
        let e = site.mode().await.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, SiteError::Status { status: 307, .. }), "{text}");
        assert_eq!(e.contact(), crate::api::SiteContact::Failing, "{text}");
        assert!(
            text.contains("redirect to http://127.0.0.1:9/elsewhere/mode, which is not followed"),
            "{text}"
        );
        assert!(
            !text.contains("bob") && !text.contains("pw@") && !text.contains("abc"),
            "{text}"
        );

        // A relative Location is shown resolved against the call's URL.
        let base = one_answer(
            "HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        let site = HttpSite::new("west", &base, Token::new("t"), None, Duration::from_secs(5))
            .expect("site");
        let text = site.health().await.unwrap_err().to_string();
        let host = base.trim_end_matches("/admin");
        assert!(
            text.contains(&format!(
                "GET /health: HTTP 302: the site answers with a redirect to {host}/login,"
            )),
            "{text}"
        );
    }
}
