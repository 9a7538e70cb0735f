//! Conditions in the Kubernetes shape (type, status, reason, message,
//! lastTransitionTime, observedGeneration) and their types. Which condition
//! says what is decided in one place: `plan::conditions`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition types the operator writes.
pub mod types {
    pub const READY: &str = "Ready";
    pub const SOURCE_READY: &str = "SourceReady";
    /// The source's revision is signed by a trusted key (spec.source.git.verify).
    pub const SOURCE_VERIFIED: &str = "SourceVerified";
    pub const IN_SYNC: &str = "InSync";
    pub const HEALTHY: &str = "Healthy";
    pub const PROMOTING: &str = "Promoting";
    pub const PROMOTION_BLOCKED: &str = "PromotionBlocked";
    pub const DEGRADED: &str = "Degraded";
    pub const PARITY: &str = "Parity";
    /// The hooks of the last promotion (spec.promotion.hooks) all succeeded.
    pub const HOOKS_SUCCEEDED: &str = "HooksSucceeded";
    /// A new pair's sites are ready to be adopted (the findings of
    /// `sitehapair check`), until its first sync.
    pub const PREREQUISITES: &str = "Prerequisites";
    /// A promotion failed its verification: automatic failover and revert
    /// are held until a person acknowledges.
    pub const HELD: &str = "Held";
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

/// The condition of one type, if present.
pub fn find<'a>(list: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    list.iter().find(|c| c.type_ == type_)
}
