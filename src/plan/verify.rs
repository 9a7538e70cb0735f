//! Verification after a promotion and the hold, pure. A Manual or
//! Automatic promotion that completes starts a verification of its new
//! active site (when spec.promotion.verify is set); each later trip counts
//! a check (the site's health as this trip observed it, and the probes'
//! answers) at most once per interval. `successes` passes in a row before
//! the deadline: Passed. A failed check, or the deadline: Failed; the
//! previous active is promoted back (the shell changes spec.activeSite, the
//! promotion machine carries it out with the same fencing) and the pair is
//! held until a person acknowledges. While held, a failed verification
//! reverts nothing. Time is an argument.

use std::time::Duration;

use jiff::Timestamp;

use crate::api::{
    ANNOTATION_ACKNOWLEDGE_HOLD, HoldStatus, PromotionRecord, SiteHAPairStatus, SiteHealth,
    VerificationRecord, VerificationResult, VerificationStatus,
};
use crate::plan::conditions::reasons::HeldReason as HoldReason;
use crate::plan::event::PlannedEvent;
use crate::plan::promotion::PromotionReason;
use crate::plan::time::{parse, stamp};

/// spec.promotion.verify, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyConfig {
    pub period: Duration,
    pub successes: i32,
    pub interval: Duration,
    pub revert: bool,
}

/// One probe's answer this trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub url: String,
    /// The status it answered with was the one expected.
    pub ok: bool,
    /// What it answered (a status, or why none).
    pub detail: String,
}

/// What the verification step needs besides the status.
#[derive(Debug, Clone)]
pub struct VerifyInput<'a> {
    /// None: verification is off.
    pub config: Option<VerifyConfig>,
    pub pair: &'a str,
    /// The record of a promotion that completed this trip.
    pub finished: Option<&'a PromotionRecord>,
    /// The probes run this trip (only when a check is due).
    pub probes: &'a [ProbeOutcome],
    /// The acknowledge-hold annotation and who set it.
    pub ack: Option<(&'a str, &'a str)>,
    /// spec.activeSite.
    pub target: &'a str,
    /// The verification-revert annotation.
    pub revert_annotation: Option<&'a str>,
    pub now: Timestamp,
}

/// A revert to carry out once the status is recorded: set
/// spec.activeSite to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revert {
    pub to: String,
    pub why: String,
}

/// What the verification step decided besides the status it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub events: Vec<PlannedEvent>,
    pub revert: Option<Revert>,
}

/// A check of the running verification is due at `now` (the shell runs
/// the probes only then).
pub fn check_due(status: &SiteHAPairStatus, config: Option<VerifyConfig>, now: Timestamp) -> bool {
    let (Some(v), Some(c)) = (&status.verification, config) else {
        return false;
    };
    match v.last_check_at.as_deref().and_then(parse) {
        None => true,
        Some(last) => last.checked_add(c.interval).is_ok_and(|due| now >= due),
    }
}

/// How soon the running verification wants a trip: its next check.
pub fn verify_due_in(
    status: &SiteHAPairStatus,
    config: Option<VerifyConfig>,
    now: Timestamp,
) -> Option<Duration> {
    let (v, c) = (status.verification.as_ref()?, config?);
    let next = match v.last_check_at.as_deref().and_then(parse) {
        Some(last) => last.checked_add(c.interval).ok()?,
        None => now,
    };
    let deadline = parse(&v.deadline).unwrap_or(next);
    let at = next.min(deadline);
    Some(Duration::try_from(now.duration_until(at)).unwrap_or(Duration::ZERO))
}

/// Acknowledge, start, check and end verifications on `status`.
pub fn apply_verify(status: &mut SiteHAPairStatus, inp: &VerifyInput<'_>) -> VerifyOutcome {
    let mut out = VerifyOutcome::default();
    acknowledge(status, inp, &mut out);
    out.revert = unfinished_revert(status, inp);
    if let Some(rec) = inp.finished {
        start(status, inp, rec);
        return out;
    }
    if let Some(rec) = unstarted(status, inp) {
        start(status, inp, &rec);
        return out;
    }
    let Some(v) = status.verification.clone() else {
        return out;
    };
    let Some(config) = inp.config else {
        status.verification = None;
        return out;
    };
    // A newer promotion (or one running) ends it unjudged.
    let moved = status.promotion.is_some()
        || status.active_site.as_deref() != Some(v.site.as_str())
        || status.epoch != v.epoch;
    if moved {
        status.verification = None;
        return out;
    }
    let failed = if check_due(status, inp.config, inp.now) {
        check(status, inp, v.clone())
    } else {
        None
    };
    let Some(v) = status.verification.clone() else {
        return out;
    };
    let late = parse(&v.deadline).is_some_and(|d| inp.now >= d);
    if failed.is_none() && v.passes >= v.required {
        pass(status, inp, &v, &mut out);
        return out;
    }
    let failure = failed.or_else(|| {
        late.then(|| {
            format!(
                "{} passed {} of {} checks in a row within the verification period",
                v.site, v.passes, v.required
            )
        })
    });
    if let Some(detail) = failure {
        fail(status, inp, &v, config, &detail, &mut out);
    }
    out
}

/// The acknowledgement names the hold: it ends, said with who.
fn acknowledge(status: &mut SiteHAPairStatus, inp: &VerifyInput<'_>, out: &mut VerifyOutcome) {
    let (Some(hold), Some((value, by))) = (&status.hold, inp.ack) else {
        return;
    };
    if value.trim() != hold.since {
        return;
    }
    out.events.push(PlannedEvent {
        warning: false,
        reason: "HoldAcknowledged",
        action: "Acknowledge",
        note: format!(
            "the hold after {} failed verification (since {}) was acknowledged by {by}; automatic failover and revert run again",
            hold.site, hold.since
        ),
    });
    status.hold = None;
}

/// A revert decided before whose spec change did not land (the pair
/// moved in between): asked again while spec.activeSite still names the
/// failed site and nothing else runs.
fn unfinished_revert(status: &SiteHAPairStatus, inp: &VerifyInput<'_>) -> Option<Revert> {
    let hold = status.hold.as_ref()?;
    let (to, why) = (hold.reverted_to.as_ref()?, hold.revert_why.as_ref()?);
    let asked = format!("{to}: {why}");
    let landed = inp.revert_annotation == Some(asked.as_str());
    let stays = inp.target == hold.site && status.promotion.is_none();
    (!landed && stays).then(|| Revert {
        to: to.clone(),
        why: why.clone(),
    })
}

/// A promotion completed this trip: a Manual or Automatic one is verified
/// from the next trip on (this trip's observation was made before it).
/// A promotion whose verification was due to start in a trip that did not
/// survive to record it (a crash, a lost leadership or a conflict after
/// the completion was written): the newest record, of the active site at
/// the pair's epoch, never judged, completed within one period. Started
/// now, so no promotion goes unverified for a trip that failed.
fn unstarted(status: &SiteHAPairStatus, inp: &VerifyInput<'_>) -> Option<PromotionRecord> {
    let config = inp.config?;
    if status.verification.is_some() || status.promotion.is_some() {
        return None;
    }
    let rec = status.history.last()?;
    let completed = parse(&rec.completed_at)?;
    let recent = completed
        .checked_add(config.period)
        .is_ok_and(|until| inp.now < until);
    let current =
        status.active_site.as_deref() == Some(rec.to.as_str()) && status.epoch == rec.epoch;
    (rec.verification.is_none() && current && recent).then(|| rec.clone())
}

fn start(status: &mut SiteHAPairStatus, inp: &VerifyInput<'_>, rec: &PromotionRecord) {
    status.verification = None;
    let Some(config) = inp.config else {
        return;
    };
    let verified = matches!(
        PromotionReason::of(&rec.reason),
        PromotionReason::Manual | PromotionReason::Automatic
    );
    if !verified {
        return;
    }
    let deadline = inp.now.checked_add(config.period).unwrap_or(inp.now);
    status.verification = Some(VerificationStatus {
        site: rec.to.clone(),
        previous: rec.from.clone(),
        epoch: rec.epoch,
        started_at: stamp(inp.now),
        deadline: stamp(deadline),
        passes: 0,
        required: config.successes.max(1),
        last_check_at: None,
        message: Some(format!("verifying {} after its promotion", rec.to)),
    });
}

/// Count one check; returns what failed, if it did.
fn check(
    status: &mut SiteHAPairStatus,
    inp: &VerifyInput<'_>,
    mut v: VerificationStatus,
) -> Option<String> {
    let row = status.sites.iter().find(|s| s.name == v.site);
    let health = row.and_then(|r| r.health);
    let mut failed: Vec<String> = Vec::new();
    if health != Some(SiteHealth::Healthy) {
        let what = health.map_or("not observed".to_string(), |h| format!("{h:?}"));
        failed.push(format!("health check: {what}"));
    }
    failed.extend(
        inp.probes
            .iter()
            .filter(|p| !p.ok)
            .map(|p| format!("probe {}: {}", p.url, p.detail)),
    );
    v.last_check_at = Some(stamp(inp.now));
    if failed.is_empty() {
        v.passes += 1;
        v.message = Some(format!(
            "{} passed {} of {} checks in a row",
            v.site, v.passes, v.required
        ));
        status.verification = Some(v);
        return None;
    }
    let detail = format!("{} failed its check ({})", v.site, failed.join("; "));
    v.message = Some(detail.clone());
    status.verification = Some(v);
    Some(detail)
}

fn pass(
    status: &mut SiteHAPairStatus,
    inp: &VerifyInput<'_>,
    v: &VerificationStatus,
    out: &mut VerifyOutcome,
) {
    let note = format!(
        "{} passed {} checks in a row after its promotion at epoch {}",
        v.site, v.passes, v.epoch
    );
    record(status, v.epoch, VerificationResult::Passed, &note, inp.now);
    status.verification = None;
    out.events.push(PlannedEvent {
        warning: false,
        reason: "VerificationPassed",
        action: "Verify",
        note,
    });
}

/// Whether a failed verification reverts, and what is done, said. A
/// person who asked for another site since wins; and the way back goes
/// only to a site that answers and passes its health check (after an
/// automatic failover the previous active is the one that failed).
fn revert_or_why_not(
    status: &SiteHAPairStatus,
    inp: &VerifyInput<'_>,
    site: &str,
    back: Option<&String>,
    config: VerifyConfig,
) -> (bool, String) {
    let held_already = status.hold.is_some();
    let chosen_elsewhere = inp.target != site;
    let back_unfit = back.filter(|p| {
        !status.sites.iter().any(|s| {
            s.name == **p
                && s.health == Some(crate::api::SiteHealth::Healthy)
                && s.contact
                    .is_none_or(|c| c == crate::api::SiteContact::Answered)
        })
    });
    let revert = config.revert && !held_already && !chosen_elsewhere && back_unfit.is_none();
    let done = if held_already {
        "nothing is reverted: the pair is held already".to_string()
    } else if !config.revert {
        "nothing is reverted (spec.promotion.verify.revert is false)".to_string()
    } else if chosen_elsewhere {
        format!(
            "nothing is reverted: spec.activeSite names {} now, a person's choice",
            inp.target
        )
    } else if let Some(p) = back_unfit {
        format!("nothing is reverted: the previous active {p} does not answer healthy")
    } else {
        match back {
            None => "no previous active site to promote back to".to_string(),
            Some(p) => format!("promoting {p} back"),
        }
    };
    (revert, done)
}

fn fail(
    status: &mut SiteHAPairStatus,
    inp: &VerifyInput<'_>,
    v: &VerificationStatus,
    config: VerifyConfig,
    detail: &str,
    out: &mut VerifyOutcome,
) {
    record(status, v.epoch, VerificationResult::Failed, detail, inp.now);
    status.verification = None;
    let back = v
        .previous
        .as_ref()
        .filter(|p| status.sites.iter().any(|s| s.name == **p));
    let held_already = status.hold.is_some();
    let (revert, done) = revert_or_why_not(status, inp, &v.site, back, config);
    out.events.push(PlannedEvent {
        warning: true,
        reason: "VerificationFailed",
        action: "Verify",
        note: format!(
            "verification after the promotion at epoch {}: {detail}; {done}",
            v.epoch
        ),
    });
    if held_already {
        return;
    }
    let reverted_to = back.filter(|_| revert).cloned();
    if let Some(to) = &reverted_to {
        let why = crate::api::redact::trim(
            &format!("{}: {detail}", HoldReason::VerificationFailed.as_str()),
            300,
        );
        out.events.push(PlannedEvent {
            warning: true,
            reason: "PromotionReverted",
            action: "Revert",
            note: format!("spec.activeSite set back to {to}: {why}"),
        });
        out.revert = Some(Revert {
            to: to.clone(),
            why,
        });
    }
    let since = stamp(inp.now);
    status.hold = Some(HoldStatus {
        reason: HoldReason::VerificationFailed.as_str().to_string(),
        message: format!(
            "{detail}; {done}; automatic failover and revert are held until acknowledged: \
             sitehapair ack {pair} (or kubectl annotate shp {pair} {ANNOTATION_ACKNOWLEDGE_HOLD}={since})",
            pair = inp.pair
        ),
        since,
        site: v.site.clone(),
        revert_why: out.revert.as_ref().map(|r| r.why.clone()),
        reverted_to,
    });
}

/// Write how verification ended on the history entry of its promotion.
fn record(
    status: &mut SiteHAPairStatus,
    epoch: i64,
    result: VerificationResult,
    message: &str,
    now: Timestamp,
) {
    if let Some(rec) = status.history.iter_mut().rev().find(|r| r.epoch == epoch) {
        rec.verification = Some(VerificationRecord {
            result,
            at: stamp(now),
            message: Some(crate::api::redact::trim(message, 300)),
        });
    }
}

/// Mark the newest history entries cleaned up once every site but their
/// new active reports passive (the old active demoted, whether at once or
/// when a site passed over while silent answered again).
pub fn note_cleaned_up(status: &mut SiteHAPairStatus, now: Timestamp) {
    let Some(rec) = status.history.last() else {
        return;
    };
    if rec.cleaned_up_at.is_some() || status.promotion.is_some() {
        return;
    }
    let clean = status.sites.iter().all(|s| {
        s.name == rec.to
            || (s.mode == Some(crate::api::SiteMode::Passive)
                && s.epoch.is_some_and(|e| e >= rec.epoch))
    });
    if clean && let Some(rec) = status.history.last_mut() {
        rec.cleaned_up_at = Some(stamp(now));
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
