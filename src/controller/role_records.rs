//! Role records: where the operator keeps the role and fencing epoch of a
//! site whose product has none of its own (ArcGIS Server). One ConfigMap
//! per site, in the pair's namespace, named after a hash of the site's
//! admin URL (so a re-created or renamed pair finds the record its site
//! left), labelled `sitehapair.io/role-record`. Every write is a replace
//! guarded by the resourceVersion just read (or a create that fails when
//! someone else created it first), so two writers can never both win, and
//! a write at an epoch older than the record's is refused as fenced.
//!
//! Reads at rest come from memory: the role this process last read or wrote
//! is served for up to [`REREAD_AFTER`] (a record changes only through the
//! operator, and a leader's term is one process: a replica that took over
//! starts with no memory and reads). Every write reads the record afresh,
//! so a read that is out of date can lead at most to a write that is
//! fenced or finds nothing to change, never to two actives at one epoch.
//!
//! Deleting a pair leaves its records: they are the sites' state, as a
//! contract site's mode is, and a re-created pair must meet them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::sites::roles::{PASSIVE_AT_ZERO, RoleError, RoleStore, fenced_write};
use crate::sites::{Mode, ModeState};

/// The label on every role record.
pub const LABEL: &str = "sitehapair.io/role-record";
/// Tries of a write that lost a race before it reports the conflict.
const TRIES: usize = 4;
/// How long a role read or written by this process is served from memory.
pub const REREAD_AFTER: Duration = Duration::from_secs(60);

/// The record of one site.
pub struct ConfigMapRoles {
    api: Api<ConfigMap>,
    name: String,
    admin_url: String,
    /// The role last read or written, and when (shared by clones).
    memo: Arc<Mutex<Option<(ModeState, Instant)>>>,
}

impl fmt::Debug for ConfigMapRoles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigMapRoles")
            .field("name", &self.name)
            .finish()
    }
}

/// The record's name for a site: `sitehapair-role-` and 16 hex digits of
/// the SHA-256 of its normalized admin URL.
pub fn record_name(admin_url: &str) -> String {
    use sha2::{Digest, Sha256};
    let normal = crate::plan::claims::normalize(admin_url);
    format!(
        "sitehapair-role-{}",
        &hex::encode(Sha256::digest(normal.as_bytes()))[..16]
    )
}

impl ConfigMapRoles {
    pub fn new(client: kube::Client, namespace: &str, admin_url: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: record_name(admin_url),
            admin_url: admin_url.to_string(),
            memo: Arc::default(),
        }
    }

    fn remember(&self, state: Option<ModeState>) {
        *self.memo.lock().unwrap_or_else(|p| p.into_inner()) = state.map(|s| (s, Instant::now()));
    }

    fn remembered(&self) -> Option<ModeState> {
        let memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        memo.filter(|(_, at)| at.elapsed() < REREAD_AFTER)
            .map(|(s, _)| s)
    }

    async fn get(&self) -> Result<Option<ConfigMap>, RoleError> {
        self.api
            .get_opt(&self.name)
            .await
            .map_err(|e| RoleError::Store(format!("reading ConfigMap {}: {e}", self.name)))
    }

    fn body(&self, state: ModeState, resource_version: Option<String>) -> ConfigMap {
        let mode = match state.mode {
            Mode::Active => "active",
            Mode::Passive => "passive",
        };
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                resource_version,
                labels: Some(BTreeMap::from([(LABEL.to_string(), "true".to_string())])),
                annotations: Some(BTreeMap::from([(
                    "sitehapair.io/admin-url".to_string(),
                    crate::api::redact::redact_url(&self.admin_url),
                )])),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([
                ("mode".to_string(), mode.to_string()),
                ("epoch".to_string(), state.epoch.to_string()),
            ])),
            ..ConfigMap::default()
        }
    }

    async fn write_once(&self, mode: Mode, epoch: i64) -> Result<Option<ModeState>, RoleError> {
        let current = self.get().await?;
        let held = match &current {
            Some(cm) => state_of(cm).map_err(RoleError::Store)?,
            None => PASSIVE_AT_ZERO,
        };
        let next = fenced_write(held, mode, epoch)?;
        if current.is_some() && held == next {
            return Ok(Some(next));
        }
        let pp = PostParams::default();
        let result = match current {
            Some(cm) => {
                self.api
                    .replace(
                        &self.name,
                        &pp,
                        &self.body(next, cm.metadata.resource_version),
                    )
                    .await
            }
            None => self.api.create(&pp, &self.body(next, None)).await,
        };
        match result {
            Ok(_) => Ok(Some(next)),
            // Someone wrote between the read and this write: read again.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
            Err(e) => Err(RoleError::Store(format!(
                "writing ConfigMap {}: {e}",
                self.name
            ))),
        }
    }
}

/// The role a record holds.
pub fn state_of(cm: &ConfigMap) -> Result<ModeState, String> {
    let data = cm.data.clone().unwrap_or_default();
    let mode = match data.get("mode").map(String::as_str) {
        Some("active") => Mode::Active,
        Some("passive") | None => Mode::Passive,
        Some(other) => return Err(format!("mode {other:?} is neither active nor passive")),
    };
    let epoch = match data.get("epoch") {
        Some(e) => e
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("epoch {e:?} is not a number"))?,
        None => 0,
    };
    Ok(ModeState { mode, epoch })
}

impl RoleStore for ConfigMapRoles {
    fn read(&self) -> BoxFuture<'_, Result<ModeState, RoleError>> {
        Box::pin(async move {
            if let Some(s) = self.remembered() {
                return Ok(s);
            }
            let state = match self.get().await? {
                Some(cm) => state_of(&cm).map_err(RoleError::Store)?,
                None => PASSIVE_AT_ZERO,
            };
            self.remember(Some(state));
            Ok(state)
        })
    }

    fn write(&self, mode: Mode, epoch: i64) -> BoxFuture<'_, Result<ModeState, RoleError>> {
        Box::pin(async move {
            for _ in 0..TRIES {
                match self.write_once(mode, epoch).await {
                    Ok(Some(s)) => {
                        self.remember(Some(s));
                        return Ok(s);
                    }
                    Ok(None) => self.remember(None),
                    Err(e) => {
                        self.remember(None);
                        return Err(e);
                    }
                }
            }
            Err(RoleError::Store(format!(
                "ConfigMap {} kept changing under {TRIES} writes",
                self.name
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_named_by_the_site_not_the_pair() {
        let a = record_name("https://GIS-east.example:6443/arcgis/");
        assert_eq!(a, record_name("https://gis-east.example:6443/arcgis"));
        assert!(a.starts_with("sitehapair-role-") && a.len() == 32, "{a}");
        assert_ne!(a, record_name("https://gis-west.example:6443/arcgis"));
    }

    #[test]
    fn a_record_reads_back_and_a_broken_one_is_an_error() {
        let mut cm = ConfigMap::default();
        assert_eq!(state_of(&cm), Ok(PASSIVE_AT_ZERO));
        cm.data = Some(BTreeMap::from([
            ("mode".to_string(), "active".to_string()),
            ("epoch".to_string(), "7".to_string()),
        ]));
        assert_eq!(
            state_of(&cm),
            Ok(ModeState {
                mode: Mode::Active,
                epoch: 7
            })
        );
        cm.data = Some(BTreeMap::from([("epoch".to_string(), "seven".to_string())]));
        assert!(state_of(&cm).is_err());
    }
}
