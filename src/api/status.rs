//! The observed state of a `SiteHAPair`: phase, the active site and its
//! epoch, the source revision, per-site state, the running promotion, the
//! promotion history and the conditions. Written only by the operator, with
//! server-side apply.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::Condition;

/// Observed state of the pair.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SiteHAPairStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The site that is active now (may differ from spec.activeSite while a
    /// promotion runs; empty while no site is active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_site: Option<String>,
    /// Fencing token: raised by one at every promotion and stamped on the sites.
    #[serde(default)]
    pub epoch: i64,
    /// What the pair is doing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The last revision fetched from the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceStatus>,
    /// Per-site observations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<SiteStatus>,
    /// The promotion under way, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<PromotionStatus>,
    /// The last 10 promotions, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<PromotionRecord>,
    /// The value of the annotation sitehapair.io/reconcile-requested-at last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// Ready, SourceReady, InSync, Healthy, Promoting, PromotionBlocked, Degraded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl SiteHAPairStatus {
    /// The source revision the sites should hold: the last good fetched
    /// revision, when the spec has a source at all.
    pub fn expected_revision(&self, has_source: bool) -> Option<&str> {
        if !has_source {
            return None;
        }
        self.source.as_ref().and_then(|s| s.revision.as_deref())
    }
}

/// What the pair is doing, in one word.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Observed, nothing to do.
    Ready,
    /// Bringing sites in line with the source.
    Syncing,
    /// A promotion is running.
    Promoting,
    /// The old active site is unreachable; the contact window is open and no site is active.
    WaitingForOldActive,
    /// Something needs attention; the conditions say what.
    Degraded,
    /// spec.sync.suspend is set.
    Suspended,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Ready => "Ready",
            Phase::Syncing => "Syncing",
            Phase::Promoting => "Promoting",
            Phase::WaitingForOldActive => "WaitingForOldActive",
            Phase::Degraded => "Degraded",
            Phase::Suspended => "Suspended",
        }
    }
}

/// The source as last fetched.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// Commit hash of the last good revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// When it was fetched (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<String>,
    /// What went wrong with the last fetch, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One site as last observed.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SiteStatus {
    /// Site name.
    pub name: String,
    /// Active, Passive or Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Healthy, Unhealthy or Unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The epoch the site reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    /// Product version the site reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The source revision last applied to the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_revision: Option<String>,
    /// When the site was last synced (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<String>,
    /// Difference between the site and the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// Failed health checks in a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<i32>,
    /// Last error or remark about the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Counts of services that differ between a site and the source.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// In the source, missing on the site.
    pub added: i32,
    /// On both, with different definitions.
    pub changed: i32,
    /// On the site, not in the source.
    pub removed: i32,
}

/// The promotion under way.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PromotionStatus {
    /// The active site being replaced (empty on first activation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The site being promoted.
    pub to: String,
    /// Manual, Automatic, Adoption or SplitBrain.
    pub reason: String,
    /// Preflight, Demoting, WaitingForOldActive, Promoting, SwitchingTraffic or Complete.
    pub phase: String,
    /// The epoch the promotion stamps on the sites.
    pub epoch: i64,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When an unreachable old active stops being waited for (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// Attempts made in the current phase.
    #[serde(default)]
    pub attempts: i32,
    /// The old active site never answered within the contact window: the
    /// promotion went ahead without demoting it.
    #[serde(default)]
    pub forced: bool,
    /// What the promotion is waiting on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A finished promotion.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PromotionRecord {
    /// The previous active site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The promoted site.
    pub to: String,
    /// Manual, Automatic, Adoption or SplitBrain.
    pub reason: String,
    /// The epoch the promotion stamped.
    pub epoch: i64,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it completed (RFC 3339).
    pub completed_at: String,
    /// Whether the old active site was unreachable and the switch was forced.
    #[serde(default)]
    pub forced: bool,
}
