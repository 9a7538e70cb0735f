//! Unit tests of cancelling and retargeting a running promotion: when the
//! wish going back to the old active cancels, and when the promotion is
//! finished first because its target may be active.

use super::*;
#[test]
fn a_promotion_blocked_on_a_refusing_old_active_can_be_cancelled() {
    let sites = vec![
        silent("east", SiteContact::CredentialsRefused),
        site("west", false, 1),
    ];
    let d = plan_promotion(&input("west", "east", None, &sites, "2026-01-01T00:00:00Z"));
    let p = d.running.expect("running");
    assert_eq!(p.phase, Ph::Demoting);
    let d = plan_promotion(&input(
        "east",
        "east",
        Some(&p),
        &sites,
        "2026-01-01T00:00:10Z",
    ));
    assert_eq!(d.running, None);
    assert_eq!(d.active_site.as_deref(), Some("east"));
    assert!(d.notices.iter().any(|n| n.reason == "PromotionCancelled"));
}

#[test]
fn cancelling_after_the_old_active_was_demoted_stamps_it_active_above_that_epoch() {
    // east was demoted at 2 (the answer was lost), then the wish went back.
    let p = PromotionStatus {
        from: Some("east".into()),
        to: "west".into(),
        phase: Ph::Demoting,
        epoch: 2,
        ..PromotionStatus::default()
    };
    let mut sites = vec![site("east", false, 2), site("west", false, 1)];
    let d = run_until_wait(
        "east",
        Some("east"),
        1,
        Some(p),
        &mut sites,
        "2026-01-01T00:00:00Z",
    );
    assert_eq!(d.running, None);
    assert_eq!(d.epoch, 3);
    assert_eq!(
        sites[0].mode,
        Some(ModeSeen {
            active: true,
            epoch: 3
        })
    );
}

/// A promotion from east to west at epoch 2, in `phase`.
fn east_to_west(phase: Ph) -> PromotionStatus {
    PromotionStatus {
        from: Some("east".into()),
        to: "west".into(),
        phase,
        epoch: 2,
        ..PromotionStatus::default()
    }
}

/// The machine's decision when spec.activeSite goes back to east while `p`
/// runs and the sites answer `sites`.
fn back_to_east(p: &PromotionStatus, sites: &[SiteObs]) -> PromotionDecision {
    plan_promotion(&input(
        "east",
        "east",
        Some(p),
        sites,
        "2026-01-01T00:00:00Z",
    ))
}

fn cancelled(d: &PromotionDecision) -> bool {
    d.notices.iter().any(|n| n.reason == "PromotionCancelled")
}

/// Status says Demoting, but the operator that wrote it may have activated
/// the target since (an activation goes out on the record of its
/// promotion): going back to the old active while the target does not
/// answer finishes the promotion instead of stamping the old active beside
/// a target that may be active.
#[test]
fn going_back_while_a_demoting_promotions_target_is_silent_does_not_cancel() {
    let p = east_to_west(Ph::Demoting);
    let sites = vec![
        site("east", false, 2),
        silent("west", SiteContact::NoAnswer),
    ];
    let d = back_to_east(&p, &sites);
    assert!(!cancelled(&d), "{d:?}");
    let running = d.running.expect("the promotion goes on");
    assert_eq!(running.to, "west");
    assert_ne!(
        d.step,
        Some(Step::SetMode {
            site: "east".into(),
            active: true,
            epoch: 3
        }),
        "the old active stamped beside a target that may be active"
    );
    // The same with the target already active at the promotion's epoch.
    let sites = vec![site("east", false, 2), site("west", true, 2)];
    let d = back_to_east(&p, &sites);
    assert!(!cancelled(&d), "{d:?}");
    // Seen untouched (answering, passive), it is cancelled.
    let sites = vec![site("east", false, 2), site("west", false, 1)];
    let d = back_to_east(&p, &sites);
    assert!(cancelled(&d), "{d:?}");
}

/// At its preflight a promotion has activated nothing (an activation goes
/// out only on a record past it): it is cancelled whether the target
/// answers or not.
#[test]
fn a_promotion_at_its_preflight_is_cancelled_while_its_target_is_silent() {
    let p = east_to_west(Ph::Preflight);
    let sites = vec![site("east", true, 1), silent("west", SiteContact::NoAnswer)];
    let d = back_to_east(&p, &sites);
    assert!(cancelled(&d), "{d:?}");
    assert_eq!(d.running, None);
}
