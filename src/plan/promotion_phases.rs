//! The phases of a running promotion, one small function each, pure:
//! Preflight → Demoting → (WaitingForOldActive) → Promoting →
//! SwitchingTraffic → Complete. Each returns whether the machine goes on
//! in this trip or waits. Only a site that does not answer at all runs
//! down the contact window; a site that answers with an error blocks with a
//! named reason and is never forced past.

use super::promotion_commit::possibly_active;
use super::promotion_contact::{Others, demote, restart_window_if_one_spoke, settle_others};
use super::promotion_preflight::{parity_differences, preflight};
use super::promotion_types::{
    Block, BlockReason, Notice, PromotionDecision, PromotionInput, PromotionReason, SiteObs, Step,
    find, max_seen, stamp,
};
use crate::api::{PromotionPhase, PromotionRecord, PromotionStatus};

/// Whether the machine goes on in this trip.
enum Next {
    /// The phase changed: decide again.
    Go,
    /// Wait (with or without a step); status.promotion is `p`.
    Wait,
    /// The promotion is over or dropped; `d` says what follows, and what
    /// the machine at rest decides next, if anything.
    Done(Option<AtRest>),
}

/// What the machine at rest (`promotion`) decides after a phase ended the
/// promotion: the phases hand it back instead of calling it, so that the
/// machine's parts import each other one way only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AtRest {
    /// Every site told its mode: decide as on first sight.
    FirstSight,
    /// Keep the site reporting active (the silent ones ran out a window).
    Adopt,
    /// The promotion was cancelled: keep the pair fenced as it is.
    Steady,
}

/// Carry a running promotion as far as it goes in this trip; returns what
/// the machine at rest decides next, when the promotion ended so.
pub(super) fn advance(
    inp: &PromotionInput<'_>,
    mut p: PromotionStatus,
    d: &mut PromotionDecision,
) -> Option<AtRest> {
    if follow_the_wish(inp, &mut p, d) {
        return Some(AtRest::Steady);
    }
    adopt_newer_epoch(inp, &mut p, d);
    if matches!(
        p.phase,
        PromotionPhase::Preflight
            | PromotionPhase::Demoting
            | PromotionPhase::WaitingForOldActive
            | PromotionPhase::Promoting
    ) {
        restart_window_if_one_spoke(inp, &mut p);
    }
    // Each phase moves forward only, so the loop ends; the bound is a guard.
    for _ in 0..8 {
        let next = match p.phase {
            PromotionPhase::Preflight => preflight_phase(inp, &mut p, d),
            PromotionPhase::Demoting | PromotionPhase::WaitingForOldActive => {
                match p.from.clone() {
                    None => initial_wait(inp, &mut p, d),
                    Some(from) if from == p.to => {
                        p.phase = PromotionPhase::Promoting;
                        Next::Go
                    }
                    Some(from) => demote_phase(inp, &from, &mut p, d),
                }
            }
            PromotionPhase::Promoting => promote_phase(inp, &mut p, d),
            PromotionPhase::SwitchingTraffic => switch_phase(&mut p, d),
            PromotionPhase::Complete => {
                complete(inp, p, d);
                return None;
            }
            PromotionPhase::Unknown(_) => Next::Wait,
        };
        match next {
            Next::Go => continue,
            Next::Wait => break,
            Next::Done(rest) => return rest,
        }
    }
    d.running = Some(p);
    None
}

/// spec.activeSite changed while the promotion runs. Until the target may
/// have been made active (Preflight; Demoting and WaitingForOldActive while
/// the target answers and is not active at the promotion's epoch), going
/// back to the old active cancels (it is stamped active again, above any
/// epoch a demotion left) and another target starts over; otherwise the
/// promotion finishes first, unless its target left spec.sites.
/// True when the promotion is over (cancelled: the machine at rest keeps
/// the pair as it is).
fn follow_the_wish(
    inp: &PromotionInput<'_>,
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) -> bool {
    if inp.target == p.to {
        return false;
    }
    let target_gone = find(inp.sites, &p.to).is_none();
    let before_activation = matches!(
        p.phase,
        PromotionPhase::Preflight | PromotionPhase::Demoting | PromotionPhase::WaitingForOldActive
    );
    if !before_activation && !target_gone {
        return false;
    }
    if p.from.is_none() {
        // Waiting to know the sites: the wish only names whom to activate
        // (a first target that may be active but is silent is passed over
        // only after a whole window of its silence, as any silent site).
        p.to = inp.target.to_string();
        return false;
    }
    // Recorded past its preflight, the promotion may have activated its
    // target without a further record: it is finished unless the target
    // is seen untouched.
    if !target_gone && possibly_active(p, inp.sites) {
        return false;
    }
    if p.from.as_deref() == Some(inp.target) {
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
        return true;
    }
    p.to = inp.target.to_string();
    p.phase = PromotionPhase::Preflight;
    p.attempts = 0;
    p.silent_since = None;
    p.silent_sites.clear();
    p.deadline = None;
    // A forcing past a silent site was decided for the old target: the
    // new one starts unforced (a forced promotion's traffic may go ahead
    // of it under Immediate).
    p.forced = false;
    p.forced_by = None;
    false
}

/// A site holds a newer epoch than the promotion's, or another site is
/// active at it (HTTP 409 on a mode change says the same): take an epoch
/// above everything seen and go on at it.
fn adopt_newer_epoch(inp: &PromotionInput<'_>, p: &mut PromotionStatus, d: &mut PromotionDecision) {
    let seen = max_seen(inp.sites);
    let rival = inp
        .sites
        .iter()
        .any(|s| s.reports_active() && s.name != p.to && s.epoch() >= p.epoch);
    if seen <= p.epoch && !rival {
        return;
    }
    let old = p.epoch;
    p.epoch = seen.max(p.epoch) + 1;
    // The target must be stamped again at the new epoch (the promote phase
    // demotes any other active site first).
    if p.phase == PromotionPhase::SwitchingTraffic {
        p.phase = PromotionPhase::Promoting;
    }
    d.notices.push(Notice {
        warning: true,
        reason: "EpochAdopted",
        note: format!(
            "a site holds epoch {seen}, at or above the promotion's {old}; the promotion of {} goes on at epoch {}",
            p.to, p.epoch
        ),
    });
}

fn preflight_phase(
    inp: &PromotionInput<'_>,
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) -> Next {
    // A site other than the old active that reports active (it made
    // itself so) is demoted while the preflight runs, blocked or not.
    if let Some(s) = inp
        .sites
        .iter()
        .find(|s| s.reports_active() && Some(s.name.as_str()) != p.from.as_deref())
    {
        demote(s, "beside the active site", p, d);
        return Next::Wait;
    }
    let failed = preflight(&PromotionInput {
        target: &p.to,
        ..inp.clone()
    });
    if !failed.is_empty() {
        let list: Vec<&str> = failed.iter().map(|b| b.message.as_str()).collect();
        p.message = Some(format!("blocked: {}", list.join("; ")));
        d.blocked = failed;
        return Next::Wait;
    }
    if let Some(t) = find(inp.sites, &p.to) {
        let differs = parity_differences(inp, t);
        if !differs.is_empty() {
            // Let through by the annotation: said out loud.
            d.notices.push(Notice {
                warning: true,
                reason: "ParityOverridden",
                note: format!(
                    "promoting to {} over a parity mismatch ({}={}): {}",
                    p.to,
                    crate::api::ANNOTATION_ALLOW_PARITY_MISMATCH,
                    p.to,
                    differs.join("; ")
                ),
            });
        }
    }
    p.phase = PromotionPhase::Demoting;
    p.attempts = 0;
    p.message = None;
    Next::Go
}

/// Settle the sites other than the old active and the target first (a
/// third site that speaks without telling its mode, or is silent, holds
/// the promotion while the old active still serves); then demote the old
/// active, then settle every other site: the target is made active only
/// when each is known passive or silent for a whole window (see
/// `promotion_contact`).
fn demote_phase(
    inp: &PromotionInput<'_>,
    from: &str,
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) -> Next {
    let third: Vec<SiteObs> = inp
        .sites
        .iter()
        .filter(|s| s.name != from)
        .cloned()
        .collect();
    let unsettled = third
        .iter()
        .any(|s| s.name != p.to && (s.reports_active() || !s.knows_mode()));
    let thirds = PromotionInput {
        sites: &third,
        ..inp.clone()
    };
    if unsettled && settle_others(&thirds, Some(&p.to.clone()), p, d) == Others::Wait {
        return Next::Wait;
    }
    if let Some(m) = find(inp.sites, from).and_then(|s| s.mode)
        && (m.active || m.epoch < p.epoch)
    {
        p.phase = PromotionPhase::Demoting;
        p.attempts += 1;
        p.message = Some(format!("demoting {from} to passive at epoch {}", p.epoch));
        d.step = Some(Step::SetMode {
            site: from.to_string(),
            active: false,
            epoch: p.epoch,
        });
        return Next::Wait;
    }
    match settle_others(inp, Some(&p.to.clone()), p, d) {
        Others::Wait => Next::Wait,
        Others::Settled => {
            p.phase = PromotionPhase::Promoting;
            p.attempts = 0;
            Next::Go
        }
    }
}

/// No epoch is recorded: wait until every site has told its mode (then
/// decide as on first sight), or until the silent ones ran out the window
/// (then decide among the sites that told: one already active is adopted).
fn initial_wait(
    inp: &PromotionInput<'_>,
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) -> Next {
    if inp.sites.iter().all(SiteObs::knows_mode) {
        d.running = None;
        return Next::Done(Some(AtRest::FirstSight));
    }
    // Nobody is demoted on first sight before every site told its mode
    // (which one to keep is not known yet): only the sites that did not
    // tell are settled, the target among them.
    let unknown: Vec<SiteObs> = inp
        .sites
        .iter()
        .filter(|s| !s.knows_mode())
        .cloned()
        .collect();
    let only_unknown = PromotionInput {
        sites: &unknown,
        ..inp.clone()
    };
    match settle_others(&only_unknown, None, p, d) {
        Others::Wait => Next::Wait,
        Others::Settled if inp.sites.iter().any(SiteObs::reports_active) => {
            d.running = None;
            Next::Done(Some(AtRest::Adopt))
        }
        Others::Settled => {
            p.phase = PromotionPhase::Promoting;
            Next::Go
        }
    }
}

/// Demote before promote: every other site settled (known passive, or
/// silent for a whole window); then the target is made active at the
/// promotion's epoch.
fn promote_phase(
    inp: &PromotionInput<'_>,
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) -> Next {
    let Some(t) = find(inp.sites, &p.to) else {
        p.message = Some(format!("{} is not one of spec.sites", p.to));
        return Next::Wait;
    };
    if let Some(m) = t.mode
        && m.active
        && m.epoch == p.epoch
    {
        // Made active already (an earlier trip): any other site still
        // reporting active steps down first, then traffic follows. The
        // target is the active site from here on: it holds the newest
        // epoch, so a site beside it (an old active passed over while
        // silent, back before it could be demoted) is never where
        // traffic goes, whatever the traffic policy.
        if let Some(s) = inp
            .sites
            .iter()
            .find(|s| s.reports_active() && s.name != p.to)
        {
            d.active_site = Some(p.to.clone());
            d.epoch = p.epoch;
            let beside = format!("beside {}", p.to);
            demote(s, &beside, p, d);
            return Next::Wait;
        }
        p.phase = PromotionPhase::SwitchingTraffic;
        return Next::Go;
    }
    if settle_others(inp, Some(&p.to.clone()), p, d) == Others::Wait {
        return Next::Wait;
    }
    p.phase = PromotionPhase::Promoting;
    match t.mode {
        Some(_) => {
            p.message = Some(format!("promoting {} to active at epoch {}", p.to, p.epoch));
            d.step = Some(Step::SetMode {
                site: p.to.clone(),
                active: true,
                epoch: p.epoch,
            });
            Next::Wait
        }
        None => {
            let what = t.message.as_deref().unwrap_or("no answer");
            p.message = Some(format!("{} does not answer ({what}); retrying", p.to));
            if let Some(reason) = BlockReason::of_contact(t.contact) {
                d.blocked.push(Block {
                    reason,
                    message: format!("promotion target {}: {what}", p.to),
                });
            }
            Next::Wait
        }
    }
}

/// The target is active: status.activeSite and traffic follow it.
fn switch_phase(p: &mut PromotionStatus, d: &mut PromotionDecision) -> Next {
    if d.active_site.as_deref() != Some(p.to.as_str()) || d.epoch != p.epoch {
        d.active_site = Some(p.to.clone());
        d.epoch = p.epoch;
        p.message = Some(format!("switching traffic to {}", p.to));
        d.step = Some(Step::SwitchTraffic);
        return Next::Wait;
    }
    p.phase = PromotionPhase::Complete;
    Next::Go
}

/// Record the promotion and finish.
fn complete(inp: &PromotionInput<'_>, p: PromotionStatus, d: &mut PromotionDecision) {
    let forced = p.forced;
    let from = p.from.as_deref().unwrap_or("none");
    let by = p
        .forced_by
        .as_deref()
        .map(|b| format!(", forced by {b}"))
        .unwrap_or_default();
    let note = if PromotionReason::of(&p.reason) == PromotionReason::Initial {
        format!(
            "{} is the active site at epoch {} (first activation{})",
            p.to,
            p.epoch,
            if forced { ", forced" } else { "" }
        )
    } else {
        format!(
            "{} is the active site at epoch {} (from {from}, {}{}{by})",
            p.to,
            p.epoch,
            p.reason,
            if forced && by.is_empty() {
                ", forced"
            } else {
                ""
            }
        )
    };
    d.notices.push(Notice {
        warning: forced,
        reason: "Promoted",
        note,
    });
    d.finished = Some(PromotionRecord {
        from: p.from.clone(),
        to: p.to.clone(),
        reason: p.reason.clone(),
        epoch: p.epoch,
        started_at: p.started_at.clone(),
        completed_at: stamp(inp.now),
        forced,
        forced_by: p.forced_by.clone(),
        requested_by: p.requested_by.clone(),
        why: p.why.clone(),
        revision: p.revision.clone(),
        switched_at: Some(stamp(inp.now)),
        cleaned_up_at: None,
        verification: None,
        steps: step_timings(&p.steps, inp.now),
    });
    d.active_site = Some(p.to.clone());
    d.epoch = d.epoch.max(p.epoch);
    d.running = None;
}

/// How long each phase took: from its start to the next one's (the last
/// to `end`).
fn step_timings(
    steps: &[crate::api::PhaseStart],
    end: jiff::Timestamp,
) -> Vec<crate::api::StepTiming> {
    let at = |s: &crate::api::PhaseStart| crate::plan::time::parse(&s.at);
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let until = steps.get(i + 1).and_then(at).unwrap_or(end);
            let seconds = at(s).map_or(0, |from| from.duration_until(until).as_secs().max(0));
            crate::api::StepTiming {
                phase: s.phase.clone(),
                started_at: s.at.clone(),
                seconds,
            }
        })
        .collect()
}
