//! The ArcGIS Server driver: a site reached through Esri's ArcGIS Server
//! Administrator API (docs/arcgis.md), behind the same `Site` trait as the
//! contract's HTTP driver.
//!
//! - Credentials: an administrator's username and password (from the
//!   pair's Secret) buy a token from `admin/generateToken`; the token is
//!   kept in memory, renewed before it expires and once more when the
//!   server calls it invalid (codes 498, 499). Every admin call is a POST
//!   with the token and `f=json` in a form body, never in a URL.
//! - Health: the load balancer's check (`rest/info/healthCheck?f=json`, or
//!   the pair's `healthCheck.path`), called without a token.
//! - Services: the root folder and every folder but the server's own
//!   and the portal's (System, Utilities, Hosted), each service's admin JSON normalised
//!   (`normalize`), its started/stopped state from its status resource.
//! - Role and epoch: a `RoleStore` record outside the site (`roles`). Each
//!   read or write of the role first makes an authenticated call to the
//!   site, so a site that does not answer is silence for the promotion
//!   machine, exactly as a contract site's `GET /mode` would be.

pub mod answers;
pub mod names;
pub mod normalize;
pub mod survey;

#[cfg(test)]
mod normalize_tests;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::Url;
use serde_json::Value;

use self::answers::{
    Refusal, decode, healthy, refusal_error, shared_key_fingerprint, token_of, version_of,
};
use self::names::{SERVER_FOLDERS, ServiceId};
use self::normalize::{State, definition_of, to_post};
use super::answers::{MAX_BODY, MAX_SERVICES_BODY};
use super::roles::{RoleError, RoleStore};
use super::{Mode, ModeState, Site, SiteError, SiteInfo, transport};

/// The health check of an ArcGIS site, under its root, as a load balancer calls it.
pub const HEALTH_PATH: &str = "/rest/info/healthCheck?f=json";
/// Lifetime asked of a token, in minutes.
const TOKEN_MINUTES: u32 = 60;
/// Services read at once while listing a site.
const LISTING_CONCURRENCY: usize = 8;

/// A password; its Debug never shows the value.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().trim_end_matches(['\r', '\n']).to_string())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A token and when it stops being good (unix ms).
#[derive(Clone)]
struct Held {
    token: String,
    renew_at_ms: i64,
}

/// One ArcGIS Server site.
#[derive(Clone)]
pub struct ArcGisSite {
    name: String,
    /// The site root, such as https://gis.example:6443/arcgis.
    base: Url,
    username: String,
    password: Password,
    client: reqwest::Client,
    /// The health check's client, whose connections live from one trip to
    /// the next (`transport::IDLE_PROBE_CONNECTION`).
    probes: reqwest::Client,
    timeout: Duration,
    health: Url,
    health_call: String,
    /// Shared by the clones of this driver (one token per credentials).
    token: Arc<Mutex<Option<Held>>>,
    roles: Arc<dyn RoleStore>,
}

impl fmt::Debug for ArcGisSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArcGisSite")
            .field("name", &self.name)
            .field("base", &self.base.as_str())
            .field("username", &self.username)
            .field("password", &self.password)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// When to renew a token that expires at `expires_ms`, got at `now_ms`: a
/// fifth of its life early, at least 10 s early.
pub fn renew_at(now_ms: i64, expires_ms: i64) -> i64 {
    let life = (expires_ms - now_ms).max(0);
    expires_ms - (life / 5).max(10_000)
}

impl ArcGisSite {
    pub fn new(
        name: &str,
        admin_url: &str,
        username: &str,
        password: Password,
        ca_pem: Option<&[u8]>,
        timeout: Duration,
        roles: Arc<dyn RoleStore>,
    ) -> Result<Self, SiteError> {
        let base = transport::base_url(name, admin_url)?;
        let client = transport::client(name, timeout, ca_pem)?;
        let probes = transport::probe_client(name, timeout, ca_pem)?;
        let mut site = Self {
            name: name.to_string(),
            health: base.clone(),
            health_call: String::new(),
            base,
            username: username.trim().to_string(),
            password,
            client,
            probes,
            timeout,
            token: Arc::default(),
            roles,
        };
        site = site.with_health_check(HEALTH_PATH, None)?;
        Ok(site)
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

    /// POST a form to `segments` under the site root; the answer as
    /// (status, body), read under `limit`.
    async fn post(
        &self,
        call: &str,
        segments: &[&str],
        form: &[(&str, &str)],
        limit: usize,
    ) -> Result<(u16, String), SiteError> {
        let url = transport::join(&self.base, segments);
        let req = self.client.post(url).timeout(self.timeout).form(form);
        let resp = transport::send(&self.name, call, self.timeout, &self.client, req).await?;
        let (status, body) = transport::read(&self.name, call, self.timeout, limit, resp).await?;
        Ok((status.as_u16(), body))
    }

    /// A token: the held one unless it is due for renewal or `renew`.
    async fn token(&self, renew: bool) -> Result<String, SiteError> {
        if !renew
            && let Some(h) = self
                .token
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
            && now_ms() < h.renew_at_ms
        {
            return Ok(h.token.clone());
        }
        let call = "POST admin/generateToken";
        let minutes = TOKEN_MINUTES.to_string();
        let form = [
            ("username", self.username.as_str()),
            ("password", self.password.0.as_str()),
            ("client", "requestip"),
            ("expiration", minutes.as_str()),
            ("f", "json"),
        ];
        let (status, body) = self
            .post(call, &["admin", "generateToken"], &form, MAX_BODY)
            .await?;
        if matches!(status, 401 | 403) {
            return Err(SiteError::Unauthorized {
                site: self.name.clone(),
                call: call.to_string(),
            });
        }
        let answer = decode(&self.name, call, status, &body)?;
        let value = match answer {
            Ok(v) => v,
            // generateToken refuses wrong credentials with an error in a
            // success (code 400 "Invalid credentials" or similar).
            Err(Refusal::Other {
                code: 400 | 401 | 403,
                ..
            }) => {
                return Err(SiteError::Unauthorized {
                    site: self.name.clone(),
                    call: call.to_string(),
                });
            }
            Err(r) => return Err(refusal_error(&self.name, call, r)),
        };
        let Some((token, expires)) = token_of(&value) else {
            return Err(SiteError::Decode {
                site: self.name.clone(),
                call: call.to_string(),
                message: "the answer holds no token".to_string(),
            });
        };
        let now = now_ms();
        let expires = if expires > now {
            expires
        } else {
            now + i64::from(TOKEN_MINUTES) * 60_000
        };
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(Held {
            token: token.clone(),
            renew_at_ms: renew_at(now, expires),
        });
        Ok(token)
    }

    /// One admin call with the token: on 498/499 a new token and one more try.
    async fn admin(
        &self,
        segments: &[&str],
        params: &[(&str, &str)],
        limit: usize,
    ) -> Result<Result<Value, Refusal>, SiteError> {
        let call = format!("POST {}", segments.join("/"));
        let mut renew = false;
        loop {
            let token = self.token(renew).await?;
            let mut form: Vec<(&str, &str)> = params.to_vec();
            form.push(("f", "json"));
            form.push(("token", token.as_str()));
            let (status, body) = self.post(&call, segments, &form, limit).await?;
            if matches!(status, 401 | 403) {
                return Err(SiteError::Unauthorized {
                    site: self.name.clone(),
                    call,
                });
            }
            match decode(&self.name, &call, status, &body)? {
                Err(Refusal::Token { .. }) if !renew => renew = true,
                other => return Ok(other),
            }
        }
    }

    /// An admin call whose refusal is an error.
    async fn admin_ok(
        &self,
        segments: &[&str],
        params: &[(&str, &str)],
        limit: usize,
    ) -> Result<Value, SiteError> {
        let call = format!("POST {}", segments.join("/"));
        self.admin(segments, params, limit)
            .await?
            .map_err(|r| refusal_error(&self.name, &call, r))
    }

    /// An authenticated call that shows the site answers (`admin/info`).
    async fn probe(&self) -> Result<Value, SiteError> {
        self.admin_ok(&["admin", "info"], &[], MAX_BODY).await
    }

    fn role_error(&self, call: &str, e: RoleError) -> SiteError {
        super::roles::role_error(&self.name, call, e)
    }

    /// Services of one folder ("" for the root): (folders, services).
    async fn folder(&self, folder: &str) -> Result<(Vec<String>, Vec<ServiceId>), SiteError> {
        let mut segments = vec!["admin", "services"];
        if !folder.is_empty() {
            segments.push(folder);
        }
        let v = self.admin_ok(&segments, &[], MAX_SERVICES_BODY).await?;
        let folders = v
            .get("folders")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut services = Vec::new();
        for s in v
            .get("services")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let f = s
                .get("folderName")
                .and_then(Value::as_str)
                .unwrap_or(folder);
            let (Some(n), Some(t)) = (
                s.get("serviceName").and_then(Value::as_str),
                s.get("type").and_then(Value::as_str),
            ) else {
                continue;
            };
            // A service the name rules cannot express is not managed.
            if let Ok(id) = ServiceId::of_listing(f, n, t) {
                services.push(id);
            }
        }
        Ok((folders, services))
    }

    /// One service's git form, or None when it does not exist.
    async fn read_service(&self, id: &ServiceId) -> Result<Option<Value>, SiteError> {
        let seg = id.segments();
        let mut segments = vec!["admin", "services"];
        segments.extend(seg.iter().map(String::as_str));
        let json = match self.admin(&segments, &[], MAX_BODY).await? {
            Ok(v) => v,
            Err(Refusal::NotFound { .. }) => return Ok(None),
            Err(r) => {
                return Err(refusal_error(
                    &self.name,
                    &format!("POST {}", segments.join("/")),
                    r,
                ));
            }
        };
        segments.push("status");
        let status = self.admin_ok(&segments, &[], MAX_BODY).await?;
        let state = status
            .get("configuredState")
            .and_then(Value::as_str)
            .and_then(State::of);
        Ok(Some(definition_of(json, state)))
    }

    async fn service_op(
        &self,
        id: &ServiceId,
        op: &str,
        params: &[(&str, &str)],
    ) -> Result<Result<Value, Refusal>, SiteError> {
        let seg = id.segments();
        let mut segments = vec!["admin", "services"];
        segments.extend(seg.iter().map(String::as_str));
        segments.push(op);
        self.admin(&segments, params, MAX_BODY).await
    }

    fn call_name(id: &ServiceId, op: &str) -> String {
        format!("POST admin/services/{}/{op}", id.segments().join("/"))
    }
}

impl Site for ArcGisSite {
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
        let info = self.probe().await?;
        let version = version_of(&info).unwrap_or_else(|| "unknown".to_string());
        // The shared key is read only to fingerprint it; an account that
        // may not read the token configuration leaves it unknown.
        let key = match self
            .admin(&["admin", "security", "tokens"], &[], MAX_BODY)
            .await?
        {
            Ok(v) => shared_key_fingerprint(&v),
            Err(_) => None,
        };
        Ok(SiteInfo {
            product: "ArcGIS Server".to_string(),
            version,
            token_key_fingerprint: key,
        })
    }

    async fn mode(&self) -> Result<ModeState, SiteError> {
        self.probe().await?;
        self.roles
            .read()
            .await
            .map_err(|e| self.role_error("read the role", e))
    }

    async fn set_mode(&self, mode: Mode, epoch: i64) -> Result<ModeState, SiteError> {
        self.probe().await?;
        self.roles
            .write(mode, epoch)
            .await
            .map_err(|e| self.role_error("write the role", e))
    }

    async fn services(&self) -> Result<BTreeMap<String, Value>, SiteError> {
        let (folders, mut ids) = self.folder("").await?;
        for f in folders
            .iter()
            .filter(|f| !SERVER_FOLDERS.iter().any(|s| s.eq_ignore_ascii_case(f)))
        {
            let (_, more) = self.folder(f).await?;
            ids.extend(
                more.into_iter()
                    .filter(|id| id.folder.as_deref() == Some(f.as_str())),
            );
        }
        let read: Vec<(String, Option<Value>)> =
            stream::iter(ids)
                .map(|id| async move {
                    Ok::<_, SiteError>((id.to_string(), self.read_service(&id).await?))
                })
                .buffer_unordered(LISTING_CONCURRENCY)
                .try_collect()
                .await?;
        Ok(read
            .into_iter()
            .filter_map(|(n, v)| Some((n, v?)))
            .collect())
    }

    fn canonical(&self, definition: &Value) -> Option<Value> {
        Some(normalize::canonical(definition))
    }

    async fn put_service(&self, name: &str, definition: &Value) -> Result<(), SiteError> {
        let config = |message: String| SiteError::Config {
            site: self.name.clone(),
            message,
        };
        let id = ServiceId::parse(name).map_err(|e| config(e.to_string()))?;
        let (json, state) = to_post(&id, definition).map_err(|e| config(e.to_string()))?;
        let live = self.read_service(&id).await?;
        let body = json.to_string();
        match &live {
            None => {
                if let Some(folder) = &id.folder {
                    let (folders, _) = self.folder("").await?;
                    if !folders.iter().any(|f| f == folder) {
                        let call = "POST admin/services/createFolder";
                        self.admin(
                            &["admin", "services", "createFolder"],
                            &[("folderName", folder), ("description", "")],
                            MAX_BODY,
                        )
                        .await?
                        .map_err(|r| refusal_error(&self.name, call, r))?;
                    }
                }
                let mut segments = vec!["admin", "services"];
                if let Some(f) = &id.folder {
                    segments.push(f);
                }
                segments.push("createService");
                self.admin_ok(&segments, &[("service", &body)], MAX_BODY)
                    .await?;
            }
            // Editing restarts the service: only when the JSON differs.
            Some(have)
                if definition_of(have.clone(), None) != definition_of(json.clone(), None) =>
            {
                self.service_op(&id, "edit", &[("service", &body)])
                    .await?
                    .map_err(|r| refusal_error(&self.name, &Self::call_name(&id, "edit"), r))?;
            }
            Some(_) => {}
        }
        let now = match live.as_ref().and_then(|l| l.get("configuredState")) {
            Some(_) => State::Stopped,
            None if live.is_some() => State::Started,
            // A created service: read its state.
            None => match self.read_service(&id).await? {
                Some(v) if v.get("configuredState").is_some() => State::Stopped,
                _ => State::Started,
            },
        };
        if now != state {
            self.service_op(&id, state.operation(), &[])
                .await?
                .map_err(|r| {
                    refusal_error(&self.name, &Self::call_name(&id, state.operation()), r)
                })?;
        }
        Ok(())
    }

    async fn delete_service(&self, name: &str) -> Result<(), SiteError> {
        let id = ServiceId::parse(name).map_err(|e| SiteError::Config {
            site: self.name.clone(),
            message: e.to_string(),
        })?;
        match self.service_op(&id, "delete", &[]).await? {
            Ok(_) | Err(Refusal::NotFound { .. }) => Ok(()),
            Err(r) => Err(refusal_error(
                &self.name,
                &Self::call_name(&id, "delete"),
                r,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_a_fifth_of_its_life_early_and_at_least_ten_seconds_early() {
        assert_eq!(renew_at(0, 3_600_000), 3_600_000 - 720_000);
        assert_eq!(renew_at(0, 20_000), 10_000);
        assert_eq!(renew_at(50_000, 40_000), 30_000);
    }

    #[test]
    fn the_password_never_shows_in_debug() {
        let s = ArcGisSite::new(
            "east",
            "https://gis.example:6443/arcgis",
            "siteadmin",
            Password::new("hunter2"),
            None,
            Duration::from_secs(1),
            Arc::new(crate::sites::roles::MemoryRoles::default()),
        )
        .expect("site");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(
            s.health.as_str(),
            "https://gis.example:6443/arcgis/rest/info/healthCheck?f=json"
        );
    }
}
