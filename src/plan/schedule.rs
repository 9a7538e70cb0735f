//! When a pair syncs and when it is looked at again, pure.

use std::time::Duration;

use crate::api::PromotionPhase;
use crate::api::{SiteHAPairSpec, SiteHAPairStatus, duration};
use crate::plan::observe::spec_problems;

/// How soon a running promotion is looked at again.
pub const PROMOTION_REQUEUE: Duration = Duration::from_secs(1);

/// May this trip sync the sites? Not without a source, not before an active
/// site is known, not while suspended,
/// not on a bad spec, and not once a promotion has taken a step (one still
/// in Preflight may be waiting for exactly this sync).
pub fn sync_allowed(spec: &SiteHAPairSpec, status: &SiteHAPairStatus) -> bool {
    let promotion_stepping = status
        .promotion
        .as_ref()
        .is_some_and(|p| p.phase != PromotionPhase::Preflight);
    // With no active site known (first sight) the standby-first order has
    // no standby to start from: the sync waits for the activation.
    spec.source.is_some()
        && status.active_site.is_some()
        && !spec.sync.suspend
        && !promotion_stepping
        && spec_problems(spec).is_empty()
}

/// Come back at the sooner of the health and git intervals; every second
/// while a promotion runs.
pub fn requeue_after(
    spec: &SiteHAPairSpec,
    status: &SiteHAPairStatus,
    health: Duration,
) -> Duration {
    let base = spec
        .source
        .as_ref()
        .and_then(|s| duration::parse("source.git.interval", &s.git.interval).ok())
        .map_or(health, |git| git.min(health));
    // A running promotion, or traffic resting on a standby for drainTime.
    let resting = status
        .active_change
        .as_ref()
        .is_some_and(|c| c.step == crate::api::ChangeStep::TrafficToStandby);
    if status.promotion.is_some() || resting {
        base.min(PROMOTION_REQUEUE)
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{GitSource, PromotionStatus, SourceSpec};

    fn spec(source: bool) -> SiteHAPairSpec {
        let mut s: SiteHAPairSpec = serde_json::from_value(serde_json::json!({
            "activeSite": "east",
            "sites": [
                {"name": "east", "adminUrl": "https://e", "credentialsSecretRef": {"name": "e"}, "trafficAddresses": ["192.0.2.1"]},
                {"name": "west", "adminUrl": "https://w", "credentialsSecretRef": {"name": "w"}, "trafficAddresses": ["192.0.2.2"]}
            ]
        }))
        .expect("spec");
        if source {
            s.source = Some(SourceSpec {
                git: GitSource {
                    url: "https://g/r.git".into(),
                    reference: Default::default(),
                    path: ".".into(),
                    secret_ref: None,
                    interval: "5s".into(),
                },
            });
        }
        s
    }

    fn promoting(phase: PromotionPhase) -> SiteHAPairStatus {
        SiteHAPairStatus {
            active_site: Some("east".into()),
            promotion: Some(PromotionStatus {
                phase,
                ..PromotionStatus::default()
            }),
            ..SiteHAPairStatus::default()
        }
    }

    #[test]
    fn sync_waits_for_a_source_an_active_site_no_suspend_and_no_promotion_step() {
        let idle = SiteHAPairStatus {
            active_site: Some("east".into()),
            ..SiteHAPairStatus::default()
        };
        assert!(!sync_allowed(&spec(false), &idle));
        assert!(sync_allowed(&spec(true), &idle));
        // First sight: no active site known, so no standby to start from.
        assert!(!sync_allowed(&spec(true), &SiteHAPairStatus::default()));
        let mut suspended = spec(true);
        suspended.sync.suspend = true;
        assert!(!sync_allowed(&suspended, &idle));
        assert!(sync_allowed(
            &spec(true),
            &promoting(PromotionPhase::Preflight)
        ));
        assert!(!sync_allowed(
            &spec(true),
            &promoting(PromotionPhase::Demoting)
        ));
    }

    #[test]
    fn requeue_is_the_sooner_interval_and_fast_while_promoting() {
        let idle = SiteHAPairStatus::default();
        let ten = Duration::from_secs(10);
        assert_eq!(requeue_after(&spec(false), &idle, ten), ten);
        assert_eq!(
            requeue_after(&spec(true), &idle, ten),
            Duration::from_secs(5)
        );
        assert_eq!(
            requeue_after(&spec(true), &promoting(PromotionPhase::Promoting), ten),
            PROMOTION_REQUEUE
        );
    }
}
