//! Sites: the `Site` trait every driver implements (the site admin contract
//! of docs/site-api.md), its drivers (the contract over HTTP; ArcGIS
//! Server's Administrator API; pygeoapi's admin API), `SiteDriver`, which
//! holds any of them, and the role records of kinds without a role of
//! their own (`roles`).

pub mod answers;
pub mod arcgis;
pub mod driver;
pub mod http;
pub mod pygeoapi;
pub mod roles;
pub mod tls_config;
pub mod transport;

pub use driver::SiteDriver;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::api::SiteContact;

/// Whether a site takes client traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Active,
    Passive,
}

/// What `GET /mode` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeState {
    pub mode: Mode,
    pub epoch: i64,
}

/// What `GET /info` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteInfo {
    pub product: String,
    pub version: String,
    #[serde(default)]
    pub token_key_fingerprint: Option<String>,
}

/// What a conditional `GET /services` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Listing {
    /// 304: the services are as they were when the site gave that ETag.
    Unchanged,
    /// The whole listing, with the site's ETag for it when it offers one.
    Full {
        services: BTreeMap<String, Value>,
        etag: Option<String>,
    },
}

/// A failed call, naming the site and the call. Never carries the token.
#[derive(Debug, Error)]
pub enum SiteError {
    /// No connection could be made: refused, host or network unreachable,
    /// DNS, connect timeout. Silence.
    #[error("site {site}: {call}: unreachable: {message}")]
    Unreachable {
        site: String,
        call: String,
        message: String,
    },
    /// No connection, or no answer's head, within the timeout. Silence.
    #[error("site {site}: {call}: timed out after {timeout_ms} ms")]
    Timeout {
        site: String,
        call: String,
        timeout_ms: u128,
    },
    /// The site took the connection and the exchange broke: a TLS failure
    /// (an alert, a certificate the CA does not sign, bytes that are not
    /// TLS), the connection closed or reset before the answer, bytes that
    /// are not HTTP, or an answer cut short (reset, closed or timed out
    /// after its head). An answer, never silence.
    #[error("site {site}: {call}: broken: {message}")]
    Broken {
        site: String,
        call: String,
        message: String,
    },
    #[error("site {site}: {call}: refused the credentials (HTTP 401)")]
    Unauthorized { site: String, call: String },
    #[error("site {site}: {call}: fenced: {message}")]
    Fenced {
        site: String,
        call: String,
        message: String,
    },
    #[error("site {site}: {call}: HTTP {status}: {message}")]
    Status {
        site: String,
        call: String,
        status: u16,
        message: String,
    },
    #[error("site {site}: {call}: unexpected answer: {message}")]
    Decode {
        site: String,
        call: String,
        message: String,
    },
    #[error("site {site}: {message}")]
    Config { site: String, message: String },
    /// The site accepted a write (or holds a configuration) that its
    /// public API does not serve: written is not served.
    #[error("site {site}: resource {resource}: written but not served: {message}")]
    NotServed {
        site: String,
        resource: String,
        message: String,
    },
}

impl SiteError {
    /// The site is silent (`contact` is `NoAnswer`): no connection, or no
    /// answer before the timeout.
    pub fn is_unreachable(&self) -> bool {
        self.contact() == SiteContact::NoAnswer
    }

    /// What this error says about the site. Only silence is `NoAnswer`: no
    /// connection made (`Unreachable`) or no answer's head before the
    /// timeout (`Timeout`). Anything the site did once connected is an
    /// answer: an HTTP error, a refusal, and a broken exchange (`Broken`:
    /// TLS, a close or reset, an answer cut short) are `Failing`, retried
    /// and shown, never forced past.
    pub fn contact(&self) -> SiteContact {
        match self {
            SiteError::Unreachable { .. } | SiteError::Timeout { .. } => SiteContact::NoAnswer,
            SiteError::Broken { .. } => SiteContact::Failing,
            SiteError::Unauthorized { .. } => SiteContact::CredentialsRefused,
            SiteError::Status { status: 403, .. } => SiteContact::CredentialsRefused,
            SiteError::Fenced { .. } => SiteContact::Fenced,
            SiteError::Status { .. } | SiteError::Decode { .. } => SiteContact::Failing,
            SiteError::Config { .. } => SiteContact::Misconfigured,
            SiteError::NotServed { .. } => SiteContact::NotServing,
        }
    }
}

/// The site admin contract. Every call is idempotent.
#[allow(async_fn_in_trait)]
pub trait Site {
    /// The site's name in the pair.
    fn name(&self) -> &str;
    /// True when the site may take traffic.
    async fn health(&self) -> Result<bool, SiteError>;
    async fn info(&self) -> Result<SiteInfo, SiteError>;
    async fn mode(&self) -> Result<ModeState, SiteError>;
    /// Set the mode at an epoch; `SiteError::Fenced` when the site holds a newer epoch.
    async fn set_mode(&self, mode: Mode, epoch: i64) -> Result<ModeState, SiteError>;
    async fn services(&self) -> Result<BTreeMap<String, Value>, SiteError>;
    /// The listing unless it is unchanged since the site gave `etag`. A
    /// site without ETags always gives the whole listing.
    async fn services_if_changed(&self, etag: Option<&str>) -> Result<Listing, SiteError> {
        let _ = etag;
        Ok(Listing::Full {
            services: self.services().await?,
            etag: None,
        })
    }
    /// The form in which this kind compares definitions, when it is not
    /// the definition as written: a server that shows its own fields and
    /// defaults (ArcGIS) compares git's definitions without them too.
    fn canonical(&self, definition: &Value) -> Option<Value> {
        let _ = definition;
        None
    }
    async fn put_service(&self, name: &str, definition: &Value) -> Result<(), SiteError>;
    /// Delete a service; an absent one counts as deleted.
    async fn delete_service(&self, name: &str) -> Result<(), SiteError>;
}
