//! Status writes: server-side apply on the status subresource with the one
//! field manager, only while this replica leads, only when something
//! changed, and always guarded by the resourceVersion the status was
//! computed from, so that status.epoch, status.activeSite and the promotion
//! phase never go backwards: a write planned on a stale read fails with a
//! conflict, and the reconcile re-reads and plans again. What a write
//! finished (promotions, waits for an old active) is counted there.

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::{Context, Error};
use crate::api::{FIELD_MANAGER, SiteHAPair, SiteHAPairStatus};

/// What this reconcile last wrote (or read) and at which resourceVersion.
#[derive(Debug, Clone)]
pub struct Written {
    status: Option<SiteHAPairStatus>,
    resource_version: Option<String>,
}

impl Written {
    /// Start from the object as read.
    pub fn read(obj: &SiteHAPair) -> Self {
        Self {
            status: obj.status.clone(),
            resource_version: obj.metadata.resource_version.clone(),
        }
    }

    /// The resourceVersion of the object as this trip last read or wrote
    /// it: what a later write of this trip is guarded by.
    pub fn resource_version(&self) -> Option<&str> {
        self.resource_version.as_deref()
    }

    /// Apply `status` unless it equals the last one, with the
    /// resourceVersion as a precondition. Returns whether a write happened.
    pub async fn write(
        &mut self,
        ctx: &Context,
        obj: &SiteHAPair,
        status: &SiteHAPairStatus,
    ) -> Result<bool, Error> {
        let namespace = obj.metadata.namespace.clone().ok_or(Error::NoNamespace)?;
        let name = obj.metadata.name.clone().unwrap_or_default();
        if self.status.as_ref() == Some(status) {
            return Ok(false);
        }
        if !ctx.is_leader() {
            return Err(Error::NotLeader { namespace, name });
        }
        let api: Api<SiteHAPair> = Api::namespaced(ctx.client.clone(), &namespace);
        let result = apply_status_at(&api, &name, status, self.resource_version.as_deref()).await;
        match result {
            Ok(resource_version) => {
                self.resource_version = resource_version;
                // What this write finished (promotions, a wait for an old
                // active) is counted once: against the status it replaced.
                ctx.metrics.pairs.observe_transition(
                    &namespace,
                    &name,
                    self.status.as_ref(),
                    status,
                    jiff::Timestamp::now(),
                );
                self.status = Some(status.clone());
                // What this replica wrote is what it can vouch for.
                ctx.remember_status(&super::PairKey::new(&namespace, &name), Some(status));
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Err(Error::Conflict {
                namespace,
                name,
                resource_version: self.resource_version.clone().unwrap_or_default(),
            }),
            Err(source) => Err(Error::StatusWrite {
                namespace,
                name,
                source,
            }),
        }
    }
}

/// Server-side apply of `status` with the one field manager, refused by the
/// API server (409) unless the object is still at `resource_version`.
/// Returns the new resourceVersion.
pub async fn apply_status_at(
    api: &Api<SiteHAPair>,
    name: &str,
    status: &SiteHAPairStatus,
    resource_version: Option<&str>,
) -> Result<Option<String>, kube::Error> {
    let mut patch = json!({
        "apiVersion": "sitehapair.io/v1alpha1",
        "kind": "SiteHAPair",
        "status": status,
    });
    if let Some(rv) = resource_version {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    let updated = api
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(updated.metadata.resource_version)
}
