//! The standby-first change planner: examples of each step, and a
//! model-based property test. The model is a world of one active site and
//! two passives whose health checks flip at random, a traffic pointer, and
//! an operator that may be killed after any status write (the next trip
//! resumes from status). Invariants, checked after every action:
//!
//! 1. traffic is only moved to a site whose health check passed this trip;
//! 2. the active site is changed only while this trip has put traffic on a
//!    standby (never while it takes traffic);
//! 3. while the active fails its check after its change, traffic is not on it;
//! 4. at the end of a trip that was not killed, traffic is where status
//!    says (the reconcile applies it);
//! 5. once every site stays healthy, within a few trips the active holds
//!    the revision, traffic is back on it and no change is under way.

use proptest::prelude::*;

use super::*;

const NOW: &str = "2026-11-23T10:00:00Z";

fn input<'a>(
    running: Option<&'a ActiveChangeStatus>,
    candidates: &'a [String],
    healthy: &'a [String],
) -> ChangeInput<'a> {
    ChangeInput {
        strategy: SyncStrategy::ShiftTraffic,
        running,
        active: "east",
        revision: "rev2",
        gate_open: true,
        active_work: true,
        candidates,
        healthy,
        traffic_applied: None,
        active_checked: None,
        drain: std::time::Duration::ZERO,
        now: NOW.parse().expect("time"),
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_change_begins_by_moving_traffic_to_the_first_healthy_synced_passive() {
    let (c, h) = (names(&["west"]), names(&["east", "west"]));
    let d = plan_change(&input(None, &c, &h));
    assert_eq!(d.action, Some(ChangeAction::MoveTraffic("west".into())));
    let change = d.change.expect("a change");
    assert_eq!(change.step, ChangeStep::TrafficToStandby);
    assert_eq!(change.standby, "west");
    assert_eq!(d.events[0].reason, "TrafficToStandby");
}

#[test]
fn in_place_nothing_to_write_or_a_closed_gate_begins_nothing() {
    let (c, h) = (names(&["west"]), names(&["east", "west"]));
    let mut inp = input(None, &c, &h);
    inp.strategy = SyncStrategy::InPlace;
    assert_eq!(plan_change(&inp), ChangeDecision::default());
    let mut inp = input(None, &c, &h);
    inp.active_work = false;
    assert_eq!(plan_change(&inp), ChangeDecision::default());
    let mut inp = input(None, &c, &h);
    inp.gate_open = false;
    assert_eq!(plan_change(&inp), ChangeDecision::default());
}

#[test]
fn without_a_passive_that_can_take_traffic_the_active_waits_and_says_why() {
    let h = names(&["east"]);
    let d = plan_change(&input(None, &[], &h));
    assert_eq!(d.action, None);
    assert!(
        d.hold
            .expect("a hold")
            .contains("no passive site can take traffic")
    );
}

fn running(step: ChangeStep) -> ActiveChangeStatus {
    ActiveChangeStatus {
        site: "east".into(),
        standby: "west".into(),
        revision: "rev2".into(),
        step,
        started_at: NOW.into(),
        drained_at: None,
        message: None,
    }
}

#[test]
fn the_active_is_changed_only_after_this_trip_put_traffic_on_the_standby() {
    let (c, h) = (names(&["west"]), names(&["east", "west"]));
    // Resumed at ChangingActive: traffic is moved (again) first.
    let r = running(ChangeStep::ChangingActive);
    let d = plan_change(&input(Some(&r), &c, &h));
    assert_eq!(d.action, Some(ChangeAction::MoveTraffic("west".into())));
    let mut inp = input(Some(&r), &c, &h);
    inp.traffic_applied = Some("west");
    assert_eq!(plan_change(&inp).action, Some(ChangeAction::ChangeActive));
}

#[test]
fn traffic_rests_on_the_standby_for_the_drain_time_before_the_active_changes() {
    let (c, h) = (names(&["west"]), names(&["east", "west"]));
    let r = running(ChangeStep::TrafficToStandby);
    let mut inp = input(Some(&r), &c, &h);
    inp.traffic_applied = Some("west");
    inp.drain = std::time::Duration::from_secs(30);
    let d = plan_change(&inp);
    assert_eq!(d.action, None);
    let resting = d.change.expect("still running");
    assert_eq!(resting.step, ChangeStep::TrafficToStandby);
    assert_eq!(resting.drained_at.as_deref(), Some("2026-11-23T10:00:30Z"));
    // A later trip, still inside the rest: traffic again, then nothing.
    let mut inp = input(Some(&resting), &c, &h);
    inp.traffic_applied = Some("west");
    inp.drain = std::time::Duration::from_secs(30);
    inp.now = "2026-11-23T10:00:29Z".parse().expect("time");
    assert_eq!(plan_change(&inp).action, None);
    inp.now = "2026-11-23T10:00:30Z".parse().expect("time");
    let d = plan_change(&inp);
    assert_eq!(d.action, Some(ChangeAction::ChangeActive));
    assert_eq!(d.events[0].reason, "ChangingActive");
}

#[test]
fn a_passed_check_moves_traffic_back_and_ends_the_change() {
    let (c, h) = (names(&["west"]), names(&["east", "west"]));
    let r = running(ChangeStep::ChangingActive);
    let mut inp = input(Some(&r), &c, &h);
    inp.traffic_applied = Some("west");
    inp.active_checked = Some(Ok(()));
    let d = plan_change(&inp);
    assert_eq!(d.action, Some(ChangeAction::MoveTraffic("east".into())));
    assert_eq!(d.events[0].reason, "TrafficBack");
    let back = d.change.expect("still running");
    assert_eq!(back.step, ChangeStep::TrafficBack);
    let mut inp = input(Some(&back), &c, &h);
    inp.traffic_applied = Some("east");
    let d = plan_change(&inp);
    assert_eq!(d.change, None);
    assert_eq!(d.events[0].reason, "ActiveChanged");
}

#[test]
fn a_failed_check_keeps_traffic_on_the_standby_and_says_why_once() {
    let (c, h) = (names(&["west"]), names(&["west"]));
    let r = running(ChangeStep::ChangingActive);
    let mut inp = input(Some(&r), &c, &h);
    inp.traffic_applied = Some("west");
    inp.active_checked = Some(Err("it fails its health check".into()));
    let d = plan_change(&inp);
    assert_eq!(d.action, None);
    let failed = d.change.expect("still running");
    assert_eq!(failed.step, ChangeStep::ActiveFailedCheck);
    assert!(
        failed
            .message
            .as_deref()
            .unwrap_or("")
            .contains("traffic stays on west")
    );
    assert_eq!(d.events[0].reason, "ActiveCheckFailed");
    // The next trip tries again, without a second Event.
    let mut inp = input(Some(&failed), &c, &h);
    inp.traffic_applied = Some("west");
    assert_eq!(plan_change(&inp).action, Some(ChangeAction::ChangeActive));
    inp.active_checked = Some(Err("it fails its health check".into()));
    assert!(plan_change(&inp).events.is_empty());
}

#[test]
fn a_standby_that_fails_gives_traffic_back_to_a_healthy_untouched_active() {
    let h = names(&["east"]);
    let r = running(ChangeStep::TrafficToStandby);
    let d = plan_change(&input(Some(&r), &[], &h));
    assert_eq!(d.action, Some(ChangeAction::MoveTraffic("east".into())));
    assert_eq!(d.change, None);
    assert_eq!(d.events[0].reason, "StandbyFailedCheck");
}

#[test]
fn an_unknown_step_is_refused_and_nothing_moves() {
    let (c, h) = (names(&["west"]), names(&["east", "west"]));
    let r = running(ChangeStep::Unknown("Draining".into()));
    let d = plan_change(&input(Some(&r), &c, &h));
    assert_eq!(d.action, None);
    assert!(d.hold.expect("a hold").contains("Draining"));
}

/// The world of the property test.
#[derive(Debug, Clone)]
struct World {
    sites: Vec<(String, bool)>,
    traffic: String,
    active_revision: &'static str,
    /// status.activeChange as last written.
    change: Option<ActiveChangeStatus>,
}

impl World {
    fn healthy(&self) -> Vec<String> {
        self.sites
            .iter()
            .filter(|s| s.1)
            .map(|s| s.0.clone())
            .collect()
    }
    fn is_healthy(&self, site: &str) -> bool {
        self.sites.iter().any(|s| s.0 == site && s.1)
    }
}

/// One trip of the operator; stops after `kill_after` status writes (a
/// kill) when given. Returns an invariant violation, if any.
fn trip(w: &mut World, kill_after: Option<usize>) -> Result<(), String> {
    let healthy = w.healthy();
    let candidates: Vec<String> = healthy.iter().filter(|s| *s != "east").cloned().collect();
    let mut traffic_applied: Option<String> = None;
    let mut checked: Option<Result<(), String>> = None;
    let mut writes = 0;
    for _ in 0..MAX_TRIP_ACTIONS {
        let d = plan_change(&ChangeInput {
            strategy: SyncStrategy::ShiftTraffic,
            running: w.change.as_ref(),
            active: "east",
            revision: "rev2",
            gate_open: true,
            active_work: w.active_revision != "rev2" && checked.is_none(),
            candidates: &candidates,
            healthy: &healthy,
            traffic_applied: traffic_applied.as_deref(),
            active_checked: checked.clone(),
            drain: std::time::Duration::ZERO,
            now: NOW.parse().expect("time"),
        });
        w.change = d.change.clone();
        let Some(action) = d.action else { break };
        writes += 1;
        if kill_after == Some(writes) {
            return Ok(());
        }
        match action {
            ChangeAction::MoveTraffic(site) => {
                if !w.is_healthy(&site) {
                    return Err(format!("traffic moved to {site}, which failed its check"));
                }
                w.traffic = site.clone();
                traffic_applied = Some(site);
            }
            ChangeAction::ChangeActive => {
                if w.traffic == "east" || traffic_applied.as_deref() != Some(w.traffic.as_str()) {
                    return Err(format!(
                        "the active was changed with traffic on {} (moved this trip: {traffic_applied:?})",
                        w.traffic
                    ));
                }
                w.active_revision = "rev2";
                checked = Some(if w.is_healthy("east") {
                    Ok(())
                } else {
                    Err("fails".into())
                });
            }
        }
        if w.change
            .as_ref()
            .is_some_and(|c| c.step == ChangeStep::ActiveFailedCheck)
            && w.traffic == "east"
        {
            return Err("the active failed its check and takes traffic".into());
        }
    }
    // The trip ends as the reconcile does: traffic follows status (the
    // change's standby while it holds traffic there, else the active).
    w.traffic = w
        .change
        .as_ref()
        .and_then(|c| c.holds_traffic_on())
        .unwrap_or("east")
        .to_string();
    Ok(())
}

const MAX_TRIP_ACTIONS: usize = 8;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_standby_first_change_never_puts_traffic_on_an_unchecked_site(
        trips in proptest::collection::vec(
            (any::<bool>(), any::<bool>(), any::<bool>(), proptest::option::of(1usize..4)),
            1..12,
        )
    ) {
        let mut w = World {
            sites: vec![("east".into(), true), ("west".into(), true), ("south".into(), true)],
            traffic: "east".into(),
            active_revision: "rev1",
            change: None,
        };
        for (e, west, south, kill) in trips {
            w.sites = vec![("east".into(), e), ("west".into(), west), ("south".into(), south)];
            trip(&mut w, kill).map_err(TestCaseError::fail)?;
        }
        // Then everything heals and the operator runs undisturbed.
        for s in &mut w.sites {
            s.1 = true;
        }
        for _ in 0..3 {
            trip(&mut w, None).map_err(TestCaseError::fail)?;
        }
        prop_assert_eq!(w.active_revision, "rev2");
        prop_assert_eq!(w.traffic.as_str(), "east");
        prop_assert_eq!(w.change, None);
    }
}

/// Shrunk by the property test: the active fails its check with traffic on
/// `south`; next trip `south` fails and the healthy active takes traffic
/// back, but the operator is killed after writing that and before moving
/// it. The next trip's end puts traffic where status says: on the active.
#[test]
fn regression_a_change_given_up_and_killed_before_traffic_moved_home_ends_on_the_active() {
    let mut w = World {
        sites: vec![
            ("east".into(), false),
            ("west".into(), false),
            ("south".into(), true),
        ],
        traffic: "east".into(),
        active_revision: "rev1",
        change: None,
    };
    trip(&mut w, None).expect("trip 1");
    assert_eq!(w.traffic, "south");
    w.sites = vec![
        ("east".into(), true),
        ("west".into(), false),
        ("south".into(), false),
    ];
    trip(&mut w, Some(1)).expect("trip 2, killed");
    assert_eq!(w.traffic, "south", "killed before the move");
    for s in &mut w.sites {
        s.1 = true;
    }
    trip(&mut w, None).expect("trip 3");
    assert_eq!((w.traffic.as_str(), w.change.as_ref()), ("east", None));
}
