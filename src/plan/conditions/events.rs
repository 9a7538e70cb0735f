//! The Events a condition change is worth, each published only when its
//! condition changes from what the last trip wrote (a steady problem is
//! one Event, not one per trip).

use super::reasons::{
    BlockedReason, DegradedReason, InSyncReason, ParityReason, PrerequisitesReason,
    SourceReadyReason,
};
use super::{Judged, Verdict};
use crate::api::conditions::{Condition, ConditionStatus, find, types};
use crate::plan::event::PlannedEvent;
use crate::plan::promotion::BlockReason;

/// The verdicts whose changes publish Events.
pub(super) struct Verdicts<'a> {
    pub degraded: &'a Verdict<DegradedReason>,
    pub blocked: &'a Judged<BlockedReason>,
    pub source: &'a Verdict<SourceReadyReason>,
    pub in_sync: &'a Judged<InSyncReason>,
    pub parity: &'a Judged<ParityReason>,
    pub prerequisites: &'a Judged<PrerequisitesReason>,
}

/// The condition of `type_` was not `status` for `reason` last trip.
fn changed(previous: &[Condition], type_: &str, status: ConditionStatus, reason: &str) -> bool {
    !find(previous, type_).is_some_and(|c| c.status == status && c.reason == reason)
}

fn normal(reason: &'static str, action: &'static str, note: &str) -> PlannedEvent {
    PlannedEvent {
        warning: false,
        ..warning(reason, action, note)
    }
}

fn warning(reason: &'static str, action: &'static str, note: &str) -> PlannedEvent {
    PlannedEvent {
        warning: true,
        reason,
        action,
        note: note.to_string(),
    }
}

/// Events for the conditions that changed since `previous`.
pub(super) fn transitions(previous: &[Condition], v: &Verdicts<'_>) -> Vec<PlannedEvent> {
    use ConditionStatus::{False, True};
    let mut out = Vec::new();
    if let Judged::Is(p) = v.parity
        && p.status == False
        && changed(previous, types::PARITY, False, p.reason.as_str())
    {
        out.push(warning("ParityBroken", "Compare", &p.message));
    }
    // A new pair's sites not ready: again when the problems change.
    if let Judged::Is(p) = v.prerequisites
        && p.reason == PrerequisitesReason::ProblemsFound
        && find(previous, types::PREREQUISITES)
            .is_none_or(|c| c.reason != p.reason.as_str() || c.message != p.message)
    {
        out.push(warning("PrerequisitesNotMet", "Check", &p.message));
    }
    out.extend(source(previous, v.source));
    if let Judged::Is(s) = v.in_sync
        && s.status == False
        && changed(previous, types::IN_SYNC, False, s.reason.as_str())
    {
        match s.reason {
            InSyncReason::PruneBlocked => out.push(warning("PruneBlocked", "Sync", &s.message)),
            InSyncReason::AwaitingAdoption => {
                out.push(warning("AwaitingAdoption", "Sync", &s.message))
            }
            InSyncReason::Drift => out.push(PlannedEvent {
                warning: false,
                reason: "DriftDetected",
                action: "Compare",
                note: s.message.clone(),
            }),
            _ => {}
        }
    }
    out.extend(degraded(previous, v.degraded));
    if let Judged::Is(b) = v.blocked
        && b.status == True
        && changed(previous, types::PROMOTION_BLOCKED, True, b.reason.as_str())
    {
        out.push(match b.reason {
            BlockedReason::Failover(_) => warning("FailoverBlocked", "Failover", &b.message),
            BlockedReason::Promotion(BlockReason::Scheduled) => {
                normal("PromotionScheduled", "Promote", &b.message)
            }
            BlockedReason::Promotion(BlockReason::OutsideWindow) => {
                normal("PromotionOutsideWindow", "Promote", &b.message)
            }
            BlockedReason::Promotion(BlockReason::ScheduledPreflightFailing) => {
                warning("ScheduledPromotionAtRisk", "Promote", &b.message)
            }
            _ => warning("PromotionBlocked", "Promote", &b.message),
        });
    }
    out
}

/// A source that stopped giving a good revision; an invalid one again
/// when its message (the revision, the file) changes.
fn source(previous: &[Condition], s: &Verdict<SourceReadyReason>) -> Option<PlannedEvent> {
    if s.status != ConditionStatus::False {
        return None;
    }
    let news = changed(previous, types::SOURCE_READY, s.status, s.reason.as_str());
    match s.reason {
        SourceReadyReason::FetchFailed if news => {
            Some(warning("SourceFailed", "Fetch", &s.message))
        }
        SourceReadyReason::SourceRefused if news => {
            Some(warning("SourceRefused", "Fetch", &s.message))
        }
        SourceReadyReason::InvalidRevision
            if news
                || find(previous, types::SOURCE_READY).is_some_and(|c| c.message != s.message) =>
        {
            Some(warning("InvalidRevision", "Validate", &s.message))
        }
        _ => None,
    }
}

/// A new Degraded reason, unless another Event of its own says it.
fn degraded(previous: &[Condition], d: &Verdict<DegradedReason>) -> Option<PlannedEvent> {
    use DegradedReason as R;
    if d.status != ConditionStatus::True {
        return None;
    }
    let was = find(previous, types::DEGRADED);
    let news = changed(previous, types::DEGRADED, d.status, d.reason.as_str());
    let (reason, action) = match d.reason {
        // A refused spec, a bad source and a failed active change have
        // Events of their own (or none: the API server told the user).
        R::AsExpected
        | R::InvalidSpec
        | R::InvalidRevision
        | R::SourceUnavailable
        | R::ActiveFailedCheck => return None,
        // Claimed: again when the claim names another pair or site.
        R::SiteClaimed => {
            let same = was.is_some_and(|c| c.reason == d.reason.as_str() && c.message == d.message);
            return (!same).then(|| warning("SiteClaimed", "Claim", &d.message));
        }
        R::PassiveUnhealthy => ("SyncHalted", "Sync"),
        R::SiteUnreachable => ("SiteUnreachable", "Sync"),
        R::CredentialsRefused => ("CredentialsRefused", "Sync"),
        R::SiteMisconfigured => ("SiteMisconfigured", "Sync"),
        R::SiteFailing => ("SiteFailing", "Sync"),
        R::SiteNotServing => ("WrittenNotServed", "Sync"),
        R::StraySite => ("StraySite", "Sync"),
    };
    news.then(|| warning(reason, action, &d.message))
}
