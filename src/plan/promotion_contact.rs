//! Who may be passed over when a site is made active, pure. Before the
//! target of a promotion (or the first activation) is made active, every
//! other site is known passive, or has been silent (its admin API failed
//! at connect or timed out before any byte) for a whole contact window
//! measured up to that moment. A site that speaks, even with an error,
//! stops the forcing until it is demoted or silent again for a whole window.

use jiff::Timestamp;

use super::promotion_types::{
    Block, BlockReason, ForcePast, Notice, PromotionDecision, PromotionInput, SiteObs, Step,
    max_seen, stamp,
};
use crate::api::{PromotionPhase, PromotionStatus, SiteContact};

/// Whether the other sites let the target be made active now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Others {
    /// Every other site is known passive, or silent for a whole window
    /// (then `p.forced` is set and the forcing was said out loud).
    Settled,
    /// Not yet: a demotion step, a block or the window is in `p` and `d`.
    Wait,
}

/// What a site that did not tell its mode this trip means for activation.
fn speaks(s: &SiteObs) -> bool {
    s.contact != SiteContact::NoAnswer
}

/// Settle every site but `except` (the target; None on first sight, when
/// the target too must tell its mode) before a site is made active: demote
/// one reporting active, block on one that speaks without telling its
/// mode, and wait out the window of the silent ones.
pub(super) fn settle_others(
    inp: &PromotionInput<'_>,
    except: Option<&str>,
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) -> Others {
    // A site a person named as broken (annotation force-past, at the
    // epoch it stands at) is passed over, whatever it answers.
    // A named site that reports active is demoted like any other, never
    // passed over: force-past is for a site that cannot tell its mode.
    let passed = inp
        .force_past
        .filter(|f| Some(f.site) != except)
        .and_then(|f| {
            let s = inp
                .sites
                .iter()
                .find(|s| f.names(s) && !s.reports_active())?;
            Some((f, s))
        });
    let others = || {
        inp.sites.iter().filter(|s| {
            Some(s.name.as_str()) != except && passed.is_none_or(|(_, p)| p.name != s.name)
        })
    };
    if let Some(s) = others().find(|s| s.reports_active()) {
        let before = format!("before promoting {}", p.to);
        demote(s, &before, p, d);
        return Others::Wait;
    }
    if let Some(s) = others().find(|s| !s.knows_mode() && speaks(s)) {
        let reason = BlockReason::of_contact(s.contact).unwrap_or(BlockReason::SiteFailing);
        answered_with_error(s, reason, p, d);
        return Others::Wait;
    }
    let silent: Vec<&SiteObs> = others().filter(|s| !s.knows_mode()).collect();
    let settled = if silent.is_empty() {
        p.silent_since = None;
        p.silent_sites.clear();
        p.deadline = None;
        p.forced = false;
        Others::Settled
    } else {
        contact_window(inp, &silent, p, d)
    };
    if let (Others::Settled, Some((f, s))) = (settled, passed) {
        pass_over(f, s, p, d);
    }
    settled
}

/// Go on past a site a person named as broken: said out loud once, and
/// recorded with who asked.
fn pass_over(f: ForcePast<'_>, s: &SiteObs, p: &mut PromotionStatus, d: &mut PromotionDecision) {
    p.forced = true;
    let by = format!("{} (past {} at epoch {})", f.by, f.site, f.epoch);
    if p.forced_by.as_deref() == Some(by.as_str()) {
        return;
    }
    d.notices.push(Notice {
        warning: true,
        reason: "ForcedPastAnsweringSite",
        note: format!(
            "promoting {} past site {}, which {} and is not demoted, because {} asked (annotation {}={}@{}); \
             while {} still serves, two sites may be active",
            p.to,
            s.name,
            if s.knows_mode() {
                "reports passive"
            } else {
                "answers without telling its mode"
            },
            f.by,
            crate::api::ANNOTATION_FORCE_PAST,
            f.site,
            f.epoch,
            s.name
        ),
    });
    p.forced_by = Some(by);
}

/// Demote `s`, which reports active, at the promotion's epoch (`why`:
/// the rest of the status message).
pub(super) fn demote(s: &SiteObs, why: &str, p: &mut PromotionStatus, d: &mut PromotionDecision) {
    p.message = Some(format!(
        "demoting {} (reports active at epoch {}) {why}",
        s.name,
        s.epoch()
    ));
    d.step = Some(Step::SetMode {
        site: s.name.clone(),
        active: false,
        epoch: p.epoch,
    });
}

/// A site of the window that spoke this trip (told its mode, or gave any
/// answer) was not silent for the whole window: the window starts again,
/// whatever this trip goes on to do (called first in every trip).
pub(super) fn restart_window_if_one_spoke(inp: &PromotionInput<'_>, p: &mut PromotionStatus) {
    let spoke = p.silent_sites.iter().any(|n| {
        inp.sites
            .iter()
            .any(|s| &s.name == n && (s.knows_mode() || speaks(s)))
    });
    if !spoke {
        return;
    }
    p.silent_since = None;
    p.silent_sites.clear();
    p.deadline = None;
    // Once the target reports active at the promotion's epoch, the record
    // keeps whether it was made so by forcing.
    let activated = inp
        .sites
        .iter()
        .any(|s| s.name == p.to && s.mode.is_some_and(|m| m.active && m.epoch == p.epoch));
    if !activated {
        p.forced = false;
    }
}

/// A site answered, with an error: alive, so never forced past. The window
/// stops (and a forcing decided earlier is withdrawn); the promotion waits
/// and says why.
pub(super) fn answered_with_error(
    s: &SiteObs,
    reason: BlockReason,
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) {
    p.silent_since = None;
    p.silent_sites.clear();
    p.deadline = None;
    p.forced = false;
    // Demoting names whom it demotes; a first activation (no `from`)
    // keeps waiting to know the sites.
    if p.phase == PromotionPhase::WaitingForOldActive && p.from.is_some() {
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
            "site {} answers with errors ({what}); it is alive, so the promotion retries and is never forced \
             by the operator (if the site is broken, see `sitehapair promote --force-past {}@EPOCH`)",
            s.name, s.name
        ),
    };
    p.message = Some(msg.clone());
    d.blocked.push(Block {
        reason,
        message: msg,
    });
}

/// The silent sites have not answered since `silent_since` (this trip's
/// time on the first failed contact): wait until the deadline, then force.
/// A site that was not silent before starts the window again.
fn contact_window(
    inp: &PromotionInput<'_>,
    silent: &[&SiteObs],
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) -> Others {
    let mut silent_names: Vec<String> = silent.iter().map(|s| s.name.clone()).collect();
    silent_names.sort();
    let names = silent_names.join(", ");
    let newcomer = silent_names.iter().any(|n| !p.silent_sites.contains(n));
    if newcomer {
        p.silent_since = None;
        p.forced = false;
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
        if !p.forced {
            force(inp, &names, (since, deadline), p, d);
        }
        // Else said when the window ran out; still silent since.
        return Others::Settled;
    }
    let msg = if initial {
        format!(
            "no epoch is recorded: no site is made active until every site has told its mode; {names} does not answer \
             (since {}); the pair goes on without it at {} if it stays silent",
            stamp(since),
            stamp(deadline)
        )
    } else {
        format!(
            "{names} does not answer its admin API (since {}); the promotion is forced at {} unless it answers",
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
    // From Promoting on the target may be active already (a write whose
    // answer was lost): the phase never goes back, so that spec.activeSite
    // set back cannot cancel and re-activate the old active beside it.
    if p.phase != PromotionPhase::Promoting {
        p.phase = PromotionPhase::WaitingForOldActive;
    }
    p.message = Some(msg);
    Others::Wait
}

/// The window ran out on `names`: say so once, and go on without them
/// above every epoch seen.
fn force(
    inp: &PromotionInput<'_>,
    names: &str,
    (since, deadline): (Timestamp, Timestamp),
    p: &mut PromotionStatus,
    d: &mut PromotionDecision,
) {
    let note = if p.from.is_none() {
        format!(
            "no epoch is recorded and {names} did not answer GET /mode within the contact window (from {} to {}); \
             the pair goes on without them",
            stamp(since),
            stamp(deadline),
        )
    } else {
        format!(
            "{names} did not answer within the contact window (from {} to {}); promoting {} without demoting it",
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
}
