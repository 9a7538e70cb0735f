//! The HTTP driver of the site admin contract: reqwest with rustls, TLS
//! verified (against the site's CA when given), a timeout on every call,
//! redirects never followed (they are errors naming where the site pointed),
//! the bearer token kept out of every Debug, log and error, and the text a
//! site answers with masked (secret-looking JSON values) and trimmed before
//! it reaches an error.

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
/// Longest redirect target shown in an error.
const MAX_LOCATION: usize = 120;

/// At most `max` characters of `s`, marked when cut.
pub fn trim(s: &str, max: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// `text` with the string value of every secret-looking JSON key replaced
/// by `***`, in plain (`"password": "x"`) and escaped (`\"password\":
/// \"x\"`) form: a site that echoes a service definition in an error does
/// not carry its passwords into status, Events or logs. A value that does
/// not end is masked to the end of the text.
pub fn mask_secret_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(c) = text[i..].find(':') {
        let colon = i + c;
        match secret_value_after(text, colon) {
            Some((start, end)) => {
                out.push_str(&text[copied..start]);
                out.push_str("***");
                copied = end;
                i = end;
            }
            None => i = colon + 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The byte range of the string value after the colon at `colon`, when the
/// quoted key before the colon looks secret.
fn secret_value_after(text: &str, colon: usize) -> Option<(usize, usize)> {
    let before = text[..colon].trim_end();
    let before = before.strip_suffix('"')?;
    let before = before.strip_suffix('\\').unwrap_or(before);
    let open = before.rfind('"')?;
    let key = before[open + 1..].to_ascii_lowercase();
    if key.len() > 64 || !crate::api::redact::is_secret_key(&key) {
        return None;
    }
    let after = &text[colon + 1..];
    let value = after.trim_start();
    let offset = colon + 1 + (after.len() - value.len());
    if let Some(v) = value.strip_prefix("\\\"") {
        let start = offset + 2;
        let end = v.find("\\\"").map_or(text.len(), |e| start + e);
        return Some((start, end));
    }
    let v = value.strip_prefix('"')?;
    let start = offset + 1;
    let bytes = v.as_bytes();
    let end = (0..bytes.len())
        .find(|&j| bytes[j] == b'"' && (j == 0 || bytes[j - 1] != b'\\'))
        .map_or(text.len(), |e| start + e);
    Some((start, end))
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
    /// Where the health check is called (no credentials), and how calls
    /// to it are named in errors.
    health: Url,
    health_call: String,
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
        let mut site = Self {
            name: name.to_string(),
            health: base.clone(),
            health_call: "GET /health".to_string(),
            base,
            token,
            client,
            timeout,
        };
        site.health = site.url(&["health"]);
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
        let config = |message: String| SiteError::Config {
            site: self.name.clone(),
            message,
        };
        let url = match full_url {
            Some(u) => {
                let url =
                    Url::parse(u).map_err(|e| config(format!("healthCheckUrl {u:?}: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(config(format!(
                        "healthCheckUrl {u:?} must be an http(s) URL"
                    )));
                }
                url
            }
            None => {
                let (p, query) = match path.split_once('?') {
                    Some((p, q)) => (p, Some(q)),
                    None => (path, None),
                };
                let segments: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
                let mut url = self.url(&segments);
                url.set_query(query);
                url
            }
        };
        self.health_call = match full_url {
            Some(_) => format!("GET {}", trim(url.as_str(), MAX_MESSAGE)),
            None => format!("GET {path}"),
        };
        self.health = url;
        Ok(self)
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
        self.send(&call, method, self.url(segments), body, true, limit)
            .await
    }

    async fn send(
        &self,
        call: &str,
        method: Method,
        url: Url,
        body: Option<&Value>,
        bearer: bool,
        limit: usize,
    ) -> Result<(StatusCode, String), SiteError> {
        let call = call.to_string();
        let mut req = self.client.request(method, url).timeout(self.timeout);
        if bearer {
            req = req.bearer_auth(&self.token.0);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(&call, &e))?;
        let status = resp.status();
        // A redirect is never followed: the bearer token would go wherever
        // the site points. Say where it pointed.
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok());
            return Err(self.redirect_error(&call, status, resp.url(), location));
        }
        // Read in chunks up to the cap: a site's answer is never read whole.
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

    /// A 3xx answer, naming the target without user info or query (they
    /// may carry someone's credentials).
    fn redirect_error(
        &self,
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
            None => {
                "the site answers with a redirect (no Location), which is not followed".to_string()
            }
        };
        SiteError::Status {
            site: self.name.clone(),
            call: call.to_string(),
            status: status.as_u16(),
            message,
        }
    }

    fn status_error(&self, call: &str, status: StatusCode, body: &str) -> SiteError {
        let message = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(String::from))
            .unwrap_or_else(|| body.to_string());
        let message = trim(&mask_secret_values(&message), MAX_MESSAGE);
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
                false,
                MAX_BODY,
            )
            .await?;
        match status {
            s if s.is_success() => Ok(true),
            StatusCode::SERVICE_UNAVAILABLE => Ok(false),
            s => Err(self.status_error(call, s, &body)),
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

    #[test]
    fn secret_looking_values_in_site_text_are_masked() {
        let plain = r#"cannot apply {"name": "roads", "connection": {"user": "gis", "password" : "hunter2"}, "apiToken":"abc"}"#;
        assert_eq!(
            mask_secret_values(plain),
            r#"cannot apply {"name": "roads", "connection": {"user": "gis", "password" : "***"}, "apiToken":"***"}"#
        );
        let escaped = r#"{"error": "bad {\"secretKey\":\"s3\",\"url\":\"http://x\"}"}"#;
        assert_eq!(
            mask_secret_values(escaped),
            r#"{"error": "bad {\"secretKey\":\"***\",\"url\":\"http://x\"}"}"#
        );
        // An escaped quote inside the value, a value cut short, text that only looks alike.
        assert_eq!(
            mask_secret_values(r#""password": "a\"b", "x": "y""#),
            r#""password": "***", "x": "y""#
        );
        assert_eq!(
            mask_secret_values(r#"é "token": "never ends"#),
            r#"é "token": "***"#
        );
        let untouched =
            r#"the password is wrong: "user": "gis", token: plain, "url": "http://h:1""#;
        assert_eq!(mask_secret_values(untouched), untouched);
    }

    #[test]
    fn an_echoed_definition_reaches_the_error_masked_and_trimmed() {
        let site = HttpSite::new(
            "east",
            "http://127.0.0.1:1/admin",
            Token::new("t"),
            None,
            Duration::from_secs(1),
        )
        .expect("site");
        let echo = json!({"error": format!(
            "cannot store {}{}",
            json!({"name": "roads", "connection": {"password": "hunter2-s3cr3t"}}),
            "x".repeat(10_000)
        )})
        .to_string();
        let e = site.status_error(
            "PUT /services/roads",
            StatusCode::INTERNAL_SERVER_ERROR,
            &echo,
        );
        let text = e.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains(r#""password":"***""#), "{text}");
        assert!(text.chars().count() < 300 && text.ends_with('…'), "{text}");
    }
}
