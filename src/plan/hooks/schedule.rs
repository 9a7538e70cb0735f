//! When a hook's work is due: which hook gets a new attempt, a look at its
//! Job or the outcome of an HTTP attempt left unrecorded now; an attempt
//! starting; the wait between attempts; and when the trip should come
//! back for the hooks.

use std::time::Duration;

use jiff::Timestamp;

use crate::api::{HookPhase, HookStatus, PromotionHook, duration};
use crate::plan::promotion::stamp;

use super::tell::job_name;
use super::{BACKOFF_FACTOR, DEFAULT_BACKOFF, Due, JOB_POLL, MAX_BACKOFF, Work, parse_time};

/// The work due now, in row order: a new attempt for Pending hooks whose
/// next attempt is due, a look at the Job of running Job hooks, and the
/// outcome of HTTP attempts a trip left unrecorded. While another
/// promotion is under way (`promoting`) no new attempt starts: the
/// promotion a hook runs after may be about to be undone.
pub fn due(
    rows: &[HookStatus],
    hooks: &[PromotionHook],
    pair: &str,
    promoting: bool,
    now: Timestamp,
) -> Vec<Due> {
    let mut out = Vec::new();
    for (index, r) in rows.iter().enumerate() {
        let Some(h) = hooks.iter().find(|h| h.name == r.name) else {
            continue;
        };
        let work = match r.phase {
            HookPhase::Pending if promoting => continue,
            HookPhase::Pending => {
                let at = parse_time(r.next_attempt_at.as_deref());
                if at.is_some_and(|at| at > now) {
                    continue;
                }
                if h.job.is_some() {
                    Work::CreateJob {
                        job: job_name(pair, &r.name, r.epoch),
                    }
                } else {
                    Work::Call
                }
            }
            HookPhase::Running => match &r.job {
                Some(job) => Work::CheckJob { job: job.clone() },
                None => Work::Resume,
            },
            _ => continue,
        };
        out.push(Due { index, work });
    }
    out
}

/// An attempt starts: Running, counted, stamped; a Job hook names its Job.
pub fn start(row: &mut HookStatus, job: Option<&str>, now: Timestamp) {
    row.phase = HookPhase::Running;
    row.attempts += 1;
    row.last_attempt_at = Some(stamp(now));
    row.next_attempt_at = None;
    row.message = Some(format!("attempt {} under way", row.attempts));
    if let Some(j) = job {
        row.job = Some(j.to_string());
    }
}

/// The wait after `failed` failed attempts: the hook's backoff, times
/// three for each failure after the first, at most [`MAX_BACKOFF`].
pub fn backoff(hook: &PromotionHook, failed: i32) -> Duration {
    let base = duration::parse("spec.promotion.hooks[].backoff", &hook.backoff)
        .unwrap_or(DEFAULT_BACKOFF)
        .max(Duration::from_secs(1));
    let mut wait = base;
    for _ in 1..failed.max(1) {
        wait = wait.saturating_mul(BACKOFF_FACTOR);
        if wait >= MAX_BACKOFF {
            break;
        }
    }
    wait.min(MAX_BACKOFF)
}

/// The attempts a hook may make (spec.promotion.hooks[].attempts, 1..10).
pub(super) fn allowed(hook: &PromotionHook) -> i32 {
    hook.attempts.clamp(1, 10)
}

/// How soon the trip should come back for the hooks: when the soonest
/// next attempt is due (not while another promotion is under way: its own
/// pace rules then), or [`JOB_POLL`] while a Job runs. None: nothing is
/// left to do.
pub fn next_wake(rows: &[HookStatus], promoting: bool, now: Timestamp) -> Option<Duration> {
    rows.iter()
        .filter_map(|r| match r.phase {
            HookPhase::Pending if promoting => None,
            HookPhase::Pending => Some(
                parse_time(r.next_attempt_at.as_deref())
                    .and_then(|at| Duration::try_from(now.duration_until(at)).ok())
                    .unwrap_or(Duration::ZERO),
            ),
            HookPhase::Running if r.job.is_some() => Some(JOB_POLL),
            HookPhase::Running => Some(Duration::ZERO),
            _ => None,
        })
        .min()
}
