//! Automatic failover, the I/O half: the decision over the status as the
//! promotion left it (pure, in `plan::failover`), and, when one is due,
//! the change of spec.activeSite under the operator's own failover field
//! manager, with the reason in an annotation and an Event; the promotion
//! then runs like any other. A held failover is a finding the conditions
//! show as PromotionBlocked.

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tracing::warn;

use super::error::FailoverError;
use crate::api::{
    ANNOTATION_ACK_FAILOVER, ANNOTATION_AUTOMATIC_FAILOVER, FAILOVER_FIELD_MANAGER, SiteHAPair,
    SiteHAPairStatus,
};
use crate::controller::Context;
use crate::plan::event::PlannedEvent;
use crate::plan::failover::{FailoverDecision, FailoverInput, plan_failover};
use crate::plan::spec_check::SpecTimes;
use crate::plan::time::Timestamp;

/// Decide on an automatic failover over the status as the promotion left
/// it: a held one becomes a finding (PromotionBlocked, composed with the
/// rest); a due one is carried out by [`patch_active_site`] once the
/// status is recorded.
pub fn decide(
    obj: &SiteHAPair,
    status: &SiteHAPairStatus,
    times: &SpecTimes,
    now: Timestamp,
) -> FailoverDecision {
    let auto = &obj.spec.promotion.automatic;
    plan_failover(&FailoverInput {
        enabled: auto.enabled,
        failure_threshold: auto.failure_threshold,
        min_interval: times.min_interval,
        active: status.active_site.as_deref(),
        target: &obj.spec.active_site,
        promoting: status.promotion.is_some(),
        sites: &status.sites,
        source_revision: status.expected_revision(obj.spec.source.is_some()),
        last: status.history.last(),
        ack: obj
            .annotations()
            .get(ANNOTATION_ACK_FAILOVER)
            .map(String::as_str),
        pair: &obj.name_any(),
        now,
    })
}

/// Change spec.activeSite to `to` under the failover field manager, with
/// the reason (`why`) in an annotation; returns the Event to publish.
pub async fn patch_active_site(
    ctx: &Context,
    obj: &SiteHAPair,
    to: &str,
    why: &str,
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
    let mut metadata =
        json!({"annotations": {ANNOTATION_AUTOMATIC_FAILOVER: format!("{to}: {why}")}});
    if let Some(rv) = decided_at {
        metadata["resourceVersion"] = json!(rv);
    }
    let patch = json!({
        "metadata": metadata,
        "spec": {"activeSite": to},
    });
    let pp = PatchParams {
        field_manager: Some(FAILOVER_FIELD_MANAGER.to_string()),
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
        warn!(namespace = %namespace, name = %name, "automatic failover: the pair moved since the failover was decided; deciding again");
        return Err(FailoverError::Moved {
            resource_version: decided_at.unwrap_or_default().to_string(),
        });
    }
    if let Err(e) = result {
        warn!(error = %e, "automatic failover: could not change spec.activeSite");
        return Err(FailoverError::Patch(e));
    }
    Ok(PlannedEvent {
        warning: true,
        reason: "AutomaticFailover",
        action: "Failover",
        note: format!("{why}: spec.activeSite set to {to}"),
    })
}
