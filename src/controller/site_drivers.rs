//! What a trip needs from Secrets, built cheaply: site drivers (one HTTP
//! client per site and credentials, reused across reconciles and pairs) and
//! the git source's cache key and credentials. Which repository URLs may be
//! read at all is decided here: `file://` only when the operator was started
//! with `--allow-file-sources`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use super::role_records::ConfigMapRoles;
use super::secrets::TripSecrets;
use crate::api::{GitSource, SiteKind, SiteSpec};
use crate::sites::SiteDriver;
use crate::sites::arcgis::{ArcGisSite, Password};
use crate::sites::http::{HttpSite, Token};
use crate::sites::pygeoapi::PygeoapiSite;
use crate::sites::pygeoapi::front::Front;
use crate::sites::roles::{MemoryRoles, RoleStore};
use crate::source::cache::CacheKey;
use crate::source::git::{GitCredentials, GitReference};

/// A client not used for this long is dropped.
const UNUSED_FOR: Duration = Duration::from_secs(600);

/// Drivers by site (kind, name, URL, credentials, CA): a reconcile reuses
/// the connection pool, TLS set-up and (for ArcGIS) the token of the last
/// one; changed credentials or CA make a new driver.
#[derive(Default)]
pub struct SiteClients {
    map: Mutex<HashMap<String, (SiteDriver, Instant)>>,
    /// Where role records of sites without a role of their own are kept.
    cluster: Option<kube::Client>,
}

/// A site's credentials, as its kind needs them.
pub enum Credentials<'a> {
    /// A bearer token (contract sites).
    Token(&'a str),
    /// An administrator account (ArcGIS Server sites).
    Account {
        username: &'a str,
        password: &'a str,
    },
    /// Basic or bearer credentials for the front of a pygeoapi site.
    Front(Front),
}

impl SiteClients {
    /// Drivers whose role records (ArcGIS sites) live in this cluster.
    pub fn in_cluster(client: kube::Client) -> Self {
        Self {
            map: Mutex::default(),
            cluster: Some(client),
        }
    }

    /// The driver of `site` (in `namespace`) with these credentials, built once.
    pub fn driver(
        &self,
        namespace: &str,
        site: &SiteSpec,
        credentials: Credentials<'_>,
        ca: Option<&str>,
        timeout: Duration,
    ) -> Result<SiteDriver, String> {
        let (kind, secret_a, secret_b) = match &credentials {
            Credentials::Token(t) => ("contract", t.trim(), ""),
            Credentials::Account { username, password } => ("arcgis", username.trim(), *password),
            Credentials::Front(f) => {
                let [how, a, b] = f.key_parts();
                (
                    if how == "basic" {
                        "pygeoapi-basic"
                    } else {
                        "pygeoapi-bearer"
                    },
                    a,
                    b,
                )
            }
        };
        let key = fingerprint(&[
            kind,
            namespace,
            &site.name,
            &site.admin_url,
            secret_a,
            secret_b,
            ca.unwrap_or_default(),
        ]);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((d, used)) = map.get_mut(&key) {
            *used = Instant::now();
            return Ok(d.clone().with_timeout(timeout));
        }
        let ca_pem = ca.map(str::as_bytes);
        let d = match credentials {
            Credentials::Token(token) => SiteDriver::Contract(
                HttpSite::new(
                    &site.name,
                    &site.admin_url,
                    Token::new(token),
                    ca_pem,
                    timeout,
                )
                .map_err(|e| e.to_string())?,
            ),
            Credentials::Front(front) => SiteDriver::Pygeoapi(
                PygeoapiSite::new(
                    &site.name,
                    &site.admin_url,
                    front,
                    ca_pem,
                    timeout,
                    self.roles(namespace, site),
                )
                .map_err(|e| e.to_string())?,
            ),
            Credentials::Account { username, password } => {
                let roles = self.roles(namespace, site);
                SiteDriver::ArcGis(
                    ArcGisSite::new(
                        &site.name,
                        &site.admin_url,
                        username,
                        Password::new(password),
                        ca_pem,
                        timeout,
                        roles,
                    )
                    .map_err(|e| e.to_string())?,
                )
            }
        };
        map.insert(key, (d.clone(), Instant::now()));
        Ok(d)
    }

    /// The role record of a site without a role of its own: a ConfigMap
    /// in the pair's namespace, or (with no cluster) memory.
    fn roles(&self, namespace: &str, site: &SiteSpec) -> Arc<dyn RoleStore> {
        match &self.cluster {
            Some(c) => Arc::new(ConfigMapRoles::new(c.clone(), namespace, &site.admin_url)),
            None => Arc::new(MemoryRoles::default()),
        }
    }

    /// Drop drivers not used for a while (their site left a pair, or its
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

/// The driver of one site, with its credentials and CA from their
/// Secrets, and its health check at `health_path` (the pair's) or the
/// site's own URL. An ArcGIS site left at the default path is checked
/// where ArcGIS answers a load balancer (`rest/info/healthCheck`).
pub async fn site_driver(
    secrets: &TripSecrets<'_>,
    clients: &SiteClients,
    site: &SiteSpec,
    health_path: &str,
    timeout: Duration,
) -> Result<SiteDriver, String> {
    let at_site = |e: super::secrets::SecretError| format!("site {}: {e}", site.name);
    let secret = &site.credentials_secret_ref.name;
    let ca = match &site.ca_secret_ref {
        Some(r) => Some(secrets.required(&r.name, &r.key).await.map_err(at_site)?),
        None => None,
    };
    let namespace = secrets.namespace();
    let driver = match site.kind {
        SiteKind::Contract => {
            let key = &site.credentials_secret_ref.key;
            let token = secrets.required(secret, key).await.map_err(at_site)?;
            clients.driver(
                namespace,
                site,
                Credentials::Token(&token),
                ca.as_deref(),
                timeout,
            )?
        }
        SiteKind::ArcGisServer => {
            let username = secrets
                .required(secret, "username")
                .await
                .map_err(at_site)?;
            let password = secrets
                .required(secret, "password")
                .await
                .map_err(at_site)?;
            let account = Credentials::Account {
                username: &username,
                password: &password,
            };
            clients.driver(namespace, site, account, ca.as_deref(), timeout)?
        }
        SiteKind::Pygeoapi => {
            let front = pygeoapi_front(secrets, site).await.map_err(at_site)?;
            let creds = Credentials::Front(front);
            clients.driver(namespace, site, creds, ca.as_deref(), timeout)?
        }
    };
    let path = match site.kind {
        SiteKind::ArcGisServer if health_path == crate::api::defaults::health_path() => {
            crate::sites::arcgis::HEALTH_PATH
        }
        SiteKind::Pygeoapi if health_path == crate::api::defaults::health_path() => {
            crate::sites::pygeoapi::HEALTH_PATH
        }
        _ => health_path,
    };
    driver
        .with_health_check(path, site.health_check_url.as_deref())
        .map_err(|e| e.to_string())
}

/// A pygeoapi site's front credentials: `username` and `password` (HTTP
/// basic) when the Secret holds a username, else the bearer token under
/// the reference's key.
async fn pygeoapi_front(
    secrets: &TripSecrets<'_>,
    site: &SiteSpec,
) -> Result<Front, super::secrets::SecretError> {
    let secret = &site.credentials_secret_ref.name;
    match secrets.text(secret, "username").await? {
        Some(username) => {
            let password = secrets.required(secret, "password").await?;
            Ok(Front::basic(&username, &password))
        }
        None => {
            let token = secrets
                .required(secret, &site.credentials_secret_ref.key)
                .await?;
            Ok(Front::bearer(&token))
        }
    }
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
        let token = |t| Credentials::Token(t);
        clients
            .driver("ns", &east, token("token-1"), None, t)
            .expect("driver");
        clients
            .driver("ns", &east, token("token-1 "), None, t)
            .expect("driver");
        assert_eq!(clients.len(), 1, "the same credentials reuse the client");
        clients
            .driver("ns", &east, token("token-2"), None, t)
            .expect("driver");
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
