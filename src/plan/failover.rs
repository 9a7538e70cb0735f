//! Automatic failover, pure: when the active site has failed its health
//! checks `failureThreshold` times in a row and a passive site is healthy
//! and in sync, choose it. Anti-flap: not within `minInterval` of the last
//! promotion unless `sitehapair.io/ack-failover` names that promotion's
//! completion time. The operator only ever fails over away from a failing
//! active site, so it never fails back to a site merely because it recovered.

use std::time::Duration;

use jiff::Timestamp;

use kube::ResourceExt;

use crate::api::{
    ANNOTATION_ACK_FAILOVER, PromotionRecord, SiteHAPair, SiteHAPairStatus, SiteHealth, SiteStatus,
};
use crate::plan::conditions::reasons::FailoverHold;
use crate::plan::spec_check::SpecTimes;

/// What the failover check needs.
#[derive(Debug, Clone)]
pub struct FailoverInput<'a> {
    pub enabled: bool,
    pub failure_threshold: i32,
    pub min_interval: Duration,
    /// status.activeSite.
    pub active: Option<&'a str>,
    /// spec.activeSite.
    pub target: &'a str,
    /// A promotion is running.
    pub promoting: bool,
    pub sites: &'a [SiteStatus],
    /// The source revision sites must hold (None: no source).
    pub source_revision: Option<&'a str>,
    /// The last finished promotion.
    pub last: Option<&'a PromotionRecord>,
    /// The value of the ack annotation.
    pub ack: Option<&'a str>,
    /// status.hold: a failed verification holds automatic failover until
    /// a person acknowledges (its message says how).
    pub held: Option<&'a str>,
    pub pair: &'a str,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailoverDecision {
    /// Nothing to do.
    Stay,
    /// A failover is due but may not run; the message says why and what to do.
    Blocked {
        reason: FailoverHold,
        message: String,
    },
    /// Set spec.activeSite to `to`.
    Promote { to: String, why: String },
}

/// Decide on an automatic failover over the status as the promotion left
/// it: a held one becomes a finding (PromotionBlocked, composed with the
/// rest); a due one is carried out by the trip's failover step
/// (`controller::trip::failover::patch_active_site`) once the
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
        held: status.hold.as_ref().map(|h| h.message.as_str()),
        pair: &obj.name_any(),
        now,
    })
}

pub fn plan_failover(i: &FailoverInput<'_>) -> FailoverDecision {
    let Some(active) = i.active else {
        return FailoverDecision::Stay;
    };
    if !i.enabled || i.promoting || active != i.target {
        return FailoverDecision::Stay;
    }
    let Some(row) = i.sites.iter().find(|s| s.name == active) else {
        return FailoverDecision::Stay;
    };
    let failures = row.consecutive_failures.unwrap_or(0);
    if failures < i.failure_threshold {
        return FailoverDecision::Stay;
    }
    let why = format!("active site {active} failed {failures} health checks in a row");
    let in_sync = |s: &SiteStatus| match i.source_revision {
        None => true,
        Some(rev) => {
            s.synced_revision.as_deref() == Some(rev)
                && s.drift.is_none_or(|d| d.added + d.changed + d.removed == 0)
        }
    };
    let Some(to) = i.sites.iter().find(|s| {
        s.name != active
            && s.health == Some(SiteHealth::Healthy)
            && s.contact != Some(crate::api::SiteContact::NotServing)
            && in_sync(s)
    }) else {
        return FailoverDecision::Blocked {
            reason: FailoverHold::NoFailoverCandidate,
            message: format!("{why}, but no passive site is healthy and in sync"),
        };
    };
    if let Some(hold) = i.held {
        return FailoverDecision::Blocked {
            reason: FailoverHold::Held,
            message: format!("{why}; automatic failover to {} is held: {hold}", to.name),
        };
    }
    if let Some(last) = i.last
        && let Ok(done) = last.completed_at.parse::<Timestamp>()
        && done
            .checked_add(i.min_interval)
            .is_ok_and(|until| i.now < until)
        && i.ack != Some(last.completed_at.as_str())
    {
        return FailoverDecision::Blocked {
            reason: FailoverHold::AntiFlap,
            message: format!(
                "{why}; automatic failover to {} is held: the last promotion completed at {}, within \
                 spec.promotion.automatic.minInterval; to allow it: kubectl annotate shp {} {}={} --overwrite",
                to.name, last.completed_at, i.pair, ANNOTATION_ACK_FAILOVER, last.completed_at
            ),
        };
    }
    FailoverDecision::Promote {
        to: to.name.clone(),
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, health: SiteHealth, failures: i32) -> SiteStatus {
        SiteStatus {
            name: name.into(),
            health: Some(health),
            consecutive_failures: Some(failures),
            synced_revision: Some("r".into()),
            ..SiteStatus::default()
        }
    }

    fn input<'a>(
        sites: &'a [SiteStatus],
        last: Option<&'a PromotionRecord>,
        ack: Option<&'a str>,
    ) -> FailoverInput<'a> {
        FailoverInput {
            enabled: true,
            failure_threshold: 3,
            min_interval: Duration::from_secs(3600),
            active: Some("east"),
            target: "east",
            promoting: false,
            sites,
            source_revision: Some("r"),
            last,
            ack,
            held: None,
            pair: "gis",
            now: "2026-01-01T01:00:00Z".parse().expect("time"),
        }
    }

    #[test]
    fn fails_over_after_the_threshold_to_a_healthy_synced_passive() {
        let sites = [
            row("east", SiteHealth::Unhealthy, 2),
            row("west", SiteHealth::Healthy, 0),
        ];
        assert_eq!(
            plan_failover(&input(&sites, None, None)),
            FailoverDecision::Stay
        );
        let sites = [
            row("east", SiteHealth::Unhealthy, 3),
            row("west", SiteHealth::Healthy, 0),
        ];
        assert!(matches!(
            plan_failover(&input(&sites, None, None)),
            FailoverDecision::Promote { to, .. } if to == "west"
        ));
        let mut off = input(&sites, None, None);
        off.enabled = false;
        assert_eq!(plan_failover(&off), FailoverDecision::Stay);
    }

    #[test]
    fn no_candidate_is_said() {
        let mut west = row("west", SiteHealth::Healthy, 0);
        west.synced_revision = Some("old".into());
        let sites = [row("east", SiteHealth::Unreachable, 5), west];
        assert!(matches!(
            plan_failover(&input(&sites, None, None)),
            FailoverDecision::Blocked {
                reason: FailoverHold::NoFailoverCandidate,
                ..
            }
        ));
    }

    #[test]
    fn a_passive_that_does_not_serve_what_it_accepted_is_no_candidate() {
        let mut west = row("west", SiteHealth::Healthy, 0);
        west.contact = Some(crate::api::SiteContact::NotServing);
        let sites = [row("east", SiteHealth::Unhealthy, 3), west];
        assert!(matches!(
            plan_failover(&input(&sites, None, None)),
            FailoverDecision::Blocked {
                reason: FailoverHold::NoFailoverCandidate,
                ..
            }
        ));
    }

    #[test]
    fn a_hold_after_a_failed_verification_blocks_failover() {
        let sites = [
            row("east", SiteHealth::Unhealthy, 3),
            row("west", SiteHealth::Healthy, 0),
        ];
        let mut held = input(&sites, None, None);
        held.held = Some("east failed verification; sitehapair ack gis");
        assert!(matches!(
            plan_failover(&held),
            FailoverDecision::Blocked {
                reason: FailoverHold::Held,
                message,
            } if message.contains("sitehapair ack gis")
        ));
    }

    #[test]
    fn anti_flap_holds_until_acknowledged() {
        let sites = [
            row("east", SiteHealth::Unhealthy, 3),
            row("west", SiteHealth::Healthy, 0),
        ];
        let last = PromotionRecord {
            completed_at: "2026-01-01T00:30:00Z".into(),
            ..PromotionRecord::default()
        };
        let held = plan_failover(&input(&sites, Some(&last), None));
        let FailoverDecision::Blocked { reason, message } = held else {
            panic!("not blocked: {held:?}");
        };
        assert_eq!(reason, FailoverHold::AntiFlap);
        assert!(
            message.contains("sitehapair.io/ack-failover=2026-01-01T00:30:00Z"),
            "{message}"
        );
        assert!(matches!(
            plan_failover(&input(&sites, Some(&last), Some("2026-01-01T00:30:00Z"))),
            FailoverDecision::Promote { .. }
        ));
        let old = PromotionRecord {
            completed_at: "2025-12-31T00:00:00Z".into(),
            ..PromotionRecord::default()
        };
        assert!(matches!(
            plan_failover(&input(&sites, Some(&old), None)),
            FailoverDecision::Promote { .. }
        ));
    }
}
