//! The standby-first change of the active site (spec.sync.strategy
//! ShiftTraffic), pure: from status.activeChange and what this trip has
//! seen and done, the next step and the one action to take (move traffic,
//! or change the active site and check it). The procedure an administrator
//! of a GIS site follows: change the standby, check it, move the load
//! balancer to the standby, change the primary, check it, move the load
//! balancer back.
//!
//! Invariants (property-tested in `active_change_tests`): traffic is only
//! moved to a site whose health check passed this trip; the active site is
//! changed only while this trip has put traffic on a standby; a failed
//! check after the change leaves traffic on the standby.

use crate::api::{ActiveChangeStatus, ChangeStep, SyncStrategy};
use crate::plan::event::PlannedEvent;
use crate::plan::promotion::stamp;
use crate::plan::sync_status::short;

/// What this pass of the planner knows.
#[derive(Debug, Clone)]
pub struct ChangeInput<'a> {
    pub strategy: SyncStrategy,
    /// status.activeChange.
    pub running: Option<&'a ActiveChangeStatus>,
    /// The active site (status.activeSite).
    pub active: &'a str,
    /// The revision this trip syncs to.
    pub revision: &'a str,
    /// Every passive holds the revision and passed its check after it.
    pub gate_open: bool,
    /// The active site has writes to take.
    pub active_work: bool,
    /// Passive sites that may take traffic, in spec order: they passed
    /// their health check this trip, hold the revision and are not joining.
    pub candidates: &'a [String],
    /// Sites whose health check passed on their last look this trip.
    pub healthy: &'a [String],
    /// Where this trip has put traffic so far (None: not moved this trip).
    pub traffic_applied: Option<&'a str>,
    /// How the active site came out of its change this trip (None: not
    /// changed yet; Err: why its write or check failed).
    pub active_checked: Option<Result<(), String>>,
    /// spec.sync.drainTime: how long traffic rests on the standby first.
    pub drain: std::time::Duration,
    pub now: jiff::Timestamp,
}

impl ChangeInput<'_> {
    fn is_healthy(&self, site: &str) -> bool {
        self.healthy.iter().any(|h| h == site)
    }
}

/// The one thing to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeAction {
    /// Point the traffic objects at this site.
    MoveTraffic(String),
    /// Write the revision to the active site, then check its health.
    ChangeActive,
}

/// The decision of one pass.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChangeDecision {
    /// status.activeChange after this pass.
    pub change: Option<ActiveChangeStatus>,
    pub action: Option<ChangeAction>,
    pub events: Vec<PlannedEvent>,
    /// Why the active site's writes wait when no change can begin.
    pub hold: Option<String>,
}

/// Decide the next step of the change.
pub fn plan_change(inp: &ChangeInput<'_>) -> ChangeDecision {
    let mut d = ChangeDecision {
        change: inp.running.cloned(),
        ..ChangeDecision::default()
    };
    match inp.running {
        None => begin(inp, &mut d),
        // The active site changed under it (a promotion): nothing is left to do.
        Some(c) if c.site != inp.active => d.change = None,
        Some(c) => advance(inp, c.clone(), &mut d),
    }
    d
}

fn begin(inp: &ChangeInput<'_>, d: &mut ChangeDecision) {
    if inp.strategy != SyncStrategy::ShiftTraffic || !inp.gate_open || !inp.active_work {
        return;
    }
    let Some(standby) = inp.candidates.first() else {
        d.hold = Some(format!(
            "spec.sync.strategy is ShiftTraffic and no passive site can take traffic \
             (healthy, holding revision {}, not joining): the active site waits",
            short(inp.revision)
        ));
        return;
    };
    d.change = Some(ActiveChangeStatus {
        site: inp.active.to_string(),
        standby: standby.clone(),
        revision: inp.revision.to_string(),
        step: ChangeStep::TrafficToStandby,
        started_at: stamp(inp.now),
        drained_at: None,
        message: None,
    });
    d.action = Some(ChangeAction::MoveTraffic(standby.clone()));
    d.events.push(event(
        false,
        "TrafficToStandby",
        format!(
            "revision {} for active site {}: every passive holds it and passes its check; \
             traffic moves to passive site {standby} while {} is changed",
            short(inp.revision),
            inp.active,
            inp.active
        ),
    ));
}

/// Carry a running change one step: by its step, the standby's health and
/// where this trip put traffic.
fn advance(inp: &ChangeInput<'_>, c: ActiveChangeStatus, d: &mut ChangeDecision) {
    let active_ok = match &inp.active_checked {
        Some(r) => r.is_ok(),
        None => inp.is_healthy(inp.active),
    };
    match c.step.clone() {
        ChangeStep::Unknown(step) => {
            d.hold = Some(format!(
                "status.activeChange.step {step:?} is not a step this operator knows \
                 (written by a newer version?); the active site waits and traffic stays where it is"
            ));
        }
        ChangeStep::TrafficBack => traffic_back(inp, c, d, active_ok),
        _ if !inp.is_healthy(&c.standby) => standby_failing(inp, c, d, active_ok),
        _ if inp.traffic_applied != Some(c.standby.as_str()) => {
            // Traffic first (again, on resume): the active is changed only
            // once this trip has put traffic on the standby.
            d.action = Some(ChangeAction::MoveTraffic(c.standby.clone()));
            d.change = Some(c);
        }
        ChangeStep::TrafficToStandby => on_standby(inp, c, d, active_ok),
        step => after_check(inp, c, d, step),
    }
}

/// Traffic goes back to the active, which took the revision: done once
/// this trip put it there; not while the active fails again.
fn traffic_back(
    inp: &ChangeInput<'_>,
    mut c: ActiveChangeStatus,
    d: &mut ChangeDecision,
    active_ok: bool,
) {
    let (active, standby) = (inp.active, c.standby.clone());
    if inp.traffic_applied == Some(active) {
        d.change = None;
        d.events.push(event(
            false,
            "ActiveChanged",
            format!(
                "active site {active} holds revision {} and passes its health check: \
                 traffic is back on it",
                short(&c.revision)
            ),
        ));
    } else if active_ok {
        d.action = Some(ChangeAction::MoveTraffic(active.to_string()));
        d.change = Some(c);
    } else {
        // Resumed to find the active failing again: traffic stays off it.
        c.step = ChangeStep::ActiveFailedCheck;
        c.message = Some(format!(
            "active site {active} fails its health check: traffic stays on {standby}"
        ));
        if inp.is_healthy(&standby) {
            d.action = Some(ChangeAction::MoveTraffic(standby));
        }
        d.change = Some(c);
    }
}

/// The standby fails its check: traffic home to an active that passes
/// its own (the change starts again), else it stays where it is.
fn standby_failing(
    inp: &ChangeInput<'_>,
    mut c: ActiveChangeStatus,
    d: &mut ChangeDecision,
    active_ok: bool,
) {
    let (active, standby) = (inp.active, c.standby.clone());
    if active_ok {
        // Given up: traffic home to a site that passes its check.
        d.events.push(event(
            true,
            "StandbyFailedCheck",
            format!(
                "standby {standby} fails its health check: traffic returns to {active}, \
                 which passes its own; the change starts again"
            ),
        ));
        d.action = Some(ChangeAction::MoveTraffic(active.to_string()));
        d.change = None;
        return;
    }
    c.message = Some(format!(
        "standby {standby} and active site {active} both fail their health checks: \
         traffic stays on {standby}"
    ));
    d.change = Some(c);
}

/// Traffic is on the standby: once drained, the active takes the
/// revision; if the passives no longer hold it, traffic goes home.
fn on_standby(
    inp: &ChangeInput<'_>,
    mut c: ActiveChangeStatus,
    d: &mut ChangeDecision,
    active_ok: bool,
) {
    let (active, standby) = (inp.active, c.standby.clone());
    if !inp.gate_open {
        // The passives no longer hold the revision the active would
        // take; the active is untouched, so traffic goes home.
        if active_ok {
            d.events.push(event(
                false,
                "ChangeAbandoned",
                format!(
                    "the passive sites do not hold revision {} any more: \
                     traffic returns to {active}, unchanged",
                    short(inp.revision)
                ),
            ));
            d.action = Some(ChangeAction::MoveTraffic(active.to_string()));
            d.change = None;
            return;
        }
        c.message = Some(format!(
            "waits for every passive to hold revision {}; traffic stays on {standby}",
            short(inp.revision)
        ));
        d.change = Some(c);
        return;
    }
    if !drained(inp, &mut c) {
        d.change = Some(c);
        return;
    }
    c.step = ChangeStep::ChangingActive;
    c.revision = inp.revision.to_string();
    c.message = None;
    d.events.push(event(
        false,
        "ChangingActive",
        format!(
            "traffic is on {standby}: active site {active} takes revision {} and is checked",
            short(inp.revision)
        ),
    ));
    d.action = Some(ChangeAction::ChangeActive);
    d.change = Some(c);
}

/// The active is being changed (or failed its check): change it (again)
/// when the gate is open; after the check, traffic back or stay.
fn after_check(
    inp: &ChangeInput<'_>,
    mut c: ActiveChangeStatus,
    d: &mut ChangeDecision,
    step: ChangeStep,
) {
    let (active, standby) = (inp.active, c.standby.clone());
    match &inp.active_checked {
        None if inp.gate_open => {
            // ChangingActive (resumed) or a retry after a failed check.
            c.revision = inp.revision.to_string();
            d.action = Some(ChangeAction::ChangeActive);
        }
        None => {
            c.message = Some(format!(
                "waits for every passive to hold revision {} again; traffic stays on {standby}",
                short(inp.revision)
            ));
        }
        Some(Ok(())) => {
            c.step = ChangeStep::TrafficBack;
            c.message = None;
            d.events.push(event(
                false,
                "TrafficBack",
                format!(
                    "active site {active} took revision {} and passes its health check: \
                     traffic moves back to it from {standby}",
                    short(&c.revision)
                ),
            ));
            d.action = Some(ChangeAction::MoveTraffic(active.to_string()));
        }
        Some(Err(why)) => {
            c.step = ChangeStep::ActiveFailedCheck;
            c.message = Some(format!(
                "active site {active} failed after taking revision {}: {why}; \
                 traffic stays on {standby} and the change is tried again",
                short(&c.revision)
            ));
            if step != ChangeStep::ActiveFailedCheck {
                d.events.push(event(
                    true,
                    "ActiveCheckFailed",
                    c.message.clone().unwrap_or_default(),
                ));
            }
        }
    }
    d.change = Some(c);
}

/// Has traffic rested on the standby for spec.sync.drainTime? The rest
/// starts in the trip that put traffic there (status.activeChange.drainedAt
/// says when it ends).
fn drained(inp: &ChangeInput<'_>, c: &mut ActiveChangeStatus) -> bool {
    let until = match c.drained_at.as_deref().map(str::parse::<jiff::Timestamp>) {
        Some(Ok(t)) => t,
        _ => {
            let drain = jiff::SignedDuration::try_from(inp.drain).unwrap_or_default();
            let t = inp.now.checked_add(drain).unwrap_or(inp.now);
            c.drained_at = Some(stamp(t));
            t
        }
    };
    if inp.now >= until {
        return true;
    }
    c.message = Some(format!(
        "traffic rests on {} until {} (spec.sync.drainTime) before {} is changed",
        c.standby,
        stamp(until),
        c.site
    ));
    false
}

fn event(warning: bool, reason: &'static str, note: String) -> PlannedEvent {
    PlannedEvent {
        warning,
        reason,
        action: "Sync",
        note,
    }
}

#[cfg(test)]
#[path = "active_change_tests.rs"]
mod tests;
