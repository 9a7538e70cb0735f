//! Work after a promotion, pure: which hooks a completed promotion
//! records, which hook is due now and what to do for it, what an attempt's
//! outcome makes of the hook (the next phase, when the next attempt is
//! due, the Event), and when the trip should come back (the
//! HooksSucceeded condition is composed from the rows, in
//! `conditions::hooks_succeeded`). Also what a hook is told: the HTTP body, the Job's
//! name and environment. No I/O, no clock: time is an argument.
//!
//! This file holds what the parts share: the kinds of work and outcome,
//! the pace of attempts, the Event reasons. The parts, each by its job:
//! `record` (what a completed promotion records, abandonment),
//! `schedule` (what is due, attempts starting, backoff, the next wake),
//! `outcome` (answers and Jobs read as outcomes, folded into the row) and
//! `tell` (names, ids, body, environment).

use std::time::Duration;

use jiff::Timestamp;

use crate::api::HookStatus;
use crate::plan::event::PlannedEvent;

mod outcome;
mod record;
mod schedule;
mod tell;

pub use outcome::{finish, http_outcome, job_outcome};
pub use record::{abandon_removed, begin, completed_now};
pub use schedule::{backoff, due, next_wake, start};
pub use tell::{hook_id, http_body, job_env, job_name};

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// Each wait is this many times the one before.
const BACKOFF_FACTOR: u32 = 3;
/// The wait after a first failure when spec backoff cannot be read.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(10);
/// How often a running Job is looked at when no watch event comes first.
pub const JOB_POLL: Duration = Duration::from_secs(10);

/// Event reasons.
pub const EVENT_SUCCEEDED: &str = "HookSucceeded";
pub const EVENT_FAILED: &str = "HookFailed";
pub const EVENT_ABANDONED: &str = "HookAbandoned";
const ACTION: &str = "Hook";

/// What to do for one hook now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// A new attempt: call the HTTP endpoint.
    Call,
    /// A new attempt: create the hook's Job.
    CreateJob { job: String },
    /// Read the Job of the running attempt.
    CheckJob { job: String },
    /// An HTTP attempt was under way when its trip ended (the operator
    /// stopped, or the status write after the call was refused): its
    /// outcome is looked up, or taken as unknown.
    Resume,
}

impl Work {
    /// The work starts an attempt (status is written before it is done).
    pub fn starts_attempt(&self) -> bool {
        matches!(self, Work::Call | Work::CreateJob { .. })
    }
}

/// One piece of work: for the row at `index` of status.hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub index: usize,
    pub work: Work,
}

/// How an attempt came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The hook did its work.
    Succeeded(String),
    /// This attempt failed; another may follow.
    AttemptFailed(String),
    /// Failed for good: no other attempt can help (the Job failed, or the
    /// API server refused its spec).
    Failed(String),
    /// Still under way (a Job that has not finished).
    Running(String),
}

/// A Job as the hook sees it: its Complete and Failed conditions and pods.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobSeen {
    pub complete: bool,
    /// The Failed condition's reason and message, when it is True.
    pub failed: Option<String>,
    pub active: i32,
    pub failed_pods: i32,
}

/// How a hook is named in messages and Events.
fn label(row: &HookStatus) -> String {
    format!("hook {} of the promotion at epoch {}", row.name, row.epoch)
}

/// A hook's Event.
fn event(warning: bool, reason: &'static str, note: String) -> PlannedEvent {
    PlannedEvent {
        warning,
        reason,
        action: ACTION,
        note,
    }
}

/// A timestamp of status, when it reads as one.
fn parse_time(s: Option<&str>) -> Option<Timestamp> {
    s.and_then(|t| t.parse().ok())
}

#[cfg(test)]
#[path = "../hooks_tests.rs"]
mod tests;
