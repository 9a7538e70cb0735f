//! Degraded: something needs a person. One problem names it, by rank: a
//! refused spec first; else the last of a failing source, failing sites, a
//! stray, a passive unhealthy after a sync, an active that failed its
//! check after a standby-first change.

use super::reasons::DegradedReason;
use super::{Findings, Refusal, Verdict};
use crate::api::conditions::ConditionStatus;
use crate::api::{SiteContact, SiteHAPairStatus};
use crate::plan::sync::GateClosed;
use crate::plan::sync_status::SourceReport;

/// The Degraded condition.
pub fn degraded(data: &SiteHAPairStatus, f: &Findings) -> Verdict<DegradedReason> {
    if let Some(r) = &f.refusal {
        let (reason, msg) = refusal(r);
        return Verdict::new(ConditionStatus::True, reason, msg);
    }
    match problem(data, f) {
        Some((reason, msg)) => Verdict::new(ConditionStatus::True, reason, msg),
        None => Verdict::new(
            ConditionStatus::False,
            DegradedReason::AsExpected,
            "nothing needs attention",
        ),
    }
}

/// The reason and message of a refused pair.
pub fn refusal(r: &Refusal) -> (DegradedReason, String) {
    let (reason, list) = match r {
        Refusal::Claimed(sites) => (DegradedReason::SiteClaimed, sites),
        Refusal::InvalidSpec(problems) => (DegradedReason::InvalidSpec, problems),
    };
    let first = list.first().map(String::as_str).unwrap_or("invalid spec");
    let mut msg = format!("{first}; fix the spec and apply it again");
    if matches!(r, Refusal::Claimed(_)) && list.len() > 1 {
        msg.push_str(&format!(" (and {} more sites)", list.len() - 1));
    }
    (reason, msg)
}

/// The problem of a pair that was not refused, if any.
fn problem(data: &SiteHAPairStatus, f: &Findings) -> Option<(DegradedReason, String)> {
    let sync = f.sync.as_ref()?;
    let mut found = source_problem(data, &sync.report.source);
    let failing: Vec<_> = sync
        .report
        .sites
        .iter()
        .filter(|s| s.error.is_some())
        .collect();
    if let Some(site) = failing.first() {
        let errors: Vec<&str> = failing.iter().filter_map(|s| s.error.as_deref()).collect();
        let one = failing.len() == 1;
        let msg = format!(
            "{}; {} left as {} and retried",
            errors.join("; "),
            if one { "the site is" } else { "the sites are" },
            if one { "it was" } else { "they were" },
        );
        let reason = match site.contact {
            SiteContact::NoAnswer => DegradedReason::SiteUnreachable,
            SiteContact::CredentialsRefused => DegradedReason::CredentialsRefused,
            SiteContact::Misconfigured => DegradedReason::SiteMisconfigured,
            SiteContact::NotServing => DegradedReason::SiteNotServing,
            _ => DegradedReason::SiteFailing,
        };
        found = Some((reason, msg));
    }
    if let (false, Some(active)) = (sync.strays.is_empty(), sync.active.as_deref()) {
        let msg = crate::plan::strays::message(&sync.strays, active, sync.epoch);
        found = Some((DegradedReason::StraySite, msg));
    }
    if let Some(g @ GateClosed::PassiveUnhealthy { .. }) = &sync.report.gate {
        found = Some((DegradedReason::PassiveUnhealthy, g.message()));
    }
    if let Some(msg) = &sync.change_failed {
        found = Some((DegradedReason::ActiveFailedCheck, msg.clone()));
    }
    found
}

/// A source that failed or gave an invalid revision.
fn source_problem(
    data: &SiteHAPairStatus,
    source: &SourceReport,
) -> Option<(DegradedReason, String)> {
    match source {
        SourceReport::Failed { message } | SourceReport::Refused { message } => Some((
            DegradedReason::SourceUnavailable,
            super::source::kept_message(data, message),
        )),
        SourceReport::Invalid { revision, message }
        | SourceReport::Unverified { revision, message } => Some((
            DegradedReason::InvalidRevision,
            super::source::rejected_message(revision, message),
        )),
        SourceReport::Skipped | SourceReport::Fetched { .. } => None,
    }
}
