//! Which hooks a completed promotion records (never the first
//! activation's), and the abandonment of unfinished hooks: by a newer
//! promotion, or by their removal from spec.promotion.hooks.

use crate::api::{HookPhase, HookStatus, PromotionHook, PromotionRecord};
use crate::plan::event::PlannedEvent;
use crate::plan::promotion::PromotionReason;

use super::{EVENT_ABANDONED, event, label};

/// The promotion this trip completed: the newest record of `history`
/// when its epoch is newer than `before` (the newest epoch in history when
/// the trip began).
pub fn completed_now(before: Option<i64>, history: &[PromotionRecord]) -> Option<&PromotionRecord> {
    let last = history.last()?;
    before.is_none_or(|b| last.epoch > b).then_some(last)
}

fn abandon(row: &mut HookStatus, why: &str) -> PlannedEvent {
    row.phase = HookPhase::Abandoned;
    row.next_attempt_at = None;
    row.message = Some(why.to_string());
    event(
        true,
        EVENT_ABANDONED,
        format!("{} abandoned: {why}", label(row)),
    )
}

/// A promotion completed: its hooks are recorded Pending. Unfinished
/// hooks of older promotions are abandoned, finished ones dropped. The
/// first activation of a pair (reason Initial) runs none and changes
/// nothing. Recording the same promotion twice changes nothing.
pub fn begin(
    rows: &mut Vec<HookStatus>,
    hooks: &[PromotionHook],
    rec: &PromotionRecord,
) -> Vec<PlannedEvent> {
    if PromotionReason::of(&rec.reason) == PromotionReason::Initial
        || rows.iter().any(|r| r.epoch >= rec.epoch)
    {
        return Vec::new();
    }
    rows.retain(|r| !r.phase.finished());
    let why = format!(
        "the promotion to {} at epoch {} completed first",
        rec.to, rec.epoch
    );
    let events: Vec<PlannedEvent> = rows.iter_mut().map(|r| abandon(r, &why)).collect();
    rows.extend(hooks.iter().map(|h| HookStatus {
        name: h.name.clone(),
        epoch: rec.epoch,
        phase: HookPhase::Pending,
        ..HookStatus::default()
    }));
    events
}

/// Unfinished hooks no longer in spec.promotion.hooks are abandoned.
pub fn abandon_removed(rows: &mut [HookStatus], hooks: &[PromotionHook]) -> Vec<PlannedEvent> {
    rows.iter_mut()
        .filter(|r| !r.phase.finished() && !hooks.iter().any(|h| h.name == r.name))
        .map(|r| abandon(r, "the hook was removed from spec.promotion.hooks"))
        .collect()
}
