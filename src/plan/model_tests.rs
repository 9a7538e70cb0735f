//! Model-based property test of the whole failover logic. A simulated
//! world of 2 to 4 sites; at each step every site is up, silent, refusing
//! the credentials (401), fenced elsewhere (409), failing (500) or slow;
//! the operator crashes and restarts at any step boundary, reads status
//! back stale, the spec changes at any time and the clock moves. The real
//! plan code drives the world (see `model_world`). After every step:
//!
//! 1. never two sites active at one epoch, and never a site made active
//!    while another site that answers is active (demote before promote);
//! 2. never a forced promotion while the old active answered within its
//!    window (answers seen by a trip that survived to act on them);
//! 3. no epoch goes down, at any site or in status;
//! 4. traffic only where the policy allows: after a completed trip, where
//!    the latest status says; that is the active site, or with Immediate
//!    the target of a promotion past preflight; never a site reported
//!    active at an older epoch than another reported active;
//! 5. once every site answers for long enough, exactly one site is active,
//!    spec.activeSite, with status and traffic on it.

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
        _ => Fault::PutLost,
    }
}

fn event() -> impl Strategy<Value = Event> {
    (
        prop::collection::vec((0u8..18, 1u8..3), 4),
        prop::option::weighted(0.15, 0u8..4),
        prop::bool::weighted(0.05),
        prop_oneof![
            6 => Just(Crash::Never),
            1 => (1u8..4).prop_map(Crash::BeforeStep),
            1 => (1u8..4).prop_map(Crash::AfterStep),
        ],
        prop_oneof![3 => Just(0usize), 1 => 1usize..4],
        0u32..40,
    )
        .prop_map(
            |(faults, retarget, flip_policy, crash, stale, seconds)| Event {
                faults,
                retarget,
                flip_policy,
                crash,
                stale,
                seconds,
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
    // 1. At most one active site per epoch.
    for (i, a) in w.sites.iter().enumerate() {
        for b in &w.sites[i + 1..] {
            if a.active && b.active && a.epoch == b.epoch {
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
        if after.epoch < before.epoch {
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
    let past = match (after.promotion.as_ref().filter(|p| p.forced), new_record) {
        (Some(p), _) => p.from.clone(),
        (None, Some(r)) => r.from.clone(),
        (None, None) => return Ok(()),
    };
    let window = w.contact_timeout;
    // Forced past the old active, or (first activation) past every site
    // silent to the trip that forced.
    let silent: Vec<String> = match past {
        Some(from) => vec![from],
        None => w.silent_at[v].clone(),
    };
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
            Fault::Up | Fault::FencedElsewhere | Fault::PutFailing | Fault::PutLost
        ) && s.active
    };
    if let Some(t) = w.sites.iter().find(|s| Some(&s.name) == w.traffic.as_ref())
        && reported(t)
        && let Some(other) = w.sites.iter().find(|s| reported(s) && s.epoch > t.epoch)
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
        cases: 3000,
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

/// Shrunk from a run where a write planned on a stale read was accepted:
/// s0 was activated at epoch 1, then a trip that read the empty status
/// of before wrote it back, and status.epoch went from 1 to 0. The
/// model's API server refuses it, as the resourceVersion guard on every
/// status write does.
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
