//! Unit tests of the promotion state machine: every phase, the contact
//! window from the first failed contact, answers that are never forced
//! past, epoch adoption, first sight, traffic policy, fencing.

use super::*;
use crate::api::{PromotionPhase as Ph, PromotionRecord, SiteContact, TrafficFailover};
use jiff::Timestamp;
use std::time::Duration;

pub(super) fn site(name: &str, active: bool, epoch: i64) -> SiteObs {
    SiteObs {
        name: name.into(),
        contact: SiteContact::Answered,
        mode: Some(ModeSeen { active, epoch }),
        healthy: true,
        synced_revision: Some("rev".into()),
        drifting: false,
        message: None,
        version: None,
        token_key: None,
        last_change: None,
        joining: false,
        last_epoch: Some(epoch),
    }
}

/// A site that answered its calls with `contact` (no mode known).
fn silent(name: &str, contact: SiteContact) -> SiteObs {
    SiteObs {
        contact,
        mode: None,
        healthy: false,
        message: Some(format!("{name}: {}", contact.as_str())),
        ..site(name, false, 0)
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn input<'a>(
    target: &'a str,
    current: &'a str,
    running: Option<&'a PromotionStatus>,
    sites: &'a [SiteObs],
    now: &str,
) -> PromotionInput<'a> {
    PromotionInput {
        target,
        current: Some(current),
        epoch: 1,
        running,
        traffic: Some(current),
        sites,
        source_revision: Some("rev"),
        require_in_sync: true,
        require_healthy: true,
        contact_timeout: Duration::from_secs(60),
        traffic_failover: TrafficFailover::WaitForPromotion,
        reason: PromotionReason::Manual,
        allow_parity_mismatch: None,
        force_past: None,
        settling: Duration::ZERO,
        warnings: &[],
        shifted: None,
        start_wait: None,
        window_override_by: None,
        now: t(now),
    }
}

/// Apply a step to the observed sites, as a site would.
fn take(sites: &mut [SiteObs], step: &Step) {
    if let Step::SetMode {
        site,
        active,
        epoch,
    } = step
    {
        let s = sites.iter_mut().find(|s| &s.name == site).expect("site");
        if *epoch >= s.epoch() {
            s.mode = Some(ModeSeen {
                active: *active,
                epoch: *epoch,
            });
        }
    }
}

#[test]
fn a_planned_promotion_demotes_before_it_promotes() {
    let mut sites = vec![site("east", true, 1), site("west", false, 1)];
    let mut running: Option<PromotionStatus> = None;
    let mut current = "east".to_string();
    let mut epoch = 1;
    let mut phases_seen = Vec::new();
    let mut steps = Vec::new();
    for _ in 0..10 {
        let mut inp = input(
            "west",
            &current,
            running.as_ref(),
            &sites,
            "2026-01-01T00:00:00Z",
        );
        inp.epoch = epoch;
        let d = plan_promotion(&inp);
        if let Some(p) = &d.running {
            phases_seen.push(p.phase.clone());
        }
        current = d.active_site.clone().expect("active");
        epoch = d.epoch;
        if let Some(s) = &d.step {
            take(&mut sites, s);
            steps.push(s.clone());
        }
        // Never two active at one epoch.
        let actives: Vec<_> = sites.iter().filter(|s| s.reports_active()).collect();
        assert!(actives.len() <= 1, "{sites:?}");
        if let Some(rec) = d.finished {
            assert_eq!(
                (rec.from.as_deref(), rec.to.as_str(), rec.epoch),
                (Some("east"), "west", 2)
            );
            assert!(!rec.forced);
            break;
        }
        running = d.running;
    }
    assert_eq!(
        steps,
        [
            Step::SetMode {
                site: "east".into(),
                active: false,
                epoch: 2
            },
            Step::SetMode {
                site: "west".into(),
                active: true,
                epoch: 2
            },
            Step::SwitchTraffic,
        ]
    );
    assert_eq!(
        phases_seen,
        [Ph::Demoting, Ph::Promoting, Ph::SwitchingTraffic]
    );
    assert_eq!((current.as_str(), epoch), ("west", 2));
}

#[test]
fn preflight_names_each_failed_check_and_waits() {
    let mut west = site("west", false, 1);
    west.healthy = false;
    west.synced_revision = Some("old".into());
    let sites = vec![site("east", true, 1), west];
    let d = plan_promotion(&input("west", "east", None, &sites, "2026-01-01T00:00:00Z"));
    assert_eq!(d.step, None);
    assert_eq!(d.blocked.len(), 2, "{:?}", d.blocked);
    assert!(d.blocked[0].message.starts_with("healthy: site west"));
    assert!(
        d.blocked[1]
            .message
            .starts_with("inSync: site west holds revision old")
    );
    assert_eq!(d.blocked[0].reason, BlockReason::PreflightFailed);
    let p = d.running.expect("running");
    assert_eq!(p.phase, Ph::Preflight);
    assert_eq!(d.active_site.as_deref(), Some("east"));
}

#[test]
fn an_unreachable_old_active_is_waited_for_then_forced() {
    let sites = vec![
        silent("east", SiteContact::NoAnswer),
        site("west", false, 1),
    ];
    let d = plan_promotion(&input("west", "east", None, &sites, "2026-01-01T00:00:00Z"));
    let p = d.running.clone().expect("running");
    assert_eq!(p.phase, Ph::WaitingForOldActive);
    assert_eq!(p.silent_since.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(p.deadline.as_deref(), Some("2026-01-01T00:01:00Z"));
    assert_eq!(d.step, None);
    assert!(d.notices.iter().any(|n| n.reason == "WaitingForOldActive"));

    // Still inside the window: keep waiting; nothing new, nothing changes.
    let d2 = plan_promotion(&input(
        "west",
        "east",
        Some(&p),
        &sites,
        "2026-01-01T00:00:30Z",
    ));
    let p2 = d2.running.clone().expect("running");
    assert_eq!(
        p2, p,
        "a wait that learns nothing new must not change status"
    );

    // At the deadline: forced, the target is promoted.
    let d3 = plan_promotion(&input(
        "west",
        "east",
        Some(&p2),
        &sites,
        "2026-01-01T00:01:00Z",
    ));
    let p3 = d3.running.clone().expect("running");
    assert!(p3.forced);
    assert_eq!(p3.phase, Ph::Promoting);
    assert_eq!(
        d3.step,
        Some(Step::SetMode {
            site: "west".into(),
            active: true,
            epoch: 2
        })
    );
}

#[test]
fn going_back_to_the_old_active_during_the_wait_cancels() {
    let sites = vec![
        silent("east", SiteContact::NoAnswer),
        site("west", false, 1),
    ];
    let d = plan_promotion(&input("west", "east", None, &sites, "2026-01-01T00:00:00Z"));
    let p = d.running.expect("running");
    let d2 = plan_promotion(&input(
        "east",
        "east",
        Some(&p),
        &sites,
        "2026-01-01T00:00:10Z",
    ));
    assert!(d2.running.is_none());
    assert_eq!(d2.active_site.as_deref(), Some("east"));
    assert!(d2.notices.iter().any(|n| n.reason == "PromotionCancelled"));
    assert!(d2.finished.is_none());
}

#[test]
fn a_returning_old_active_with_an_older_epoch_is_demoted() {
    // After a forced promotion: west active at 2, east comes back active at 1.
    let sites = vec![site("east", true, 1), site("west", true, 2)];
    let mut inp = input("west", "west", None, &sites, "2026-01-01T00:00:00Z");
    inp.epoch = 2;
    let d = plan_promotion(&inp);
    assert_eq!(
        d.step,
        Some(Step::SetMode {
            site: "east".into(),
            active: false,
            epoch: 2
        })
    );
    assert!(d.notices.iter().any(|n| n.reason == "Fenced" && n.warning));
}

#[test]
fn first_sight_stamps_the_active_site_at_epoch_one() {
    let sites = vec![site("east", false, 0), site("west", false, 0)];
    let mut inp = input("east", "east", None, &sites, "2026-01-01T00:00:00Z");
    inp.epoch = 0;
    inp.current = None;
    let d = plan_promotion(&inp);
    assert_eq!(d.epoch, 1);
    assert_eq!(
        d.step,
        Some(Step::SetMode {
            site: "east".into(),
            active: true,
            epoch: 1
        })
    );
}

#[test]
fn history_keeps_the_last_ten() {
    let mut h = Vec::new();
    for i in 0..15 {
        push_history(
            &mut h,
            PromotionRecord {
                to: format!("s{i}"),
                ..PromotionRecord::default()
            },
        );
    }
    assert_eq!(h.len(), 10);
    assert_eq!(h[0].to, "s5");
    assert_eq!(h[9].to, "s14");
}

#[path = "promotion_safety_tests.rs"]
mod safety;

fn on(mut s: SiteObs, version: &str, key: Option<&str>) -> SiteObs {
    s.version = Some(version.into());
    s.token_key = key.map(str::to_string);
    s
}

#[test]
fn a_target_on_another_version_or_key_is_blocked_naming_the_override() {
    let sites = [
        on(site("east", true, 1), "11.1", Some("ab12")),
        on(site("west", false, 1), "11.3", Some("cd34")),
    ];
    let d = plan_promotion(&input("west", "east", None, &sites, "2026-01-01T00:00:00Z"));
    assert_eq!(d.blocked.len(), 1, "{d:?}");
    assert_eq!(d.blocked[0].reason, BlockReason::ParityMismatch);
    let m = &d.blocked[0].message;
    assert!(
        m.contains("west runs version 11.3, the active east runs 11.1")
            && m.contains("token key fingerprint cd34")
            && m.contains("sitehapair.io/allow-parity-mismatch=west"),
        "{m}"
    );
    assert_eq!(d.step, None, "nothing is done while blocked");
    assert_eq!(d.active_site.as_deref(), Some("east"));
}

#[test]
fn the_override_for_that_target_lets_the_promotion_on_and_says_so() {
    let sites = [
        on(site("east", true, 1), "11.1", Some("ab12")),
        on(site("west", false, 1), "11.3", Some("ab12")),
    ];
    let mut inp = input("west", "east", None, &sites, "2026-01-01T00:00:00Z");
    // An override naming another site does not count.
    inp.allow_parity_mismatch = Some("east");
    assert_eq!(
        plan_promotion(&inp).blocked[0].reason,
        BlockReason::ParityMismatch
    );
    inp.allow_parity_mismatch = Some("west");
    let d = plan_promotion(&inp);
    assert!(d.blocked.is_empty(), "{:?}", d.blocked);
    assert!(
        matches!(d.step, Some(Step::SetMode { ref site, active: false, .. }) if site == "east")
    );
    let n = d
        .notices
        .iter()
        .find(|n| n.reason == "ParityOverridden")
        .expect("a notice");
    assert!(n.warning && n.note.contains("11.3"), "{n:?}");
}

#[test]
fn an_unreported_fingerprint_does_not_block() {
    let sites = [
        on(site("east", true, 1), "11.1", Some("ab12")),
        on(site("west", false, 1), "11.1", None),
    ];
    let d = plan_promotion(&input("west", "east", None, &sites, "2026-01-01T00:00:00Z"));
    assert!(d.blocked.is_empty(), "{:?}", d.blocked);
}

#[test]
fn a_planned_promotion_waits_for_the_targets_last_change_to_settle() {
    let mut sites = [site("east", true, 1), site("west", false, 1)];
    sites[1].last_change = Some(t("2026-01-01T00:00:00Z"));
    let mut inp = input("west", "east", None, &sites, "2026-01-01T00:03:00Z");
    inp.settling = Duration::from_secs(300);
    let d = plan_promotion(&inp);
    assert_eq!(d.blocked.len(), 1, "{d:?}");
    let m = &d.blocked[0].message;
    assert!(
        m.contains("settled: site west") && m.contains("until 2026-01-01T00:05:00Z"),
        "{m}"
    );
    assert_eq!(d.step, None);
    // Settled: it goes on.
    inp.now = t("2026-01-01T00:05:00Z");
    assert!(plan_promotion(&inp).blocked.is_empty());
    // An automatic failover never waits for settling.
    inp.now = t("2026-01-01T00:01:00Z");
    inp.reason = PromotionReason::Automatic;
    assert!(plan_promotion(&inp).blocked.is_empty());
}

#[test]
fn whole_pair_warnings_are_said_when_the_promotion_starts_and_do_not_block() {
    let sites = [site("east", true, 1), site("west", false, 1)];
    let warnings = vec!["prune approval pending: 12 deletions".to_string()];
    let mut inp = input("west", "east", None, &sites, "2026-01-01T00:00:00Z");
    inp.warnings = &warnings;
    let d = plan_promotion(&inp);
    assert!(d.blocked.is_empty());
    let n = d
        .notices
        .iter()
        .find(|n| n.reason == "PreflightWarning")
        .expect("a warning");
    assert!(n.warning && n.note.contains("12 deletions"), "{n:?}");
}

#[test]
fn a_joining_site_is_no_promotion_target() {
    let mut sites = [site("east", true, 1), site("west", false, 1)];
    sites[1].joining = true;
    let d = plan_promotion(&input("west", "east", None, &sites, "2026-01-01T00:00:00Z"));
    assert_eq!(d.blocked.len(), 1, "{d:?}");
    assert!(
        d.blocked[0]
            .message
            .contains("joined: site west is joining"),
        "{d:?}"
    );
    assert_eq!(d.step, None);
}

#[test]
fn a_site_that_does_not_serve_what_it_accepted_is_no_promotion_target() {
    let mut sites = [site("east", true, 1), site("west", false, 1)];
    sites[1].contact = SiteContact::NotServing;
    sites[1].message = Some("site west: resource lakes: written but not served".into());
    let d = plan_promotion(&input("west", "east", None, &sites, "2026-01-01T00:00:00Z"));
    assert_eq!(d.blocked.len(), 1, "{d:?}");
    assert_eq!(d.blocked[0].reason, BlockReason::SiteNotServing, "{d:?}");
    assert!(
        d.blocked[0]
            .message
            .contains("serving: site west does not serve what it accepted"),
        "{d:?}"
    );
    assert_eq!(d.step, None);
    assert_eq!(d.active_site.as_deref(), Some("east"));
}

/// A standby-first change holds traffic on its standby: at rest traffic
/// stays there; a promotion keeps it there until the new active takes it.
#[test]
fn traffic_stays_on_a_shifted_standby_until_a_promotion_switches_it() {
    let mut sites = vec![
        site("east", true, 1),
        site("west", false, 1),
        site("south", false, 1),
    ];
    let mut inp = input("east", "east", None, &sites, "2026-01-01T00:00:00Z");
    inp.shifted = Some("west");
    assert_eq!(plan_promotion(&inp).traffic_site.as_deref(), Some("west"));

    // Promote south: traffic stays on west until south is active (and
    // then the change is dropped, as fold_promotion does).
    let mut shifted = Some("west");
    let mut running: Option<PromotionStatus> = None;
    let mut current = "east".to_string();
    let mut epoch = 1;
    for _ in 0..10 {
        let mut inp = input(
            "south",
            &current,
            running.as_ref(),
            &sites,
            "2026-01-01T00:00:00Z",
        );
        inp.epoch = epoch;
        inp.shifted = shifted;
        let d = plan_promotion(&inp);
        let traffic = d.traffic_site.clone().expect("traffic somewhere");
        let active = d.active_site.clone().expect("active");
        assert!(
            traffic == "west" || traffic == active && active == "south",
            "traffic on {traffic} with active {active}"
        );
        if let Some(s) = &d.step {
            take(&mut sites, s);
        }
        if active != current {
            shifted = None;
        }
        current = active;
        epoch = d.epoch;
        if d.finished.is_some() {
            assert_eq!(traffic, "south");
            return;
        }
        running = d.running;
    }
    panic!("the promotion did not finish");
}
