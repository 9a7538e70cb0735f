//! Held: whether a promotion failed its verification and the pair waits
//! for a person's acknowledgement (status.hold); absent while
//! verification is off and nothing is held.

use super::reasons::HeldReason;
use super::{Judged, Verdict};
use crate::api::conditions::ConditionStatus;
use crate::api::{SiteHAPairSpec, SiteHAPairStatus};

/// True with the hold's message (what failed, what was done, how to
/// acknowledge); False when verification is on and nothing is held.
pub fn held(spec: &SiteHAPairSpec, data: &SiteHAPairStatus) -> Judged<HeldReason> {
    match &data.hold {
        Some(h) => Judged::Is(Verdict::new(
            ConditionStatus::True,
            HeldReason::VerificationFailed,
            h.message.clone(),
        )),
        None if spec.promotion.verify.is_some() => Judged::Is(Verdict::new(
            ConditionStatus::False,
            HeldReason::NotHeld,
            match &data.verification {
                Some(v) => format!(
                    "not held; verifying {}: {}",
                    v.site,
                    v.message.as_deref().unwrap_or("started")
                ),
                None => "not held".to_string(),
            },
        )),
        None => Judged::Absent,
    }
}
