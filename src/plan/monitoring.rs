//! What a pair's metrics say, pure: which promotions a status change
//! finished and of what kind, and how long a promotion waited for a silent
//! old active when it stopped waiting. Time is an argument. (Parity is the
//! `Parity` condition, see `plan::parity`.)

use jiff::Timestamp;

use crate::api::{PromotionPhase, PromotionRecord, SiteHAPairStatus};
use crate::plan::promotion::PromotionReason;

/// What a finished promotion is counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionKind {
    /// spec.activeSite changed by a person or a pipeline.
    Planned,
    /// spec.activeSite changed by the operator's automatic failover.
    Automatic,
    /// The old active never answered within the contact window (whatever
    /// started the promotion).
    Forced,
    /// A new pair's first activation.
    Initial,
    /// The previous active promoted back after a failed verification.
    Revert,
}

impl PromotionKind {
    pub const ALL: [PromotionKind; 5] = [
        PromotionKind::Planned,
        PromotionKind::Automatic,
        PromotionKind::Forced,
        PromotionKind::Initial,
        PromotionKind::Revert,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            PromotionKind::Planned => "planned",
            PromotionKind::Automatic => "automatic",
            PromotionKind::Forced => "forced",
            PromotionKind::Initial => "initial",
            PromotionKind::Revert => "revert",
        }
    }

    /// The kind of a finished promotion: forced first, then by reason.
    pub fn of(rec: &PromotionRecord) -> Self {
        if rec.forced {
            PromotionKind::Forced
        } else {
            match PromotionReason::of(&rec.reason) {
                PromotionReason::Automatic => PromotionKind::Automatic,
                PromotionReason::Initial => PromotionKind::Initial,
                PromotionReason::Revert => PromotionKind::Revert,
                PromotionReason::Manual => PromotionKind::Planned,
            }
        }
    }
}

/// The promotions `after` records that `before` did not: what one status
/// write finished. Records are told apart by their promotion, so neither
/// the trimming of the history to its last ten nor what is added to a
/// record later counts anything twice.
pub fn finished_promotions(
    before: Option<&SiteHAPairStatus>,
    after: &SiteHAPairStatus,
) -> Vec<PromotionKind> {
    new_records(before, after).map(PromotionKind::of).collect()
}

/// The records `after` holds that `before` did not, told apart by the
/// promotion they record (its target, epoch and start), not by what was
/// added to them later (verification, clean-up).
fn new_records<'a>(
    before: Option<&'a SiteHAPairStatus>,
    after: &'a SiteHAPairStatus,
) -> impl Iterator<Item = &'a PromotionRecord> {
    let old: &[PromotionRecord] = before.map_or(&[], |b| b.history.as_slice());
    let same = |a: &PromotionRecord, b: &PromotionRecord| {
        a.to == b.to && a.epoch == b.epoch && a.started_at == b.started_at
    };
    after
        .history
        .iter()
        .filter(move |r| !old.iter().any(|o| same(o, r)))
}

/// Seconds a promotion waited for its silent old active, when `before` was
/// waiting and `after` is not (the site answered, the promotion was forced
/// or cancelled): from its silentSince (else its start) to `now`.
pub fn stopped_waiting(
    before: Option<&SiteHAPairStatus>,
    after: &SiteHAPairStatus,
    now: Timestamp,
) -> Option<f64> {
    let was = before?.promotion.as_ref()?;
    if was.phase != PromotionPhase::WaitingForOldActive {
        return None;
    }
    let still = after.promotion.as_ref().is_some_and(|p| {
        p.phase == PromotionPhase::WaitingForOldActive && p.started_at == was.started_at
    });
    if still {
        return None;
    }
    let since: Timestamp = was
        .silent_since
        .as_deref()
        .unwrap_or(&was.started_at)
        .parse()
        .ok()?;
    let waited = now.duration_since(since).as_secs_f64();
    Some(waited.max(0.0))
}

/// The promotion steps one status write ended, each with its seconds: a
/// phase ends when the next one starts or the promotion finishes (its
/// record's timing) or is cancelled (at `now`); the verification after a
/// promotion is the step `Verification`, ended when it passes, fails or
/// is abandoned.
pub fn ended_steps(
    before: Option<&SiteHAPairStatus>,
    after: &SiteHAPairStatus,
    now: Timestamp,
) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let secs = |from: &str, to: Timestamp| {
        crate::plan::time::parse(from).map(|f| to.duration_since(f).as_secs_f64().max(0.0))
    };
    let was = before.and_then(|b| b.promotion.as_ref());
    // The steps of a promotion `before` already saw as begun end from its
    // last one on; a promotion it did not see ends all of its steps.
    let open = |started_at: &str| {
        was.filter(|w| w.started_at == started_at)
            .map_or(0, |w| w.steps.len().saturating_sub(1))
    };
    let mut seen_again = false;
    if let Some(p) = &after.promotion {
        seen_again |= was.is_some_and(|w| w.started_at == p.started_at);
        for pair in p.steps.windows(2).skip(open(&p.started_at)) {
            let end = crate::plan::time::parse(&pair[1].at).unwrap_or(now);
            out.extend(secs(&pair[0].at, end).map(|s| (pair[0].phase.clone(), s)));
        }
    }
    for r in new_records(before, after) {
        if r.steps.is_empty() {
            continue;
        }
        seen_again |= was.is_some_and(|w| w.started_at == r.started_at);
        let timings = r.steps.iter().skip(open(&r.started_at));
        out.extend(timings.map(|s| (s.phase.clone(), s.seconds as f64)));
    }
    // Cancelled (or its record not kept): its last step ends now.
    if let Some(w) = was.filter(|_| !seen_again)
        && let Some(last) = w.steps.last()
    {
        out.extend(secs(&last.at, now).map(|v| (last.phase.clone(), v)));
    }
    if let Some(v) = before.and_then(|b| b.verification.as_ref())
        && after
            .verification
            .as_ref()
            .is_none_or(|a| a.started_at != v.started_at)
    {
        out.extend(secs(&v.started_at, now).map(|s| ("Verification".to_string(), s)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PromotionStatus;
    use crate::plan::promotion::REASON_INITIAL;

    fn rec(to: &str, reason: &str, epoch: i64, forced: bool) -> PromotionRecord {
        PromotionRecord {
            from: Some("east".into()),
            to: to.into(),
            reason: reason.into(),
            epoch,
            started_at: format!("2026-01-01T00:00:0{epoch}Z"),
            completed_at: format!("2026-01-01T00:01:0{epoch}Z"),
            forced,
            forced_by: None,
            ..PromotionRecord::default()
        }
    }

    fn with_history(history: Vec<PromotionRecord>) -> SiteHAPairStatus {
        SiteHAPairStatus {
            history,
            ..SiteHAPairStatus::default()
        }
    }

    #[test]
    fn kinds_forced_first_then_by_reason() {
        assert_eq!(
            PromotionKind::of(&rec("w", "Manual", 2, false)),
            PromotionKind::Planned
        );
        assert_eq!(
            PromotionKind::of(&rec("w", "Automatic", 2, false)),
            PromotionKind::Automatic
        );
        assert_eq!(
            PromotionKind::of(&rec("w", "Automatic", 2, true)),
            PromotionKind::Forced
        );
        assert_eq!(
            PromotionKind::of(&rec("w", "Manual", 2, true)),
            PromotionKind::Forced
        );
        assert_eq!(
            PromotionKind::of(&rec("w", REASON_INITIAL, 1, false)),
            PromotionKind::Initial
        );
        assert_eq!(
            PromotionKind::of(&rec("w", "Revert", 3, false)),
            PromotionKind::Revert
        );
        let labels: Vec<&str> = PromotionKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            labels,
            ["planned", "automatic", "forced", "initial", "revert"]
        );
    }

    #[test]
    fn only_new_history_records_count_once() {
        let first = rec("east", REASON_INITIAL, 1, false);
        let before = with_history(vec![first.clone()]);
        let after = with_history(vec![first.clone(), rec("west", "Manual", 2, false)]);
        assert_eq!(
            finished_promotions(Some(&before), &after),
            [PromotionKind::Planned]
        );
        // The same status again: nothing new.
        assert!(finished_promotions(Some(&after), &after).is_empty());
        // No status before: everything recorded is new.
        assert_eq!(
            finished_promotions(None, &after),
            [PromotionKind::Initial, PromotionKind::Planned]
        );
    }

    #[test]
    fn a_full_history_that_drops_its_oldest_counts_only_the_new_record() {
        let full: Vec<PromotionRecord> = (1..=9)
            .map(|e| rec("west", "Manual", e, false))
            .chain([rec("east", "Automatic", 10, false)])
            .collect();
        let mut next: Vec<PromotionRecord> = full[1..].to_vec();
        next.push(rec("west", "Manual", 11, true));
        assert_eq!(
            finished_promotions(Some(&with_history(full)), &with_history(next)),
            [PromotionKind::Forced]
        );
    }

    fn waiting(silent_since: Option<&str>) -> SiteHAPairStatus {
        SiteHAPairStatus {
            promotion: Some(PromotionStatus {
                from: Some("east".into()),
                to: "west".into(),
                reason: "Manual".into(),
                phase: PromotionPhase::WaitingForOldActive,
                epoch: 2,
                started_at: "2026-01-01T00:00:00Z".into(),
                silent_since: silent_since.map(str::to_string),
                ..PromotionStatus::default()
            }),
            ..SiteHAPairStatus::default()
        }
    }

    #[test]
    fn the_wait_is_measured_when_the_promotion_stops_waiting() {
        let now: Timestamp = "2026-01-01T00:30:10Z".parse().expect("time");
        let before = waiting(Some("2026-01-01T00:00:10Z"));
        // Still waiting: nothing yet.
        assert_eq!(stopped_waiting(Some(&before), &before, now), None);
        // Forced on to Promoting: thirty minutes from silentSince.
        let mut forced = before.clone();
        if let Some(p) = forced.promotion.as_mut() {
            p.phase = PromotionPhase::Promoting;
            p.forced = true;
        }
        assert_eq!(stopped_waiting(Some(&before), &forced, now), Some(1800.0));
        // Completed or cancelled within one trip: the promotion is gone.
        let done = SiteHAPairStatus::default();
        assert_eq!(stopped_waiting(Some(&before), &done, now), Some(1800.0));
        // No silentSince recorded: from the start of the promotion.
        let no_since = waiting(None);
        assert_eq!(stopped_waiting(Some(&no_since), &done, now), Some(1810.0));
        // Not waiting before: nothing.
        assert_eq!(stopped_waiting(Some(&forced), &done, now), None);
        assert_eq!(stopped_waiting(None, &done, now), None);
    }

    #[test]
    fn a_new_promotion_waiting_again_ends_the_old_wait() {
        let now: Timestamp = "2026-01-01T00:00:40Z".parse().expect("time");
        let before = waiting(Some("2026-01-01T00:00:10Z"));
        let mut again = waiting(Some("2026-01-01T00:00:40Z"));
        if let Some(p) = again.promotion.as_mut() {
            p.started_at = "2026-01-01T00:00:40Z".into();
        }
        assert_eq!(stopped_waiting(Some(&before), &again, now), Some(30.0));
    }

    #[test]
    fn a_step_is_observed_once_when_it_ends() {
        use crate::api::{PhaseStart, PromotionStatus, StepTiming, VerificationStatus};
        let at = |p: &str, t: &str| PhaseStart {
            phase: p.into(),
            at: t.into(),
        };
        let running = |steps: Vec<PhaseStart>| SiteHAPairStatus {
            promotion: Some(PromotionStatus {
                to: "west".into(),
                started_at: "2026-01-01T00:00:00Z".into(),
                steps,
                ..PromotionStatus::default()
            }),
            ..SiteHAPairStatus::default()
        };
        let now: Timestamp = "2026-01-01T00:00:20Z".parse().expect("time");
        let one = running(vec![at("Preflight", "2026-01-01T00:00:00Z")]);
        let two = running(vec![
            at("Preflight", "2026-01-01T00:00:00Z"),
            at("Demoting", "2026-01-01T00:00:04Z"),
        ]);
        assert_eq!(
            ended_steps(Some(&one), &two, now),
            [("Preflight".into(), 4.0)]
        );
        assert!(ended_steps(Some(&two), &two, now).is_empty());
        let mut done = with_history(vec![PromotionRecord {
            to: "west".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            steps: vec![
                StepTiming {
                    phase: "Preflight".into(),
                    started_at: "2026-01-01T00:00:00Z".into(),
                    seconds: 4,
                },
                StepTiming {
                    phase: "Demoting".into(),
                    started_at: "2026-01-01T00:00:04Z".into(),
                    seconds: 7,
                },
            ],
            ..PromotionRecord::default()
        }]);
        done.verification = Some(VerificationStatus {
            started_at: "2026-01-01T00:00:11Z".into(),
            ..VerificationStatus::default()
        });
        assert_eq!(
            ended_steps(Some(&two), &done, now),
            [("Demoting".into(), 7.0)]
        );
        let mut verified = with_history(done.history.clone());
        verified.history[0].cleaned_up_at = Some("2026-01-01T00:00:12Z".into());
        assert!(finished_promotions(Some(&done), &verified).is_empty());
        assert_eq!(
            ended_steps(Some(&done), &verified, now),
            [("Verification".into(), 9.0)]
        );
    }
}
