//! Rehearsal of a planned promotion: the request (`spec.promotion.rehearse`)
//! and what the last one found (`status.rehearsal`). A rehearsal runs every
//! step of a planned promotion to a site that changes no role and no
//! traffic (preflight, a full comparison of the target with the source,
//! its health check, a read of its role and epoch, the hooks marked safe
//! to rehearse) and reports what the real promotion would do and how long
//! it would take. What runs is decided in `plan::rehearsal`; the calls are
//! made in `controller::trip::rehearse`.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A request to rehearse the promotion to one site. Set by `sitehapair
/// promote NAME --to SITE --rehearse`; a new id (or site) asks for a new
/// rehearsal, the same one is not run twice.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RehearsalRequest {
    /// The site whose promotion is rehearsed: one of spec.sites, not the
    /// active site.
    #[schemars(length(min = 1, max = 63))]
    pub site: String,
    /// Any value that changes for each new rehearsal (the CLI writes the
    /// time). The rehearsal in status.rehearsal carries it.
    #[schemars(length(min = 1, max = 63))]
    pub id: String,
}

/// The last rehearsal, running or finished.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RehearsalStatus {
    /// The site whose promotion was rehearsed.
    pub site: String,
    /// spec.promotion.rehearse.id of the request.
    pub id: String,
    /// Running, Passed, Failed or Cancelled.
    pub result: RehearsalResult,
    /// Who asked for it: the user `sitehapair promote --rehearse` recorded,
    /// else the field manager that last set spec.promotion.rehearse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The active site and the epoch when it started: a promotion since
    /// (a real change) cancels it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_site: Option<String>,
    #[serde(default)]
    pub epoch: i64,
    /// Each step it ran, in order, with its time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<RehearsalStep>,
    /// What the real promotion would do, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_do: Vec<String>,
    /// How long the real promotion would take, in whole seconds: the
    /// steps measured here plus the phases of the last promotion in
    /// status.history (basis says which).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_seconds: Option<i64>,
    /// Where the estimate comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_basis: Option<String>,
    /// What would stop or spoil the real promotion (empty when Passed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Why it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How a rehearsal came out.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RehearsalResult {
    /// Started and not finished (its hooks run).
    #[default]
    Running,
    /// Every step passed: the real promotion would start now.
    Passed,
    /// A step found a problem (status.rehearsal.problems).
    Failed,
    /// A real change (a promotion, the request withdrawn) came first.
    Cancelled,
}

impl RehearsalResult {
    pub fn as_str(self) -> &'static str {
        match self {
            RehearsalResult::Running => "Running",
            RehearsalResult::Passed => "Passed",
            RehearsalResult::Failed => "Failed",
            RehearsalResult::Cancelled => "Cancelled",
        }
    }

    pub fn finished(self) -> bool {
        self != RehearsalResult::Running
    }
}

/// One step of a rehearsal.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RehearsalStep {
    /// Preflight, CompareWithSource, HealthCheck, ReadRole or Hook <name>.
    pub name: String,
    /// Passed, Failed or Skipped.
    pub outcome: StepOutcome,
    /// When it began (RFC 3339).
    pub started_at: String,
    /// How long it took, in milliseconds.
    pub milliseconds: i64,
    /// What it found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How one step of a rehearsal came out.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StepOutcome {
    #[default]
    Passed,
    Failed,
    /// Not run (a hook not marked rehearse, no source to compare with).
    Skipped,
}

impl StepOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Passed => "Passed",
            StepOutcome::Failed => "Failed",
            StepOutcome::Skipped => "Skipped",
        }
    }
}
