//! The promotion machine's input, built in one place for the shell and
//! the model-based test alike: from the pair (its spec, checked times and
//! annotations), the status as it stands and the sites as seen.

use crate::api::{
    ANNOTATION_ALLOW_PARITY_MISMATCH, ANNOTATION_AUTOMATIC_FAILOVER, ANNOTATION_FORCE_PAST,
    ANNOTATION_FORCE_PAST_BY, ANNOTATION_PROMOTION_REASON, ANNOTATION_REQUESTED_BY,
    ANNOTATION_VERIFICATION_REVERT, ANNOTATION_WINDOW_OVERRIDE, ANNOTATION_WINDOW_OVERRIDE_BY,
    SiteHAPair, SiteHAPairSpec, SiteHAPairStatus, VERIFY_FIELD_MANAGER, VERIFY_REQUESTER,
};
use crate::plan::promotion::{
    BlockReason, ForcePast, PromotionInput, PromotionReason, SiteObs, StartWait, preflight,
};
use crate::plan::spec_check::{SpecCheck, SpecTimes};
use crate::plan::time::{Timestamp, stamp};
use crate::plan::windows::{Action, Gate, Window, gate, until_text};

/// How long before a scheduled promotion its preflight's findings are
/// told (in PromotionBlocked, so an Event marks the change).
const PREFLIGHT_AHEAD: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

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
    /// spec.windows, parsed.
    pub windows: Vec<Window>,
    /// spec.promotion.notBefore, parsed.
    pub not_before: Option<Timestamp>,
    /// The window-override annotation (a site name or a revision) and who
    /// set it.
    pub window_override: Option<(String, String)>,
    /// Who asked for spec.activeSite: the requested-by annotation when it
    /// names that site, else the field manager that last set it; an
    /// automatic failover says its reason.
    pub requested_by: Option<String>,
    /// The promotion-reason annotation.
    pub why: Option<String>,
}

impl<'a> PairAsks<'a> {
    /// Read from the pair object.
    pub fn of(obj: &'a SiteHAPair, check: &SpecCheck, warnings: Vec<String>) -> Self {
        let annotations = obj.metadata.annotations.as_ref();
        let get = |key: &str| annotations.and_then(|a| a.get(key)).map(String::as_str);
        Self {
            spec: &obj.spec,
            times: check.times,
            windows: check.windows.clone(),
            not_before: check.not_before,
            window_override: window_override(
                get(ANNOTATION_WINDOW_OVERRIDE),
                get(ANNOTATION_WINDOW_OVERRIDE_BY),
            ),
            requested_by: requested_by(
                obj,
                get(ANNOTATION_REQUESTED_BY),
                get(ANNOTATION_AUTOMATIC_FAILOVER),
            ),
            why: get(ANNOTATION_PROMOTION_REASON)
                .filter(|w| !w.trim().is_empty())
                .map(|w| crate::api::redact::trim(w, 200)),
            reason: promotion_reason(&obj.spec, get(ANNOTATION_AUTOMATIC_FAILOVER)),
            allow_parity_mismatch: get(ANNOTATION_ALLOW_PARITY_MISMATCH),
            force_past: get(ANNOTATION_FORCE_PAST)
                .map(|value| force_past_of(value, get(ANNOTATION_FORCE_PAST_BY))),
            warnings,
        }
        .with_revert(
            obj.status.as_ref().is_some_and(|s| s.hold.is_some())
                && active_site_manager(obj).as_deref() == Some(VERIFY_FIELD_MANAGER),
            get(ANNOTATION_VERIFICATION_REVERT),
        )
    }

    /// The operator's own revert after a failed verification (the
    /// verification-revert annotation): believed while the pair is held,
    /// the operator's verify field manager set spec.activeSite last
    /// (`held` says both), and it names spec.activeSite; asked by
    /// sitehapair/verify, why as the annotation says.
    pub fn with_revert(mut self, held: bool, revert: Option<&str>) -> Self {
        if let Some((site, why)) = revert.and_then(|r| r.split_once(": "))
            && held
            && site == self.spec.active_site
        {
            self.reason = PromotionReason::Revert;
            self.requested_by = Some(VERIFY_REQUESTER.to_string());
            self.why = Some(crate::api::redact::trim(why, 200));
        }
        self
    }

    /// For a spec alone (no annotations): a person's change, nothing
    /// overridden (the model-based test's pair).
    pub fn of_spec(spec: &'a SiteHAPairSpec, check: &SpecCheck) -> Self {
        Self {
            spec,
            times: check.times,
            windows: check.windows.clone(),
            not_before: check.not_before,
            window_override: None,
            requested_by: None,
            why: None,
            reason: PromotionReason::Manual,
            allow_parity_mismatch: None,
            force_past: None,
            warnings: Vec::new(),
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
        let mut inp = PromotionInput {
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
            start_wait: None,
            window_override_by: None,
            requested_by: self.requested_by.as_deref(),
            why: self.why.as_deref(),
            now,
        };
        if !crate::plan::schedule::promotion_to_start(spec, status) {
            return inp;
        }
        match &self.window_override {
            Some((value, by)) if *value == spec.active_site => inp.window_override_by = Some(by),
            _ => inp.start_wait = self.start_wait(now),
        }
        // A scheduled promotion's preflight is told an hour ahead.
        if let Some(w) = &mut inp.start_wait
            && w.reason == BlockReason::Scheduled
            && w.until
                .is_some_and(|u| u.duration_since(now) <= PREFLIGHT_AHEAD)
        {
            let found: Vec<String> = preflight(&inp).into_iter().map(|b| b.message).collect();
            if let Some(w) = &mut inp.start_wait {
                if found.is_empty() {
                    w.message = format!("{}; preflight passes now", w.message);
                } else {
                    w.reason = BlockReason::ScheduledPreflightFailing;
                    w.message = format!(
                        "{}; preflight would fail now: {}",
                        w.message,
                        found.join("; ")
                    );
                }
            }
        }
        inp
    }

    /// Why the promotion to spec.activeSite may not start at `now`: its
    /// time (planned only), then its change windows.
    fn start_wait(&self, now: Timestamp) -> Option<StartWait> {
        let to = &self.spec.active_site;
        let action = match self.reason {
            PromotionReason::Automatic | PromotionReason::Revert => Action::AutomaticFailover,
            _ => Action::PlannedPromotion,
        };
        if action == Action::PlannedPromotion
            && let Some(at) = self.not_before.filter(|at| *at > now)
        {
            return Some(StartWait {
                reason: BlockReason::Scheduled,
                until: Some(at),
                message: format!(
                    "the promotion to {to} is scheduled for {} (spec.promotion.notBefore)",
                    stamp(at)
                ),
            });
        }
        match gate(&self.windows, action, now) {
            Gate::Open => None,
            Gate::Closed { until, why } => Some(StartWait {
                reason: BlockReason::OutsideWindow,
                until,
                message: format!(
                    "the promotion to {to} waits {} ({why}); to run it now: kubectl annotate shp <name> {ANNOTATION_WINDOW_OVERRIDE}={to}",
                    until_text(until)
                ),
            }),
        }
    }
}

/// Who asked for spec.activeSite: an automatic failover names its reason;
/// else the requested-by annotation (`<site> by <who>`, written by
/// `sitehapair promote`) when it was written for this very site; else the
/// field manager that last set spec.activeSite (managedFields).
fn requested_by(obj: &SiteHAPair, by: Option<&str>, automatic: Option<&str>) -> Option<String> {
    let target = obj.spec.active_site.as_str();
    if let Some(a) = automatic
        && a.split(':').next() == Some(target)
    {
        return Some(crate::api::redact::trim(
            &format!("automatic failover: {a}"),
            200,
        ));
    }
    if let Some(who) = by.and_then(|b| who_forced(target, b)) {
        return Some(crate::api::redact::trim(&who, 120));
    }
    active_site_manager(obj).map(|m| format!("field manager {m}"))
}

/// The field manager that last set spec.activeSite (managedFields).
fn active_site_manager(obj: &SiteHAPair) -> Option<String> {
    let managers = obj.metadata.managed_fields.as_deref().unwrap_or_default();
    managers
        .iter()
        .filter(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer("/f:spec/f:activeSite").is_some())
        })
        .max_by_key(|m| m.time.as_ref().map(|t| t.0))
        .and_then(|m| m.manager.clone())
}

/// The window-override annotation and who set it: the -by annotation when
/// it names this very value (`<value> by <who>`), else not known who.
fn window_override(value: Option<&str>, by: Option<&str>) -> Option<(String, String)> {
    let value = value?.trim();
    let who = by
        .and_then(|b| who_forced(value, b))
        .unwrap_or_else(|| "someone not recorded (sitehapair promote --now records who)".into());
    Some((value.to_string(), crate::api::redact::trim(&who, 120)))
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
