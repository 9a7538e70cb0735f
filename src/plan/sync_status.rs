//! Folding what one sync trip saw and did into the status data, pure:
//! per-site rows (mode, health, epoch, drift, synced revision) and
//! status.source; the Events of what was done (Synced, SiteJoined); and
//! the findings the conditions are composed from (see `conditions`).

use crate::api::{
    Drift, SiteContact, SiteHAPairStatus, SiteHealth, SiteMode, SiteStatus, SourceStatus,
};
use crate::plan::diff::SiteDiff;
use crate::plan::event::PlannedEvent;
use crate::plan::strays::Stray;
use crate::plan::sync::GateClosed;
use crate::plan::time::{Timestamp, stamp};

/// What the source gave this trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceReport {
    /// No source, or the sync did not run (suspended, promotion): status.source is left as is.
    Skipped,
    /// The repository could not be read.
    Failed { message: String },
    /// The operator does not read this source at all (a `file://` URL
    /// without `--allow-file-sources`); nothing was fetched.
    Refused { message: String },
    /// The revision was fetched but its files are invalid; nothing from it is applied.
    Invalid { revision: String, message: String },
    /// The revision is not signed by a trusted key (spec.source.git.verify);
    /// nothing from it is applied.
    Unverified { revision: String, message: String },
    Fetched {
        revision: String,
        fetched_at: String,
        /// The trusted key that signed it, when the pair verifies.
        signed_by: Option<String>,
    },
}

/// One site after this trip.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SiteReport {
    pub name: String,
    /// Why the site could not be reached or synced (trimmed, no secrets).
    pub error: Option<String>,
    /// How the site's admin API answered this trip (the first failed call
    /// decides; the health check never does).
    pub contact: SiteContact,
    /// Why the health check failed (timed out, refused, an error status).
    pub health_error: Option<String>,
    /// What `GET /mode` said: Active or Passive (None: not answered).
    pub mode: Option<SiteMode>,
    pub epoch: Option<i64>,
    pub healthy: Option<bool>,
    pub version: Option<String>,
    /// What `GET /info` said of the token key (None: not reported).
    pub token_key_fingerprint: Option<String>,
    /// Drift left after this trip (None when not compared).
    pub drift: Option<Drift>,
    /// The revision the site now holds, when it does.
    pub synced_revision: Option<String>,
    /// What was written.
    pub wrote: SiteDiff,
    /// Why drift was left.
    pub hold: Option<String>,
    /// Whether the hold is a prune guard.
    pub prune_blocked: bool,
    /// Whether the hold is the sync's closed change window.
    pub outside_window: bool,
    /// The writes a first sync waits to have accepted (spec.sync.adopt
    /// Manual), when it waits.
    pub adoption: Option<crate::api::status::AdoptionPlan>,
}

/// Everything one trip learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub source: SourceReport,
    pub sites: Vec<SiteReport>,
    /// Why the active site was not synced, if it was held.
    pub gate: Option<GateClosed>,
}

/// What the sync step saw, as it stood when it was folded into the rows
/// (before any promotion step changed them).
#[derive(Debug, Clone, PartialEq)]
pub struct SyncFindings {
    pub report: SyncReport,
    /// The site rows right after the fold (versions and token keys).
    pub rows: Vec<SiteStatus>,
    /// Strays, and the active site and epoch they stray from.
    pub strays: Vec<Stray>,
    pub active: Option<String>,
    pub epoch: i64,
    /// The standby-first change left the active failing its check.
    pub change_failed: Option<String>,
}

/// The first 12 characters of a commit hash, for messages.
pub fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

/// Drift counts of a diff.
pub fn drift_of(d: &SiteDiff) -> Drift {
    let n = |v: &Vec<String>| i32::try_from(v.len()).unwrap_or(i32::MAX);
    Drift {
        added: n(&d.create),
        changed: n(&d.replace),
        removed: n(&d.delete),
    }
}

/// Fold the trip's report into the status data (site rows, status.source)
/// and return the Events of what was done (Synced, SiteJoined) and the
/// findings the conditions are composed from, as they stand now.
pub fn fold_sync(
    status: &mut SiteHAPairStatus,
    report: SyncReport,
    has_source: bool,
    now: Timestamp,
) -> (Vec<PlannedEvent>, SyncFindings) {
    let mut events = Vec::new();
    fold_sites(status, &report, has_source, &stamp(now), &mut events);
    fold_source(status, &report.source);
    let change_failed = status
        .active_change
        .as_ref()
        .filter(|c| c.step == crate::api::ChangeStep::ActiveFailedCheck)
        .map(|c| c.message.clone().unwrap_or_default());
    let findings = SyncFindings {
        rows: status.sites.clone(),
        strays: crate::plan::strays::strays(status),
        active: status.active_site.clone(),
        epoch: status.epoch,
        change_failed,
        report,
    };
    (events, findings)
}

/// status.source from what the source gave: a failure keeps the last good
/// revision and says why; a check finding the same revision is no news.
fn fold_source(status: &mut SiteHAPairStatus, source: &SourceReport) {
    match source {
        SourceReport::Skipped => {}
        SourceReport::Failed { message } | SourceReport::Refused { message } => {
            let keep = status.source.clone().unwrap_or_default();
            status.source = Some(SourceStatus {
                message: Some(message.clone()),
                ..keep
            });
        }
        SourceReport::Invalid { revision, message }
        | SourceReport::Unverified { revision, message } => {
            let keep = status.source.clone().unwrap_or_default();
            let msg = format!(
                "revision {} is rejected and nothing from it is applied: {message}",
                short(revision)
            );
            status.source = Some(SourceStatus {
                message: Some(msg),
                ..keep
            });
        }
        SourceReport::Fetched {
            revision,
            fetched_at,
            ..
        } => {
            // The time this revision was first fetched.
            let first = status
                .source
                .as_ref()
                .filter(|s| s.revision.as_ref() == Some(revision))
                .and_then(|s| s.fetched_at.clone());
            status.source = Some(SourceStatus {
                revision: Some(revision.clone()),
                fetched_at: first.or_else(|| Some(fetched_at.clone())),
                message: None,
            });
        }
    }
}

/// The per-site rows.
fn fold_sites(
    status: &mut SiteHAPairStatus,
    report: &SyncReport,
    has_source: bool,
    now: &str,
    events: &mut Vec<PlannedEvent>,
) {
    let revision = match &report.source {
        SourceReport::Fetched { revision, .. } => Some(revision.as_str()),
        _ => None,
    };
    // One Synced Event per trip naming every site written: at a thousand
    // pairs a push is a thousand Events, not two thousand.
    let mut synced_notes = Vec::new();
    for r in &report.sites {
        let Some(row) = status.sites.iter_mut().find(|s| s.name == r.name) else {
            continue;
        };
        fold_row(row, r, now);
        if !r.wrote.is_empty() {
            row.last_sync_time = Some(now.to_string());
            synced_notes.push(synced_note(&r.name, revision, &r.wrote));
        }
        // A joining site has joined once it holds the revision fetched
        // this trip (when the pair has a source) and passes its check.
        let synced =
            !has_source || (revision.is_some() && row.synced_revision.as_deref() == revision);
        if row.joining == Some(true) && synced && row.health == Some(SiteHealth::Healthy) {
            row.joining = None;
            events.push(PlannedEvent {
                warning: false,
                reason: "SiteJoined",
                action: "Join",
                note: format!(
                    "site {} joined the pair: synced{} and healthy; it may be a promotion target",
                    r.name,
                    revision
                        .map(|r| format!(" at {}", short(r)))
                        .unwrap_or_default()
                ),
            });
        }
    }
    if !synced_notes.is_empty() {
        events.push(PlannedEvent {
            warning: false,
            reason: "Synced",
            action: "Sync",
            note: synced_notes.join(" | "),
        });
    }
}

/// What one site said this trip, into its row: contact, health, mode and
/// epoch (what it did not tell is not shown as known), version, drift, the
/// revision it holds.
fn fold_row(row: &mut SiteStatus, r: &SiteReport, now: &str) {
    let said: Vec<&str> = [&r.error, &r.health_error]
        .into_iter()
        .filter_map(Option::as_deref)
        .collect();
    row.message = match said.as_slice() {
        [] => r.hold.clone(),
        _ => Some(said.join("; ")),
    };
    row.contact = Some(r.contact);
    // The admin API decides whether a site answers at all; a site is
    // healthy when its health check passes and it told its mode.
    row.health = Some(match (r.contact.answered(), r.healthy, r.mode) {
        (false, _, _) => SiteHealth::Unreachable,
        (true, Some(true), Some(_)) => SiteHealth::Healthy,
        (true, _, _) => SiteHealth::Unhealthy,
    });
    row.consecutive_failures = Some(match r.healthy {
        Some(true) => 0,
        _ => row.consecutive_failures.unwrap_or(0).saturating_add(1),
    });
    row.mode = Some(r.mode.unwrap_or(SiteMode::Unknown));
    if r.mode.is_some() {
        row.epoch = r.epoch;
    }
    // GET /info answered: what it did not report is unknown now.
    if r.version.is_some() {
        row.version = r.version.clone();
        row.token_key_fingerprint = r.token_key_fingerprint.clone();
    }
    if r.drift.is_some() {
        row.drift = r.drift;
        // Compared this trip: a plan waits now, or none does.
        row.adoption_plan = r.adoption.clone();
    }
    if let Some(rev) = &r.synced_revision {
        if row.synced_revision.as_ref() != Some(rev) {
            row.last_sync_time = Some(now.to_string());
        }
        row.synced_revision = Some(rev.clone());
    }
}

/// "site east: revision abc: created a, b; replaced c; deleted d"
fn synced_note(site: &str, revision: Option<&str>, d: &SiteDiff) -> String {
    let mut parts = Vec::new();
    for (verb, list) in [
        ("created", &d.create),
        ("replaced", &d.replace),
        ("deleted", &d.delete),
    ] {
        if !list.is_empty() {
            let mut names = list.iter().take(20).cloned().collect::<Vec<_>>().join(", ");
            if list.len() > 20 {
                names.push_str(&format!(" and {} more", list.len() - 20));
            }
            parts.push(format!("{verb} {names}"));
        }
    }
    format!(
        "site {site}: revision {}: {}",
        short(revision.unwrap_or("?")),
        parts.join("; ")
    )
}

/// Each site's count of failed health checks as `status` holds it: what a
/// second observation within one trip starts from again.
pub type FailureCounts = Vec<(String, Option<i32>)>;

/// The sites' failure counts in `status`.
pub fn failure_counts(status: &SiteHAPairStatus) -> FailureCounts {
    status
        .sites
        .iter()
        .map(|r| (r.name.clone(), r.consecutive_failures))
        .collect()
}

/// Put back the counts `before` (taken as the trip started) ahead of a
/// second fold in the same trip: the second observation replaces the
/// first, so a failing site counts one failed trip, not two (the automatic
/// failover counts trips against `failureThreshold`).
pub fn restore_failure_counts(status: &mut SiteHAPairStatus, before: &FailureCounts) {
    for row in &mut status.sites {
        if let Some((_, count)) = before.iter().find(|(name, _)| *name == row.name) {
            row.consecutive_failures = *count;
        }
    }
}

#[cfg(test)]
#[path = "sync_status_tests.rs"]
mod tests;
