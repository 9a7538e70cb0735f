//! `SiteDriver`: the one type the rest of the operator holds for a site,
//! whatever its kind (`spec.sites[].kind`). It implements `Site` by
//! handing each call to the kind's driver; nothing outside `sites/` knows
//! which kind it talks to.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::arcgis::ArcGisSite;
use super::http::HttpSite;
use super::pygeoapi::PygeoapiSite;
use super::{Listing, Mode, ModeState, Site, SiteError, SiteInfo};

/// A site of any kind.
#[derive(Debug, Clone)]
pub enum SiteDriver {
    /// The site admin contract over HTTP.
    Contract(HttpSite),
    /// ArcGIS Server's Administrator API.
    ArcGis(ArcGisSite),
    /// pygeoapi's admin API, behind an authenticating front.
    Pygeoapi(PygeoapiSite),
}

impl SiteDriver {
    /// The same site with another per-call timeout.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        match self {
            SiteDriver::Contract(s) => SiteDriver::Contract(s.with_timeout(timeout)),
            SiteDriver::ArcGis(s) => SiteDriver::ArcGis(s.with_timeout(timeout)),
            SiteDriver::Pygeoapi(s) => SiteDriver::Pygeoapi(s.with_timeout(timeout)),
        }
    }

    /// The same site with its health check at `path` under its admin URL,
    /// or at `full_url` when given.
    pub fn with_health_check(self, path: &str, full_url: Option<&str>) -> Result<Self, SiteError> {
        Ok(match self {
            SiteDriver::Contract(s) => SiteDriver::Contract(s.with_health_check(path, full_url)?),
            SiteDriver::ArcGis(s) => SiteDriver::ArcGis(s.with_health_check(path, full_url)?),
            SiteDriver::Pygeoapi(s) => SiteDriver::Pygeoapi(s.with_health_check(path, full_url)?),
        })
    }

    /// `set` (service name to definition) in this site's canonical form,
    /// when its kind compares in one (see `Site::canonical`).
    pub fn canonical_set(&self, set: &BTreeMap<String, Value>) -> Option<BTreeMap<String, Value>> {
        set.iter()
            .map(|(n, v)| Some((n.clone(), self.canonical(v)?)))
            .collect()
    }

    /// How the health check call is named in errors.
    pub fn health_call(&self) -> &str {
        match self {
            SiteDriver::Contract(s) => s.health_call(),
            SiteDriver::ArcGis(s) => s.health_call(),
            SiteDriver::Pygeoapi(s) => s.health_call(),
        }
    }
}

impl Site for SiteDriver {
    fn name(&self) -> &str {
        match self {
            SiteDriver::Contract(s) => s.name(),
            SiteDriver::ArcGis(s) => s.name(),
            SiteDriver::Pygeoapi(s) => s.name(),
        }
    }

    async fn health(&self) -> Result<bool, SiteError> {
        match self {
            SiteDriver::Contract(s) => s.health().await,
            SiteDriver::ArcGis(s) => s.health().await,
            SiteDriver::Pygeoapi(s) => s.health().await,
        }
    }

    async fn info(&self) -> Result<SiteInfo, SiteError> {
        match self {
            SiteDriver::Contract(s) => s.info().await,
            SiteDriver::ArcGis(s) => s.info().await,
            SiteDriver::Pygeoapi(s) => s.info().await,
        }
    }

    async fn mode(&self) -> Result<ModeState, SiteError> {
        match self {
            SiteDriver::Contract(s) => s.mode().await,
            SiteDriver::ArcGis(s) => s.mode().await,
            SiteDriver::Pygeoapi(s) => s.mode().await,
        }
    }

    async fn set_mode(&self, mode: Mode, epoch: i64) -> Result<ModeState, SiteError> {
        match self {
            SiteDriver::Contract(s) => s.set_mode(mode, epoch).await,
            SiteDriver::ArcGis(s) => s.set_mode(mode, epoch).await,
            SiteDriver::Pygeoapi(s) => s.set_mode(mode, epoch).await,
        }
    }

    async fn services(&self) -> Result<BTreeMap<String, Value>, SiteError> {
        match self {
            SiteDriver::Contract(s) => s.services().await,
            SiteDriver::ArcGis(s) => s.services().await,
            SiteDriver::Pygeoapi(s) => s.services().await,
        }
    }

    async fn services_if_changed(&self, etag: Option<&str>) -> Result<Listing, SiteError> {
        match self {
            SiteDriver::Contract(s) => s.services_if_changed(etag).await,
            SiteDriver::ArcGis(s) => s.services_if_changed(etag).await,
            SiteDriver::Pygeoapi(s) => s.services_if_changed(etag).await,
        }
    }

    fn canonical(&self, definition: &Value) -> Option<Value> {
        match self {
            SiteDriver::Contract(s) => s.canonical(definition),
            SiteDriver::ArcGis(s) => s.canonical(definition),
            SiteDriver::Pygeoapi(s) => s.canonical(definition),
        }
    }

    async fn put_service(&self, name: &str, definition: &Value) -> Result<(), SiteError> {
        match self {
            SiteDriver::Contract(s) => s.put_service(name, definition).await,
            SiteDriver::ArcGis(s) => s.put_service(name, definition).await,
            SiteDriver::Pygeoapi(s) => s.put_service(name, definition).await,
        }
    }

    async fn delete_service(&self, name: &str) -> Result<(), SiteError> {
        match self {
            SiteDriver::Contract(s) => s.delete_service(name).await,
            SiteDriver::ArcGis(s) => s.delete_service(name).await,
            SiteDriver::Pygeoapi(s) => s.delete_service(name).await,
        }
    }
}
