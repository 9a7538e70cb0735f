//! An Event the shell publishes: what the core decided an operator of the
//! cluster wants to see.

/// An Event the shell should publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
}

impl PlannedEvent {
    /// Each occurrence carries its own news (which services, which
    /// revision, which hook attempt): it must not be folded into an
    /// earlier Event's series.
    pub fn is_unique(&self) -> bool {
        matches!(
            self.reason,
            "Synced"
                | "Promoted"
                | "TrafficToStandby"
                | "ActiveChanged"
                | "HookSucceeded"
                | "HookFailed"
                | "HookAbandoned"
                | "RehearsalSucceeded"
                | "RehearsalFailed"
                | "RehearsalCancelled"
                | "VerificationPassed"
                | "VerificationFailed"
                | "PromotionReverted"
                | "RevertRequested"
                | "HoldAcknowledged"
        )
    }
}
