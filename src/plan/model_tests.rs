//! Model-based property test of the whole failover logic. A simulated
//! world of 2 to 4 sites; at each step every site is up, silent, refusing
//! the credentials (401; a 403 is the same contact, CredentialsRefused),
//! fenced elsewhere (409), failing (500), slow (its answers lost),
//! failing or losing its mode writes or having them land late (at the end
//! of the trip, after its later steps, before the next), hanging its health
//! check while the admin API answers, answering its health check while the
//! admin API is silent, or making itself active; the operator crashes and
//! restarts at any step boundary, reads status back stale, the pair is
//! re-created (its status lost), the spec and the traffic policy change at
//! any time, rehearsals of a promotion are asked and withdrawn, and the
//! clock moves. The real plan code drives the world (see `model_world`),
//! which also holds that a rehearsal moves no role, epoch or traffic and
//! passes only a passive site that answers. Automatic failover
//! (spec.promotion.automatic, minInterval 1m) is turned on and off at any
//! time: at the end of a completed trip the shell's own `decide` runs on
//! the status just recorded (its rows folded from the trip's reports as
//! the sync folds them), and a Promote changes spec.activeSite only while
//! the API server still holds the status it was decided on (the patch's
//! resourceVersion guard). After every step:
//!
//! 1. never two sites active at one epoch by the operator's doing (but for
//!    a site an earlier status made active before the pair was re-created
//!    and that the new pair has not written since: its epoch is unknown
//!    to the pair, and 5 checks it is demoted once it answers), and
//!    never a site made active while another site that speaks (any answer,
//!    even an error) is active, whatever their epochs;
//! 2. a site is passed over only after a whole window of silence: never a
//!    forced promotion while a site other than the target answered within
//!    its window (answers seen by a trip that survived to act on them),
//!    less the clock skew between replicas and no more (see below);
//! 3. no epoch goes down, at any site or in status (but for a re-created
//!    pair's empty status);
//! 4. traffic only where the policy allows: after a completed trip, where
//!    the latest status says; that is the active site, or with Immediate
//!    the target of a promotion past preflight; never a site reported
//!    active at an older epoch than another the operator made active;
//! 5. once every site answers for long enough (and the change windows
//!    open), exactly one site is active, spec.activeSite, with status and
//!    traffic on it;
//! 6. while a deny window is open or spec.promotion.notBefore is ahead
//!    (by more than a replica's clock may be off), no planned promotion
//!    starts.
//!
//! Clock skew: each trip plans with the clock of the replica that runs
//! it, off the world's by up to ±2 s (`MAX_OFFSET`), so two replicas
//! differ by up to 4 s (`SKEW`), under the 5 s the Lease leaves between
//! a deposed leader's last write and a new leader's first (renew deadline
//! 10 s, duration 15 s: docs/concepts.md). Times are stamped in status by
//! one replica and read by another, so invariant 2 tolerates exactly
//! `SKEW`: a forced promotion after a silence of the window less 4 s, as
//! the world's clock measures it, is allowed; less than that is not.
//!
//! Verification after a promotion (spec.promotion.verify) is turned on and
//! off at any time, and a person acknowledges its hold at any time: a
//! new active whose health check fails is reverted through the same
//! machine (a spec change after the status), and every invariant above
//! holds through reverts too.
//!
//! `MODEL_CASES` runs more cases (scripts/model.sh).

use proptest::prelude::*;

use super::model_world::{Crash, Fault, SKEW, SimSite, TripEnd, World};
use crate::api::{PromotionPhase, SiteHAPairStatus, TrafficFailover};

/// One step of the world.
#[derive(Debug, Clone)]
pub(super) struct Event {
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
    /// A person closes a deny window (0), schedules the promotion some
    /// seconds ahead (1..), or clears both (None: nothing changes).
    hold: Option<u8>,
    /// A person asks for a rehearsal of the promotion to this site (a new
    /// request each time), or withdraws the request (4).
    rehearse: Option<u8>,
    /// A person turns spec.promotion.verify on or off (0) or acknowledges
    /// the hold a failed verification left (1); None: nothing.
    verify: Option<u8>,
    /// The user turns spec.promotion.automatic.enabled on or off.
    automatic: bool,
    /// Seconds the clock of the replica running this step's trip is off
    /// the world's (within ±`MAX_OFFSET`).
    offset: i8,
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
        20 => Fault::TurnsActive,
        _ => Fault::PutLate,
    }
}

fn event() -> impl Strategy<Value = Event> {
    (
        prop::collection::vec((0u8..22, 1u8..3), 4),
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
        prop::option::weighted(0.1, 0u8..8),
        prop::option::weighted(0.15, 0u8..5),
        prop::option::weighted(0.15, 0u8..2),
        prop::bool::weighted(0.1),
        prop_oneof![3 => Just(0i8), 1 => -2i8..=2],
    )
        .prop_map(
            |(
                faults,
                retarget,
                flip_policy,
                crash,
                stale,
                seconds,
                recreate,
                hold,
                rehearse,
                verify,
                automatic,
                offset,
            )| {
                Event {
                    faults,
                    retarget,
                    flip_policy,
                    crash,
                    stale,
                    seconds,
                    recreate,
                    hold,
                    rehearse,
                    verify,
                    automatic,
                    offset,
                }
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
    // active is the world's doing; the operator must demote it). A
    // re-created pair cannot know the epoch of a site an earlier status
    // made active and that it has not written since: such a site is
    // demoted once it answers (checked by 5).
    for (i, a) in w.sites.iter().enumerate() {
        for b in &w.sites[i + 1..] {
            let unknown = a.stamped_before_recreate || b.stamped_before_recreate;
            if a.active && b.active && a.epoch == b.epoch && !a.rogue && !b.rogue && !unknown {
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
    // A record is told apart by its promotion: what is added to it later
    // (its verification, its clean-up) makes no new record.
    let same = |a: &crate::api::PromotionRecord, b: &crate::api::PromotionRecord| {
        a.to == b.to && a.epoch == b.epoch && a.started_at == b.started_at
    };
    let new_record = after
        .history
        .last()
        .filter(|r| r.forced && !before.history.last().is_some_and(|b| same(b, r)));
    if after.promotion.as_ref().filter(|p| p.forced).is_none() && new_record.is_none() {
        return Ok(());
    }
    // Measured by two replicas whose clocks differ by up to SKEW: the
    // silence may fall short of the window by that much, and no more.
    let window = w.contact_timeout.saturating_sub(SKEW);
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
                "forced past {site} at {at}, which answered at {answered}, within the {}s window (less the {}s skew)",
                w.contact_timeout.as_secs(),
                SKEW.as_secs()
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
                | Fault::PutLate
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

/// Invariant 6: while a planned promotion must wait (a deny window,
/// notBefore ahead), no status written in the step starts one.
fn check_no_start(w: &World, from: usize) -> Result<(), String> {
    for v in from.max(1)..w.versions.len() {
        let (before, after) = (&w.versions[v - 1], &w.versions[v]);
        let started = before.promotion.is_none()
            && before.active_site.is_some()
            && after
                .promotion
                .as_ref()
                .is_some_and(|p| p.reason == "Manual");
        if started && !w.recreated.contains(&v) {
            return Err(format!(
                "a planned promotion to {} started while its window was closed or its time ahead",
                w.target
            ));
        }
    }
    Ok(())
}

/// 5. Everyone up for long enough: exactly the wished site is active.
fn settle(w: &mut World, seen: &mut Seen) -> Result<(), String> {
    // The windows open and the scheduled time passes.
    (w.window_closed, w.not_before) = (false, None);
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
pub(super) fn run(n: usize, immediate: bool, events: &[Event]) -> Result<(), String> {
    run_world(n, immediate, events).map(|_| ())
}

/// Run a scenario and give back the settled world.
pub(super) fn run_world(n: usize, immediate: bool, events: &[Event]) -> Result<World, String> {
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
        match e.hold {
            None => {}
            Some(0) => w.window_closed = !w.window_closed,
            Some(7) => (w.window_closed, w.not_before) = (false, None),
            Some(k) => {
                w.not_before = w
                    .now
                    .checked_add(jiff::SignedDuration::from_secs(15 * i64::from(k)))
                    .ok();
                w.generation += 1;
            }
        }
        match e.rehearse {
            None => {}
            Some(4) => w.rehearse = None,
            Some(k) => {
                let id = w.rehearse.as_ref().map_or(1, |(_, id)| id + 1);
                w.rehearse = Some((format!("s{}", usize::from(k) % n), id));
                w.generation += 1;
            }
        }
        match e.verify {
            Some(0) => {
                w.verify = !w.verify;
                w.generation += 1;
            }
            Some(_) => w.ack = true,
            None => {}
        }
        if e.automatic {
            w.automatic = !w.automatic;
            w.generation += 1;
        }
        w.offset = jiff::SignedDuration::from_secs(i64::from(e.offset));
        let held = w.start_held();
        let before = w.versions.len();
        let end = w.trip(e.stale, e.crash);
        if held {
            check_no_start(&w, before).map_err(|m| format!("step {step}: {m}"))?;
        }
        if end == TripEnd::Crashed {
            w.known = None; // a new process
        }
        w.ack = false;
        if std::env::var("MODEL_TRACE").is_ok() {
            let st = w.latest();
            eprintln!(
                "== event {step} {e:?} -> {end:?}\n  active {:?} epoch {} traffic(world) {:?} status.traffic {:?} target {}\n  promotion {:?}\n  sites {:?}",
                st.active_site,
                st.epoch,
                w.traffic,
                st.traffic_site,
                w.target,
                st.promotion,
                w.sites
                    .iter()
                    .map(|s| (s.name.clone(), s.active, s.epoch, s.fault))
                    .collect::<Vec<_>>()
            );
        }
        check_world(&w, &mut seen).map_err(|m| format!("step {step}: {m}"))?;
        if end == TripEnd::Completed {
            check_traffic(&w).map_err(|m| format!("step {step}: {m}"))?;
        }
    }
    settle(&mut w, &mut seen).map_err(|m| format!("after settling: {m}"))?;
    Ok(w)
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

#[path = "model_regressions.rs"]
mod regressions;
