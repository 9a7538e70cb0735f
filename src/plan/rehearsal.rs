//! Rehearsal of a planned promotion, the pure half: whether the request in
//! spec.promotion.rehearse is to run, be cancelled or be left alone; the
//! record it starts with; what the real promotion would do. How the steps
//! the shell measured are judged is in `rehearsal_judge`. Nothing here
//! ever touches status.activeSite, status.epoch, status.trafficSite,
//! status.promotion or the history: a rehearsal changes no role and no
//! traffic (the model-based test checks it).

use crate::api::{
    ANNOTATION_REHEARSAL_REQUESTED_BY, RehearsalRequest, RehearsalResult, RehearsalStatus,
    SiteHAPair, SiteHAPairSpec, SiteHAPairStatus,
};
use crate::plan::time::{Timestamp, stamp};
use crate::plan::windows::{Action, Gate, Window, gate, until_text};

/// What the trip does about the rehearsal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Nothing asked, or the request already has its result.
    Nothing,
    /// Record it finished without running it: Cancelled (a real change) or
    /// Failed (nothing to rehearse), with why.
    Finish {
        result: RehearsalResult,
        message: String,
    },
    /// Run it (again, from the start, when one was left Running).
    Run,
}

/// Whether the rehearsal asked for (`req`) is to run this trip, given the
/// status the trip started from (`start`) and as its promotion step left
/// it (`status`): a promotion pending, running or finished in this trip is
/// a real change, which cancels it.
pub fn due(
    req: Option<&RehearsalRequest>,
    spec: &SiteHAPairSpec,
    start: &SiteHAPairStatus,
    status: &SiteHAPairStatus,
) -> Due {
    let last = status.rehearsal.as_ref();
    let running = last.filter(|l| l.result == RehearsalResult::Running);
    let Some(req) = req else {
        return match running {
            Some(_) => finish(
                RehearsalResult::Cancelled,
                "spec.promotion.rehearse was removed".into(),
            ),
            None => Due::Nothing,
        };
    };
    let same = last.filter(|l| l.site == req.site && l.id == req.id);
    if same.is_some_and(|l| l.result.finished()) {
        return Due::Nothing;
    }
    if let Some(why) = real_change(spec, start).or_else(|| real_change(spec, status)) {
        return finish(RehearsalResult::Cancelled, why);
    }
    // One left Running (the operator stopped, or its result's write lost
    // to a change of the pair): cancelled if the roles moved since.
    if let Some(l) = same
        && (l.active_site != status.active_site || l.epoch != status.epoch)
    {
        return finish(
            RehearsalResult::Cancelled,
            format!(
                "a promotion ran during the rehearsal: {} is active at epoch {}",
                status.active_site.as_deref().unwrap_or("no site"),
                status.epoch
            ),
        );
    }
    // A rehearsal takes its time within the trip: never while the active
    // site fails its checks, when that trip may be the one to fail over.
    if let Some(active) = status.active_site.as_deref()
        && status
            .sites
            .iter()
            .any(|s| s.name == active && s.consecutive_failures.unwrap_or(0) > 0)
    {
        return finish(
            RehearsalResult::Cancelled,
            format!(
                "the active site {active} fails its health check: a rehearsal would delay a failover; ask again once it passes"
            ),
        );
    }
    if !spec.sites.iter().any(|s| s.name == req.site) {
        return finish(
            RehearsalResult::Failed,
            format!("site {} is not one of spec.sites", req.site),
        );
    }
    if status.active_site.as_deref() == Some(req.site.as_str()) {
        return finish(
            RehearsalResult::Failed,
            format!(
                "site {} is the active site: there is no promotion to rehearse",
                req.site
            ),
        );
    }
    Due::Run
}

fn finish(result: RehearsalResult, message: String) -> Due {
    Due::Finish { result, message }
}

/// A real change under way: a promotion pending (spec.activeSite moved) or
/// running. A rehearsal never runs beside one.
fn real_change(spec: &SiteHAPairSpec, status: &SiteHAPairStatus) -> Option<String> {
    if let Some(p) = &status.promotion {
        return Some(format!(
            "a real promotion to {} is under way ({})",
            p.to, p.phase
        ));
    }
    (status.active_site.as_deref() != Some(spec.active_site.as_str())).then(|| {
        format!(
            "a real promotion to {} is pending (spec.activeSite)",
            spec.active_site
        )
    })
}

/// The record of a rehearsal that starts now: Running, with the roles it
/// starts from.
pub fn begin(
    req: &RehearsalRequest,
    requested_by: Option<String>,
    status: &SiteHAPairStatus,
    now: Timestamp,
) -> RehearsalStatus {
    RehearsalStatus {
        site: req.site.clone(),
        id: req.id.clone(),
        result: RehearsalResult::Running,
        requested_by,
        started_at: stamp(now),
        active_site: status.active_site.clone(),
        epoch: status.epoch,
        ..RehearsalStatus::default()
    }
}

/// The record of a rehearsal finished without running (`Due::Finish`):
/// the steps of one left Running are kept.
pub fn finished_without_running(
    req: Option<&RehearsalRequest>,
    requested_by: Option<String>,
    status: &SiteHAPairStatus,
    result: RehearsalResult,
    message: String,
    now: Timestamp,
) -> RehearsalStatus {
    let mut rec = match (req, status.rehearsal.as_ref()) {
        (Some(r), Some(l)) if l.site == r.site && l.id == r.id => l.clone(),
        (Some(r), _) => begin(r, requested_by, status, now),
        (None, Some(l)) => l.clone(),
        (None, None) => RehearsalStatus::default(),
    };
    rec.result = result;
    rec.finished_at = Some(stamp(now));
    if result == RehearsalResult::Failed {
        rec.problems = vec![message.clone()];
    }
    rec.message = Some(message);
    rec
}

/// Who asked: the annotation `sitehapair promote --rehearse` writes
/// (`<id> by <who>`) when it names this very request, else the field
/// manager that last set spec.promotion.rehearse.
pub fn requested_by(obj: &SiteHAPair, req: &RehearsalRequest) -> Option<String> {
    let by = obj
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_REHEARSAL_REQUESTED_BY));
    if let Some((id, who)) = by.and_then(|b| b.split_once(" by "))
        && id.trim() == req.id
        && !who.trim().is_empty()
    {
        return Some(crate::api::redact::trim(who.trim(), 120));
    }
    let managers = obj.metadata.managed_fields.as_deref().unwrap_or_default();
    managers
        .iter()
        .filter(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer("/f:spec/f:promotion/f:rehearse").is_some())
        })
        .max_by_key(|m| m.time.as_ref().map(|t| t.0))
        .and_then(|m| m.manager.clone())
        .map(|m| format!("field manager {m}"))
}

/// What the real promotion to `to` would do, in order, from the pair as it
/// stands: wait for its window, preflight, demote the old active, promote
/// the target at the next epoch, switch traffic, run the hooks.
pub fn would_do(
    spec: &SiteHAPairSpec,
    traffic: &str,
    status: &SiteHAPairStatus,
    windows: &[Window],
    to: &str,
    now: Timestamp,
) -> Vec<String> {
    let next = status.epoch + 1;
    let mut out = Vec::new();
    if let Gate::Closed { until, why } = gate(windows, Action::PlannedPromotion, now) {
        out.push(format!(
            "wait for its change window {} ({why}); sitehapair promote --now runs it at once",
            until_text(until)
        ));
    }
    out.push(format!("Preflight: check {to} as this rehearsal did"));
    match status.active_site.as_deref() {
        Some(old) => {
            out.push(format!("Demoting: set {old} passive at epoch {next}"));
            out.push(format!("Promoting: set {to} active at epoch {next}"));
            out.push(format!(
                "SwitchingTraffic: point the traffic Service {traffic} from {old} to {to}"
            ));
        }
        None => {
            out.push(format!("Promoting: set {to} active at epoch {next}"));
            out.push(format!(
                "SwitchingTraffic: point the traffic Service {traffic} at {to}"
            ));
        }
    }
    if !spec.promotion.hooks.is_empty() {
        let names: Vec<&str> = spec
            .promotion
            .hooks
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        out.push(format!("Complete: run the hooks {}", names.join(", ")));
    }
    out
}

/// The phases of a real promotion a rehearsal does not measure (it runs
/// preflight and the hooks itself): their time is taken from history.
const UNMEASURED: [&str; 3] = ["Demoting", "Promoting", "SwitchingTraffic"];

/// How long the real promotion would take: the milliseconds measured by
/// the rehearsal plus the unmeasured phases of the newest promotion in
/// status.history that recorded them. Returns seconds and the basis.
pub fn estimate(status: &SiteHAPairStatus, measured_ms: i64) -> (i64, String) {
    let measured = (measured_ms.max(0) + 999) / 1000;
    let last = status.history.iter().rev().find(|r| {
        r.steps
            .iter()
            .any(|s| UNMEASURED.contains(&s.phase.as_str()))
    });
    match last {
        Some(r) => {
            let past: i64 = r
                .steps
                .iter()
                .filter(|s| UNMEASURED.contains(&s.phase.as_str()))
                .map(|s| s.seconds.max(0))
                .sum();
            (
                measured + past,
                format!(
                    "{measured}s measured by this rehearsal (preflight, checks, hooks) + {past}s for demoting, promoting and switching traffic as the promotion at epoch {} ({} to {}) took",
                    r.epoch,
                    r.from.as_deref().unwrap_or("none"),
                    r.to
                ),
            )
        }
        None => (
            measured,
            format!(
                "{measured}s measured by this rehearsal only: no promotion in status.history recorded how long its role changes and traffic switch took"
            ),
        ),
    }
}

/// The result of a rehearsal one status write finished (counted once:
/// against the status it replaced).
pub fn finished_now(
    before: Option<&SiteHAPairStatus>,
    after: &SiteHAPairStatus,
) -> Option<RehearsalResult> {
    let now = after.rehearsal.as_ref().filter(|r| r.result.finished())?;
    let was = before.and_then(|b| b.rehearsal.as_ref());
    let same = was.is_some_and(|w| w.site == now.site && w.id == now.id && w.result == now.result);
    (!same).then_some(now.result)
}

#[cfg(test)]
#[path = "rehearsal_tests.rs"]
mod tests;
