//! Healthy and Parity: whether every site passes its health check, and
//! whether the sites run one version and share one token key.

use super::reasons::{HealthyReason, ParityReason};
use super::{Findings, Judged, Verdict};
use crate::api::SiteContact;
use crate::api::conditions::ConditionStatus;

/// The Healthy condition, from this trip's site reports (the last one
/// stands when no site was observed).
pub fn healthy(f: &Findings) -> Judged<HealthyReason> {
    let Some(sites) = f
        .sync
        .as_ref()
        .map(|s| &s.report.sites)
        .filter(|s| !s.is_empty())
    else {
        return Judged::Keep;
    };
    let failing: Vec<String> = sites
        .iter()
        .filter(|s| s.healthy != Some(true) || s.error.is_some())
        .map(|s| match (&s.error, s.contact) {
            (Some(_), SiteContact::NoAnswer) => format!("{} does not answer", s.name),
            (Some(_), SiteContact::CredentialsRefused) => {
                format!("{} refuses the credentials", s.name)
            }
            (Some(_), SiteContact::Misconfigured) => format!("{} cannot be called", s.name),
            (Some(_), SiteContact::NotServing) => {
                format!("{} does not serve what it accepted", s.name)
            }
            (Some(_), _) => format!("{} answers with errors", s.name),
            (None, _) => format!("{} fails its health check", s.name),
        })
        .collect();
    Judged::Is(if failing.is_empty() {
        Verdict::new(
            ConditionStatus::True,
            HealthyReason::AllHealthy,
            format!("all {} sites pass their health checks", sites.len()),
        )
    } else {
        Verdict::new(
            ConditionStatus::False,
            HealthyReason::SiteUnhealthy,
            failing.join("; "),
        )
    })
}

/// The Parity condition, from the rows as the sync left them (the last
/// one stands when no sync ran).
pub fn parity(f: &Findings) -> Judged<ParityReason> {
    let Some(rows) = f.sync.as_ref().map(|s| &s.rows).filter(|r| !r.is_empty()) else {
        return Judged::Keep;
    };
    let (status, reason, message) =
        crate::plan::parity::parity_condition(&crate::plan::parity::reported_rows(rows));
    Judged::Is(Verdict::new(status, reason, message))
}
