//! Ready, and the phase with it: the one summary of the pair, from the
//! other conditions and the promotion data, by rank: refused, promoting,
//! pending, suspended, degraded, ready.

use super::promotion::{pending, running_message};
use super::reasons::{DegradedReason, ReadyReason};
use super::{Findings, Verdict, phase_of};
use crate::api::conditions::ConditionStatus;
use crate::api::{Phase, SiteHAPairSpec, SiteHAPairStatus};
use crate::plan::promotion::BlockReason;

/// The Ready condition and the phase.
pub fn ready(
    spec: &SiteHAPairSpec,
    data: &SiteHAPairStatus,
    f: &Findings,
    degraded: &Verdict<DegradedReason>,
) -> (Verdict<ReadyReason>, Phase) {
    use ConditionStatus::{False, True};
    let not_ready = |reason, msg: String| Verdict::new(False, reason, msg);
    if f.refusal.is_some() {
        let reason = ReadyReason::Degraded(degraded.reason);
        return (not_ready(reason, degraded.message.clone()), Phase::Degraded);
    }
    if let Some(p) = &data.promotion {
        let msg = running_message(p);
        return (not_ready(ReadyReason::Promoting, msg), phase_of(p));
    }
    if let Some(msg) = pending(spec, data) {
        // Waiting for its time or its window: the pair serves as it is.
        if let Some(wait) = f.blocked.iter().flatten().find(|b| {
            matches!(
                b.reason,
                BlockReason::Scheduled
                    | BlockReason::ScheduledPreflightFailing
                    | BlockReason::OutsideWindow
            )
        }) {
            let msg = format!("{msg}: {}", wait.message);
            return (
                Verdict::new(True, ReadyReason::Scheduled, msg),
                Phase::Scheduled,
            );
        }
        return (not_ready(ReadyReason::Promoting, msg), Phase::Promoting);
    }
    if spec.sync.suspend {
        let msg = "sync is suspended (spec.sync.suspend); promotions still run";
        return (
            Verdict::new(True, ReadyReason::Suspended, msg),
            Phase::Suspended,
        );
    }
    if degraded.status == True {
        let reason = ReadyReason::Degraded(degraded.reason);
        return (not_ready(reason, degraded.message.clone()), Phase::Degraded);
    }
    let msg = format!(
        "{} is the active site at epoch {} of {} sites",
        data.active_site.as_deref().unwrap_or_default(),
        data.epoch,
        spec.sites.len()
    );
    (Verdict::new(True, ReadyReason::Observed, msg), Phase::Ready)
}
