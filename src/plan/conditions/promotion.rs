//! Promoting and PromotionBlocked: whether a promotion runs (or waits to
//! start), and why it, or an automatic failover that is due, cannot go on.

use super::reasons::{BlockedReason, PromotingReason};
use super::{Findings, Judged, Verdict};
use crate::api::conditions::ConditionStatus;
use crate::api::{SiteHAPairSpec, SiteHAPairStatus};

/// The Promoting condition (the last one stands for a refused pair).
pub fn promoting(
    spec: &SiteHAPairSpec,
    data: &SiteHAPairStatus,
    f: &Findings,
) -> Judged<PromotingReason> {
    if f.refusal.is_some() {
        return Judged::Keep;
    }
    Judged::Is(match (&data.promotion, pending(spec, data)) {
        (Some(p), _) => Verdict::new(
            ConditionStatus::True,
            PromotingReason::Phase(p.phase.clone()),
            running_message(p),
        ),
        (None, Some(msg)) => Verdict::new(ConditionStatus::True, PromotingReason::Pending, msg),
        (None, None) => Verdict::new(
            ConditionStatus::False,
            PromotingReason::Idle,
            "no promotion is running",
        ),
    })
}

/// What a running promotion says of itself.
pub(super) fn running_message(p: &crate::api::PromotionStatus) -> String {
    p.message
        .clone()
        .unwrap_or_else(|| format!("promoting {} at epoch {}", p.to, p.epoch))
}

/// spec.activeSite names a site other than the active one and no
/// promotion runs yet: what is pending.
pub(super) fn pending(spec: &SiteHAPairSpec, data: &SiteHAPairStatus) -> Option<String> {
    let active = data.active_site.as_deref().unwrap_or_default();
    if data.promotion.is_some() || active == spec.active_site {
        return None;
    }
    Some(if active.is_empty() {
        format!(
            "no site is active yet; {} is to be activated",
            spec.active_site
        )
    } else {
        format!("promotion from {active} to {} is pending", spec.active_site)
    })
}

/// The PromotionBlocked condition: a held automatic failover, else the
/// first reason the promotion machine waits (the last one stands when the
/// machine did not run).
pub fn promotion_blocked(data: &SiteHAPairStatus, f: &Findings) -> Judged<BlockedReason> {
    if let Some((hold, message)) = &f.failover_hold {
        return Judged::Is(Verdict::new(
            ConditionStatus::True,
            BlockedReason::Failover(*hold),
            message.clone(),
        ));
    }
    let Some(blocked) = &f.blocked else {
        return Judged::Keep;
    };
    Judged::Is(match blocked.first() {
        None => Verdict::new(
            ConditionStatus::False,
            BlockedReason::NotBlocked,
            "no promotion is blocked",
        ),
        Some(first) => {
            let list: Vec<&str> = blocked.iter().map(|b| b.message.as_str()).collect();
            let message = match &data.promotion {
                Some(p) => format!("promotion of {} waits: {}", p.to, list.join("; ")),
                // Not started (its time, its window): the message names it.
                None => list.join("; "),
            };
            Verdict::new(
                ConditionStatus::True,
                BlockedReason::Promotion(first.reason),
                message,
            )
        }
    })
}
