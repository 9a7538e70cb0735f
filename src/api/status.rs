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
    /// Where the traffic Service points now: the active site, or the
    /// promotion target while the old active does not answer and
    /// spec.traffic.failover is Immediate. Empty: nowhere yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_site: Option<String>,
    /// The standby-first change of the active site under way
    /// (spec.sync.strategy ShiftTraffic): which passive holds traffic
    /// meanwhile, and the step it stands at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_change: Option<super::change::ActiveChangeStatus>,
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
    /// The hooks (spec.promotion.hooks) of the last promotion that ran
    /// them, one row each, and the hooks of the one before that a newer
    /// promotion abandoned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<super::hooks::HookStatus>,
    /// The last rehearsal of a promotion (spec.promotion.rehearse): its
    /// steps and their times, what the real promotion would do and how
    /// long it would take, and the problems found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<super::rehearsal::RehearsalStatus>,
    /// The verification of the last promotion under way
    /// (spec.promotion.verify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<super::verify::VerificationStatus>,
    /// Set when a promotion failed its verification: no automatic failover
    /// and no automatic revert runs until acknowledged
    /// (`sitehapair ack`, annotation sitehapair.io/acknowledge-hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<super::verify::HoldStatus>,
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
    /// A planned promotion waits for its time (spec.promotion.notBefore)
    /// or for its change window; PromotionBlocked says until when.
    Scheduled,
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
            Phase::Scheduled => "Scheduled",
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
    /// When this revision was first fetched (RFC 3339); later checks that
    /// find the same revision do not move it.
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
    /// Active, Passive or Unknown (the site did not answer GET /mode this time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SiteMode>,
    /// Healthy, Unhealthy or Unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<SiteHealth>,
    /// How the site's admin API answered its last call: Answered, NoAnswer
    /// (no connection, or no answer head before the timeout: only this runs
    /// down a contact window), CredentialsRefused (401/403), Fenced (409),
    /// Failing (5xx, an answer that does not decode, or an exchange broken
    /// after connecting: TLS refused, reset, cut short) or Misconfigured
    /// (its Secret or adminUrl cannot be used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<SiteContact>,
    /// The epoch the site reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    /// True from when the site is added to a pair that already runs until
    /// its first full sync and a passed health check: it is no promotion
    /// target, and nothing is pruned there without approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joining: Option<bool>,
    /// Product version the site reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Fingerprint of the site's token key, as it reports it (never the
    /// key); absent when the site does not report one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_key_fingerprint: Option<String>,
    /// The source revision last applied to the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_revision: Option<String>,
    /// When the site was last synced (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<String>,
    /// A first sync over services the site already has, waiting for
    /// `sitehapair.io/approve-adoption: <revision>` (spec.sync.adopt
    /// Manual): every write it would make. Absent when none waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adoption_plan: Option<AdoptionPlan>,
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

/// The writes a first sync would make on a site, by service name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdoptionPlan {
    /// The revision the plan brings the site to (what the annotation names).
    pub revision: String,
    /// In the source, missing on the site.
    #[serde(default)]
    pub create: Vec<String>,
    /// On both, the site's definition replaced by the source's.
    #[serde(default)]
    pub replace: Vec<String>,
    /// On the site, not in the source.
    #[serde(default)]
    pub delete: Vec<String>,
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
    #[schemars(with = "String")]
    pub phase: PromotionPhase,
    /// The epoch the promotion stamps on the sites.
    pub epoch: i64,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// The first failed contact with the old active site in this promotion
    /// (RFC 3339): the contact window counts from here. Cleared whenever the
    /// site answers again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent_since: Option<String>,
    /// The sites the contact window waits for (silent since silentSince);
    /// a site that falls silent later starts the window again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub silent_sites: Vec<String>,
    /// silentSince + spec.promotion.contactTimeout: when a silent old active
    /// stops being waited for and the promotion is forced (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// Attempts made in the current phase.
    #[serde(default)]
    pub attempts: i32,
    /// A site was passed over without being demoted: silent for the whole
    /// contact window, or named by a person (forcedBy).
    #[serde(default)]
    pub forced: bool,
    /// Who let the promotion go on past a site that answers (annotation
    /// sitehapair.io/force-past), and past which site at which epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced_by: Option<String>,
    /// What the promotion is waiting on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who asked for it: the user `sitehapair promote` recorded, else the
    /// field manager that last set spec.activeSite, or the automatic
    /// failover's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// Why, as the person said (annotation sitehapair.io/promotion-reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The source revision the sites held when it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Each phase it entered, and when (RFC 3339).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<PhaseStart>,
}

/// A phase a promotion entered, and when.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PhaseStart {
    pub phase: String,
    pub at: String,
}

/// How long a finished promotion spent in one phase.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct StepTiming {
    pub phase: String,
    /// When the phase began (RFC 3339).
    pub started_at: String,
    /// Whole seconds spent in it (status times are to the second).
    pub seconds: i64,
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
    /// Manual, Automatic, Revert (a failed verification), Adoption or SplitBrain.
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
    /// Who let the promotion go on past a site that answers, and past
    /// which site at which epoch (annotation sitehapair.io/force-past).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced_by: Option<String>,
    /// Who asked for it (see status.promotion.requestedBy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// Why, as the person said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The source revision the sites held when it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// When traffic was switched to the new active site (RFC 3339): the
    /// switch, kept apart from completedAt (the old site cleaned up, the
    /// record closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switched_at: Option<String>,
    /// When the old active site was seen cleaned up: every other site
    /// reporting passive (RFC 3339). At completion for a promotion that
    /// demoted it first; later for one that passed a silent site over
    /// (when that site answers and is demoted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleaned_up_at: Option<String>,
    /// How the verification after it ended (spec.promotion.verify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<super::verify::VerificationRecord>,
    /// The time each phase took.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepTiming>,
}

/// A site's role as last reported by `GET /mode`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiteMode {
    Active,
    Passive,
    /// The site did not answer `GET /mode` on the last look.
    Unknown,
}

/// A site's health check as last seen.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiteHealth {
    Healthy,
    Unhealthy,
    Unreachable,
}

/// How a site's admin API answered (the health check never decides it).
/// Only `NoAnswer` is silence: a site that answers, even with an error, is
/// alive and is never forced past.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SiteContact {
    /// Every call answered as the contract says.
    #[default]
    Answered,
    /// Silence: the admin API could not be connected to (refused,
    /// unreachable, DNS, connect timeout) or a call timed out before the
    /// answer's head arrived.
    NoAnswer,
    /// HTTP 401 or 403: the credentials in the site's Secret are refused.
    CredentialsRefused,
    /// HTTP 409: the site holds a newer epoch than the one sent.
    Fenced,
    /// HTTP 5xx, another unexpected status, an answer that does not
    /// decode, or an exchange broken after the connection was made (a TLS
    /// alert or certificate refused, a close or reset, a body cut short).
    Failing,
    /// The operator cannot call the site: its Secret or adminUrl is unusable.
    Misconfigured,
    /// The site accepted writes its public API does not serve (its
    /// configuration was written and not taken up): alive, never in sync.
    NotServing,
}

impl SiteContact {
    /// The site said something (it is alive), whatever it said.
    pub fn answered(self) -> bool {
        !matches!(self, SiteContact::NoAnswer | SiteContact::Misconfigured)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SiteContact::Answered => "Answered",
            SiteContact::NoAnswer => "NoAnswer",
            SiteContact::CredentialsRefused => "CredentialsRefused",
            SiteContact::Fenced => "Fenced",
            SiteContact::Failing => "Failing",
            SiteContact::Misconfigured => "Misconfigured",
            SiteContact::NotServing => "NotServing",
        }
    }
}

/// The phases of a promotion. A phase this version does not know (written
/// by a newer operator before a downgrade) is kept as `Unknown` and refused,
/// never taken for another phase.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum PromotionPhase {
    #[default]
    Preflight,
    Demoting,
    WaitingForOldActive,
    Promoting,
    SwitchingTraffic,
    Complete,
    Unknown(String),
}

impl PromotionPhase {
    pub fn as_str(&self) -> &str {
        match self {
            PromotionPhase::Preflight => "Preflight",
            PromotionPhase::Demoting => "Demoting",
            PromotionPhase::WaitingForOldActive => "WaitingForOldActive",
            PromotionPhase::Promoting => "Promoting",
            PromotionPhase::SwitchingTraffic => "SwitchingTraffic",
            PromotionPhase::Complete => "Complete",
            PromotionPhase::Unknown(s) => s,
        }
    }
}

impl From<String> for PromotionPhase {
    fn from(s: String) -> Self {
        match s.as_str() {
            "Preflight" => PromotionPhase::Preflight,
            "Demoting" => PromotionPhase::Demoting,
            "WaitingForOldActive" => PromotionPhase::WaitingForOldActive,
            "Promoting" => PromotionPhase::Promoting,
            "SwitchingTraffic" => PromotionPhase::SwitchingTraffic,
            "Complete" => PromotionPhase::Complete,
            _ => PromotionPhase::Unknown(s),
        }
    }
}

impl From<PromotionPhase> for String {
    fn from(p: PromotionPhase) -> Self {
        p.as_str().to_string()
    }
}

impl std::fmt::Display for PromotionPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_phase_round_trips_as_unknown() {
        let p: PromotionPhase = serde_json::from_str("\"Draining\"").expect("phase");
        assert_eq!(p, PromotionPhase::Unknown("Draining".into()));
        assert_eq!(serde_json::to_string(&p).expect("json"), "\"Draining\"");
        let known: PromotionPhase = serde_json::from_str("\"Demoting\"").expect("phase");
        assert_eq!(known, PromotionPhase::Demoting);
    }
}
