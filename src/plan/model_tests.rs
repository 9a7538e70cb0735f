//! Model-based property test of the whole failover logic. A simulated
//! world of 2 to 4 sites; at each step every site is up, silent, refusing
//! the credentials (401), fenced elsewhere (409), failing (500), slow (its
//! answers lost), failing or losing its mode writes, hanging its health
//! check while the admin API answers, answering its health check while the
//! admin API is silent, or making itself active; the operator crashes and
//! restarts at any step boundary, reads status back stale, the pair is
//! re-created (its status lost), the spec and the traffic policy change at
//! any time and the clock moves. The real plan code drives the world (see
//! `model_world`). After every step:
//!
//! 1. never two sites active at one epoch by the operator's doing, and
//!    never a site made active while another site that speaks (any answer,
//!    even an error) is active, whatever their epochs;
//! 2. a site is passed over only after a whole window of silence: never a
//!    forced promotion while a site other than the target answered within
//!    its window (answers seen by a trip that survived to act on them);
//! 3. no epoch goes down, at any site or in status (but for a re-created
//!    pair's empty status);
//! 4. traffic only where the policy allows: after a completed trip, where
//!    the latest status says; that is the active site, or with Immediate
//!    the target of a promotion past preflight; never a site reported
//!    active at an older epoch than another the operator made active;
//! 5. once every site answers for long enough, exactly one site is active,
//!    spec.activeSite, with status and traffic on it.
//!
//! `MODEL_CASES` runs more cases (scripts/model.sh).

use proptest::prelude::*;

use super::model_world::{Crash, Fault, SimSite, TripEnd, World};
use crate::api::{PromotionPhase, SiteHAPairStatus, TrafficFailover};

/// One step of the world.
#[derive(Debug, Clone)]
struct Event {
    faults: Vec<(u8, u8)>,
    retarget: Option<u8>,
    /// The user switches `spec.traffic.failover` (Immediate ⇄ WaitForPromotion).
    flip_policy: bool,
    crash: Crash,
    stale: usize,
    seconds: u32,
    /// The pair is deleted and applied again (or its status is lost): the
    /// API server holds an empty status, and the process knows nothing.
    recreate: bool,
}

fn fault(n: u8) -> Fault {
    match n {
        0..=9 => Fault::Up,
        10..=11 => Fault::NoAnswer,
        12 => Fault::Refused,
        13 => Fault::FencedElsewhere,
        14 => Fault::Failing,
        15 => Fault::Slow,
        16 => Fault::PutFailing,
        17 => Fault::PutLost,
        18 => Fault::HealthHangs,
        19 => Fault::AdminSilent,
        _ => Fault::TurnsActive,
    }
}

fn event() -> impl Strategy<Value = Event> {
    (
        prop::collection::vec((0u8..21, 1u8..3), 4),
        prop::option::weighted(0.15, 0u8..4),
        prop::bool::weighted(0.05),
        prop_oneof![
            6 => Just(Crash::Never),
            1 => (1u8..4).prop_map(Crash::BeforeStep),
            1 => (1u8..4).prop_map(Crash::AfterStep),
        ],
        prop_oneof![3 => Just(0usize), 1 => 1usize..4],
        0u32..40,
        prop::bool::weighted(0.03),
    )
        .prop_map(
            |(faults, retarget, flip_policy, crash, stale, seconds, recreate)| Event {
                faults,
                retarget,
                flip_policy,
                crash,
                stale,
                seconds,
                recreate,
            },
        )
}

/// Whole-run facts the invariants compare against.
#[derive(Default)]
struct Seen {
    site_epochs: Vec<i64>,
    checked_versions: usize,
}

fn check_world(w: &World, seen: &mut Seen) -> Result<(), String> {
    if let Some(v) = w.violations.first() {
        return Err(v.clone());
    }
    // 1. At most one active site per epoch (a site that made itself
    // active is the world's doing; the operator must demote it).
    for (i, a) in w.sites.iter().enumerate() {
        for b in &w.sites[i + 1..] {
            if a.active && b.active && a.epoch == b.epoch && !a.rogue && !b.rogue {
                return Err(format!(
                    "{} and {} both active at epoch {}",
                    a.name, b.name, a.epoch
                ));
            }
        }
    }
    // 3. Site epochs never go down.
    if seen.site_epochs.is_empty() {
        seen.site_epochs = vec![0; w.sites.len()];
    }
    for (i, s) in w.sites.iter().enumerate() {
        if s.epoch < seen.site_epochs[i] {
            return Err(format!(
                "{} went from epoch {} to {}",
                s.name, seen.site_epochs[i], s.epoch
            ));
        }
        seen.site_epochs[i] = s.epoch;
    }
    // Every status version written since the last check.
    for v in seen.checked_versions.max(1)..w.versions.len() {
        let (before, after) = (&w.versions[v - 1], &w.versions[v]);
        if after.epoch < before.epoch && !w.recreated.contains(&v) {
            return Err(format!(
                "status.epoch went from {} to {}",
                before.epoch, after.epoch
            ));
        }
        check_forcing(w, v, before, after)?;
    }
    seen.checked_versions = w.versions.len();
    Ok(())
}

/// Invariant 2: a promotion turned forced only after a whole window of
/// silence of the site it forces past.
fn check_forcing(
    w: &World,
    v: usize,
    before: &SiteHAPairStatus,
    after: &SiteHAPairStatus,
) -> Result<(), String> {
    let at = w.written_at[v];
    let was_forced = before.promotion.as_ref().is_some_and(|p| p.forced);
    if was_forced {
        return Ok(());
    }
    let new_record = after
        .history
        .last()
        .filter(|r| r.forced && before.history.last() != Some(*r));
    if after.promotion.as_ref().filter(|p| p.forced).is_none() && new_record.is_none() {
        return Ok(());
    }
    let window = w.contact_timeout;
    // Forced past every site silent to the trip that forced: every site
    // but the target is known passive or silent for a whole window.
    let target = after
        .promotion
        .as_ref()
        .map(|p| p.to.clone())
        .or_else(|| after.history.last().map(|r| r.to.clone()));
    let silent: Vec<String> = w.silent_at[v]
        .iter()
        .filter(|s| Some(*s) != target.as_ref())
        .cloned()
        .collect();
    let since = at.checked_sub(window).unwrap_or(at);
    for site in &silent {
        if let Some((_, answered)) = w
            .answers
            .iter()
            .rev()
            .find(|(s, t)| s == site && *t > since && *t <= at)
        {
            return Err(format!(
                "forced past {site} at {at}, which answered at {answered}, within the {}s window",
                window.as_secs()
            ));
        }
    }
    Ok(())
}

/// 4. Traffic after a completed trip.
fn check_traffic(w: &World) -> Result<(), String> {
    let st = w.latest();
    if w.traffic != st.traffic_site {
        return Err(format!(
            "traffic on {:?}, status says {:?}",
            w.traffic, st.traffic_site
        ));
    }
    let allowed = match (&st.promotion, w.policy) {
        (Some(p), TrafficFailover::Immediate) if p.phase != PromotionPhase::Preflight => {
            st.traffic_site == st.active_site || st.traffic_site.as_deref() == Some(p.to.as_str())
        }
        _ => st.traffic_site == st.active_site,
    };
    if !allowed {
        return Err(format!(
            "traffic on {:?} with active {:?} and promotion {:?} under {:?}",
            st.traffic_site, st.active_site, st.promotion, w.policy
        ));
    }
    // Never on a site the operator saw active at an older epoch than another.
    let reported = |s: &SimSite| {
        matches!(
            s.fault,
            Fault::Up
                | Fault::FencedElsewhere
                | Fault::PutFailing
                | Fault::PutLost
                | Fault::HealthHangs
                | Fault::TurnsActive
        ) && s.active
    };
    if let Some(t) = w.sites.iter().find(|s| Some(&s.name) == w.traffic.as_ref())
        && reported(t)
        && !t.rogue
        && let Some(other) = w
            .sites
            .iter()
            .find(|s| reported(s) && !s.rogue && s.epoch > t.epoch)
    {
        return Err(format!(
            "traffic on {} (active at {}) while {} is active at {}",
            t.name, t.epoch, other.name, other.epoch
        ));
    }
    Ok(())
}

/// 5. Everyone up for long enough: exactly the wished site is active.
fn settle(w: &mut World, seen: &mut Seen) -> Result<(), String> {
    for i in 0..w.sites.len() {
        w.set_fault(i, Fault::Up, 0);
    }
    for _ in 0..30 {
        w.now = w
            .now
            .checked_add(jiff::SignedDuration::from_secs(10))
            .expect("time");
        w.trip(0, Crash::Never);
        check_world(w, seen)?;
    }
    let actives: Vec<&SimSite> = w.sites.iter().filter(|s| s.active).collect();
    let st = w.latest();
    let ok = actives.len() == 1
        && actives[0].name == w.target
        && actives[0].epoch == st.epoch
        && st.active_site.as_deref() == Some(w.target.as_str())
        && st.promotion.is_none()
        && w.traffic.as_deref() == Some(w.target.as_str());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "not settled on {}: sites {:?}, status active {:?} epoch {} promotion {:?}, traffic {:?}",
            w.target, w.sites, st.active_site, st.epoch, st.promotion, w.traffic
        ))
    }
}

/// Run a scenario; Err names the first invariant broken.
fn run(n: usize, immediate: bool, events: &[Event]) -> Result<(), String> {
    let policy = if immediate {
        TrafficFailover::Immediate
    } else {
        TrafficFailover::WaitForPromotion
    };
    let mut w = World::new(n, policy);
    let mut seen = Seen::default();
    for (step, e) in events.iter().enumerate() {
        for (i, (f, bump)) in e.faults.iter().take(n).enumerate() {
            w.set_fault(i, fault(*f), i64::from(*bump));
        }
        if let Some(t) = e.retarget {
            w.target = format!("s{}", usize::from(t) % n);
            w.generation += 1;
        }
        if e.flip_policy {
            w.policy = match w.policy {
                TrafficFailover::Immediate => TrafficFailover::WaitForPromotion,
                TrafficFailover::WaitForPromotion => TrafficFailover::Immediate,
            };
            w.generation += 1;
        }
        w.now = w
            .now
            .checked_add(jiff::SignedDuration::from_secs(i64::from(e.seconds)))
            .expect("time");
        if e.recreate {
            w.recreate();
        }
        let end = w.trip(e.stale, e.crash);
        if end == TripEnd::Crashed {
            w.known = None; // a new process
        }
        check_world(&w, &mut seen).map_err(|m| format!("step {step}: {m}"))?;
        if end == TripEnd::Completed {
            check_traffic(&w).map_err(|m| format!("step {step}: {m}"))?;
        }
    }
    settle(&mut w, &mut seen).map_err(|m| format!("after settling: {m}"))
}

proptest! {
    #![proptest_config(ProptestConfig {
        // MODEL_CASES sets a longer run (scripts/model.sh).
        cases: std::env::var("MODEL_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(3000),
        max_shrink_iters: 20_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn one_active_site_holds_under_every_fault(
        n in 2usize..=4,
        immediate in any::<bool>(),
        events in prop::collection::vec(event(), 1..40),
    ) {
        if let Err(m) = run(n, immediate, &events) {
            prop_assert!(false, "{}", m);
        }
    }
}

/// A quiet step: faults per site (see [`fault`]), an optional new target.
fn step(faults: &[u8], retarget: Option<u8>, seconds: u32) -> Event {
    Event {
        faults: faults
            .iter()
            .map(|f| (*f, 1))
            .chain([(0, 1); 4])
            .take(4)
            .collect(),
        retarget,
        flip_policy: false,
        crash: Crash::Never,
        stale: 0,
        seconds,
        recreate: false,
    }
}

/// Shrunk from the first model run (seed `498c2…` in
/// proptest-regressions): a promotion to s1 retargeted back to s0, the
/// active, while s1 fell silent. Cancelling must leave s0 active at its
/// epoch with traffic on it, and s1's silence must never force anything:
/// there is nothing to force past once the target is the active site.
#[test]
fn regression_retargeting_back_to_the_active_while_the_target_is_silent() {
    let events = [
        step(&[0, 0], Some(1), 0),
        step(&[0, 0], None, 0),
        step(&[0, 10], Some(0), 0),
        step(&[0, 10], None, 22),
        step(&[0, 10], None, 38),
    ];
    run(2, false, &events).expect("invariants hold");
}

/// Shrunk from a run where a 401 from the old active, between two silent
/// spells, did not restart the contact window: s1 answered at 00:00:32 and
/// the promotion was forced at 00:01:00.
#[test]
fn regression_a_refusal_inside_the_window_restarts_it() {
    let events = [
        step(&[0, 0, 0], Some(1), 0),
        step(&[0, 0, 0], None, 0),
        step(&[0, 10, 0], Some(2), 0),
        step(&[0, 10, 0], None, 4),
        step(&[0, 12, 0], None, 28),
        step(&[0, 10, 0], None, 28),
    ];
    run(3, false, &events).expect("invariants hold");
}

/// Shrunk from a run where s0 was activated at epoch 1, then a trip whose
/// cache still held the empty status of before wrote it back, and
/// status.epoch went from 1 to 0. What this checks now: given a fresh
/// read, the plan never lowers the epoch. It does not test the
/// resourceVersion guard: the model's trip re-reads a copy it cannot
/// vouch for, and its API server (`World::write`) refuses a write planned
/// on an older version by itself, so a stale write cannot land here
/// whatever the operator does. That the operator's own status write
/// carries the guard, and the real API server refuses it with 409, is
/// tested in tests/e2e/status_guard.rs
/// (`the_operators_own_status_write_planned_on_a_stale_read_is_refused`).
#[test]
fn regression_a_stale_read_never_lowers_the_epoch() {
    let mut events = vec![step(&[0, 0], None, 0), step(&[10, 0], None, 0)];
    events[1].stale = 1;
    run(2, false, &events).expect("invariants hold");
}

/// A silent old active under Immediate: traffic is on the target within
/// the trip that finds it silent, and the old active, back before the
/// deadline, is demoted rather than forced past.
#[test]
fn scenario_immediate_traffic_and_a_returning_old_active() {
    let events = [
        step(&[0, 0], None, 0),
        step(&[10, 0], Some(1), 5),
        step(&[10, 0], None, 30),
        step(&[0, 0], None, 10),
    ];
    run(2, true, &events).expect("invariants hold");
}

/// Shrunk (before trips re-read every copy they cannot vouch for) from a
/// run where the old active answered to a trip that read a stale status,
/// planned nothing to write, and so lost the answer: the promotion was
/// forced 37 s later although s0 answered at 00:00:23. Kept as a scenario.
#[test]
fn scenario_an_answer_seen_on_a_stale_read_restarts_the_window() {
    let mut events = vec![
        step(&[0, 0], None, 0),
        step(&[0, 10], Some(1), 0),
        step(&[0, 10], None, 0),
        step(&[10, 0], None, 0),
        step(&[10, 0], None, 0),
        step(&[0, 10], None, 23),
        step(&[10, 0], None, 37),
    ];
    events[5].stale = 2;
    run(2, false, &events).expect("invariants hold");
}

/// Found in review, then written as a model scenario: after a forced
/// promotion stalled before the target was made active, the old active
/// came back answering "active", and its demotion failed (500). Planning
/// on in the same trip took it for silent and made the target active
/// beside it. A failed mode change now ends the trip's steps.
#[test]
fn regression_a_failed_demotion_is_not_taken_for_silence() {
    let events = [
        step(&[0, 0], None, 0),
        step(&[10, 0], Some(1), 0),
        step(&[10, 16], None, 60),
        step(&[16, 0], None, 5),
    ];
    run(2, false, &events).expect("invariants hold");
}

/// Found in review, then written as a model scenario: with no recorded
/// epoch, s0 was silent while s1 answered; then s0 answered and s1 fell
/// silent, and the first activation was forced past s1 on s0's window, 35 s
/// after s1 had answered. Each silent site now needs a whole window.
#[test]
fn regression_a_site_that_falls_silent_later_gets_a_whole_window() {
    let events = [
        step(&[10, 0], None, 0),
        step(&[10, 0], None, 30),
        step(&[0, 10], None, 10),
        step(&[0, 10], None, 25),
    ];
    run(2, false, &events).expect("invariants hold");
}

/// Shrunk from a run where a trip planned from a copy three versions old
/// (the watch cache lagging behind a promotion to s3) and put traffic back
/// on s1. A copy the process cannot vouch for is read fresh first.
#[test]
fn regression_traffic_never_follows_a_stale_copy() {
    let mut events = vec![
        step(&[0, 0, 0, 0], Some(1), 0),
        step(&[0, 0, 0, 10], Some(3), 0),
        step(&[0, 10, 0, 0], None, 0),
        step(&[0, 0, 0, 10], None, 0),
        step(&[0, 0, 0, 0], None, 0),
        step(&[0, 0, 0, 10], None, 0),
    ];
    events[5].stale = 3;
    run(4, false, &events).expect("invariants hold");
}

/// Shrunk from the first run with sites that speak with errors after
/// making themselves active: s1 turned itself active, then answered 401
/// to everything while a promotion to s2 ran; s2 was made active beside it
/// (its mode unknown, so not "reporting active"). A site that speaks
/// without telling its mode now blocks the activation.
#[test]
fn regression_a_site_that_made_itself_active_then_refuses_is_never_run_over() {
    let events = [
        step(&[0, 20, 0, 0], None, 0),
        step(&[14, 20, 0, 0], Some(2), 0),
        step(&[0, 12, 0, 0], None, 0),
    ];
    run(4, false, &events).expect("invariants hold");
}

/// Shrunk: s2's admin API fell silent (its health check answering), then
/// it made itself active and spoke to a trip that only demoted it and
/// crashed before the step; silent again 29 s later, the promotion was
/// forced at the deadline of the window it had broken. A site of the
/// window that speaks now starts it again, whatever the trip goes on to do.
#[test]
fn regression_a_site_that_speaks_while_it_is_demoted_starts_the_window_again() {
    let mut events = vec![
        step(&[0, 0, 0], None, 0),
        step(&[0, 0, 0], Some(1), 0),
        step(&[0, 0, 19], None, 0),
        step(&[0, 0, 20], None, 31),
        step(&[0, 0, 10], None, 29),
    ];
    events[1].crash = Crash::BeforeStep(1);
    events[3].crash = Crash::BeforeStep(1);
    run(3, false, &events).expect("invariants hold");
}

/// Shrunk (an invariant too strict, kept as a scenario): sites that made
/// themselves active, one of them failing its demotion, while the active
/// site was fenced elsewhere. Traffic stays where status says; a site
/// active by its own doing is demoted, never followed.
#[test]
fn scenario_sites_that_make_themselves_active_are_demoted_not_followed() {
    let mut events = vec![
        step(&[0, 0, 0], None, 0),
        step(&[13, 10, 0], None, 0),
        step(&[20, 20, 0], None, 0),
        step(&[0, 16, 20], None, 0),
    ];
    events[2].crash = Crash::BeforeStep(1);
    run(3, false, &events).expect("invariants hold");
}

/// The health check hangs on the old active while its admin API answers:
/// it is demoted through the admin API, and the promotion is never forced
/// (the model's world flags a forcing past a site that spoke).
#[test]
fn scenario_a_hanging_health_check_never_makes_the_old_active_silent() {
    let events = [
        step(&[0, 0], None, 0),
        step(&[18, 0], Some(1), 0),
        step(&[18, 0], None, 61),
        step(&[18, 0], None, 61),
    ];
    run(2, false, &events).expect("invariants hold");
}

/// Shrunk: the old active's admin API fell silent (its health check
/// answering), answered 26 s later and was demoted by a trip that then
/// crashed; silent again, the promotion was forced at 00:01:00 on the
/// window that began at 00:00:00. An answer of a site in the window starts
/// it again in every phase, also when the answer is a mode to demote.
#[test]
fn regression_a_demoted_old_active_that_falls_silent_again_gets_a_whole_window() {
    let mut events = vec![
        step(&[0, 0], None, 0),
        step(&[19, 0], Some(1), 0),
        step(&[10, 0], None, 18),
        step(&[0, 0], None, 8),
        step(&[10, 0], None, 34),
    ];
    events[3].crash = Crash::AfterStep(1);
    run(2, false, &events).expect("invariants hold");
}

/// Shrunk: during the window over a silent old active, the target was
/// fenced elsewhere and then made itself active at the promotion's epoch;
/// the old active answered (its demotion failing) and fell silent again,
/// and the promotion was forced on the window it had broken. The window
/// starts again on any answer, even when the target already looks active.
#[test]
fn regression_an_answer_restarts_the_window_even_when_the_target_looks_active() {
    let events = [
        step(&[0, 0], None, 0),
        step(&[10, 0], Some(1), 0),
        step(&[19, 13], None, 15),
        step(&[16, 20], None, 35),
        step(&[10, 0], None, 10),
    ];
    run(2, false, &events).expect("invariants hold");
}

/// Shrunk (an invariant too strict, kept as a scenario): under Immediate,
/// traffic went to the target while the old active was silent; the
/// target then made itself active at an old epoch as the old active came
/// back. Traffic stays on the target, which the promotion stamps anew.
#[test]
fn scenario_immediate_traffic_on_a_target_that_makes_itself_active() {
    let mut events = vec![
        step(&[0, 0], None, 0),
        step(&[0, 20], Some(1), 0),
        step(&[0, 10], None, 0),
        step(&[13, 0], Some(0), 0),
        step(&[0, 10], None, 0),
        step(&[20, 16], None, 0),
    ];
    events[1].crash = Crash::AfterStep(2);
    events[3].flip_policy = true;
    run(2, false, &events).expect("invariants hold");
}
