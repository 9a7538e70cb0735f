//! Prerequisites: on a new pair, before its first sync writes anything,
//! what `sitehapair check` would say of its sites, judged from this trip's
//! observations by the same judge (`plan::prerequisites`). Once a site has
//! been synced the pair has adopted its sites and the condition says so.

use super::reasons::PrerequisitesReason;
use super::{Findings, Judged, Refusal, Verdict};
use crate::api::conditions::ConditionStatus;
use crate::api::{SiteHAPairSpec, SiteHAPairStatus};
use crate::plan::prerequisites::{Folder, from_rows, judge};

/// The Prerequisites condition (the last one stands when the sites were
/// not observed this trip).
pub fn prerequisites(
    spec: &SiteHAPairSpec,
    data: &SiteHAPairStatus,
    f: &Findings,
) -> Judged<PrerequisitesReason> {
    // The first write: a sync, or for a pair with no source (no services
    // to adopt) its first activation.
    let synced = data.sites.iter().any(|s| s.synced_revision.is_some());
    if synced || (spec.source.is_none() && data.active_site.is_some()) {
        return Judged::Is(Verdict::new(
            ConditionStatus::True,
            PrerequisitesReason::Adopted,
            "the pair runs its sites; `sitehapair check` judges them afresh",
        ));
    }
    let claims: &[String] = match &f.refusal {
        Some(Refusal::Claimed(messages)) => messages,
        _ => &[],
    };
    if !claims.is_empty() {
        // A claimed pair is refused before it observes a site.
        return Judged::Is(Verdict::new(
            ConditionStatus::False,
            PrerequisitesReason::SiteClaimed,
            claims.join("; "),
        ));
    }
    let rows = f.sync.as_ref().map(|s| s.rows.as_slice()).unwrap_or(&[]);
    if rows.is_empty() {
        return Judged::Keep;
    }
    let problems = judge(&from_rows(rows), &spec.active_site, &Folder::NotGiven);
    Judged::Is(if problems.is_empty() {
        Verdict::new(
            ConditionStatus::True,
            PrerequisitesReason::Met,
            format!(
                "{} sites answer, accept the credentials, pass their health checks and agree on version and token key; the write privilege is probed by `sitehapair check`",
                rows.len()
            ),
        )
    } else {
        let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        Verdict::new(
            ConditionStatus::False,
            PrerequisitesReason::ProblemsFound,
            list.join("; "),
        )
    })
}
