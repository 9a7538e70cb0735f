//! Unit tests of what the machine does with answers that are not plain
//! success: refusals and errors are never forced past, the window counts
//! from the first failed contact, newer epochs are adopted, an unknown
//! phase is refused, first sight waits for every site, traffic policy.

use super::*;
use jiff::Timestamp;

/// Run the machine to where it waits, applying each step to `sites` as a
/// site would; returns the last decision.
fn run_until_wait(
    target: &str,
    current: Option<&str>,
    epoch: i64,
    running: Option<PromotionStatus>,
    sites: &mut [SiteObs],
    now: &str,
) -> PromotionDecision {
    let mut running = running;
    let mut current = current.map(str::to_string);
    let mut epoch = epoch;
    for _ in 0..12 {
        let snapshot = sites.to_vec();
        let mut inp = input(target, "-", running.as_ref(), &snapshot, now);
        inp.current = current.as_deref();
        inp.traffic = current.as_deref();
        inp.epoch = epoch;
        let d = plan_promotion(&inp);
        match &d.step {
            Some(s) => take(sites, s),
            None => return d,
        }
        running = d.running.clone();
        current = d.active_site.clone();
        epoch = d.epoch;
    }
    panic!("the machine did not settle");
}

#[test]
fn an_old_active_that_refuses_the_credentials_blocks_and_is_never_forced() {
    let sites = vec![
        silent("east", SiteContact::CredentialsRefused),
        site("west", false, 1),
    ];
    let mut p = None;
    // Long past any window: still waiting, never forced.
    for now in ["2026-01-01T00:00:00Z", "2026-01-01T05:00:00Z"] {
        let d = plan_promotion(&input("west", "east", p.as_ref(), &sites, now));
        let running = d.running.clone().expect("running");
        assert!(!running.forced);
        assert_eq!(running.phase, Ph::Demoting);
        assert_eq!(running.deadline, None);
        assert_eq!(d.step, None);
        assert_eq!(d.blocked[0].reason, BlockReason::CredentialsRefused);
        assert!(
            d.blocked[0].message.contains("never forced"),
            "{:?}",
            d.blocked
        );
        assert_eq!(d.traffic_site.as_deref(), Some("east"));
        p = Some(running);
    }
}

/// "Retried" in the pure machine: every trip in which the old active
/// answers with an error (without telling its mode) keeps the promotion
/// open, blocked with the reason its answer names, with no step, no
/// window and nothing forced, over hours; the first trip in which it
/// answers its mode (active) gets the demotion step at the promotion's
/// epoch.
#[test]
fn an_old_active_that_answers_with_errors_is_retried_and_never_forced() {
    let start: Timestamp = t("2026-01-01T00:00:00Z");
    // Trips from the start of the promotion to eight hours on.
    let minutes = [0, 1, 2, 3, 10, 30, 60, 120, 240, 480];
    for (contact, reason) in [
        (SiteContact::Failing, BlockReason::SiteFailing),
        (SiteContact::Misconfigured, BlockReason::SiteMisconfigured),
        (SiteContact::Fenced, BlockReason::SiteFailing),
    ] {
        let errs = vec![silent("east", contact), site("west", false, 1)];
        let mut p: Option<PromotionStatus> = None;
        for m in minutes {
            let now = start
                .checked_add(jiff::SignedDuration::from_mins(m))
                .expect("time")
                .to_string();
            let d = plan_promotion(&input("west", "east", p.as_ref(), &errs, &now));
            let running = d
                .running
                .clone()
                .unwrap_or_else(|| panic!("{contact:?} at {now}: the promotion was dropped"));
            assert_eq!(running.to, "west", "{contact:?} at {now}");
            assert_eq!(running.epoch, 2, "{contact:?} at {now}");
            assert!(!running.forced, "{contact:?} at {now}: forced");
            assert_eq!(running.deadline, None, "{contact:?} at {now}: a window");
            assert_eq!(running.silent_since, None, "{contact:?} at {now}");
            assert_eq!(d.step, None, "{contact:?} at {now}");
            assert!(d.finished.is_none(), "{contact:?} at {now}");
            assert_eq!(
                d.blocked.iter().map(|b| b.reason).collect::<Vec<_>>(),
                [reason],
                "{contact:?} at {now}: {:?}",
                d.blocked
            );
            assert!(
                d.blocked[0].message.contains("never forced"),
                "{contact:?} at {now}: {:?}",
                d.blocked
            );
            assert_eq!(
                (d.active_site.as_deref(), d.epoch),
                (Some("east"), 1),
                "{contact:?} at {now}"
            );
            assert_eq!(d.traffic_site.as_deref(), Some("east"), "{contact:?}");
            assert!(
                d.notices.iter().all(|n| n.reason != "PromotionForced"),
                "{contact:?} at {now}: {:?}",
                d.notices
            );
            p = Some(running);
        }
        // The retry that reaches it: east answers its mode (still active
        // at epoch 1) and is demoted at the promotion's epoch.
        let answers = vec![site("east", true, 1), site("west", false, 1)];
        let d = plan_promotion(&input(
            "west",
            "east",
            p.as_ref(),
            &answers,
            "2026-01-01T08:01:00Z",
        ));
        assert_eq!(
            d.step,
            Some(Step::SetMode {
                site: "east".into(),
                active: false,
                epoch: 2
            }),
            "{contact:?}: {d:?}"
        );
        assert!(d.blocked.is_empty(), "{contact:?}: {:?}", d.blocked);
        let running = d.running.expect("running");
        assert!(!running.forced, "{contact:?}");
        assert_eq!(running.phase, Ph::Demoting, "{contact:?}");
    }
}

#[test]
fn the_contact_window_counts_from_the_first_failed_contact_not_the_start() {
    // The promotion waited in preflight for an hour (target behind).
    let mut west = site("west", false, 1);
    west.synced_revision = Some("old".into());
    let sites = vec![site("east", true, 1), west];
    let d = plan_promotion(&input("west", "east", None, &sites, "2026-01-01T00:00:00Z"));
    let p = d.running.expect("running");
    assert_eq!(p.phase, Ph::Preflight);
    // An hour later the target is synced and the old active goes silent.
    let sites = vec![
        silent("east", SiteContact::NoAnswer),
        site("west", false, 1),
    ];
    let d = plan_promotion(&input(
        "west",
        "east",
        Some(&p),
        &sites,
        "2026-01-01T01:00:00Z",
    ));
    let p = d.running.expect("running");
    assert_eq!(p.phase, Ph::WaitingForOldActive);
    assert!(!p.forced);
    assert_eq!(p.silent_since.as_deref(), Some("2026-01-01T01:00:00Z"));
    assert_eq!(p.deadline.as_deref(), Some("2026-01-01T01:01:00Z"));
    // An answer in between (even an error) restarts the window.
    let errs = vec![silent("east", SiteContact::Failing), site("west", false, 1)];
    let d = plan_promotion(&input(
        "west",
        "east",
        Some(&p),
        &errs,
        "2026-01-01T01:00:50Z",
    ));
    let p = d.running.expect("running");
    assert_eq!(p.silent_since, None);
    let d = plan_promotion(&input(
        "west",
        "east",
        Some(&p),
        &sites,
        "2026-01-01T01:01:10Z",
    ));
    let p = d.running.expect("running");
    assert!(!p.forced, "forced although east answered 20 s ago");
    assert_eq!(p.deadline.as_deref(), Some("2026-01-01T01:02:10Z"));
}

#[test]
fn a_fenced_answer_makes_the_promotion_adopt_the_newer_epoch() {
    // east was fenced by someone at epoch 7 while the promotion planned 2.
    let mut sites = vec![site("east", false, 7), site("west", false, 1)];
    let d = run_until_wait(
        "west",
        Some("east"),
        1,
        None,
        &mut sites,
        "2026-01-01T00:00:00Z",
    );
    assert_eq!(d.running, None);
    let rec = d.finished.expect("finished");
    assert_eq!(rec.epoch, 8);
    assert_eq!(d.epoch, 8);
    assert_eq!(
        sites[1].mode,
        Some(ModeSeen {
            active: true,
            epoch: 8
        })
    );
    assert!(d.notices.iter().any(|n| n.reason == "EpochAdopted") || rec.epoch == 8);
}

#[test]
fn an_unknown_phase_is_refused_and_nothing_is_done() {
    let sites = vec![site("east", true, 1), site("west", false, 1)];
    let p = PromotionStatus {
        from: Some("east".into()),
        to: "west".into(),
        phase: Ph::Unknown("Draining".into()),
        epoch: 2,
        ..PromotionStatus::default()
    };
    let d = plan_promotion(&input(
        "west",
        "east",
        Some(&p),
        &sites,
        "2026-01-01T00:00:00Z",
    ));
    assert_eq!(d.step, None);
    assert_eq!(d.finished, None);
    assert_eq!(d.running, Some(p));
    assert_eq!(d.blocked[0].reason, BlockReason::UnknownPhase);
    assert!(d.blocked[0].message.contains("\"Draining\""));
}

#[test]
fn with_no_recorded_epoch_nobody_is_activated_until_every_site_answers() {
    let sites = vec![
        site("east", false, 3),
        silent("west", SiteContact::NoAnswer),
    ];
    let mut inp = input("east", "east", None, &sites, "2026-01-01T00:00:00Z");
    inp.current = None;
    inp.epoch = 0;
    let d = plan_promotion(&inp);
    assert_eq!(d.step, None, "activated with west unheard");
    assert_eq!(d.active_site, None);
    let p = d.running.clone().expect("waiting");
    assert_eq!(p.phase, Ph::WaitingForOldActive);
    assert!(
        p.message.as_deref().is_some_and(|m| m.contains("west")),
        "{p:?}"
    );
    // west answers, passive at epoch 5: east is activated above it.
    let sites = vec![site("east", false, 3), site("west", false, 5)];
    let mut inp = input("east", "east", Some(&p), &sites, "2026-01-01T00:00:10Z");
    inp.current = None;
    inp.epoch = 0;
    let d = plan_promotion(&inp);
    assert_eq!(d.running, None);
    assert_eq!(d.active_site.as_deref(), Some("east"));
    assert_eq!(
        d.step,
        Some(Step::SetMode {
            site: "east".into(),
            active: true,
            epoch: 6
        })
    );
}

#[test]
fn with_no_recorded_epoch_a_silent_site_is_forced_past_only_after_the_window() {
    let mut sites = vec![
        site("east", false, 0),
        silent("west", SiteContact::NoAnswer),
    ];
    let snapshot = sites.clone();
    let mut inp = input("east", "east", None, &snapshot, "2026-01-01T00:00:00Z");
    inp.current = None;
    inp.epoch = 0;
    let p = plan_promotion(&inp).running.expect("waiting");
    inp.running = Some(&p);
    inp.now = t("2026-01-01T00:00:59Z");
    let p2 = plan_promotion(&inp).running.expect("still waiting");
    assert!(!p2.forced);
    let d = run_until_wait(
        "east",
        None,
        0,
        Some(p2),
        &mut sites,
        "2026-01-01T00:01:00Z",
    );
    let rec = d.finished.expect("activated");
    assert!(rec.forced);
    assert_eq!(
        (rec.to.as_str(), rec.reason.as_str()),
        ("east", REASON_INITIAL)
    );
    assert_eq!(
        sites[0].mode,
        Some(ModeSeen {
            active: true,
            epoch: 1
        })
    );
}

/// First sight: a site that reports active is adopted only once every
/// site has told its mode, or the silent ones ran out a whole window (the
/// silent one may be the newer side of a split).
#[test]
fn with_no_recorded_epoch_an_active_site_is_adopted_only_after_the_silent_ones_ran_out_the_window()
{
    let sites = vec![site("east", true, 4), silent("west", SiteContact::NoAnswer)];
    let mut inp = input("east", "east", None, &sites, "2026-01-01T00:00:00Z");
    inp.current = None;
    inp.epoch = 0;
    let d = plan_promotion(&inp);
    assert_eq!(d.active_site, None, "adopted while west is silent");
    assert_eq!(d.step, None);
    let waiting = d.running.clone().expect("waiting for west");
    assert_eq!(waiting.phase, Ph::WaitingForOldActive);
    assert_eq!(waiting.silent_sites, vec!["west".to_string()]);

    // A whole window later, still silent: east is adopted at its epoch.
    inp.running = Some(&waiting);
    inp.now = "2026-01-01T00:31:00Z".parse().expect("time");
    let d = plan_promotion(&inp);
    assert_eq!((d.active_site.as_deref(), d.epoch), (Some("east"), 4));
    assert_eq!(d.running, None);
    assert_eq!(d.step, None);
}

/// First sight: two sites report active; the higher epoch is kept even
/// when spec.activeSite and the order of spec.sites name the other.
#[test]
fn on_first_sight_two_actives_are_settled_by_epoch_not_by_the_spec() {
    let sites = vec![site("east", true, 3), site("west", true, 7)];
    let mut inp = input("east", "east", None, &sites, "2026-01-01T00:00:00Z");
    inp.current = None;
    inp.epoch = 0;
    let d = plan_promotion(&inp);
    assert_eq!((d.active_site.as_deref(), d.epoch), (Some("west"), 7));
    assert_eq!(
        d.step,
        Some(Step::SetMode {
            site: "east".into(),
            active: false,
            epoch: 7
        })
    );
    let said = d
        .notices
        .iter()
        .find(|n| n.reason == "SplitBrain")
        .expect("said");
    assert!(
        said.note
            .contains("keeping west (it holds the highest epoch)"),
        "{}",
        said.note
    );
}

#[test]
fn immediate_traffic_moves_to_the_target_while_the_old_active_is_silent() {
    let sites = vec![
        silent("east", SiteContact::NoAnswer),
        site("west", false, 1),
    ];
    let mut inp = input("west", "east", None, &sites, "2026-01-01T00:00:00Z");
    let d = plan_promotion(&inp);
    assert_eq!(
        d.traffic_site.as_deref(),
        Some("east"),
        "WaitForPromotion moved traffic"
    );
    inp.traffic_failover = TrafficFailover::Immediate;
    let d = plan_promotion(&inp);
    let p = d.running.clone().expect("waiting");
    assert_eq!(p.phase, Ph::WaitingForOldActive);
    assert_eq!(d.traffic_site.as_deref(), Some("west"));
    assert_eq!(
        d.active_site.as_deref(),
        Some("east"),
        "the role moved early"
    );
    // east answers again during the window: traffic stays on west while
    // east is demoted and west promoted.
    let back = vec![site("east", true, 1), site("west", false, 1)];
    let mut inp2 = input("west", "east", Some(&p), &back, "2026-01-01T00:00:10Z");
    inp2.traffic_failover = TrafficFailover::Immediate;
    inp2.traffic = Some("west");
    let d = plan_promotion(&inp2);
    assert_eq!(d.traffic_site.as_deref(), Some("west"));
    assert!(
        matches!(d.step, Some(Step::SetMode { ref site, active: false, .. }) if site == "east")
    );
}

#[test]
fn a_stray_active_site_is_demoted_before_the_target_is_promoted() {
    // Forced past east, which comes back active at its old epoch while the
    // target is being promoted.
    let p = PromotionStatus {
        from: Some("east".into()),
        to: "west".into(),
        phase: Ph::Promoting,
        epoch: 2,
        forced: true,
        ..PromotionStatus::default()
    };
    let sites = vec![site("east", true, 1), site("west", false, 1)];
    let d = plan_promotion(&input(
        "west",
        "east",
        Some(&p),
        &sites,
        "2026-01-01T00:00:00Z",
    ));
    assert_eq!(
        d.step,
        Some(Step::SetMode {
            site: "east".into(),
            active: false,
            epoch: 2
        })
    );
}

/// A person who knows the old active is broken (it answers 500 to every
/// call) names it at the epoch status shows for it: the promotion goes on
/// past it, forced, and the record says who asked.
#[test]
fn a_site_that_answers_is_passed_over_only_when_a_person_names_it_at_its_epoch() {
    let mut east = silent("east", SiteContact::Failing);
    east.last_epoch = Some(1);
    let sites = vec![east, site("west", false, 1)];
    let now = "2026-01-01T00:00:00Z";

    // Without the annotation: blocked, never forced.
    let d = plan_promotion(&input("west", "east", None, &sites, now));
    assert_eq!(d.step, None);
    assert_eq!(d.blocked[0].reason, BlockReason::SiteFailing);

    // Named at an epoch it does not stand at (an annotation left from an
    // earlier incident): nothing changes.
    let mut inp = input("west", "east", None, &sites, now);
    inp.force_past = Some(ForcePast {
        site: "east",
        epoch: 0,
        by: "user alice",
    });
    let d = plan_promotion(&inp);
    assert_eq!(d.step, None);
    assert_eq!(d.blocked[0].reason, BlockReason::SiteFailing);

    // Named at its epoch: west is made active without demoting east.
    inp.force_past = Some(ForcePast {
        site: "east",
        epoch: 1,
        by: "user alice",
    });
    let d = plan_promotion(&inp);
    let running = d.running.clone().expect("running");
    assert_eq!(
        d.step,
        Some(Step::SetMode {
            site: "west".into(),
            active: true,
            epoch: running.epoch
        })
    );
    assert!(running.forced);
    assert_eq!(
        running.forced_by.as_deref(),
        Some("user alice (past east at epoch 1)")
    );
    let said = d
        .notices
        .iter()
        .find(|n| n.reason == "ForcedPastAnsweringSite")
        .expect("said out loud");
    assert!(
        said.note.contains("because user alice asked"),
        "{}",
        said.note
    );
    assert!(
        said.note.contains("two sites may be active"),
        "{}",
        said.note
    );
}

#[test]
fn a_force_past_annotation_is_read_as_site_at_epoch() {
    assert_eq!(
        ForcePast::parse("east@4", "bob"),
        Some(ForcePast {
            site: "east",
            epoch: 4,
            by: "bob"
        })
    );
    assert_eq!(ForcePast::parse("east", "bob"), None);
    assert_eq!(ForcePast::parse("@4", "bob"), None);
    assert_eq!(ForcePast::parse("east@four", "bob"), None);
}

/// With no recorded epoch and a site answering 500, the pair waits to
/// know it: phase WaitingForOldActive (never Demoting with no one named),
/// blocked with the site named, nobody activated.
#[test]
fn a_first_activation_blocked_by_a_failing_site_waits_and_names_no_demotion() {
    let sites = vec![silent("east", SiteContact::Failing), site("west", false, 0)];
    let mut inp = input("west", "west", None, &sites, "2026-01-01T00:00:00Z");
    inp.current = None;
    inp.epoch = 0;
    let d = plan_promotion(&inp);
    let running = d.running.clone().expect("waiting");
    assert_eq!(running.from, None);
    assert_eq!(running.phase, Ph::WaitingForOldActive);
    assert_eq!(d.step, None);
    assert_eq!(d.active_site, None);
    assert_eq!(d.blocked[0].reason, BlockReason::SiteFailing);
    assert!(
        d.blocked[0].message.contains("site east"),
        "{:?}",
        d.blocked
    );
}

/// Three sites: a planned promotion while the third answers 500 holds
/// before anything is done, with the old active still active (it was
/// demoted first, and the pair had no active site for the whole hold).
#[test]
fn a_third_site_that_answers_errors_holds_the_promotion_before_the_old_active_is_demoted() {
    let sites = vec![
        site("east", true, 5),
        site("west", false, 5),
        silent("north", SiteContact::Failing),
    ];
    let d = plan_promotion(&input("west", "east", None, &sites, "2026-01-01T00:00:00Z"));
    assert_eq!(d.step, None, "east demoted while north holds the promotion");
    assert_eq!(d.blocked[0].reason, BlockReason::SiteFailing);
    assert!(
        d.blocked[0].message.contains("site north"),
        "{:?}",
        d.blocked
    );
    assert_eq!(d.active_site.as_deref(), Some("east"));
    assert_eq!(d.traffic_site.as_deref(), Some("east"));
}

/// Force-past never passes over a site that reports active: it is
/// demoted like any other (force-past is for a site that cannot tell).
#[test]
fn a_force_past_naming_a_site_that_reports_active_demotes_it_instead() {
    let sites = vec![site("east", true, 4), site("west", false, 4)];
    let mut inp = input("west", "east", None, &sites, "2026-01-01T00:00:00Z");
    inp.epoch = 4;
    inp.force_past = Some(ForcePast {
        site: "east",
        epoch: 4,
        by: "user alice",
    });
    let d = plan_promotion(&inp);
    assert_eq!(
        d.step,
        Some(Step::SetMode {
            site: "east".into(),
            active: false,
            epoch: 5
        })
    );
    let running = d.running.expect("running");
    assert!(!running.forced);
    assert_eq!(running.forced_by, None);
}

#[path = "promotion_cancel_tests.rs"]
mod cancel;
