//! The phases of a running promotion, one small function each, pure:
//! Preflight → Demoting → (WaitingForOldActive) → Promoting →
//! SwitchingTraffic → Complete. Each returns whether the machine goes on
//! in this trip or waits. Only a site that does not answer at all runs
//! down the contact window; a site that answers with an error blocks with a
//! named reason and is never forced past.

use jiff::Timestamp;

use super::promotion::{
    Block, BlockReason, Notice, PromotionDecision, PromotionInput, REASON_INITIAL, SiteObs, Step,
    find, first_sight, max_seen, short, stamp, steady,
};
use crate::api::{PromotionPhase, PromotionRecord, PromotionStatus, SiteContact};

/// Whether the machine goes on in this trip.
enum Next {
    /// The phase changed: decide again.
    Go,
    /// Wait (with or without a step); status.promotion is `p`.
    Wait,
    /// The promotion is over or dropped; `d` says what follows.
    Done,
}

/// The preflight checks on the target; each failure names the check and why.
pub fn preflight(inp: &PromotionInput<'_>) -> Vec<Block> {
    let check = |message: String| Block {
        reason: BlockReason::PreflightFailed,
        message,
    };
    let Some(t) = find(inp.sites, inp.target) else {
        return vec![check(format!(
            "target: site {} is not one of spec.sites",
            inp.target
        ))];
    };
    if !t.knows_mode() {
        let reason = BlockReason::of_contact(t.contact).unwrap_or(BlockReason::PreflightFailed);
        let why = t.message.as_deref().unwrap_or("no answer");
        return vec![Block {
            reason,
            message: format!(
                "reachable: site {} does not answer its admin API: {why}",
                t.name
            ),
        }];
    }
    let mut out = Vec::new();
    if t.joining {
        out.push(check(format!(
            "joined: site {} is joining the pair (its first full sync and health check have not passed)",
            t.name
        )));
    }
    if let Some(differs) = parity_block(inp, t) {
        out.push(differs);
    }
    if let Some(unsettled) = settling_block(inp, t) {
        out.push(unsettled);
    }
    if inp.require_healthy && !t.healthy {
        out.push(check(format!(
            "healthy: site {} fails its health check (spec.promotion.requireHealthy)",
            t.name
        )));
    }
    if inp.require_in_sync
        && let Some(rev) = inp.source_revision
    {
        if t.synced_revision.as_deref() != Some(rev) {
            out.push(check(format!(
                "inSync: site {} holds revision {}, not the source revision {} (spec.promotion.requireInSync)",
                t.name,
                t.synced_revision.as_deref().map_or("none", short),
                short(rev)
            )));
        } else if t.drifting {
            out.push(check(format!(
                "inSync: site {} has drift from revision {} (spec.promotion.requireInSync)",
                t.name,
                short(rev)
            )));
        }
    }
    out
}

/// The parity check: the target must run the active's version and share
/// its token key (known values only), unless the allow-parity-mismatch
/// annotation names the target.
fn parity_block(inp: &PromotionInput<'_>, t: &SiteObs) -> Option<Block> {
    let differs = parity_differences(inp, t);
    if differs.is_empty() || inp.allow_parity_mismatch == Some(t.name.as_str()) {
        return None;
    }
    Some(Block {
        reason: BlockReason::ParityMismatch,
        message: format!(
            "parity: {}; to promote anyway, annotate the pair {}={}",
            differs.join("; "),
            crate::api::ANNOTATION_ALLOW_PARITY_MISMATCH,
            t.name
        ),
    })
}

/// A planned promotion waits until the target's last change is older than
/// spec.promotion.settlingTime (a failover, automatic or forced, does not).
fn settling_block(inp: &PromotionInput<'_>, t: &SiteObs) -> Option<Block> {
    if inp.settling.is_zero() || inp.reason != "Manual" {
        return None;
    }
    let changed = t.last_change?;
    let settling = jiff::SignedDuration::try_from(inp.settling).ok()?;
    let until = changed.checked_add(settling).ok()?;
    (inp.now < until).then(|| Block {
        reason: BlockReason::PreflightFailed,
        message: format!(
            "settled: site {} changed at {}; planned promotions wait spec.promotion.settlingTime after a site's last change, until {}",
            t.name,
            super::promotion::stamp(changed),
            super::promotion::stamp(until)
        ),
    })
}

/// What differs between the active (status.activeSite) and the target.
pub(super) fn parity_differences(inp: &PromotionInput<'_>, t: &SiteObs) -> Vec<String> {
    fn reported(s: &SiteObs) -> crate::plan::parity::Reported<'_> {
        crate::plan::parity::Reported {
            name: &s.name,
            version: s.version.as_deref(),
            token_key: s.token_key.as_deref(),
        }
    }
    match inp
        .current
        .filter(|c| *c != t.name)
        .and_then(|c| find(inp.sites, c))
    {
        Some(a) => crate::plan::parity::differences(&reported(a), &reported(t)),
        None => Vec::new(),
    }
}

/// Carry a running promotion as far as it goes in this trip.
pub(super) fn advance(inp: &PromotionInput<'_>, mut p: PromotionStatus, d: &mut PromotionDecision) {
    if follow_the_wish(inp, &mut p, d) {
        return;
    }
    adopt_newer_epoch(inp, &mut p, d);
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
                return;
            }
            PromotionPhase::Unknown(_) => Next::Wait,
        };
        match next {
            Next::Go => continue,
            Next::Wait => break,
            Next::Done => return,
        }
    }
    d.running = Some(p);
}

/// spec.activeSite changed while the promotion runs. Until the target may
/// have been made active (Preflight, Demoting, WaitingForOldActive), going
/// back to the old active cancels (it is stamped active again, above any
/// epoch a demotion left) and another target starts over; from Promoting
/// on, the promotion finishes first, unless its target left spec.sites.
/// True when the promotion is over.
fn follow_the_wish(
    inp: &PromotionInput<'_>,
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) -> bool {
    if inp.target == p.to {
        return false;
    }
    let target_gone = find(inp.sites, &p.to).is_none();
    let target_untouched = matches!(
        p.phase,
        PromotionPhase::Preflight | PromotionPhase::Demoting | PromotionPhase::WaitingForOldActive
    );
    if !target_untouched && !target_gone {
        return false;
    }
    if p.from.is_none() {
        // Waiting to know the sites: the wish only names whom to activate.
        p.to = inp.target.to_string();
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
        steady(inp, d);
        return true;
    }
    p.to = inp.target.to_string();
    p.phase = PromotionPhase::Preflight;
    p.attempts = 0;
    p.silent_since = None;
    p.silent_sites.clear();
    p.deadline = None;
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

/// Demote the old active. Silence runs down the contact window; an answer,
/// even an error, stops it.
fn demote_phase(
    inp: &PromotionInput<'_>,
    from: &str,
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) -> Next {
    let Some(s) = find(inp.sites, from) else {
        // The old active left spec.sites: nothing to demote.
        p.phase = PromotionPhase::Promoting;
        return Next::Go;
    };
    if let Some(m) = s.mode {
        p.silent_since = None;
        p.silent_sites.clear();
        p.deadline = None;
        if !m.active && m.epoch >= p.epoch {
            p.phase = PromotionPhase::Promoting;
            p.attempts = 0;
            return Next::Go;
        }
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
    if let Some(reason) = BlockReason::of_contact(s.contact) {
        return answered_with_error(s, reason, p, d);
    }
    contact_window(inp, &[s], p, d)
}

/// A site answered, with an error: alive, so never forced past. The window
/// stops; the promotion waits and says why.
fn answered_with_error(
    s: &SiteObs,
    reason: BlockReason,
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) -> Next {
    p.silent_since = None;
    p.silent_sites.clear();
    p.deadline = None;
    if p.phase == PromotionPhase::WaitingForOldActive {
        p.phase = PromotionPhase::Demoting;
    }
    let what = s.message.as_deref().unwrap_or("an error");
    let msg = match reason {
        BlockReason::CredentialsRefused => format!(
            "site {} answers but refuses the credentials in its Secret ({what}); it is alive, so the promotion \
             waits and is never forced: fix spec.sites[{}].credentialsSecretRef",
            s.name, s.name
        ),
        BlockReason::SiteMisconfigured => format!(
            "site {} cannot be called ({what}); the promotion waits and is never forced: fix the site's Secret or adminUrl",
            s.name
        ),
        _ => format!(
            "site {} answers with errors ({what}); it is alive, so the promotion retries and is never forced",
            s.name
        ),
    };
    p.message = Some(msg.clone());
    d.blocked.push(Block {
        reason,
        message: msg,
    });
    Next::Wait
}

/// The silent sites have not answered since `silent_since` (this trip's
/// time on the first failed contact): wait until the deadline, then force.
fn contact_window(
    inp: &PromotionInput<'_>,
    silent: &[&SiteObs],
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) -> Next {
    let mut silent_names: Vec<String> = silent.iter().map(|s| s.name.clone()).collect();
    silent_names.sort();
    let names = silent_names.join(", ");
    // Each silent site must have been silent for the whole window: one that
    // was not silent before starts it again.
    let newcomer = silent_names.iter().any(|n| !p.silent_sites.contains(n));
    if newcomer {
        p.silent_since = None;
    }
    p.silent_sites = silent_names;
    let first = p.silent_since.is_none();
    let since = p
        .silent_since
        .as_deref()
        .and_then(|s| s.parse::<Timestamp>().ok())
        .unwrap_or(inp.now);
    let deadline = since.checked_add(inp.contact_timeout).unwrap_or(since);
    p.silent_since = Some(stamp(since));
    p.deadline = Some(stamp(deadline));
    let initial = p.from.is_none();
    if inp.now >= deadline {
        let note = if initial {
            format!(
                "no epoch is recorded and {names} did not answer GET /mode within the contact window (from {} to {}); activating {} above every epoch seen",
                stamp(since),
                stamp(deadline),
                p.to
            )
        } else {
            format!(
                "old active site {names} did not answer within the contact window (from {} to {}); promoting {} without demoting it",
                stamp(since),
                stamp(deadline),
                p.to
            )
        };
        d.notices.push(Notice {
            warning: true,
            reason: "PromotionForced",
            note,
        });
        p.message = Some(format!(
            "forced: {names} did not answer from {} until {}",
            stamp(since),
            stamp(deadline)
        ));
        p.epoch = p.epoch.max(max_seen(inp.sites) + 1);
        p.phase = PromotionPhase::Promoting;
        p.forced = true;
        return Next::Go;
    }
    let msg = if initial {
        format!(
            "no epoch is recorded: no site is made active until every site has told its mode; {names} does not answer \
             (since {}); {} is activated at {} if it stays silent",
            stamp(since),
            p.to,
            stamp(deadline)
        )
    } else {
        format!(
            "{names} does not answer (since {}); the promotion is forced at {} unless it answers",
            stamp(since),
            stamp(deadline)
        )
    };
    if first {
        d.notices.push(Notice {
            warning: true,
            reason: "WaitingForOldActive",
            note: msg.clone(),
        });
    }
    // No attempt count here: a wait that learns nothing new writes nothing.
    p.phase = PromotionPhase::WaitingForOldActive;
    p.message = Some(msg);
    Next::Wait
}

/// No epoch is recorded: wait until every site has told its mode (then
/// decide as on first sight), or until the silent ones ran out the window.
fn initial_wait(
    inp: &PromotionInput<'_>,
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) -> Next {
    let unknown: Vec<&SiteObs> = inp.sites.iter().filter(|s| !s.knows_mode()).collect();
    if unknown.is_empty() || inp.sites.iter().any(SiteObs::reports_active) {
        d.running = None;
        first_sight(inp, d);
        return Next::Done;
    }
    if let Some(s) = unknown
        .iter()
        .find(|s| BlockReason::of_contact(s.contact).is_some())
    {
        let reason = BlockReason::of_contact(s.contact).unwrap_or(BlockReason::SiteFailing);
        return answered_with_error(s, reason, p, d);
    }
    let silent: Vec<&SiteObs> = unknown
        .into_iter()
        .filter(|s| s.contact == SiteContact::NoAnswer)
        .collect();
    contact_window(inp, &silent, p, d)
}

/// Demote before promote: any other site reporting active steps down
/// first; then the target is made active at the promotion's epoch.
fn promote_phase(
    inp: &PromotionInput<'_>,
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) -> Next {
    if let Some(s) = inp
        .sites
        .iter()
        .find(|s| s.reports_active() && s.name != p.to)
    {
        p.message = Some(format!(
            "demoting {} (reports active at epoch {}) before promoting {}",
            s.name,
            s.epoch(),
            p.to
        ));
        d.step = Some(Step::SetMode {
            site: s.name.clone(),
            active: false,
            epoch: p.epoch,
        });
        return Next::Wait;
    }
    let Some(t) = find(inp.sites, &p.to) else {
        p.message = Some(format!("{} is not one of spec.sites", p.to));
        return Next::Wait;
    };
    match t.mode {
        Some(m) if m.active && m.epoch == p.epoch => {
            p.phase = PromotionPhase::SwitchingTraffic;
            Next::Go
        }
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
    let note = if p.reason == REASON_INITIAL {
        format!(
            "{} is the active site at epoch {} (first activation{})",
            p.to,
            p.epoch,
            if forced { ", forced" } else { "" }
        )
    } else {
        format!(
            "{} is the active site at epoch {} (from {from}, {}{})",
            p.to,
            p.epoch,
            p.reason,
            if forced { ", forced" } else { "" }
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
    });
    d.active_site = Some(p.to.clone());
    d.epoch = d.epoch.max(p.epoch);
    d.running = None;
}
