//! The HooksSucceeded condition, from the hooks of the newest promotion
//! that has any.

use crate::api::conditions::{self, Condition, ConditionStatus, types};
use crate::api::{HookPhase, HookStatus};

/// Set the HooksSucceeded condition from the hooks of the newest
/// promotion that has any (abandoned ones aside), or remove it when there
/// are none: True when all succeeded, False naming each failed hook,
/// Unknown while some are pending or running.
pub fn set_condition(conds: &mut Vec<Condition>, rows: &[HookStatus], generation: i64, now: &str) {
    let live: Vec<&HookStatus> = rows
        .iter()
        .filter(|r| r.phase != HookPhase::Abandoned)
        .collect();
    let Some(epoch) = live.iter().map(|r| r.epoch).max() else {
        conds.retain(|c| c.type_ != types::HOOKS_SUCCEEDED);
        return;
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
    let (status, reason, message) = if !failed.is_empty() {
        (
            ConditionStatus::False,
            "HookFailed",
            format!(
                "after the promotion at epoch {epoch}, failed: {}; the promotion stands (status.hooks, HookFailed Events)",
                failed.join("; ")
            ),
        )
    } else if !waiting.is_empty() {
        (
            ConditionStatus::Unknown,
            "HooksRunning",
            format!(
                "hooks of the promotion at epoch {epoch} not finished: {}",
                waiting.join(", ")
            ),
        )
    } else {
        (
            ConditionStatus::True,
            "Succeeded",
            format!(
                "all {} hooks of the promotion at epoch {epoch} succeeded",
                live.len()
            ),
        )
    };
    conditions::set_condition(
        conds,
        Condition::new(
            types::HOOKS_SUCCEEDED,
            status,
            reason,
            message,
            generation,
            now,
        ),
    );
}
