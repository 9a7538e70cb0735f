//! SourceReady and InSync: whether the repository gave a good revision,
//! and whether every site holds it (the first problem names InSync).

use super::reasons::{InSyncReason, SourceReadyReason, SourceVerifiedReason};
use super::{Findings, Judged, Verdict};
use crate::api::conditions::{Condition, ConditionStatus, find, types};
use crate::api::{SiteHAPairSpec, SiteHAPairStatus};
use crate::plan::sync_status::{SourceReport, SyncReport, short};

/// The SourceReady condition.
pub fn source_ready(
    spec: &SiteHAPairSpec,
    data: &SiteHAPairStatus,
    f: &Findings,
) -> Verdict<SourceReadyReason> {
    use ConditionStatus::{False, True, Unknown};
    if spec.source.is_none() {
        return Verdict::new(
            True,
            SourceReadyReason::NoSource,
            "no source is configured; services are not synced",
        );
    }
    let url = &f.source_url;
    let reported = f.sync.as_ref().map(|s| &s.report.source);
    match reported.unwrap_or(&SourceReport::Skipped) {
        SourceReport::Failed { message } => Verdict::new(
            False,
            SourceReadyReason::FetchFailed,
            kept_message(data, message),
        ),
        SourceReport::Refused { message } => Verdict::new(
            False,
            SourceReadyReason::SourceRefused,
            kept_message(data, message),
        ),
        SourceReport::Invalid { revision, message }
        | SourceReport::Unverified { revision, message } => Verdict::new(
            False,
            SourceReadyReason::InvalidRevision,
            rejected_message(revision, message),
        ),
        SourceReport::Fetched { revision, .. } => Verdict::new(
            True,
            SourceReadyReason::Fetched,
            format!("revision {} of {url}", short(revision)),
        ),
        SourceReport::Skipped => match data.source.as_ref().and_then(|s| s.revision.as_ref()) {
            Some(revision) => Verdict::new(
                True,
                SourceReadyReason::Fetched,
                format!("revision {} of {url}", short(revision)),
            ),
            None => Verdict::new(
                Unknown,
                SourceReadyReason::NotFetched,
                format!("{url} has not been fetched yet"),
            ),
        },
    }
}

/// The SourceVerified condition, only for a pair that verifies
/// (spec.source.git.verify): judged when this trip checked a revision's
/// signature; else the last one stands.
pub fn source_verified(spec: &SiteHAPairSpec, f: &Findings) -> Judged<SourceVerifiedReason> {
    if spec.source.as_ref().is_none_or(|s| s.git.verify.is_none()) {
        return Judged::Absent;
    }
    match f.sync.as_ref().map(|s| &s.report.source) {
        Some(SourceReport::Unverified { message, .. }) => Judged::Is(Verdict::new(
            ConditionStatus::False,
            SourceVerifiedReason::Unverified,
            format!("{message}; nothing from it is applied"),
        )),
        Some(SourceReport::Fetched {
            revision,
            signed_by: Some(key),
            ..
        }) => Judged::Is(Verdict::new(
            ConditionStatus::True,
            SourceVerifiedReason::Verified,
            format!("commit {revision} is signed by trusted {key}"),
        )),
        _ => Judged::Keep,
    }
}

/// A failed fetch, and the revision the sites keep meanwhile.
pub(super) fn kept_message(data: &SiteHAPairStatus, message: &str) -> String {
    match data.source.as_ref().and_then(|s| s.revision.as_ref()) {
        Some(r) => format!("{message}; the sites keep revision {}", short(r)),
        None => message.to_string(),
    }
}

/// An invalid revision, of which nothing is applied.
pub(super) fn rejected_message(revision: &str, message: &str) -> String {
    format!(
        "revision {} is rejected and nothing from it is applied: {message}",
        short(revision)
    )
}

/// The InSync condition: judged when this trip fetched a good revision;
/// else the last one stands (NotObserved before any).
pub fn in_sync(previous: &[Condition], f: &Findings) -> Judged<InSyncReason> {
    let fetched = f.sync.as_ref().and_then(|s| match &s.report.source {
        SourceReport::Fetched { revision, .. } => Some((&s.report, revision)),
        _ => None,
    });
    match fetched {
        Some((report, revision)) => Judged::Is(judge(report, revision)),
        None if find(previous, types::IN_SYNC).is_some() => Judged::Keep,
        None => Judged::Is(Verdict::new(
            ConditionStatus::Unknown,
            InSyncReason::NotObserved,
            "the sites' services have not been compared yet",
        )),
    }
}

/// InSync from the site reports: the first problem names the condition.
fn judge(report: &SyncReport, rev: &str) -> Verdict<InSyncReason> {
    use ConditionStatus::{False, True};
    if let Some(s) = report.sites.iter().find(|s| s.error.is_some()) {
        let msg = s.error.clone().unwrap_or_default();
        let reason = match s.contact {
            crate::api::SiteContact::NotServing => InSyncReason::NotServed,
            _ => InSyncReason::SiteUnreachable,
        };
        return Verdict::new(False, reason, msg);
    }
    let waiting: Vec<String> = report
        .sites
        .iter()
        .filter_map(|s| {
            let p = s.adoption.as_ref()?;
            Some(format!(
                "site {}: {} to create, {} to replace, {} to delete",
                s.name,
                p.create.len(),
                p.replace.len(),
                p.delete.len()
            ))
        })
        .collect();
    if let Some(p) = report.sites.iter().find_map(|s| s.adoption.as_ref()) {
        let msg = format!(
            "the first sync over the sites' own services waits for a person to accept its plan \
             ({}; every name in status.sites[].adoptionPlan, or `sitehapair status`); nothing is written \
             until: kubectl annotate shp <name> {}={}",
            waiting.join("; "),
            crate::api::ANNOTATION_APPROVE_ADOPTION,
            p.revision
        );
        return Verdict::new(False, InSyncReason::AwaitingAdoption, msg);
    }
    if let Some(s) = report.sites.iter().find(|s| s.outside_window) {
        let msg = s.hold.clone().unwrap_or_default();
        return Verdict::new(False, InSyncReason::OutsideWindow, msg);
    }
    if let Some(s) = report.sites.iter().find(|s| s.prune_blocked) {
        let msg = s.hold.clone().unwrap_or_default();
        return Verdict::new(False, InSyncReason::PruneBlocked, msg);
    }
    if let Some(g) = &report.gate {
        return Verdict::new(False, InSyncReason::of_gate(g), g.message());
    }
    let drifting: Vec<String> = report
        .sites
        .iter()
        .filter_map(|s| {
            let d = s.drift?;
            (d.added + d.changed + d.removed > 0).then(|| {
                let why = s
                    .hold
                    .as_ref()
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                format!(
                    "site {}: {} to add, {} changed, {} to remove{why}",
                    s.name, d.added, d.changed, d.removed
                )
            })
        })
        .collect();
    if !drifting.is_empty() {
        return Verdict::new(False, InSyncReason::Drift, drifting.join("; "));
    }
    Verdict::new(
        True,
        InSyncReason::Synced,
        format!(
            "all {} sites hold revision {}",
            report.sites.len(),
            short(rev)
        ),
    )
}
