//! Status writes: server-side apply on the status subresource with the one
//! field manager, only while this replica leads, only when something changed.

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::{Context, Error};
use crate::api::{FIELD_MANAGER, SiteHAPair, SiteHAPairStatus};

/// Apply `status` to the object unless it equals `old`. Returns whether a
/// write happened.
pub async fn apply_status(
    ctx: &Context,
    obj: &SiteHAPair,
    old: Option<&SiteHAPairStatus>,
    status: &SiteHAPairStatus,
) -> Result<bool, Error> {
    let namespace = obj.metadata.namespace.clone().ok_or(Error::NoNamespace)?;
    let name = obj.metadata.name.clone().unwrap_or_default();
    if old == Some(status) {
        return Ok(false);
    }
    if !ctx.is_leader() {
        return Err(Error::NotLeader { namespace, name });
    }
    let api: Api<SiteHAPair> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = json!({
        "apiVersion": "sitehapair.io/v1alpha1",
        "kind": "SiteHAPair",
        "status": status,
    });
    api.patch_status(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|source| Error::StatusWrite {
        namespace,
        name,
        source,
    })?;
    Ok(true)
}
