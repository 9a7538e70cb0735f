//! The pygeoapi driver: a site reached through pygeoapi's admin API
//! (`server.admin: true`; docs/pygeoapi.md), behind an authenticating
//! front (pygeoapi has no authentication of its own), behind the same
//! `Site` trait as the contract's HTTP driver.
//!
//! - Credentials: HTTP basic (`username` and `password` in the site's
//!   Secret) or a bearer token (the Secret's key), sent to the front on
//!   every call but the health check (`front`).
//! - Services: the configuration's `resources`, one per id, listed with
//!   `GET admin/config/resources`, created with `POST`, replaced with
//!   `PUT admin/config/resources/<id>`, deleted with `DELETE`, compared in
//!   one canonical form (`canonical`).
//! - Written is not served: the admin API writes the configuration file;
//!   the server serves it once it reloads. After every write the driver
//!   waits until `/collections` shows the change (`served`), and a listing
//!   whose configuration the public API does not show is an error
//!   (`SiteError::NotServed`), never a site in sync.
//! - Health: the landing page (`/?f=json`), or the pair's path, called
//!   without credentials as a load balancer calls it.
//! - Role and epoch: a role record outside the site (`sites::roles`), read
//!   and written only after an authenticated call to the site, so a site
//!   that does not answer is silence for the promotion machine.
//! - Version: the `X-Powered-By` header of an admin answer.

pub mod answers;
pub mod canonical;
pub mod front;
pub mod names;
pub mod served;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use serde_json::Value;

use self::answers::{Refusal, decode, healthy, refusal_error, resources_of, version_of};
use self::front::Front;
use self::served::{Unserved, View, check_all, check_one, expected, listed};
use super::answers::{MAX_BODY, MAX_SERVICES_BODY};
use super::roles::{RoleStore, role_error};
use super::{Mode, ModeState, Site, SiteError, SiteInfo, transport};

/// The landing page, as a load balancer checks a pygeoapi site.
pub const HEALTH_PATH: &str = "/?f=json";
/// How long a write waits for the public API to serve it (a reload under
/// gunicorn takes one to two seconds).
const SERVE_WINDOW: Duration = Duration::from_secs(10);
/// How long a listing that disagrees with the public API is read again
/// before the site is reported (a hand edit just made is being reloaded).
const SETTLE_WINDOW: Duration = Duration::from_secs(4);
/// Between two reads of the public listing while waiting.
const POLL: Duration = Duration::from_millis(200);

/// One pygeoapi site, behind its front.
#[derive(Clone)]
pub struct PygeoapiSite {
    name: String,
    /// The front's base URL: the pygeoapi root as clients see it.
    base: Url,
    front: Front,
    client: reqwest::Client,
    /// The health check's client, whose connections live from one trip to
    /// the next (`transport::IDLE_PROBE_CONNECTION`).
    probes: reqwest::Client,
    timeout: Duration,
    health: Url,
    health_call: String,
    roles: Arc<dyn RoleStore>,
}

impl fmt::Debug for PygeoapiSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PygeoapiSite")
            .field("name", &self.name)
            .field("base", &self.base.as_str())
            .field("front", &self.front)
            .finish_non_exhaustive()
    }
}

/// An answer: status, body, and the `X-Powered-By` header.
struct Answer {
    status: u16,
    body: String,
    powered_by: Option<String>,
}

impl PygeoapiSite {
    pub fn new(
        name: &str,
        admin_url: &str,
        front: Front,
        ca_pem: Option<&[u8]>,
        timeout: Duration,
        roles: Arc<dyn RoleStore>,
    ) -> Result<Self, SiteError> {
        let base = transport::base_url(name, admin_url)?;
        let client = transport::client(name, timeout, ca_pem)?;
        let probes = transport::probe_client(name, timeout, ca_pem)?;
        let site = Self {
            name: name.to_string(),
            health: base.clone(),
            health_call: String::new(),
            base,
            front,
            client,
            probes,
            timeout,
            roles,
        };
        site.with_health_check(HEALTH_PATH, None)
    }

    /// The health check at `path` under the site root, or at `full_url`.
    pub fn with_health_check(
        mut self,
        path: &str,
        full_url: Option<&str>,
    ) -> Result<Self, SiteError> {
        (self.health, self.health_call) =
            transport::health_check(&self.name, &self.base, path, full_url)?;
        Ok(self)
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn health_call(&self) -> &str {
        &self.health_call
    }

    /// One call through the front, with the credentials.
    async fn call(
        &self,
        call: &str,
        method: Method,
        segments: &[&str],
        body: Option<String>,
        limit: usize,
    ) -> Result<Answer, SiteError> {
        let mut url = transport::join(&self.base, segments);
        if segments.first() != Some(&"admin") {
            url.set_query(Some("f=json"));
        }
        let mut req = self.client.request(method, url).timeout(self.timeout);
        req = self.front.authorize(req);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b);
        }
        let resp = transport::send(&self.name, call, self.timeout, &self.client, req).await?;
        let powered_by = resp
            .headers()
            .get("x-powered-by")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (status, body) = transport::read(&self.name, call, self.timeout, limit, resp).await?;
        Ok(Answer {
            status: status.as_u16(),
            body,
            powered_by,
        })
    }

    /// An admin call: the body, or pygeoapi's refusal.
    async fn admin(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<String>,
        limit: usize,
    ) -> Result<(Result<String, Refusal>, Option<String>), SiteError> {
        let call = format!("{method} {}", segments.join("/"));
        let a = self.call(&call, method, segments, body, limit).await?;
        Ok((decode(&self.name, &call, a.status, &a.body)?, a.powered_by))
    }

    /// Every configured resource (the configuration file, as the admin API
    /// reads it), with the version the server reports.
    async fn configured(&self) -> Result<(BTreeMap<String, Value>, Option<String>), SiteError> {
        let segments = ["admin", "config", "resources"];
        let call = "GET admin/config/resources";
        let (answer, powered_by) = self
            .admin(Method::GET, &segments, None, MAX_SERVICES_BODY)
            .await?;
        let body = answer.map_err(|r| refusal_error(&self.name, call, r))?;
        let resources = resources_of(&self.name, call, &body)?.into_iter().collect();
        Ok((resources, powered_by))
    }

    /// What `/collections` lists now.
    async fn served(&self) -> Result<BTreeMap<String, View>, SiteError> {
        let call = "GET collections";
        let a = self
            .call(call, Method::GET, &["collections"], None, MAX_SERVICES_BODY)
            .await?;
        match decode(&self.name, call, a.status, &a.body)? {
            Ok(body) => serde_json::from_str::<Value>(&body)
                .map(|v| listed(&v))
                .map_err(|e| SiteError::Decode {
                    site: self.name.clone(),
                    call: call.to_string(),
                    message: format!("not JSON: {e}"),
                }),
            Err(r) => Err(refusal_error(&self.name, call, r)),
        }
    }

    fn not_served(&self, u: &Unserved, waited: Duration) -> SiteError {
        SiteError::NotServed {
            site: self.name.clone(),
            resource: u.id().to_string(),
            message: format!(
                "{} after {} s; is the server reloading its configuration (gunicorn --reload --reload-extra-file)?",
                u.message(),
                waited.as_secs()
            ),
        }
    }

    /// Wait until the public API shows resource `id` as `want` asks
    /// (None: not listed), up to the serve window.
    async fn await_served(&self, id: &str, want: Option<&View>) -> Result<(), SiteError> {
        let start = Instant::now();
        loop {
            let served = self.served().await?;
            match check_one(id, want, &served) {
                Ok(()) => return Ok(()),
                Err(u) if start.elapsed() >= SERVE_WINDOW => {
                    return Err(self.not_served(&u, SERVE_WINDOW));
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// An authenticated call that shows the site answers; its version.
    async fn probe(&self) -> Result<Option<String>, SiteError> {
        let segments = ["admin", "config"];
        let (answer, powered_by) = self
            .admin(Method::GET, &segments, None, MAX_BODY * 16)
            .await?;
        answer.map_err(|r| refusal_error(&self.name, "GET admin/config", r))?;
        Ok(version_of(powered_by.as_deref()))
    }
}

impl Site for PygeoapiSite {
    fn name(&self) -> &str {
        &self.name
    }

    async fn health(&self) -> Result<bool, SiteError> {
        let call = self.health_call.clone();
        let req = self.probes.get(self.health.clone()).timeout(self.timeout);
        let resp = transport::send(&self.name, &call, self.timeout, &self.probes, req).await?;
        let (status, body) =
            transport::read(&self.name, &call, self.timeout, MAX_BODY, resp).await?;
        Ok(healthy(status.as_u16(), &body))
    }

    async fn info(&self) -> Result<SiteInfo, SiteError> {
        let version = self.probe().await?.unwrap_or_else(|| "unknown".to_string());
        Ok(SiteInfo {
            product: "pygeoapi".to_string(),
            version,
            token_key_fingerprint: None,
        })
    }

    async fn mode(&self) -> Result<ModeState, SiteError> {
        self.probe().await?;
        self.roles
            .read()
            .await
            .map_err(|e| role_error(&self.name, "read the role", e))
    }

    async fn set_mode(&self, mode: Mode, epoch: i64) -> Result<ModeState, SiteError> {
        self.probe().await?;
        self.roles
            .write(mode, epoch)
            .await
            .map_err(|e| role_error(&self.name, "write the role", e))
    }

    /// The configured resources in canonical form, once the public API
    /// serves what they configure (read again for a few seconds while it
    /// does not: a hand edit may be reloading). Every resource is checked
    /// against the public API; only ids the name rules can express in git
    /// are managed and listed.
    async fn services(&self) -> Result<BTreeMap<String, Value>, SiteError> {
        let start = Instant::now();
        let configured = loop {
            let (configured, _) = self.configured().await?;
            let served = self.served().await?;
            let unserved = check_all(&configured, &served);
            match unserved.first() {
                None => break configured,
                Some(u) if start.elapsed() >= SETTLE_WINDOW => {
                    return Err(self.not_served(u, SETTLE_WINDOW));
                }
                Some(_) => tokio::time::sleep(POLL).await,
            }
        };
        Ok(configured
            .into_iter()
            .filter(|(id, _)| names::check_id(id).is_ok())
            .map(|(id, r)| (id, canonical::canonical(&r)))
            .collect())
    }

    fn canonical(&self, definition: &Value) -> Option<Value> {
        Some(canonical::canonical(definition))
    }

    async fn put_service(&self, name: &str, definition: &Value) -> Result<(), SiteError> {
        names::check_id(name).map_err(|e| SiteError::Config {
            site: self.name.clone(),
            message: e.to_string(),
        })?;
        let one = ["admin", "config", "resources", name];
        let (exists, _) = self.admin(Method::GET, &one, None, MAX_BODY).await?;
        let (call, answer) = match exists {
            Err(Refusal::NotFound) => {
                let all = ["admin", "config", "resources"];
                let body = serde_json::json!({ name: definition }).to_string();
                let (a, _) = self.admin(Method::POST, &all, Some(body), MAX_BODY).await?;
                (format!("POST admin/config/resources ({name})"), a)
            }
            Err(r) => {
                let call = format!("GET admin/config/resources/{name}");
                return Err(refusal_error(&self.name, &call, r));
            }
            Ok(_) => {
                let body = definition.to_string();
                let (a, _) = self.admin(Method::PUT, &one, Some(body), MAX_BODY).await?;
                (format!("PUT admin/config/resources/{name}"), a)
            }
        };
        match answer {
            Ok(_) => {}
            // The running server's resources are not its file's: it has
            // not reloaded since the file changed.
            Err(Refusal::Exists | Refusal::NotFound) => {
                let u = Unserved::Missing {
                    id: name.to_string(),
                };
                return Err(SiteError::NotServed {
                    site: self.name.clone(),
                    resource: name.to_string(),
                    message: format!(
                        "{call}: the running server's resources are not its configuration file's ({}); it has not reloaded",
                        u.message()
                    ),
                });
            }
            Err(r) => return Err(refusal_error(&self.name, &call, r)),
        }
        self.await_served(name, expected(definition).as_ref()).await
    }

    async fn delete_service(&self, name: &str) -> Result<(), SiteError> {
        names::check_id(name).map_err(|e| SiteError::Config {
            site: self.name.clone(),
            message: e.to_string(),
        })?;
        let one = ["admin", "config", "resources", name];
        let (answer, _) = self.admin(Method::DELETE, &one, None, MAX_BODY).await?;
        match answer {
            Ok(_) | Err(Refusal::NotFound) => {}
            Err(r) => {
                let call = format!("DELETE admin/config/resources/{name}");
                return Err(refusal_error(&self.name, &call, r));
            }
        }
        self.await_served(name, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show_in_debug_and_health_is_the_landing_page() {
        let s = PygeoapiSite::new(
            "east",
            "https://geo.example/pygeoapi",
            Front::basic("admin", "hunter2"),
            None,
            Duration::from_secs(1),
            Arc::new(crate::sites::roles::MemoryRoles::default()),
        )
        .expect("site");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.health.as_str(), "https://geo.example/pygeoapi?f=json");
    }
}
