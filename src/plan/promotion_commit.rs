//! Which steps of the machine must have their status recorded before they
//! are taken, and which may go out on the record an earlier write made
//! (pure). A status write is an API round trip; a planned promotion takes
//! one before its first role change and none between its steps:
//!
//! - a demotion is recorded first: it spends the promotion's epoch, which
//!   must be reserved in status before any site holds it, and it tells a
//!   later trip (another leader) which promotion is under way;
//! - an activation is recorded first unless status already shows this very
//!   promotion (same start, target, epoch and contact window: only its
//!   progress moved) past its preflight. From then
//!   on a later trip knows the target may be active: the promotion is
//!   cancelled or retargeted only while the target is seen answering and
//!   not active at its epoch (`possibly_active`), and otherwise finished;
//! - the traffic switch likewise: it follows a target seen active at the
//!   promotion's epoch, and the status that says so is written right after
//!   it (a crash in between leaves a promotion the next trip finishes,
//!   moving traffic again to the same site).
//!
//! Steps taken at rest (no promotion under way) are recorded first, but
//! one: a site set passive at an epoch status already holds, under the
//! active site status already names (the first activation's standby, or a
//! stray active fenced). It reserves nothing and starts nothing a later
//! trip would have to know of; a crash after it leaves a passive site that
//! the next trip sees as such. The first activation of a new pair is so
//! one write, not two.

use super::promotion_types::{SiteObs, Step, find};
use crate::api::{PromotionPhase, PromotionStatus, SiteHAPairStatus};

/// Whether `planned` (the status that decided `step`) must be written
/// before `step` goes out, given what status holds now (`recorded`: the
/// last status this trip wrote or read).
pub fn record_before(
    step: &Step,
    recorded: Option<&SiteHAPairStatus>,
    planned: &SiteHAPairStatus,
) -> bool {
    let Some(running) = &planned.promotion else {
        return !passive_on_the_record(step, recorded, planned);
    };
    let covered = recorded
        .and_then(|r| r.promotion.as_ref())
        .is_some_and(|r| r.phase != PromotionPhase::Preflight && same_promotion(r, running));
    match step {
        Step::SetMode { active: false, .. } => true,
        Step::SetMode { site, .. } if *site != running.to => true,
        Step::SetMode { .. } | Step::SwitchTraffic => !covered,
    }
}

/// A site other than the active one set passive at rest, at an epoch the
/// record already holds, under the active site it already names, with no
/// promotion recorded.
fn passive_on_the_record(
    step: &Step,
    recorded: Option<&SiteHAPairStatus>,
    planned: &SiteHAPairStatus,
) -> bool {
    let Step::SetMode {
        site,
        active: false,
        epoch,
    } = step
    else {
        return false;
    };
    recorded.is_some_and(|r| {
        r.promotion.is_none()
            && r.active_site.as_ref() != Some(site)
            && r.epoch >= *epoch
            && r.active_site.is_some()
            && r.active_site == planned.active_site
    })
}

/// The same promotion, its epoch and its contact window as recorded: only
/// its progress (phase, message, attempts, the phases' start times) moved.
/// A window restarted or run out since the record (a silent site answered,
/// a site was passed over) is recorded before the activation it allows.
fn same_promotion(recorded: &PromotionStatus, planned: &PromotionStatus) -> bool {
    let progress_only = |p: &PromotionStatus| PromotionStatus {
        phase: PromotionPhase::Preflight,
        message: None,
        attempts: 0,
        steps: Vec::new(),
        ..p.clone()
    };
    progress_only(recorded) == progress_only(planned)
}

/// Whether the target of `p` may have been made active by it: a promotion
/// recorded past its preflight may have activated its target without a
/// further record, so unless the target answers and is not active at the
/// promotion's epoch (or above), it may be.
pub fn possibly_active(p: &PromotionStatus, sites: &[SiteObs]) -> bool {
    if p.phase == PromotionPhase::Preflight {
        return false;
    }
    match find(sites, &p.to).and_then(|t| t.mode) {
        Some(m) => m.active && m.epoch >= p.epoch,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promotion(phase: PromotionPhase) -> SiteHAPairStatus {
        SiteHAPairStatus {
            promotion: Some(PromotionStatus {
                from: Some("east".into()),
                to: "west".into(),
                phase,
                epoch: 4,
                started_at: "2026-12-07T12:00:00Z".into(),
                ..PromotionStatus::default()
            }),
            ..SiteHAPairStatus::default()
        }
    }

    fn set(site: &str, active: bool) -> Step {
        Step::SetMode {
            site: site.into(),
            active,
            epoch: 4,
        }
    }

    #[test]
    fn a_demotion_is_always_recorded_first() {
        let demoting = promotion(PromotionPhase::Demoting);
        assert!(record_before(
            &set("east", false),
            Some(&demoting),
            &demoting
        ));
    }

    #[test]
    fn an_activation_goes_out_on_the_record_of_its_promotion_past_preflight() {
        let recorded = promotion(PromotionPhase::Demoting);
        let planned = promotion(PromotionPhase::Promoting);
        assert!(!record_before(
            &set("west", true),
            Some(&recorded),
            &planned
        ));
        // Recorded only at its preflight, or not at all: written first.
        let preflight = promotion(PromotionPhase::Preflight);
        assert!(record_before(
            &set("west", true),
            Some(&preflight),
            &planned
        ));
        assert!(record_before(&set("west", true), None, &planned));
        // Another epoch (one adopted since the record) is reserved first.
        let mut newer = planned.clone();
        if let Some(p) = newer.promotion.as_mut() {
            p.epoch = 5;
        }
        assert!(record_before(&set("west", true), Some(&recorded), &newer));
        // A contact window restarted since the record (a silent site
        // answered) is recorded before the activation it allows.
        let mut waited = recorded.clone();
        if let Some(p) = waited.promotion.as_mut() {
            p.phase = PromotionPhase::WaitingForOldActive;
            p.silent_since = Some("2026-12-07T12:00:05Z".into());
            p.silent_sites = vec!["east".into()];
        }
        assert!(record_before(&set("west", true), Some(&waited), &planned));
        // An activation of a site that is not the target (the old active
        // stamped again) is recorded first.
        assert!(record_before(&set("east", true), Some(&recorded), &planned));
    }

    #[test]
    fn traffic_is_switched_on_the_record_of_its_promotion_and_steps_at_rest_are_recorded() {
        let recorded = promotion(PromotionPhase::Demoting);
        let planned = promotion(PromotionPhase::SwitchingTraffic);
        assert!(!record_before(
            &Step::SwitchTraffic,
            Some(&recorded),
            &planned
        ));
        // A window restarted since the record is recorded first.
        let mut waited = recorded.clone();
        if let Some(p) = waited.promotion.as_mut() {
            p.silent_since = Some("2026-12-07T12:00:05Z".into());
        }
        assert!(record_before(&Step::SwitchTraffic, Some(&waited), &planned));
        let at_rest = SiteHAPairStatus::default();
        assert!(record_before(&set("east", true), Some(&recorded), &at_rest));
        assert!(record_before(
            &set("east", false),
            Some(&recorded),
            &at_rest
        ));
        assert!(record_before(
            &Step::SwitchTraffic,
            Some(&recorded),
            &at_rest
        ));
    }

    fn at_rest(active: &str, epoch: i64) -> SiteHAPairStatus {
        SiteHAPairStatus {
            active_site: Some(active.into()),
            epoch,
            ..SiteHAPairStatus::default()
        }
    }

    #[test]
    fn a_standby_set_passive_at_an_epoch_already_recorded_goes_out_on_that_record() {
        // The first activation recorded east at epoch 4: west's passive
        // stamp at 4 (or a stray active's demotion) needs no write of its own.
        let recorded = at_rest("east", 4);
        assert!(!record_before(
            &set("west", false),
            Some(&recorded),
            &recorded
        ));
        let mut planned = recorded.clone();
        planned.sites = vec![crate::api::SiteStatus {
            name: "east".into(),
            epoch: Some(4),
            ..crate::api::SiteStatus::default()
        }];
        assert!(!record_before(
            &set("west", false),
            Some(&recorded),
            &planned
        ));
    }

    #[test]
    fn a_passive_stamp_is_recorded_first_when_its_epoch_or_active_site_is_not() {
        // An epoch above the record's is reserved first; another active
        // site than the record names, or none recorded, is recorded first.
        let nothing = SiteHAPairStatus::default();
        let (older, other) = (at_rest("east", 3), at_rest("west", 4));
        for recorded in [Some(&older), Some(&other), Some(&nothing), None] {
            assert!(
                record_before(&set("west", false), recorded, &at_rest("east", 4)),
                "{recorded:?}"
            );
        }
        // The recorded active site itself is never demoted on the record.
        assert!(record_before(&set("east", false), Some(&older), &older));
        // A promotion on the record: its own rules (a demotion first).
        let mut promoting = promotion(PromotionPhase::Demoting);
        promoting.active_site = Some("east".into());
        promoting.epoch = 4;
        assert!(record_before(
            &set("east", false),
            Some(&promoting),
            &promoting
        ));
    }
}
