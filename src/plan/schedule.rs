//! When a pair syncs and when it is looked at again, pure.
//!
//! A pair's trips fall on its own slot of the period (a stable hash of its
//! name, as Prometheus spreads its scrapes): a push that wakes a thousand
//! pairs at once does not leave them checking their sites in step ever
//! after, and each site still sees one health check per interval.

use std::time::Duration;

use crate::api::PromotionPhase;
use crate::api::{SiteHAPairSpec, SiteHAPairStatus};
use crate::plan::spec_check::{SpecCheck, SpecTimes};
use crate::plan::time::{Timestamp, parse};
use crate::plan::windows::{Action, Gate, gate};

/// How soon a running promotion is looked at again.
pub const PROMOTION_REQUEUE: Duration = Duration::from_secs(1);

/// May this trip sync the sites? Not without a source, not before an active
/// site is known, not while suspended,
/// not on a bad spec, and not once a promotion has taken a step (one still
/// in Preflight may be waiting for exactly this sync).
pub fn sync_allowed(spec: &SiteHAPairSpec, check: &SpecCheck, status: &SiteHAPairStatus) -> bool {
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
        && check.valid()
}

/// Come back at the sooner of the health and git intervals; every second
/// while a promotion runs.
pub fn requeue_after(times: &SpecTimes, status: &SiteHAPairStatus) -> Duration {
    let health = times.health_interval;
    let base = times.git_interval.map_or(health, |git| git.min(health));
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

/// A promotion is pending (spec.activeSite names another site than the
/// active one) or running.
pub fn promotion_pending(spec: &SiteHAPairSpec, status: &SiteHAPairStatus) -> bool {
    status.promotion.is_some() || status.active_site.as_deref() != Some(spec.active_site.as_str())
}

/// Is every site listed whole (or conditionally) this trip, whatever a
/// listing remembered from within the source's interval says? While a
/// promotion is pending or running (its preflight compares the target's
/// services), and when a person asked for a reconcile (the annotation, not
/// handled yet). A push needs nothing of its own: it moves the revision,
/// and a remembered listing stands only for the revision it matched.
pub fn list_every_site(
    spec: &SiteHAPairSpec,
    status: &SiteHAPairStatus,
    reconcile_asked: bool,
) -> bool {
    promotion_pending(spec, status) || reconcile_asked
}

/// How long from `now` until a running promotion's contact window runs out
/// (the deadline status recorded), while that is ahead: the trip that
/// forces the promotion over a silent site comes then, not up to a period
/// later on the pair's slot.
pub fn contact_deadline_in(status: &SiteHAPairStatus, now: Timestamp) -> Option<Duration> {
    let deadline = parse(status.promotion.as_ref()?.deadline.as_deref()?)?;
    let ahead = now.duration_until(deadline);
    (ahead.is_positive()).then(|| Duration::try_from(ahead).ok())?
}

/// spec.activeSite names another site than the active one and no
/// promotion runs yet: a promotion is to start (what its time and its
/// change windows may hold back).
pub fn promotion_to_start(spec: &SiteHAPairSpec, status: &SiteHAPairStatus) -> bool {
    status.promotion.is_none()
        && status.active_site.is_some()
        && status.active_site.as_deref() != Some(spec.active_site.as_str())
}

/// How long from `now` until a planned promotion that waits for its time
/// or its change window may start, or the sync's window opens: that trip
/// comes then, not up to a period later.
pub fn window_due_in(
    check: &SpecCheck,
    spec: &SiteHAPairSpec,
    status: &SiteHAPairStatus,
    now: Timestamp,
) -> Option<Duration> {
    let waiting = promotion_to_start(spec, status);
    let mut times = Vec::new();
    if waiting {
        times.extend(check.not_before.filter(|t| *t > now));
        if let Gate::Closed { until, .. } = gate(&check.windows, Action::PlannedPromotion, now) {
            times.extend(until);
        }
    }
    if let Gate::Closed { until, .. } = gate(&check.windows, Action::Sync, now) {
        times.extend(until);
    }
    let next = times.into_iter().filter(|t| *t > now).min()?;
    Duration::try_from(now.duration_until(next)).ok()
}

/// How long from `now` until the pair hashed `hash` is due again, when it
/// comes back every `period`: its slot is `hash` modulo the period, counted
/// from an epoch `now` shares (the process start). The wait is in
/// (0, period]: a trip that ran on its slot comes back one period later;
/// one run off its slot (woken by a push, an edit) comes back on the slot,
/// sooner than a period.
pub fn until_slot(period: Duration, hash: u64, now: Duration) -> Duration {
    let period_ns = period.as_nanos();
    if period_ns == 0 {
        return period;
    }
    let phase = u128::from(hash) % period_ns;
    let into = (now.as_nanos() + period_ns - phase) % period_ns;
    let wait = period_ns - into;
    Duration::from_nanos(u64::try_from(wait).unwrap_or(u64::MAX))
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
                    verify: None,
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

    fn allowed(spec: &SiteHAPairSpec, status: &SiteHAPairStatus) -> bool {
        sync_allowed(spec, &crate::plan::spec_check::check_spec(spec), status)
    }

    fn requeue(spec: &SiteHAPairSpec, status: &SiteHAPairStatus, health: Duration) -> Duration {
        let mut times = crate::plan::spec_check::check_spec(spec).times;
        times.health_interval = health;
        requeue_after(&times, status)
    }

    #[test]
    fn every_site_is_listed_while_a_promotion_is_pending_or_running_or_a_reconcile_was_asked() {
        let idle = SiteHAPairStatus {
            active_site: Some("east".into()),
            ..SiteHAPairStatus::default()
        };
        // At rest, and after a push (which only moves the revision): the
        // listing memo decides.
        assert!(!list_every_site(&spec(true), &idle, false));
        assert!(list_every_site(&spec(true), &idle, true));
        assert!(list_every_site(
            &spec(true),
            &promoting(PromotionPhase::Preflight),
            false
        ));
        let mut to_west = spec(true);
        to_west.active_site = "west".into();
        assert!(list_every_site(&to_west, &idle, false));
        // First sight: no active site known yet.
        assert!(list_every_site(
            &spec(true),
            &SiteHAPairStatus::default(),
            false
        ));
    }

    #[test]
    fn sync_waits_for_a_source_an_active_site_no_suspend_and_no_promotion_step() {
        let idle = SiteHAPairStatus {
            active_site: Some("east".into()),
            ..SiteHAPairStatus::default()
        };
        assert!(!allowed(&spec(false), &idle));
        assert!(allowed(&spec(true), &idle));
        // First sight: no active site known, so no standby to start from.
        assert!(!allowed(&spec(true), &SiteHAPairStatus::default()));
        let mut suspended = spec(true);
        suspended.sync.suspend = true;
        assert!(!allowed(&suspended, &idle));
        assert!(allowed(&spec(true), &promoting(PromotionPhase::Preflight)));
        assert!(!allowed(&spec(true), &promoting(PromotionPhase::Demoting)));
    }

    #[test]
    fn a_pair_on_its_slot_comes_back_one_period_later() {
        let ten = Duration::from_secs(10);
        // Hash 3 s into the period: at 3 s (on the slot) the next is 13 s.
        let hash = 3_000_000_000;
        assert_eq!(until_slot(ten, hash, Duration::from_secs(3)), ten);
        assert_eq!(
            until_slot(ten, hash, Duration::from_millis(3_030)),
            Duration::from_millis(9_970)
        );
        // Woken off its slot (at 21 s), it comes back on it (23 s).
        assert_eq!(
            until_slot(ten, hash, Duration::from_secs(21)),
            Duration::from_secs(2)
        );
        assert_eq!(
            until_slot(ten, hash, Duration::from_millis(2_999)),
            Duration::from_millis(1)
        );
        assert_eq!(until_slot(Duration::ZERO, hash, ten), Duration::ZERO);
    }

    proptest::proptest! {
        /// Never longer than a period (each site still gets the health
        /// checks its interval asks for), never zero, and landing on the slot.
        #[test]
        fn the_wait_is_within_a_period_and_ends_on_the_slot(
            period_ms in 1u64..120_000,
            hash in proptest::prelude::any::<u64>(),
            now_ms in 0u64..10_000_000,
        ) {
            let period = Duration::from_millis(period_ms);
            let now = Duration::from_millis(now_ms);
            let wait = until_slot(period, hash, now);
            proptest::prop_assert!(wait > Duration::ZERO && wait <= period);
            let at = (now + wait).as_nanos();
            proptest::prop_assert_eq!(at % period.as_nanos(), u128::from(hash) % period.as_nanos());
        }

        /// A thousand pairs woken together (a push) come back spread over
        /// the period, not in step: no tenth of it holds more than a fifth
        /// of them.
        #[test]
        fn pairs_woken_together_come_back_spread(now_ms in 0u64..10_000_000) {
            let period = Duration::from_secs(10);
            let now = Duration::from_millis(now_ms);
            let mut tenths = [0u32; 10];
            for i in 0..1000 {
                let hash = crate::plan::shard::pair_hash("bench", &format!("pair-{i:04}"));
                let wait = until_slot(period, hash, now);
                let k = (wait.as_millis() * 10 / period.as_millis()).min(9);
                tenths[usize::try_from(k).unwrap_or(9)] += 1;
            }
            proptest::prop_assert!(tenths.iter().all(|&n| n <= 200), "{:?}", tenths);
        }
    }

    #[test]
    fn requeue_is_the_sooner_interval_and_fast_while_promoting() {
        let idle = SiteHAPairStatus::default();
        let ten = Duration::from_secs(10);
        assert_eq!(requeue(&spec(false), &idle, ten), ten);
        assert_eq!(requeue(&spec(true), &idle, ten), Duration::from_secs(5));
        assert_eq!(
            requeue(&spec(true), &promoting(PromotionPhase::Promoting), ten),
            PROMOTION_REQUEUE
        );
    }

    #[test]
    fn a_promotion_waiting_out_a_contact_window_is_looked_at_when_it_runs_out() {
        let now: Timestamp = "2026-12-07T08:00:00.250Z".parse().expect("time");
        let mut st = promoting(PromotionPhase::Demoting);
        assert_eq!(contact_deadline_in(&st, now), None, "no window, no wake");
        if let Some(p) = st.promotion.as_mut() {
            p.deadline = Some("2026-12-07T08:00:01Z".into());
        }
        assert_eq!(
            contact_deadline_in(&st, now),
            Some(Duration::from_millis(750))
        );
        let later: Timestamp = "2026-12-07T08:00:01Z".parse().expect("time");
        assert_eq!(contact_deadline_in(&st, later), None, "run out: no wake");
    }
}
