//! Conditions in the Kubernetes shape (type, status, reason, message,
//! lastTransitionTime, observedGeneration) and the pure helper that merges a
//! new condition into a list, keeping the transition time when the status did
//! not change.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition types the operator writes.
pub mod types {
    pub const READY: &str = "Ready";
    pub const SOURCE_READY: &str = "SourceReady";
    pub const IN_SYNC: &str = "InSync";
    pub const HEALTHY: &str = "Healthy";
    pub const PROMOTING: &str = "Promoting";
    pub const PROMOTION_BLOCKED: &str = "PromotionBlocked";
    pub const DEGRADED: &str = "Degraded";
    pub const PARITY: &str = "Parity";
    /// The hooks of the last promotion (spec.promotion.hooks) all succeeded.
    pub const HOOKS_SUCCEEDED: &str = "HooksSucceeded";
}

/// One aspect of the pair's state.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Ready, SourceReady, InSync, Healthy, Promoting, PromotionBlocked or Degraded.
    #[serde(rename = "type")]
    pub type_: String,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// One CamelCase word saying why.
    pub reason: String,
    /// What a person should know, and what to do about it.
    pub message: String,
    /// When the status last changed (RFC 3339).
    pub last_transition_time: String,
    /// The metadata.generation this condition was computed from.
    pub observed_generation: i64,
}

/// The three condition states.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl Condition {
    pub fn new(
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
        generation: i64,
        now: &str,
    ) -> Self {
        Self {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message: message.into(),
            last_transition_time: now.to_string(),
            observed_generation: generation,
        }
    }
}

/// Put `new` into `list`, replacing the condition of the same type. The
/// transition time of the old one is kept when the status is unchanged, so
/// that a steady condition does not look freshly changed on every reconcile.
pub fn set_condition(list: &mut Vec<Condition>, mut new: Condition) {
    if let Some(old) = list.iter_mut().find(|c| c.type_ == new.type_) {
        if old.status == new.status {
            new.last_transition_time = old.last_transition_time.clone();
        }
        *old = new;
    } else {
        list.push(new);
    }
}

/// `set_condition`, measured against the conditions the last trip wrote
/// (`previous`): a condition that another step of this trip set otherwise
/// and this one sets back keeps the time of its last real transition.
pub fn set_condition_since(list: &mut Vec<Condition>, mut new: Condition, previous: &[Condition]) {
    if let Some(old) = find(previous, &new.type_)
        && old.status == new.status
    {
        new.last_transition_time = old.last_transition_time.clone();
        if let Some(c) = list.iter_mut().find(|c| c.type_ == new.type_) {
            *c = new;
            return;
        }
    }
    set_condition(list, new);
}

/// The condition of one type, if present.
pub fn find<'a>(list: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    list.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_status_keeps_transition_time() {
        let mut list = vec![Condition::new(
            types::READY,
            ConditionStatus::True,
            "A",
            "a",
            1,
            "t1",
        )];
        set_condition(
            &mut list,
            Condition::new(types::READY, ConditionStatus::True, "B", "b", 2, "t2"),
        );
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].last_transition_time, "t1");
        assert_eq!(list[0].reason, "B");
        assert_eq!(list[0].observed_generation, 2);
    }

    #[test]
    fn changed_status_moves_transition_time() {
        let mut list = vec![Condition::new(
            types::READY,
            ConditionStatus::True,
            "A",
            "a",
            1,
            "t1",
        )];
        set_condition(
            &mut list,
            Condition::new(types::READY, ConditionStatus::False, "B", "b", 1, "t2"),
        );
        assert_eq!(list[0].last_transition_time, "t2");
    }

    #[test]
    fn new_type_is_appended() {
        let mut list = vec![];
        set_condition(
            &mut list,
            Condition::new(types::IN_SYNC, ConditionStatus::Unknown, "A", "a", 1, "t1"),
        );
        assert!(find(&list, types::IN_SYNC).is_some());
        assert!(find(&list, types::READY).is_none());
    }
}
