//! Verification after a promotion (`spec.promotion.verify`) and the hold
//! a failed one leaves: for a period after a promotion the new active
//! must pass its health check (and optional HTTP probes through the
//! traffic path) a number of times in a row; if it fails, the operator
//! promotes the previous active back through the same promotion (demote
//! before promote, a new epoch) and holds the pair: no automatic failover
//! and no automatic revert until a person acknowledges. What is decided
//! when lives in `plan::verify`; the probes and the spec change in
//! `controller::trip::verify`.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Annotation acknowledging a hold: the hold's `since` (status.hold.since).
pub const ANNOTATION_ACKNOWLEDGE_HOLD: &str = "sitehapair.io/acknowledge-hold";
/// Who acknowledged (`<since> by <who>`, written by `sitehapair ack`);
/// believed only for the hold it names.
pub const ANNOTATION_ACKNOWLEDGE_HOLD_BY: &str = "sitehapair.io/acknowledge-hold-by";
/// Set by the operator with spec.activeSite when it reverts a promotion
/// that failed verification: `<site>: <why>`.
pub const ANNOTATION_VERIFICATION_REVERT: &str = "sitehapair.io/verification-revert";
/// The field manager of the operator's revert (its own spec change).
pub const VERIFY_FIELD_MANAGER: &str = "sitehapair-verify";
/// Who a revert is recorded as asked by (status.history[].requestedBy).
pub const VERIFY_REQUESTER: &str = "sitehapair/verify";

fn default_period() -> String {
    "2m".into()
}
fn default_successes() -> i32 {
    3
}
fn default_interval() -> String {
    "5s".into()
}
fn default_expect_status() -> i32 {
    200
}

/// Verification after each Manual or Automatic promotion; off when absent.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("duration(self.period) >= duration(self.interval)").message("verify.period must be at least verify.interval, such as period 2m with interval 5s")
)]
pub struct PromotionVerify {
    /// How long the new active site has to pass `successes` checks in a
    /// row, from the promotion's completion (Go duration, such as 2m).
    /// Not done by then is a failed verification.
    #[serde(default = "default_period")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s') && duration(self) <= duration('24h')").message("verify.period must be a duration from 1s to 24h, such as 2m"))]
    pub period: String,
    /// Checks in a row the new active must pass (1 to 100).
    #[serde(default = "default_successes")]
    #[schemars(range(min = 1, max = 100))]
    pub successes: i32,
    /// The least time between two counted checks (Go duration, such as
    /// 5s); the site's health is observed at spec.healthCheck.interval, so
    /// a shorter interval counts each observation once.
    #[serde(default = "default_interval")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s')").message("verify.interval must be a duration of at least 1s, such as 5s"))]
    pub interval: String,
    /// HTTP probes through the traffic path (such as the traffic Service's
    /// address): each check also GETs every URL, without credentials, and
    /// expects its status. At most 8.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub probes: Vec<VerifyProbe>,
    /// Promote the previous active back when verification fails (default
    /// true). False: the failure is reported and the pair held, nothing is
    /// promoted.
    #[serde(default = "super::defaults::yes")]
    pub revert: bool,
}

/// One HTTP probe.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VerifyProbe {
    /// http:// or https:// URL to GET.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && (url(self).getScheme() == 'http' || url(self).getScheme() == 'https')").message("a verify probe's url must be an http:// or https:// URL, such as http://gis.prod.svc/rest/info"))]
    pub url: String,
    /// The HTTP status the probe expects (default 200).
    #[serde(default = "default_expect_status")]
    #[schemars(range(min = 100, max = 599))]
    pub expect_status: i32,
}

/// A verification under way (status.verification).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct VerificationStatus {
    /// The new active site being verified.
    pub site: String,
    /// The active site before the promotion: where a revert goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// The epoch of the promotion being verified.
    pub epoch: i64,
    /// When verification started: the promotion's completion (RFC 3339).
    pub started_at: String,
    /// started + spec.promotion.verify.period (RFC 3339).
    pub deadline: String,
    /// Checks passed in a row so far.
    #[serde(default)]
    pub passes: i32,
    /// Checks in a row needed.
    pub required: i32,
    /// When the last counted check was observed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_at: Option<String>,
    /// What the last check found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How a promotion's verification ended (status.history[].verification).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct VerificationRecord {
    /// Passed or Failed.
    pub result: VerificationResult,
    /// When it ended (RFC 3339).
    pub at: String,
    /// What was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The end of a verification.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VerificationResult {
    #[default]
    Passed,
    Failed,
}

impl VerificationResult {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationResult::Passed => "Passed",
            VerificationResult::Failed => "Failed",
        }
    }
}

/// Why the pair is held (status.hold): no automatic failover and no
/// automatic revert runs until a person acknowledges; planned promotions
/// still run.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct HoldStatus {
    /// VerificationFailed.
    pub reason: String,
    /// What failed, and what was done.
    pub message: String,
    /// When the hold began (RFC 3339); the value the acknowledgement names.
    pub since: String,
    /// The site that failed verification.
    pub site: String,
    /// The site promoted back to, when the promotion was reverted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted_to: Option<String>,
    /// Why it was reverted, as the revert's annotation says: a revert
    /// whose spec change did not land is asked again while spec.activeSite
    /// still names the failed site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_why: Option<String>,
}
