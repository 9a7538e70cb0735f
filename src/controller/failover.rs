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
        // The trip's one reading of the clock.
        now: now.parse().unwrap_or_else(|_| jiff::Timestamp::now()),
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
            // The promotion's fold set PromotionBlocked False a moment ago
            // (no promotion runs): measured against the last trip, a held
            // failover keeps its transition time.
            conditions::set_condition_since(
                &mut status.conditions,
                Condition::new(
                    types::PROMOTION_BLOCKED,
                    ConditionStatus::True,
                    reason,
                    message,
                    generation,
                    now,
                ),
                previous,
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
    decided_at: Option<&str>,
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
            Err(_) => return Err(Error::NotLeader { namespace, name }),
        },
    };
    if let Err(kube::Error::Api(status)) = &result
        && status.code == 409
    {
        warn!(namespace = %namespace, name = %name, "automatic failover: the pair moved since the failover was decided; deciding again");
        return Err(Error::Conflict {
            namespace,
            name,
            resource_version: decided_at.unwrap_or_default().to_string(),
        });
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{PromotionRecord, SiteHealth, SiteStatus};

    /// A pair whose active east failed five health checks, with automatic
    /// failover on, its last promotion at 00:30 and a minimum interval of
    /// an hour: the failover is held.
    fn held_pair() -> SiteHAPair {
        let mut obj: SiteHAPair = serde_json::from_value(serde_json::json!({
            "apiVersion": "sitehapair.io/v1alpha1",
            "kind": "SiteHAPair",
            "metadata": {"name": "gis", "namespace": "prod"},
            "spec": {
                "activeSite": "east",
                "sites": [
                    {"name": "east", "adminUrl": "https://east.example",
                     "credentialsSecretRef": {"name": "east"}, "trafficAddresses": ["192.0.2.1"]},
                    {"name": "west", "adminUrl": "https://west.example",
                     "credentialsSecretRef": {"name": "west"}, "trafficAddresses": ["192.0.2.2"]},
                ],
                "promotion": {"automatic": {"enabled": true, "failureThreshold": 3, "minInterval": "1h"}},
            },
        }))
        .expect("pair");
        let row = |name: &str, health, failures| SiteStatus {
            name: String::from(name),
            health: Some(health),
            consecutive_failures: Some(failures),
            ..SiteStatus::default()
        };
        obj.status = Some(SiteHAPairStatus {
            active_site: Some("east".into()),
            epoch: 2,
            sites: vec![
                row("east", SiteHealth::Unhealthy, 5),
                row("west", SiteHealth::Healthy, 0),
            ],
            history: vec![PromotionRecord {
                completed_at: "2026-01-01T00:30:00Z".into(),
                ..PromotionRecord::default()
            }],
            ..SiteHAPairStatus::default()
        });
        obj
    }

    /// As the promotion's fold leaves it every trip: no promotion runs,
    /// so PromotionBlocked is False.
    fn folded(status: &mut SiteHAPairStatus, now: &str) {
        conditions::set_condition(
            &mut status.conditions,
            Condition::new(
                types::PROMOTION_BLOCKED,
                ConditionStatus::False,
                "NotBlocked",
                String::from("no promotion is blocked"),
                1,
                now,
            ),
        );
    }

    #[test]
    fn a_held_failover_keeps_the_transition_time_of_promotion_blocked_across_trips() {
        let obj = held_pair();
        let mut first = obj.status.clone().expect("status");
        folded(&mut first, "2026-01-01T00:40:00Z");
        let (events, due) = failover_check(&obj, &mut first, &[], 1, "2026-01-01T00:40:00Z");
        assert!(due.is_none());
        assert_eq!(events.len(), 1, "one Event when the hold begins");
        let blocked = conditions::find(&first.conditions, types::PROMOTION_BLOCKED)
            .expect("condition")
            .clone();
        assert_eq!(blocked.status, ConditionStatus::True);

        // The next trip, ten seconds on: still held, same transition time,
        // no second Event.
        let mut next = first.clone();
        folded(&mut next, "2026-01-01T00:40:10Z");
        let (events, _) = failover_check(
            &obj,
            &mut next,
            &first.conditions,
            1,
            "2026-01-01T00:40:10Z",
        );
        assert!(events.is_empty(), "{events:?}");
        let again =
            conditions::find(&next.conditions, types::PROMOTION_BLOCKED).expect("condition");
        assert_eq!(again.status, ConditionStatus::True);
        assert_eq!(again.last_transition_time, blocked.last_transition_time);
    }
}
