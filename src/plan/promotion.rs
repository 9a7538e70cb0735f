//! The promotion state machine, pure. From the spec's wish, the status the
//! last trip left, what the sites answered and the time, decide the next
//! promotion state (written to status before anything is done), the one
//! external step to take, and where traffic points. No I/O, no clock.
//!
//! Outside a promotion it keeps the pair fenced: only status.activeSite may
//! be active, at status.epoch, and a pair with no recorded epoch activates
//! nobody until every site has answered or the contact window has run out.
//! The phases themselves live in `promotion_phases`.

use crate::api::{PromotionPhase, PromotionStatus, SiteContact, TrafficFailover};

use super::promotion_phases::{AtRest, advance};
pub use super::promotion_preflight::preflight;
pub use super::promotion_types::*;

/// Decide the next promotion state, step and traffic.
pub fn plan_promotion(inp: &PromotionInput<'_>) -> PromotionDecision {
    let mut d = PromotionDecision {
        active_site: inp.current.map(str::to_string),
        epoch: inp.epoch,
        running: inp.running.cloned(),
        finished: None,
        blocked: Vec::new(),
        traffic_site: None,
        step: None,
        notices: Vec::new(),
    };
    match inp.running {
        Some(p) if matches!(p.phase, PromotionPhase::Unknown(_)) => refuse_unknown(p, &mut d),
        Some(p) => rest(inp, advance(inp, p.clone(), &mut d), &mut d),
        None if inp.current.is_none() => rest(inp, Some(AtRest::FirstSight), &mut d),
        None if inp.current == Some(inp.target) => steady(inp, &mut d),
        None => match &inp.start_wait {
            // Not yet: the pair stays as it is, fenced, and says until when.
            Some(wait) => {
                d.blocked.push(Block {
                    reason: wait.reason,
                    message: wait.message.clone(),
                });
                steady(inp, &mut d);
            }
            None => {
                let next = start(inp, &mut d);
                rest(inp, next, &mut d)
            }
        },
    }
    d.traffic_site = traffic_choice(inp, &d);
    note_phase(inp, &mut d);
    d
}

/// A promotion that entered a phase this trip records when.
fn note_phase(inp: &PromotionInput<'_>, d: &mut PromotionDecision) {
    let Some(r) = d.running.as_mut() else {
        return;
    };
    let last = r.steps.last().map(|s| s.phase.as_str());
    if last != Some(r.phase.as_str()) && !matches!(r.phase, PromotionPhase::Unknown(_)) {
        r.steps.push(crate::api::PhaseStart {
            phase: r.phase.as_str().to_string(),
            at: stamp(inp.now),
        });
    }
}

/// What the machine at rest decides after a phase handed it back (first
/// sight opens a promotion of its own, which may hand back again).
fn rest(inp: &PromotionInput<'_>, mut next: Option<AtRest>, d: &mut PromotionDecision) {
    for _ in 0..4 {
        next = match next {
            None => return,
            Some(AtRest::FirstSight) => first_sight(inp, d),
            Some(AtRest::Adopt) => {
                adopt(inp, d);
                None
            }
            Some(AtRest::Steady) => {
                steady(inp, d);
                None
            }
        };
    }
}

/// A phase written by another version: touch nothing, say so.
fn refuse_unknown(p: &PromotionStatus, d: &mut PromotionDecision) {
    d.blocked.push(Block {
        reason: BlockReason::UnknownPhase,
        message: format!(
            "status.promotion.phase {:?} is not a phase this operator knows (written by a newer version?); \
             nothing is done until an operator that knows it runs, or status.promotion is removed by hand",
            p.phase.as_str()
        ),
    });
}

/// No epoch is recorded (a new or re-created pair, or lost status). Nobody
/// is made active until every site has told its mode: then a site already
/// active is adopted. Sites that do not tell are waited for through a
/// promotion opened for the purpose, with its contact window; one that
/// speaks without telling blocks it.
fn first_sight(inp: &PromotionInput<'_>, d: &mut PromotionDecision) -> Option<AtRest> {
    if inp.sites.iter().all(SiteObs::knows_mode) {
        adopt(inp, d);
        return None;
    }
    let p = PromotionStatus {
        from: None,
        to: inp.target.to_string(),
        reason: PromotionReason::Initial.as_str().to_string(),
        phase: PromotionPhase::WaitingForOldActive,
        epoch: inp.epoch.max(max_seen(inp.sites)) + 1,
        started_at: stamp(inp.now),
        ..PromotionStatus::default()
    };
    advance(inp, p, d)
}

/// Every site told its mode (or the silent ones ran out a whole window):
/// keep the site reporting active at the highest epoch; two at the same
/// highest epoch are settled by spec.activeSite, never by the order of
/// spec.sites. The others are demoted; the pair says which it kept and why.
fn adopt(inp: &PromotionInput<'_>, d: &mut PromotionDecision) {
    let actives: Vec<&SiteObs> = inp.sites.iter().filter(|s| s.reports_active()).collect();
    let top = actives.iter().map(|s| s.epoch()).max();
    let at_top: Vec<&str> = actives
        .iter()
        .filter(|s| Some(s.epoch()) == top)
        .map(|s| s.name.as_str())
        .collect();
    let keep = match at_top.as_slice() {
        [one] => one,
        _ => inp.target,
    };
    if actives.len() > 1 {
        let names: Vec<String> = actives
            .iter()
            .map(|s| format!("{} (epoch {})", s.name, s.epoch()))
            .collect();
        let why = if at_top.len() > 1 {
            format!(
                "{} share the highest epoch, so spec.activeSite decides",
                at_top.join(" and ")
            )
        } else {
            "it holds the highest epoch".to_string()
        };
        d.notices.push(Notice {
            warning: true,
            reason: "SplitBrain",
            note: format!(
                "sites {} all report active; keeping {keep} ({why}) and demoting the others",
                names.join(", ")
            ),
        });
    } else if let [one] = actives.as_slice() {
        d.notices.push(Notice {
            warning: false,
            reason: "Adopted",
            note: format!(
                "{keep} reports active at epoch {}: adopted as the active site",
                one.epoch()
            ),
        });
    }
    d.active_site = Some(keep.to_string());
    steady(inp, d);
}

/// No promotion: the active site is active at the epoch, every other site
/// passive. The epoch never stands below one a site already holds.
fn steady(inp: &PromotionInput<'_>, d: &mut PromotionDecision) {
    let current = d
        .active_site
        .clone()
        .unwrap_or_else(|| inp.target.to_string());
    d.active_site = Some(current.clone());
    let seen = max_seen(inp.sites);
    if d.epoch < seen || d.epoch == 0 {
        let cur_ok = find(inp.sites, &current)
            .is_some_and(|s| s.reports_active() && s.epoch() == seen && seen > 0);
        let stray = inp
            .sites
            .iter()
            .any(|s| s.reports_active() && s.name != current && s.epoch() >= seen);
        d.epoch = if cur_ok && !stray { seen } else { seen + 1 };
    }
    // A stray active site is demoted first (fencing).
    if let Some(s) = inp
        .sites
        .iter()
        .find(|s| s.reports_active() && s.name != current)
    {
        d.notices.push(Notice {
            warning: true,
            reason: "Fenced",
            note: format!(
                "site {} reported active at epoch {} while {current} is the active site at epoch {}; demoting it",
                s.name,
                s.epoch(),
                d.epoch
            ),
        });
        d.step = Some(Step::SetMode {
            site: s.name.clone(),
            active: false,
            epoch: d.epoch,
        });
        return;
    }
    // Then the active site is (re)stamped active at the epoch; made active
    // from passive only while no other site speaks without telling its
    // mode (it may be active; a silent one was settled before: it was
    // passive when last heard, or ran out a whole window).
    let others_known = !inp
        .sites
        .iter()
        .any(|s| s.name != current && !s.knows_mode() && s.contact != SiteContact::NoAnswer);
    if let Some(s) = find(inp.sites, &current)
        && let Some(m) = s.mode
        && (!m.active || m.epoch != d.epoch)
        && (m.active || others_known)
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
        .find(|s| s.mode.is_some_and(|m| !m.active && m.epoch < d.epoch) && s.name != current)
    {
        d.step = Some(Step::SetMode {
            site: s.name.clone(),
            active: false,
            epoch: d.epoch,
        });
    }
}

/// spec.activeSite changed: open a promotion at Preflight.
fn start(inp: &PromotionInput<'_>, d: &mut PromotionDecision) -> Option<AtRest> {
    let p = PromotionStatus {
        from: inp.current.map(str::to_string),
        to: inp.target.to_string(),
        reason: inp.reason.as_str().to_string(),
        phase: PromotionPhase::Preflight,
        epoch: inp.epoch.max(max_seen(inp.sites)) + 1,
        started_at: stamp(inp.now),
        requested_by: inp.requested_by.map(str::to_string),
        why: inp.why.map(str::to_string),
        revision: inp.source_revision.map(str::to_string),
        steps: vec![crate::api::PhaseStart {
            phase: PromotionPhase::Preflight.as_str().to_string(),
            at: stamp(inp.now),
        }],
        ..PromotionStatus::default()
    };
    if !inp.warnings.is_empty() {
        d.notices.push(Notice {
            warning: true,
            reason: "PreflightWarning",
            note: format!("promotion of {}: {}", p.to, inp.warnings.join("; ")),
        });
    }
    if let Some(by) = inp.window_override_by {
        d.notices.push(Notice {
            warning: true,
            reason: "WindowOverridden",
            note: format!(
                "promotion of {} started outside its change window: {by}",
                p.to
            ),
        });
    }
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
    advance(inp, p, d)
}

/// Where traffic points after this decision: the active site; with
/// spec.traffic.failover Immediate, the promotion target once the old
/// active has been found silent (and from then on, for that promotion).
fn traffic_choice(inp: &PromotionInput<'_>, d: &PromotionDecision) -> Option<String> {
    if inp.traffic_failover == TrafficFailover::Immediate
        && let Some(p) = &d.running
        && let Some(from) = &p.from
        && *from != p.to
    {
        let silent = find(inp.sites, from).is_some_and(|s| s.contact == SiteContact::NoAnswer);
        let waiting = p.phase == PromotionPhase::WaitingForOldActive;
        // Once moved for this promotion, traffic does not go back to the
        // old active while it is being demoted.
        let moved = inp.traffic == Some(p.to.as_str()) && p.phase != PromotionPhase::Preflight;
        if (waiting && silent) || p.forced || moved {
            return Some(p.to.clone());
        }
    }
    if let Some(standby) = inp.shifted
        && d.active_site.as_deref() == inp.current
    {
        return Some(standby.to_string());
    }
    d.active_site.clone()
}

#[cfg(test)]
#[path = "promotion_tests.rs"]
mod tests;
