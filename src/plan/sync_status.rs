//! Folding what one sync trip saw and did into the status, pure: per-site
//! rows (mode, health, epoch, drift, synced revision), status.source, the
//! SourceReady, InSync, Healthy, Degraded and Ready conditions, the phase, and the
//! Events worth publishing (each warning only when its condition changes).

use crate::api::conditions::{self, Condition, ConditionStatus, types};
use crate::api::{Drift, Phase, SiteContact, SiteHAPairStatus, SiteHealth, SiteMode, SourceStatus};
use crate::plan::diff::SiteDiff;
use crate::plan::observe::PlannedEvent;
use crate::plan::sync::GateClosed;

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
    Fetched {
        revision: String,
        fetched_at: String,
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
}

/// Everything one trip learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub source: SourceReport,
    pub sites: Vec<SiteReport>,
    /// Why the active site was not synced, if it was held.
    pub gate: Option<GateClosed>,
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

fn changed(old: Option<&Condition>, status: ConditionStatus, reason: &str) -> bool {
    !old.is_some_and(|c| c.status == status && c.reason == reason)
}

/// Put the trip's findings into `status`; returns the Events to publish.
/// `previous` are the conditions the last trip wrote: a warning Event is
/// published only when its condition changes.
pub fn fold_report(
    status: &mut SiteHAPairStatus,
    previous: &[Condition],
    report: &SyncReport,
    source_url: &str,
    generation: i64,
    now: &str,
) -> Vec<PlannedEvent> {
    let mut events = Vec::new();
    let old = |t: &str| conditions::find(previous, t);
    let set = |conds: &mut Vec<Condition>, t: &str, s, reason: &str, msg: String| {
        conditions::set_condition(conds, Condition::new(t, s, reason, msg, generation, now));
    };

    fold_sites(status, report, !source_url.is_empty(), now, &mut events);
    if !status.sites.is_empty() {
        let (st, reason, msg) =
            crate::plan::parity::parity_condition(&crate::plan::parity::reported(status));
        if st == ConditionStatus::False && changed(old(types::PARITY), st, reason) {
            events.push(warning("ParityBroken", "Compare", msg.clone()));
        }
        set(&mut status.conditions, types::PARITY, st, reason, msg);
    }
    if !report.sites.is_empty() {
        let failing: Vec<String> = report
            .sites
            .iter()
            .filter(|s| s.healthy != Some(true) || s.error.is_some())
            .map(|s| match (&s.error, s.contact) {
                (Some(_), SiteContact::NoAnswer) => format!("{} does not answer", s.name),
                (Some(_), SiteContact::CredentialsRefused) => {
                    format!("{} refuses the credentials", s.name)
                }
                (Some(_), SiteContact::Misconfigured) => format!("{} cannot be called", s.name),
                (Some(_), _) => format!("{} answers with errors", s.name),
                (None, _) => format!("{} fails its health check", s.name),
            })
            .collect();
        let (st, reason, msg) = if failing.is_empty() {
            (
                ConditionStatus::True,
                "AllHealthy",
                format!("all {} sites pass their health checks", report.sites.len()),
            )
        } else {
            (ConditionStatus::False, "SiteUnhealthy", failing.join("; "))
        };
        set(&mut status.conditions, types::HEALTHY, st, reason, msg);
    }

    // The source.
    let mut degraded: Option<(&'static str, String)> = None;
    let revision = match &report.source {
        SourceReport::Skipped => None,
        SourceReport::Failed { message } | SourceReport::Refused { message } => {
            let (reason, event) = match &report.source {
                SourceReport::Refused { .. } => ("SourceRefused", "SourceRefused"),
                _ => ("FetchFailed", "SourceFailed"),
            };
            let keep = status.source.clone().unwrap_or_default();
            let msg = match &keep.revision {
                Some(r) => format!("{message}; the sites keep revision {}", short(r)),
                None => message.clone(),
            };
            status.source = Some(SourceStatus {
                message: Some(message.clone()),
                ..keep
            });
            if changed(old(types::SOURCE_READY), ConditionStatus::False, reason) {
                events.push(warning(event, "Fetch", msg.clone()));
            }
            set(
                &mut status.conditions,
                types::SOURCE_READY,
                ConditionStatus::False,
                reason,
                msg.clone(),
            );
            degraded = Some(("SourceUnavailable", msg));
            None
        }
        SourceReport::Invalid { revision, message } => {
            let keep = status.source.clone().unwrap_or_default();
            let msg = format!(
                "revision {} is rejected and nothing from it is applied: {message}",
                short(revision)
            );
            status.source = Some(SourceStatus {
                message: Some(msg.clone()),
                ..keep
            });
            if changed(
                old(types::SOURCE_READY),
                ConditionStatus::False,
                "InvalidRevision",
            ) || old(types::SOURCE_READY).is_some_and(|c| c.message != msg)
            {
                events.push(warning("InvalidRevision", "Validate", msg.clone()));
            }
            set(
                &mut status.conditions,
                types::SOURCE_READY,
                ConditionStatus::False,
                "InvalidRevision",
                msg.clone(),
            );
            degraded = Some(("InvalidRevision", msg));
            None
        }
        SourceReport::Fetched {
            revision,
            fetched_at,
        } => {
            // The time this revision was first fetched: a check that finds
            // the same revision is no news and does not move status.
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
            set(
                &mut status.conditions,
                types::SOURCE_READY,
                ConditionStatus::True,
                "Fetched",
                format!("revision {} of {source_url}", short(revision)),
            );
            Some(revision.clone())
        }
    };

    // InSync, from the sites, when there is a good revision to compare with.
    if let Some(rev) = &revision {
        let (s, reason, msg) = in_sync(report, rev);
        if s == ConditionStatus::False
            && reason == "PruneBlocked"
            && changed(old(types::IN_SYNC), s, reason)
        {
            events.push(warning("PruneBlocked", "Sync", msg.clone()));
        }
        if s == ConditionStatus::False
            && reason == "Drift"
            && changed(old(types::IN_SYNC), s, reason)
        {
            events.push(PlannedEvent {
                warning: false,
                reason: "DriftDetected",
                action: "Compare",
                note: msg.clone(),
            });
        }
        set(&mut status.conditions, types::IN_SYNC, s, reason, msg);
    }

    // Degraded: sites that cannot be reached (every one named), a bad
    // source; a stray (a site beside the active one that reports active,
    // or the unfenced old active of a forced promotion answering errors)
    // before those; a halted sync or a failed active change after it.
    let failing: Vec<&SiteReport> = report.sites.iter().filter(|s| s.error.is_some()).collect();
    if let Some(site) = failing.first() {
        let errors: Vec<&str> = failing.iter().filter_map(|s| s.error.as_deref()).collect();
        let msg = format!(
            "{}; {} left as {} and retried",
            errors.join("; "),
            if failing.len() == 1 {
                "the site is"
            } else {
                "the sites are"
            },
            if failing.len() == 1 {
                "it was"
            } else {
                "they were"
            },
        );
        let reason = match site.contact {
            SiteContact::NoAnswer => "SiteUnreachable",
            SiteContact::CredentialsRefused => "CredentialsRefused",
            SiteContact::Misconfigured => "SiteMisconfigured",
            _ => "SiteFailing",
        };
        degraded = Some((reason, msg));
    }
    let strays = crate::plan::strays::strays(status);
    if let (false, Some(active)) = (strays.is_empty(), status.active_site.as_deref()) {
        let msg = crate::plan::strays::message(&strays, active, status.epoch);
        degraded = Some(("StraySite", msg));
    }
    if let Some(g @ GateClosed::PassiveUnhealthy { .. }) = &report.gate {
        degraded = Some((g.reason(), g.message()));
    }
    // A standby-first change whose active failed after taking the
    // revision: traffic stays on the standby (the procedure said so in
    // its own Event).
    if let Some(c) = status
        .active_change
        .as_ref()
        .filter(|c| c.step == crate::api::ChangeStep::ActiveFailedCheck)
    {
        degraded = Some(("ActiveFailedCheck", c.message.clone().unwrap_or_default()));
    }
    if let Some((reason, msg)) = degraded {
        if changed(old(types::DEGRADED), ConditionStatus::True, reason) {
            let ev_reason = if reason == "PassiveUnhealthy" {
                "SyncHalted"
            } else {
                reason
            };
            if !matches!(
                ev_reason,
                "InvalidRevision" | "SourceUnavailable" | "ActiveFailedCheck"
            ) {
                events.push(warning(ev_reason, "Sync", msg.clone()));
            }
        }
        set(
            &mut status.conditions,
            types::DEGRADED,
            ConditionStatus::True,
            reason,
            msg.clone(),
        );
        if matches!(status.phase, Some(Phase::Ready) | None) {
            status.phase = Some(Phase::Degraded);
            set(
                &mut status.conditions,
                types::READY,
                ConditionStatus::False,
                reason,
                msg,
            );
        }
    }
    events
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
        // What the site did not tell this time is not shown as known.
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
        }
        if let Some(rev) = &r.synced_revision {
            if row.synced_revision.as_ref() != Some(rev) {
                row.last_sync_time = Some(now.to_string());
            }
            row.synced_revision = Some(rev.clone());
        }
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

/// InSync from the site reports: the first problem names the condition.
fn in_sync(report: &SyncReport, rev: &str) -> (ConditionStatus, &'static str, String) {
    if let Some(s) = report.sites.iter().find(|s| s.error.is_some()) {
        return (
            ConditionStatus::False,
            "SiteUnreachable",
            s.error.clone().unwrap_or_default(),
        );
    }
    if let Some(s) = report.sites.iter().find(|s| s.prune_blocked) {
        return (
            ConditionStatus::False,
            "PruneBlocked",
            s.hold.clone().unwrap_or_default(),
        );
    }
    if let Some(g) = &report.gate {
        return (ConditionStatus::False, g.reason(), g.message());
    }
    let drifting: Vec<String> = report
        .sites
        .iter()
        .filter_map(|s| {
            let d = s.drift?;
            (d.added + d.changed + d.removed > 0).then(|| {
                let why = s
                    .hold
                    .clone()
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
        return (ConditionStatus::False, "Drift", drifting.join("; "));
    }
    (
        ConditionStatus::True,
        "Synced",
        format!(
            "all {} sites hold revision {}",
            report.sites.len(),
            short(rev)
        ),
    )
}

fn warning(reason: &'static str, action: &'static str, note: String) -> PlannedEvent {
    PlannedEvent {
        warning: true,
        reason,
        action,
        note,
    }
}

#[cfg(test)]
#[path = "sync_status_tests.rs"]
mod tests;
