//! The promotion state machine, pure. From the spec's wish, the status the
//! last trip left, what the sites report and the time, decide the next
//! promotion state (written to status before anything is done) and the one
//! external step to take. Phases: Preflight → Demoting → (WaitingForOldActive)
//! → Promoting → SwitchingTraffic → Complete. In steady state it enforces
//! fencing: only status.activeSite may be active, at status.epoch.

use std::time::Duration;

use jiff::Timestamp;

use crate::api::{PromotionRecord, PromotionStatus};

/// Promotion phases as written in status.promotion.phase.
pub mod phases {
    pub const PREFLIGHT: &str = "Preflight";
    pub const DEMOTING: &str = "Demoting";
    pub const WAITING: &str = "WaitingForOldActive";
    pub const PROMOTING: &str = "Promoting";
    pub const SWITCHING: &str = "SwitchingTraffic";
    pub const COMPLETE: &str = "Complete";
}

/// How many finished promotions status.history keeps.
pub const HISTORY: usize = 10;

/// One site as observed this trip.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SiteObs {
    pub name: String,
    /// Answered its admin API this trip.
    pub reachable: bool,
    pub healthy: bool,
    /// Reports active.
    pub active: bool,
    pub epoch: i64,
    /// The revision it holds in full (status.sites[].syncedRevision).
    pub synced_revision: Option<String>,
    /// Services differ from the revision.
    pub drifting: bool,
}

/// What the machine needs to decide.
#[derive(Debug, Clone)]
pub struct PromotionInput<'a> {
    /// spec.activeSite.
    pub target: &'a str,
    /// status.activeSite.
    pub current: Option<&'a str>,
    /// status.epoch.
    pub epoch: i64,
    /// status.promotion.
    pub running: Option<&'a PromotionStatus>,
    pub sites: &'a [SiteObs],
    /// The source revision the sites should hold (None: no source).
    pub source_revision: Option<&'a str>,
    pub require_in_sync: bool,
    pub require_healthy: bool,
    pub contact_timeout: Duration,
    /// Manual or Automatic: why spec.activeSite changed.
    pub reason: &'a str,
    pub now: Timestamp,
}

/// The one external step to take next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `PUT /mode` on a site.
    SetMode {
        site: String,
        active: bool,
        epoch: i64,
    },
    /// Point traffic at status.activeSite (the shell applies it from status).
    SwitchTraffic,
}

/// What an operator of the cluster should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    pub reason: &'static str,
    pub note: String,
}

/// The decision of one trip.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionDecision {
    /// status.activeSite after this decision.
    pub active_site: Option<String>,
    /// status.epoch after this decision.
    pub epoch: i64,
    /// status.promotion after this decision (None: no promotion running).
    pub running: Option<PromotionStatus>,
    /// A finished promotion to append to status.history.
    pub finished: Option<PromotionRecord>,
    /// The checks that block the promotion, named (empty: not blocked).
    pub blocked: Vec<String>,
    pub step: Option<Step>,
    pub notices: Vec<Notice>,
}

fn find<'a>(sites: &'a [SiteObs], name: &str) -> Option<&'a SiteObs> {
    sites.iter().find(|s| s.name == name)
}

/// RFC 3339, whole seconds.
pub fn stamp(t: Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
}

/// The preflight checks on the target; each failure names the check and why.
pub fn preflight(inp: &PromotionInput<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let Some(t) = find(inp.sites, inp.target) else {
        return vec![format!(
            "target: site {} is not one of spec.sites",
            inp.target
        )];
    };
    if !t.reachable {
        out.push(format!(
            "reachable: site {} does not answer its admin API",
            t.name
        ));
        return out;
    }
    if inp.require_healthy && !t.healthy {
        out.push(format!(
            "healthy: site {} fails its health check (spec.promotion.requireHealthy)",
            t.name
        ));
    }
    if inp.require_in_sync
        && let Some(rev) = inp.source_revision
    {
        if t.synced_revision.as_deref() != Some(rev) {
            out.push(format!(
                "inSync: site {} holds revision {}, not the source revision {} (spec.promotion.requireInSync)",
                t.name,
                t.synced_revision.as_deref().map_or("none", short),
                short(rev)
            ));
        } else if t.drifting {
            out.push(format!(
                "inSync: site {} has drift from revision {} (spec.promotion.requireInSync)",
                t.name,
                short(rev)
            ));
        }
    }
    out
}

fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

/// Decide the next promotion state and step.
pub fn plan_promotion(inp: &PromotionInput<'_>) -> PromotionDecision {
    let mut d = PromotionDecision {
        active_site: inp.current.map(str::to_string),
        epoch: inp.epoch,
        running: inp.running.cloned(),
        finished: None,
        blocked: Vec::new(),
        step: None,
        notices: Vec::new(),
    };
    match inp.running {
        None if inp.current == Some(inp.target) || inp.current.is_none() => {
            steady(inp, &mut d);
        }
        None => start(inp, &mut d),
        Some(p) => advance(inp, p.clone(), &mut d),
    }
    d
}

/// No promotion: the active site is active at the epoch, every other site passive.
fn steady(inp: &PromotionInput<'_>, d: &mut PromotionDecision) {
    let current = inp.current.unwrap_or(inp.target);
    d.active_site = Some(current.to_string());
    // Never stand below an epoch a site already holds.
    let max_seen = inp
        .sites
        .iter()
        .filter(|s| s.reachable)
        .map(|s| s.epoch)
        .max()
        .unwrap_or(0);
    if d.epoch < max_seen || d.epoch == 0 {
        let cur_ok = find(inp.sites, current)
            .is_some_and(|s| s.reachable && s.active && s.epoch == max_seen && max_seen > 0);
        let stray = inp
            .sites
            .iter()
            .any(|s| s.reachable && s.active && s.name != current && s.epoch >= max_seen);
        d.epoch = if cur_ok && !stray {
            max_seen
        } else {
            max_seen + 1
        };
    }
    // A stray active site is demoted first (fencing).
    if let Some(s) = inp
        .sites
        .iter()
        .find(|s| s.reachable && s.active && s.name != current)
    {
        d.notices.push(Notice {
            warning: true,
            reason: "Fenced",
            note: format!(
                "site {} reported active at epoch {} while {current} is the active site at epoch {}; demoting it",
                s.name, s.epoch, d.epoch
            ),
        });
        d.step = Some(Step::SetMode {
            site: s.name.clone(),
            active: false,
            epoch: d.epoch,
        });
        return;
    }
    // Then the active site is (re)stamped active at the epoch.
    if let Some(s) = find(inp.sites, current)
        && s.reachable
        && (!s.active || s.epoch != d.epoch)
    {
        d.step = Some(Step::SetMode {
            site: s.name.clone(),
            active: true,
            epoch: d.epoch,
        });
        return;
    }
    // Passive sites at an older epoch are stamped with the current one.
    if let Some(s) = inp
        .sites
        .iter()
        .find(|s| s.reachable && !s.active && s.name != current && s.epoch < d.epoch)
    {
        d.step = Some(Step::SetMode {
            site: s.name.clone(),
            active: false,
            epoch: d.epoch,
        });
    }
}

/// spec.activeSite changed: open a promotion at Preflight.
fn start(inp: &PromotionInput<'_>, d: &mut PromotionDecision) {
    let p = PromotionStatus {
        from: inp.current.map(str::to_string),
        to: inp.target.to_string(),
        reason: inp.reason.to_string(),
        phase: phases::PREFLIGHT.to_string(),
        epoch: inp.epoch.max(max_epoch(inp)) + 1,
        started_at: stamp(inp.now),
        deadline: None,
        attempts: 0,
        forced: false,
        message: None,
    };
    d.notices.push(Notice {
        warning: false,
        reason: "PromotionStarted",
        note: format!(
            "promotion of {} started ({}), from {}",
            p.to,
            p.reason,
            p.from.as_deref().unwrap_or("no active site")
        ),
    });
    advance(inp, p, d);
}

fn max_epoch(inp: &PromotionInput<'_>) -> i64 {
    inp.sites.iter().map(|s| s.epoch).max().unwrap_or(0)
}

/// Carry a running promotion one phase further, or say what it waits on.
fn advance(inp: &PromotionInput<'_>, mut p: PromotionStatus, d: &mut PromotionDecision) {
    // The wish changed while the promotion runs.
    if inp.target != p.to {
        let before_any_step = p.phase == phases::PREFLIGHT || p.phase == phases::WAITING;
        if before_any_step && p.from.as_deref() == Some(inp.target) {
            d.notices.push(Notice {
                warning: false,
                reason: "PromotionCancelled",
                note: format!(
                    "promotion of {} cancelled: spec.activeSite is {} again",
                    p.to, inp.target
                ),
            });
            d.running = None;
            d.active_site = p.from.clone();
            steady(inp, d);
            return;
        }
        if before_any_step {
            // Retarget: start over towards the new wish.
            p.to = inp.target.to_string();
            p.phase = phases::PREFLIGHT.to_string();
            p.attempts = 0;
            p.deadline = None;
        }
        // Past Demoting the old active already stepped down: finish first.
    }
    loop {
        match p.phase.as_str() {
            phases::PREFLIGHT => {
                let failed = preflight(&PromotionInput {
                    target: &p.to,
                    ..inp.clone()
                });
                if !failed.is_empty() {
                    p.message = Some(format!("blocked: {}", failed.join("; ")));
                    d.blocked = failed;
                    d.running = Some(p);
                    return;
                }
                p.phase = phases::DEMOTING.to_string();
                p.attempts = 0;
                p.message = None;
            }
            phases::DEMOTING | phases::WAITING => {
                let Some(from) = p.from.clone().filter(|f| *f != p.to) else {
                    p.phase = phases::PROMOTING.to_string();
                    continue;
                };
                match find(inp.sites, &from) {
                    Some(s) if s.reachable => {
                        if !s.active && s.epoch >= p.epoch {
                            p.phase = phases::PROMOTING.to_string();
                            p.attempts = 0;
                            continue;
                        }
                        p.phase = phases::DEMOTING.to_string();
                        p.attempts += 1;
                        p.message =
                            Some(format!("demoting {from} to passive at epoch {}", p.epoch));
                        d.step = Some(Step::SetMode {
                            site: from,
                            active: false,
                            epoch: p.epoch,
                        });
                        d.running = Some(p);
                        return;
                    }
                    _ => {
                        let started: Timestamp = p.started_at.parse().unwrap_or(inp.now);
                        let deadline = started.checked_add(inp.contact_timeout).unwrap_or(started);
                        if inp.now >= deadline {
                            d.notices.push(Notice {
                                warning: true,
                                reason: "PromotionForced",
                                note: format!(
                                    "old active site {from} did not answer within the contact window ({}); promoting {} without demoting it",
                                    stamp(deadline), p.to
                                ),
                            });
                            p.message =
                                Some(format!("forced: {from} was unreachable until the deadline"));
                            p.phase = phases::PROMOTING.to_string();
                            p.deadline = Some(stamp(deadline));
                            p.forced = true;
                            continue;
                        }
                        if p.phase != phases::WAITING {
                            d.notices.push(Notice {
                                warning: true,
                                reason: "WaitingForOldActive",
                                note: format!(
                                    "old active site {from} does not answer; retrying until {} before forcing",
                                    stamp(deadline)
                                ),
                            });
                        }
                        p.phase = phases::WAITING.to_string();
                        p.deadline = Some(stamp(deadline));
                        p.attempts += 1;
                        p.message = Some(format!(
                            "{from} does not answer; the promotion is forced at {}",
                            stamp(deadline)
                        ));
                        d.running = Some(p);
                        return;
                    }
                }
            }
            phases::PROMOTING => {
                match find(inp.sites, &p.to) {
                    Some(s) if s.reachable && s.active && s.epoch == p.epoch => {
                        p.phase = phases::SWITCHING.to_string();
                        continue;
                    }
                    Some(s) if s.reachable => {
                        p.message =
                            Some(format!("promoting {} to active at epoch {}", p.to, p.epoch));
                        d.step = Some(Step::SetMode {
                            site: p.to.clone(),
                            active: true,
                            epoch: p.epoch,
                        });
                    }
                    _ => {
                        p.message = Some(format!("{} does not answer; retrying", p.to));
                    }
                }
                d.running = Some(p);
                return;
            }
            phases::SWITCHING => {
                if d.active_site.as_deref() != Some(p.to.as_str()) {
                    d.active_site = Some(p.to.clone());
                    d.epoch = p.epoch;
                    p.message = Some(format!("switching traffic to {}", p.to));
                    d.step = Some(Step::SwitchTraffic);
                    d.running = Some(p);
                    return;
                }
                p.phase = phases::COMPLETE.to_string();
            }
            _ => {
                // Complete (or unknown): record it and finish.
                let forced = p.forced;
                d.notices.push(Notice {
                    warning: forced,
                    reason: "Promoted",
                    note: format!(
                        "{} is the active site at epoch {} (from {}, {}{})",
                        p.to,
                        p.epoch,
                        p.from.as_deref().unwrap_or("none"),
                        p.reason,
                        if forced { ", forced" } else { "" }
                    ),
                });
                d.finished = Some(PromotionRecord {
                    from: p.from.clone(),
                    to: p.to.clone(),
                    reason: p.reason.clone(),
                    epoch: p.epoch,
                    started_at: p.started_at.clone(),
                    completed_at: stamp(inp.now),
                    forced,
                });
                d.active_site = Some(p.to.clone());
                d.epoch = p.epoch;
                d.running = None;
                return;
            }
        }
    }
}

/// Append a finished promotion, keeping the last [`HISTORY`].
pub fn push_history(history: &mut Vec<PromotionRecord>, rec: PromotionRecord) {
    history.push(rec);
    let extra = history.len().saturating_sub(HISTORY);
    history.drain(..extra);
}

#[cfg(test)]
#[path = "promotion_tests.rs"]
mod tests;
