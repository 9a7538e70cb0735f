//! Automatic failover, the I/O half: when the decision over the status as
//! the promotion left it (pure, `plan::failover::decide`) says one is due,
//! the change of spec.activeSite under the operator's own failover field
//! manager, with the reason in an annotation and an Event; the promotion
//! then runs like any other. A held failover is a finding the conditions
//! show as PromotionBlocked.

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tracing::warn;

use super::error::FailoverError;
use crate::api::{ANNOTATION_AUTOMATIC_FAILOVER, FAILOVER_FIELD_MANAGER, SiteHAPair};
use crate::controller::Context;
use crate::plan::event::PlannedEvent;

/// A change of spec.activeSite the operator makes itself: under its own
/// field manager, with the reason in an annotation, and the Event to
/// publish once it landed.
pub struct SpecChange<'a> {
    pub to: &'a str,
    pub manager: &'static str,
    /// The annotation (key, value) that says why.
    pub annotation: (&'static str, String),
    pub event: PlannedEvent,
}

impl<'a> SpecChange<'a> {
    /// The automatic failover's change.
    pub fn failover(to: &'a str, why: &str) -> Self {
        Self {
            to,
            manager: FAILOVER_FIELD_MANAGER,
            annotation: (ANNOTATION_AUTOMATIC_FAILOVER, format!("{to}: {why}")),
            event: PlannedEvent {
                warning: true,
                reason: "AutomaticFailover",
                action: "Failover",
                note: format!("{why}: spec.activeSite set to {to}"),
            },
        }
    }
}

/// Change spec.activeSite as `change` says, guarded by the resourceVersion
/// the change was decided on; returns the Event to publish.
pub async fn patch_active_site(
    ctx: &Context,
    obj: &SiteHAPair,
    change: SpecChange<'_>,
    decided_at: Option<&str>,
) -> Result<PlannedEvent, FailoverError> {
    let namespace = obj.namespace().unwrap_or_default();
    if !ctx.is_leader() {
        return Err(FailoverError::NotLeader);
    }
    let api: Api<SiteHAPair> = Api::namespaced(ctx.client.clone(), &namespace);
    // Guarded by the resourceVersion the failover was decided on (the
    // status this trip wrote): a person's edit of spec.activeSite in the
    // meantime wins, and the next trip decides again.
    let (key, value) = &change.annotation;
    let mut annotations = serde_json::Map::new();
    annotations.insert((*key).to_string(), json!(value));
    let mut metadata = json!({ "annotations": annotations });
    if let Some(rv) = decided_at {
        metadata["resourceVersion"] = json!(rv);
    }
    let patch = json!({
        "metadata": metadata,
        "spec": {"activeSite": change.to},
    });
    let pp = PatchParams {
        field_manager: Some(change.manager.to_string()),
        ..PatchParams::default()
    };
    // A spec change must not land after this replica's renew deadline.
    let name = obj.name_any();
    let merge = Patch::Merge(&patch);
    let call = api.patch(&name, &pp, &merge);
    let result = match ctx.leader_until.remaining() {
        None => call.await,
        Some(left) => match tokio::time::timeout(left, call).await {
            Ok(r) => r,
            Err(_) => return Err(FailoverError::NotLeader),
        },
    };
    if let Err(kube::Error::Api(status)) = &result
        && status.code == 409
    {
        warn!(namespace = %namespace, name = %name, manager = change.manager, "the pair moved since its spec change was decided; deciding again");
        return Err(FailoverError::Moved {
            resource_version: decided_at.unwrap_or_default().to_string(),
        });
    }
    if let Err(e) = result {
        warn!(error = %e, manager = change.manager, "could not change spec.activeSite");
        return Err(FailoverError::Patch(e));
    }
    Ok(change.event)
}
