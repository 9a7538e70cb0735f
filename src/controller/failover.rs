//! Automatic failover, the I/O half: when the pure check says so, change
//! spec.activeSite under the operator's own failover field manager, with the
//! reason in an annotation and an Event; the promotion then runs like any
//! other. A held failover shows as PromotionBlocked with what to do.

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tracing::warn;

use super::{Context, Error};
use crate::api::conditions::{self, Condition, ConditionStatus, types};
use crate::api::{
    ANNOTATION_ACK_FAILOVER, ANNOTATION_AUTOMATIC_FAILOVER, FAILOVER_FIELD_MANAGER, SiteHAPair,
    SiteHAPairStatus, duration,
};
use crate::plan::failover::{FailoverDecision, FailoverInput, plan_failover};
use crate::plan::observe::PlannedEvent;

/// A failover that is due: set spec.activeSite to `to`, because `why`.
pub struct DueFailover {
    pub to: String,
    pub why: String,
}

/// Check for an automatic failover: a held one goes into `status` as
/// PromotionBlocked; a due one is returned, to be carried out with
/// [`carry_out`] once the status is written.
pub fn failover_check(
    obj: &SiteHAPair,
    status: &mut SiteHAPairStatus,
    previous: &[Condition],
    generation: i64,
    now: &str,
) -> (Vec<PlannedEvent>, Option<DueFailover>) {
    let auto = &obj.spec.promotion.automatic;
    let source_revision = status
        .expected_revision(obj.spec.source.is_some())
        .map(str::to_string);
    let decision = plan_failover(&FailoverInput {
        enabled: auto.enabled,
        failure_threshold: auto.failure_threshold,
        min_interval: duration::parse("minInterval", &auto.min_interval).unwrap_or_default(),
        active: status.active_site.as_deref(),
        target: &obj.spec.active_site,
        promoting: status.promotion.is_some(),
        sites: &status.sites,
        source_revision: source_revision.as_deref(),
        last: status.history.last(),
        ack: obj
            .annotations()
            .get(ANNOTATION_ACK_FAILOVER)
            .map(String::as_str),
        pair: &obj.name_any(),
        now: jiff::Timestamp::now(),
    });
    let mut events = Vec::new();
    match decision {
        FailoverDecision::Stay => (events, None),
        FailoverDecision::Blocked { reason, message } => {
            let was = conditions::find(previous, types::PROMOTION_BLOCKED);
            if !was.is_some_and(|c| c.reason == reason && c.status == ConditionStatus::True) {
                events.push(PlannedEvent {
                    warning: true,
                    reason: "FailoverBlocked",
                    action: "Failover",
                    note: message.clone(),
                });
            }
            conditions::set_condition(
                &mut status.conditions,
                Condition::new(
                    types::PROMOTION_BLOCKED,
                    ConditionStatus::True,
                    reason,
                    message,
                    generation,
                    now,
                ),
            );
            (events, None)
        }
        FailoverDecision::Promote { to, why } => (events, Some(DueFailover { to, why })),
    }
}

/// Change spec.activeSite under the failover field manager, with the reason
/// in an annotation; returns the Event to publish.
pub async fn carry_out(
    ctx: &Context,
    obj: &SiteHAPair,
    due: DueFailover,
) -> Result<PlannedEvent, Error> {
    let DueFailover { to, why } = due;
    let namespace = obj.namespace().unwrap_or_default();
    if !ctx.is_leader() {
        return Err(Error::NotLeader {
            namespace,
            name: obj.name_any(),
        });
    }
    let api: Api<SiteHAPair> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = json!({
        "metadata": {"annotations": {ANNOTATION_AUTOMATIC_FAILOVER: format!("{to}: {why}")}},
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
            Err(_) => return Err(Error::NotLeader { namespace, name }),
        },
    };
    if let Err(e) = result {
        warn!(error = %e, "automatic failover: could not change spec.activeSite");
        return Err(Error::Failover {
            namespace,
            name: obj.name_any(),
            source: e,
        });
    }
    Ok(PlannedEvent {
        warning: true,
        reason: "AutomaticFailover",
        action: "Failover",
        note: format!("{why}: spec.activeSite set to {to}"),
    })
}
