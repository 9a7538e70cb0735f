//! HooksSucceeded: whether the hooks of the newest promotion that has any
//! (abandoned ones aside) all succeeded; absent when there are none.

use super::reasons::HooksReason;
use super::{Judged, Verdict};
use crate::api::conditions::ConditionStatus;
use crate::api::{HookPhase, HookStatus};

/// True when all succeeded, False naming each failed hook, Unknown while
/// some are pending or running.
pub fn hooks_succeeded(rows: &[HookStatus]) -> Judged<HooksReason> {
    let live: Vec<&HookStatus> = rows
        .iter()
        .filter(|r| r.phase != HookPhase::Abandoned)
        .collect();
    let Some(epoch) = live.iter().map(|r| r.epoch).max() else {
        return Judged::Absent;
    };
    let live: Vec<&HookStatus> = live.into_iter().filter(|r| r.epoch == epoch).collect();
    let failed: Vec<String> = live
        .iter()
        .filter(|r| r.phase == HookPhase::Failed)
        .map(|r| format!("{}: {}", r.name, r.message.as_deref().unwrap_or("failed")))
        .collect();
    let waiting: Vec<String> = live
        .iter()
        .filter(|r| !r.phase.finished())
        .map(|r| match &r.next_attempt_at {
            Some(at) if r.phase == HookPhase::Pending => {
                format!("{} (attempt {} failed, next at {at})", r.name, r.attempts)
            }
            _ => format!("{} ({})", r.name, r.phase.as_str()),
        })
        .collect();
    Judged::Is(if !failed.is_empty() {
        Verdict::new(
            ConditionStatus::False,
            HooksReason::HookFailed,
            format!(
                "after the promotion at epoch {epoch}, failed: {}; the promotion stands (status.hooks, HookFailed Events)",
                failed.join("; ")
            ),
        )
    } else if !waiting.is_empty() {
        Verdict::new(
            ConditionStatus::Unknown,
            HooksReason::HooksRunning,
            format!(
                "hooks of the promotion at epoch {epoch} not finished: {}",
                waiting.join(", ")
            ),
        )
    } else {
        Verdict::new(
            ConditionStatus::True,
            HooksReason::Succeeded,
            format!(
                "all {} hooks of the promotion at epoch {epoch} succeeded",
                live.len()
            ),
        )
    })
}
