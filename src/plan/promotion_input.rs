//! The promotion machine's input, built in one place for the shell and
//! the model-based test alike: from the pair (its spec, checked times and
//! annotations), the status as it stands and the sites as seen.

use crate::api::{
    ANNOTATION_ALLOW_PARITY_MISMATCH, ANNOTATION_AUTOMATIC_FAILOVER, ANNOTATION_FORCE_PAST,
    ANNOTATION_FORCE_PAST_BY, SiteHAPair, SiteHAPairSpec, SiteHAPairStatus,
};
use crate::plan::promotion::{ForcePast, PromotionInput, PromotionReason, SiteObs};
use crate::plan::spec_check::SpecTimes;
use crate::plan::time::Timestamp;

/// What of the pair object the machine reads besides its status.
#[derive(Debug, Clone)]
pub struct PairAsks<'a> {
    pub spec: &'a SiteHAPairSpec,
    pub times: SpecTimes,
    /// Manual or Automatic: why spec.activeSite names its site.
    pub reason: PromotionReason,
    pub allow_parity_mismatch: Option<&'a str>,
    /// The force-past annotation and who set it.
    pub force_past: Option<(String, String)>,
    /// What preflight warns of (not blocking).
    pub warnings: Vec<String>,
}

impl<'a> PairAsks<'a> {
    /// Read from the pair object.
    pub fn of(obj: &'a SiteHAPair, times: SpecTimes, warnings: Vec<String>) -> Self {
        let annotations = obj.metadata.annotations.as_ref();
        let get = |key: &str| annotations.and_then(|a| a.get(key)).map(String::as_str);
        Self {
            spec: &obj.spec,
            times,
            reason: promotion_reason(&obj.spec, get(ANNOTATION_AUTOMATIC_FAILOVER)),
            allow_parity_mismatch: get(ANNOTATION_ALLOW_PARITY_MISMATCH),
            force_past: get(ANNOTATION_FORCE_PAST)
                .map(|value| force_past_of(value, get(ANNOTATION_FORCE_PAST_BY))),
            warnings,
        }
    }

    /// The machine's input over `status` and the sites as seen.
    pub fn input<'b>(
        &'b self,
        status: &'b SiteHAPairStatus,
        sites: &'b [SiteObs],
        now: Timestamp,
    ) -> PromotionInput<'b> {
        let spec = self.spec;
        PromotionInput {
            target: &spec.active_site,
            current: status.active_site.as_deref(),
            epoch: status.epoch,
            running: status.promotion.as_ref(),
            traffic: status.traffic_site.as_deref(),
            sites,
            source_revision: status.expected_revision(spec.source.is_some()),
            require_in_sync: spec.promotion.require_in_sync,
            require_healthy: spec.promotion.require_healthy,
            contact_timeout: self.times.contact_timeout,
            traffic_failover: spec.traffic.failover,
            reason: self.reason,
            allow_parity_mismatch: self.allow_parity_mismatch,
            force_past: self
                .force_past
                .as_ref()
                .and_then(|(value, by)| ForcePast::parse(value, by)),
            settling: self.times.settling,
            warnings: &self.warnings,
            shifted: status
                .active_change
                .as_ref()
                .and_then(|c| c.holds_traffic_on()),
            now,
        }
    }
}

/// Why spec.activeSite names its site: Automatic when the operator's own
/// failover annotation names it, else Manual.
pub fn promotion_reason(spec: &SiteHAPairSpec, automatic: Option<&str>) -> PromotionReason {
    let auto = automatic.is_some_and(|v| v.split(':').next() == Some(spec.active_site.as_str()));
    if auto {
        PromotionReason::Automatic
    } else {
        PromotionReason::Manual
    }
}

/// The force-past annotation's value and who set it: the force-past-by
/// annotation (`<SITE@EPOCH> by <who>`, written by `sitehapair promote
/// --force-past` from the API server's SelfSubjectReview) when it was
/// written for this very value; else it is not known who.
fn force_past_of(value: &str, by: Option<&str>) -> (String, String) {
    let by = by.and_then(|by| who_forced(value, by)).unwrap_or_else(|| {
        "someone not recorded (set it with sitehapair promote --force-past to record who)"
            .to_string()
    });
    (value.to_string(), crate::api::redact::trim(&by, 120))
}

/// Who the force-past-by annotation names, if it was written for `value`
/// (one left from an earlier force-past names nobody).
fn who_forced(value: &str, by: &str) -> Option<String> {
    let (for_value, who) = by.split_once(" by ")?;
    (for_value.trim() == value.trim() && !who.trim().is_empty()).then(|| who.trim().to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn who_forced_is_believed_only_for_the_value_it_was_written_for() {
        use super::who_forced;
        assert_eq!(
            who_forced("east@4", "east@4 by user alice").as_deref(),
            Some("user alice")
        );
        assert_eq!(who_forced("east@7", "east@4 by user alice"), None);
        assert_eq!(who_forced("east@4", "user alice"), None);
    }
}
