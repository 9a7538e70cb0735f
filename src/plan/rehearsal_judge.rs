//! Rehearsal of a planned promotion: judging the steps the shell ran and
//! timed (what each found, the problems), and the record it ends with:
//! Passed or Failed, what the real promotion would do, how long it would
//! take, and the Event that tells it.

use crate::api::{
    RehearsalResult, RehearsalStatus, RehearsalStep, SiteHAPairStatus, SiteMode, StepOutcome,
};
use crate::plan::diff::SiteDiff;
use crate::plan::event::PlannedEvent;
use crate::plan::rehearsal::estimate;
use crate::plan::time::{Timestamp, stamp};

/// What one step found, as the shell observed it.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// The promotion's preflight on the target: the checks that fail.
    Preflight(Vec<String>),
    /// A full listing of the target compared with the source revision
    /// (`None`: the pair has no usable source revision to compare with).
    Compare(Option<(String, Result<SiteDiff, String>)>),
    /// The target's health check: healthy, or why not.
    Health(Result<bool, String>),
    /// `GET /mode` on the target: its role and epoch, or why no answer.
    Role(Result<(SiteMode, i64), String>),
    /// A hook: `None` when it is not marked rehearse (skipped), else the
    /// call's outcome (a message either way).
    Hook {
        name: String,
        outcome: Option<Result<String, String>>,
    },
}

/// One step as the shell ran it: what it found, when it began and how
/// long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    pub finding: Finding,
    pub started_at: Timestamp,
    pub milliseconds: i64,
}

/// The row of one step, and the problem it found, if any.
fn judge(t: &Timed, site: &str, epoch: i64) -> (RehearsalStep, Option<String>) {
    let (name, outcome, message) = match &t.finding {
        Finding::Preflight(fails) if fails.is_empty() => {
            ("Preflight".to_string(), StepOutcome::Passed, None)
        }
        Finding::Preflight(fails) => (
            "Preflight".to_string(),
            StepOutcome::Failed,
            Some(fails.join("; ")),
        ),
        Finding::Compare(c) => compare(c, site),
        Finding::Health(Ok(true)) => ("HealthCheck".into(), StepOutcome::Passed, None),
        Finding::Health(Ok(false)) => (
            "HealthCheck".into(),
            StepOutcome::Failed,
            Some(format!("site {site} fails its health check")),
        ),
        Finding::Health(Err(e)) => ("HealthCheck".into(), StepOutcome::Failed, Some(e.clone())),
        Finding::Role(r) => role(r, site, epoch),
        Finding::Hook { name, outcome } => {
            let n = format!("Hook {name}");
            match outcome {
                None => (
                    n,
                    StepOutcome::Skipped,
                    Some("not marked rehearse: runs only after a real promotion".into()),
                ),
                Some(Ok(m)) => (n, StepOutcome::Passed, Some(m.clone())),
                Some(Err(m)) => (n, StepOutcome::Failed, Some(m.clone())),
            }
        }
    };
    let problem = match (&outcome, &message) {
        (StepOutcome::Failed, Some(m)) => Some(format!("{name}: {m}")),
        (StepOutcome::Failed, None) => Some(format!("{name} failed")),
        _ => None,
    };
    let row = RehearsalStep {
        name,
        outcome,
        started_at: stamp(t.started_at),
        milliseconds: t.milliseconds.max(0),
        message,
    };
    (row, problem)
}

type Judged = (String, StepOutcome, Option<String>);

fn compare(c: &Option<(String, Result<SiteDiff, String>)>, site: &str) -> Judged {
    let name = "CompareWithSource".to_string();
    match c {
        None => (
            name,
            StepOutcome::Skipped,
            Some("no source revision to compare with".into()),
        ),
        Some((rev, Err(e))) => (
            name,
            StepOutcome::Failed,
            Some(format!(
                "site {site} could not be listed to compare with revision {}: {e}",
                short(rev)
            )),
        ),
        Some((rev, Ok(d))) if d.is_empty() => (
            name,
            StepOutcome::Passed,
            Some(format!("site {site} holds exactly revision {}", short(rev))),
        ),
        Some((rev, Ok(d))) => (
            name,
            StepOutcome::Failed,
            Some(format!(
                "site {site} differs from revision {}: {} to create, {} to replace, {} to delete ({})",
                short(rev),
                d.create.len(),
                d.replace.len(),
                d.delete.len(),
                d.touched().join(", ")
            )),
        ),
    }
}

fn role(r: &Result<(SiteMode, i64), String>, site: &str, epoch: i64) -> Judged {
    let name = "ReadRole".to_string();
    match r {
        Err(e) => (name, StepOutcome::Failed, Some(e.clone())),
        Ok((SiteMode::Passive, e)) if *e <= epoch => (
            name,
            StepOutcome::Passed,
            Some(format!("site {site} is passive at epoch {e}")),
        ),
        Ok((mode, e)) => (
            name,
            StepOutcome::Failed,
            Some(format!(
                "site {site} reports {mode:?} at epoch {e} (the pair is at epoch {epoch}): it is not a clean passive"
            )),
        ),
    }
}

fn short(rev: &str) -> &str {
    crate::plan::sync_status::short(rev)
}

/// The rehearsal `running` finished with the steps in `timed`: its rows,
/// problems, result, estimate; `would_do` is what the real promotion
/// would do. Returns the record and its Event.
pub fn conclude(
    running: &RehearsalStatus,
    status: &SiteHAPairStatus,
    timed: &[Timed],
    would_do: Vec<String>,
    now: Timestamp,
) -> (RehearsalStatus, PlannedEvent) {
    let mut rec = running.clone();
    rec.steps.clear();
    rec.problems.clear();
    for t in timed {
        let (row, problem) = judge(t, &running.site, running.epoch);
        rec.steps.push(row);
        rec.problems.extend(problem);
    }
    let measured: i64 = rec.steps.iter().map(|s| s.milliseconds).sum();
    let (seconds, basis) = estimate(status, measured);
    rec.estimated_seconds = Some(seconds);
    rec.estimate_basis = Some(basis);
    rec.would_do = would_do;
    rec.finished_at = Some(stamp(now));
    rec.result = if rec.problems.is_empty() {
        RehearsalResult::Passed
    } else {
        RehearsalResult::Failed
    };
    let event = event_of(&rec);
    (rec, event)
}

/// The Event that tells a finished rehearsal.
pub fn event_of(rec: &RehearsalStatus) -> PlannedEvent {
    let (warning, reason) = match rec.result {
        RehearsalResult::Passed => (false, "RehearsalSucceeded"),
        RehearsalResult::Cancelled => (false, "RehearsalCancelled"),
        _ => (true, "RehearsalFailed"),
    };
    let note = match rec.result {
        RehearsalResult::Passed => format!(
            "the promotion to {} would pass every check and take about {}s",
            rec.site,
            rec.estimated_seconds.unwrap_or(0)
        ),
        RehearsalResult::Cancelled => format!(
            "the rehearsal of the promotion to {} was cancelled: {}",
            rec.site,
            rec.message.as_deref().unwrap_or("")
        ),
        _ => format!(
            "the promotion to {} would not pass: {}",
            rec.site,
            rec.problems.join("; ")
        ),
    };
    PlannedEvent {
        warning,
        reason,
        action: "Rehearse",
        note: crate::api::redact::trim(&note, 1000),
    }
}
