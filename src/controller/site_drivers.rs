//! What a trip needs from Secrets, built cheaply: site drivers (one HTTP
//! client per site and credentials, reused across reconciles and pairs) and
//! the git source's cache key and credentials. Which repository URLs may be
//! read at all is decided here: `file://` only when the operator was started
//! with `--allow-file-sources`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::secrets::TripSecrets;
use crate::api::{GitSource, SiteSpec};
use crate::sites::http::{HttpSite, Token};
use crate::source::cache::CacheKey;
use crate::source::git::{GitCredentials, GitReference};

/// A client not used for this long is dropped.
const UNUSED_FOR: Duration = Duration::from_secs(600);

/// HTTP clients by site (name, URL, token, CA): a reconcile reuses the
/// connection pool and TLS set-up of the last one; a changed token or CA
/// makes a new client.
#[derive(Default)]
pub struct SiteClients {
    map: Mutex<HashMap<String, (HttpSite, Instant)>>,
}

impl SiteClients {
    /// The driver of `site` with these credentials, built once.
    pub fn driver(
        &self,
        site: &SiteSpec,
        token: &str,
        ca: Option<&str>,
        timeout: Duration,
    ) -> Result<HttpSite, String> {
        let key = fingerprint(&[
            &site.name,
            &site.admin_url,
            token.trim(),
            ca.unwrap_or_default(),
        ]);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((d, used)) = map.get_mut(&key) {
            *used = Instant::now();
            return Ok(d.clone().with_timeout(timeout));
        }
        let d = HttpSite::new(
            &site.name,
            &site.admin_url,
            Token::new(token),
            ca.map(str::as_bytes),
            timeout,
        )
        .map_err(|e| e.to_string())?;
        map.insert(key, (d.clone(), Instant::now()));
        Ok(d)
    }

    /// Drop clients not used for a while (their site left a pair, or its
    /// credentials changed).
    pub fn prune(&self, now: Instant) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (_, used)| now.saturating_duration_since(*used) < UNUSED_FOR);
    }

    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A SHA-256 over NUL-separated parts: a map key that holds no secret.
fn fingerprint(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// The HTTP driver of one site, with its token and CA from their Secrets,
/// and its health check at `health_path` (the pair's) or the site's own URL.
pub async fn site_driver(
    secrets: &TripSecrets<'_>,
    clients: &SiteClients,
    site: &SiteSpec,
    health_path: &str,
    timeout: Duration,
) -> Result<HttpSite, String> {
    let at_site = |e: super::secrets::SecretError| format!("site {}: {e}", site.name);
    let token = secrets
        .required(
            &site.credentials_secret_ref.name,
            &site.credentials_secret_ref.key,
        )
        .await
        .map_err(at_site)?;
    let ca = match &site.ca_secret_ref {
        Some(r) => Some(secrets.required(&r.name, &r.key).await.map_err(at_site)?),
        None => None,
    };
    clients
        .driver(site, &token, ca.as_deref(), timeout)?
        .with_health_check(health_path, site.health_check_url.as_deref())
        .map_err(|e| e.to_string())
}

/// Why a source URL is not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error(
        "spec.source.git.url {url}: file:// repositories are refused; they read the operator's own disk. \
         Serve the repository over https or ssh (an operator for a demo or a test may be started with --allow-file-sources)"
    )]
    File { url: String },
    #[error(
        "spec.source.git.url {url}: only https://, http://, ssh:// and git:// repositories are read"
    )]
    Scheme { url: String },
}

/// Whether the operator reads this repository URL at all.
pub fn check_source_url(url: &str, allow_file: bool) -> Result<(), UrlRefused> {
    let shown = crate::api::redact::redact_url(url);
    let scheme = url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        "https" | "http" | "ssh" | "git" => Ok(()),
        "file" if allow_file => Ok(()),
        "file" => Err(UrlRefused::File { url: shown }),
        _ => Err(UrlRefused::Scheme { url: shown }),
    }
}

/// The cache key and credentials of a pair's source.
pub async fn source_key(
    secrets: &TripSecrets<'_>,
    git: &GitSource,
) -> Result<(CacheKey, GitCredentials), String> {
    let reference = match (
        &git.reference.branch,
        &git.reference.tag,
        &git.reference.commit,
    ) {
        (_, _, Some(c)) => GitReference::Commit(c.clone()),
        (_, Some(t), _) => GitReference::Tag(t.clone()),
        (Some(b), _, _) => GitReference::Branch(b.clone()),
        _ => GitReference::Branch("main".into()),
    };
    let mut creds = GitCredentials::default();
    let mut id = String::new();
    if let Some(s) = &git.secret_ref {
        id = format!("{}/{}", secrets.namespace(), s.name);
        let text = |k: &'static str| secrets.text(&s.name, k);
        let err = |e: super::secrets::SecretError| e.to_string();
        creds.username = text("username").await.map_err(err)?;
        creds.password = text("password").await.map_err(err)?;
        creds.identity = text("identity").await.map_err(err)?;
        creds.known_hosts = text("known_hosts").await.map_err(err)?;
    }
    Ok((
        CacheKey {
            url: git.url.clone(),
            reference,
            credentials: id,
        },
        creds,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(url: &str) -> SiteSpec {
        serde_json::from_value(serde_json::json!({
            "name": "east",
            "adminUrl": url,
            "credentialsSecretRef": {"name": "east-admin"},
            "trafficAddresses": ["192.0.2.10"],
        }))
        .expect("a site spec")
    }

    #[test]
    fn a_site_client_is_built_once_per_credentials_and_dropped_when_unused() {
        let clients = SiteClients::default();
        let east = site("https://east.example:6443/admin");
        let t = Duration::from_secs(5);
        clients.driver(&east, "token-1", None, t).expect("driver");
        clients.driver(&east, "token-1 ", None, t).expect("driver");
        assert_eq!(clients.len(), 1, "the same credentials reuse the client");
        clients.driver(&east, "token-2", None, t).expect("driver");
        assert_eq!(clients.len(), 2, "a rotated token gets its own client");
        clients.prune(Instant::now());
        assert_eq!(clients.len(), 2);
        clients.prune(Instant::now() + UNUSED_FOR + Duration::from_secs(1));
        assert!(clients.is_empty());
    }

    #[test]
    fn file_sources_are_refused_unless_allowed() {
        let e = check_source_url("file:///var/cache/sitehapair/x.git", false).unwrap_err();
        assert!(matches!(e, UrlRefused::File { .. }));
        assert!(e.to_string().contains("--allow-file-sources"), "{e}");
        assert!(check_source_url("FILE:///srv/r.git", false).is_err());
        assert!(check_source_url("file:///srv/r.git", true).is_ok());
    }

    #[test]
    fn only_network_schemes_are_read() {
        for ok in [
            "https://git.example/r.git",
            "http://git.example/r.git",
            "ssh://git@git.example/r.git",
            "git://git.example/r.git",
        ] {
            assert_eq!(check_source_url(ok, false), Ok(()), "{ok}");
        }
        for bad in ["/srv/repo.git", "ext::sh -c id", "git@host:r.git", ""] {
            assert!(
                matches!(check_source_url(bad, true), Err(UrlRefused::Scheme { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn refusals_never_show_credentials() {
        let e = check_source_url("file://user:hunter2@host/r.git", false).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
