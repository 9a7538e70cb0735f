//! The reasons each condition type can give, as enums: the core decides
//! with these and writes `as_str()` into status; nothing compares reason
//! strings.

use crate::api::PromotionPhase;
pub use crate::plan::parity::ParityReason;
use crate::plan::promotion_types::BlockReason;
use crate::plan::sync::GateClosed;

use crate::plan::reason_enum::reason_enum;

reason_enum! {
    /// Why the pair is (or is not) Degraded.
    DegradedReason {
        AsExpected,
        /// The spec holds what the API server should have refused.
        InvalidSpec,
        /// A site of this pair is managed by another pair.
        SiteClaimed,
        /// The repository could not be read (or is refused).
        SourceUnavailable,
        /// The fetched revision's files are invalid.
        InvalidRevision,
        SiteUnreachable,
        CredentialsRefused,
        SiteMisconfigured,
        SiteFailing,
        /// A site accepted writes its public API does not serve.
        SiteNotServing,
        /// A site reports active beside the active one, or a forced-past
        /// old active answers errors unfenced.
        StraySite,
        /// A passive failed its health check after taking a revision.
        PassiveUnhealthy,
        /// The active failed its check after a standby-first change.
        ActiveFailedCheck,
    }
}

reason_enum! {
    /// Whether a new pair's sites are ready to be adopted (what
    /// `sitehapair check` would say), until its first sync.
    PrerequisitesReason {
        /// Nothing found that would stop the pair.
        Met,
        /// Named problems, each with its fix.
        ProblemsFound,
        /// A site is managed by another pair (its own Event says so).
        SiteClaimed,
        /// A site has been synced: the pair runs them.
        Adopted,
    }
}

reason_enum! {
    /// Whether the source's revision is signed by a trusted key.
    SourceVerifiedReason {
        Verified,
        Unverified,
    }
}

reason_enum! {
    /// Why the source is (or is not) ready.
    SourceReadyReason {
        NoSource,
        Fetched,
        NotFetched,
        FetchFailed,
        SourceRefused,
        InvalidRevision,
    }
}

reason_enum! {
    /// Why every site does (or does not) hold the revision.
    InSyncReason {
        NotObserved,
        SiteUnreachable,
        /// A site accepted writes (or holds a configuration) its public
        /// API does not serve.
        NotServed,
        AwaitingAdoption,
        OutsideWindow,
        PruneBlocked,
        PassiveSyncFailed,
        PassiveHeld,
        PassiveUnhealthy,
        Drift,
        Synced,
    }
}

impl InSyncReason {
    /// The reason a closed gate gives.
    pub fn of_gate(gate: &GateClosed) -> Self {
        match gate {
            GateClosed::PassiveFailed { .. } => Self::PassiveSyncFailed,
            GateClosed::PassiveHeld { .. } => Self::PassiveHeld,
            GateClosed::PassiveUnhealthy { .. } => Self::PassiveUnhealthy,
        }
    }
}

reason_enum! {
    /// Whether every site passes its health check.
    HealthyReason { AllHealthy, SiteUnhealthy }
}

reason_enum! {
    /// Whether the pair is held after a failed verification.
    HeldReason {
        /// Not held.
        NotHeld,
        /// A promotion failed its verification (status.hold).
        VerificationFailed,
    }
}

reason_enum! {
    /// Whether the hooks of the last promotion all succeeded.
    HooksReason { Succeeded, HookFailed, HooksRunning }
}

reason_enum! {
    /// Why an automatic failover that is due does not run.
    FailoverHold {
        /// No passive site is healthy and in sync.
        NoFailoverCandidate,
        /// The last promotion is too recent (minInterval).
        AntiFlap,
        /// A promotion failed its verification; the pair is held until a
        /// person acknowledges (status.hold).
        Held,
    }
}

/// Why a promotion runs or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromotingReason {
    /// spec.activeSite names another site and no promotion runs yet.
    Pending,
    Idle,
    /// A promotion runs, in this phase.
    Phase(PromotionPhase),
}

impl PromotingReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Idle => "Idle",
            Self::Phase(p) => match p {
                PromotionPhase::Preflight => "Preflight",
                PromotionPhase::Demoting => "Demoting",
                PromotionPhase::WaitingForOldActive => "WaitingForOldActive",
                PromotionPhase::Promoting => "Promoting",
                PromotionPhase::SwitchingTraffic => "SwitchingTraffic",
                PromotionPhase::Complete => "Complete",
                PromotionPhase::Unknown(_) => "UnknownPhase",
            },
        }
    }
}

/// Why a promotion (or an automatic failover) is blocked, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockedReason {
    NotBlocked,
    Promotion(BlockReason),
    Failover(FailoverHold),
}

impl BlockedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotBlocked => "NotBlocked",
            Self::Promotion(b) => b.as_str(),
            Self::Failover(h) => h.as_str(),
        }
    }
}

/// Why the pair is Ready, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyReason {
    /// The active site is the one spec.activeSite names.
    Observed,
    Suspended,
    Promoting,
    /// A planned promotion waits for its time or its change window.
    Scheduled,
    /// What makes it Degraded.
    Degraded(DegradedReason),
}

impl ReadyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Observed => "Observed",
            Self::Suspended => "Suspended",
            Self::Promoting => "Promoting",
            Self::Scheduled => "Scheduled",
            Self::Degraded(d) => d.as_str(),
        }
    }
}
