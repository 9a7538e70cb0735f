//! Work after a promotion, pure: which hooks a completed promotion
//! records, which hook is due now and what to do for it, what an attempt's
//! outcome makes of the hook (the next phase, when the next attempt is
//! due, the Event), the HooksSucceeded condition, and when the trip
//! should come back. Also what a hook is told: the HTTP body, the Job's
//! name and environment. No I/O, no clock: time is an argument.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::api::conditions::{self, Condition, ConditionStatus, types};
use crate::api::{HookPhase, HookStatus, PromotionHook, PromotionRecord, duration};
use crate::plan::event::PlannedEvent;
use crate::plan::promotion::{REASON_INITIAL, stamp};
use crate::sites::answers::{MAX_MESSAGE, mask_secret_values, trim};

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

/// The promotion this trip completed: the newest record of `history`
/// when its epoch is newer than `before` (the newest epoch in history when
/// the trip began).
pub fn completed_now(before: Option<i64>, history: &[PromotionRecord]) -> Option<&PromotionRecord> {
    let last = history.last()?;
    before.is_none_or(|b| last.epoch > b).then_some(last)
}

fn label(row: &HookStatus) -> String {
    format!("hook {} of the promotion at epoch {}", row.name, row.epoch)
}

fn event(warning: bool, reason: &'static str, note: String) -> PlannedEvent {
    PlannedEvent {
        warning,
        reason,
        action: ACTION,
        note,
    }
}

fn abandon(row: &mut HookStatus, why: &str) -> PlannedEvent {
    row.phase = HookPhase::Abandoned;
    row.next_attempt_at = None;
    row.message = Some(why.to_string());
    event(
        true,
        EVENT_ABANDONED,
        format!("{} abandoned: {why}", label(row)),
    )
}

/// A promotion completed: its hooks are recorded Pending. Unfinished
/// hooks of older promotions are abandoned, finished ones dropped. The
/// first activation of a pair (reason Initial) runs none and changes
/// nothing. Recording the same promotion twice changes nothing.
pub fn begin(
    rows: &mut Vec<HookStatus>,
    hooks: &[PromotionHook],
    rec: &PromotionRecord,
) -> Vec<PlannedEvent> {
    if rec.reason == REASON_INITIAL || rows.iter().any(|r| r.epoch >= rec.epoch) {
        return Vec::new();
    }
    rows.retain(|r| !r.phase.finished());
    let why = format!(
        "the promotion to {} at epoch {} completed first",
        rec.to, rec.epoch
    );
    let events: Vec<PlannedEvent> = rows.iter_mut().map(|r| abandon(r, &why)).collect();
    rows.extend(hooks.iter().map(|h| HookStatus {
        name: h.name.clone(),
        epoch: rec.epoch,
        phase: HookPhase::Pending,
        ..HookStatus::default()
    }));
    events
}

/// Unfinished hooks no longer in spec.promotion.hooks are abandoned.
pub fn abandon_removed(rows: &mut [HookStatus], hooks: &[PromotionHook]) -> Vec<PlannedEvent> {
    rows.iter_mut()
        .filter(|r| !r.phase.finished() && !hooks.iter().any(|h| h.name == r.name))
        .map(|r| abandon(r, "the hook was removed from spec.promotion.hooks"))
        .collect()
}

fn parse_time(s: Option<&str>) -> Option<Timestamp> {
    s.and_then(|t| t.parse().ok())
}

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
fn allowed(hook: &PromotionHook) -> i32 {
    hook.attempts.clamp(1, 10)
}

/// Fold an attempt's outcome into its row: the next phase, the message,
/// when the next attempt is due; and the Event, if any. A failed attempt
/// is Pending again until the attempts are used up, then Failed.
pub fn finish(
    row: &mut HookStatus,
    hook: &PromotionHook,
    outcome: Outcome,
    now: Timestamp,
) -> Option<PlannedEvent> {
    let what = label(row);
    match outcome {
        Outcome::Running(m) => {
            row.message = Some(trim(&m, MAX_MESSAGE));
            None
        }
        Outcome::Succeeded(m) => {
            let m = trim(&m, MAX_MESSAGE);
            row.phase = HookPhase::Succeeded;
            row.next_attempt_at = None;
            row.message = Some(m.clone());
            let note = format!("{what} succeeded (attempt {}): {m}", row.attempts);
            Some(event(false, EVENT_SUCCEEDED, note))
        }
        Outcome::Failed(m) => {
            let m = trim(&m, MAX_MESSAGE);
            row.phase = HookPhase::Failed;
            row.next_attempt_at = None;
            row.message = Some(m.clone());
            let note = format!("{what} failed: {m}; the promotion stands");
            Some(event(true, EVENT_FAILED, note))
        }
        Outcome::AttemptFailed(m) => {
            let m = trim(&m, MAX_MESSAGE);
            let max = allowed(hook);
            row.message = Some(m.clone());
            if row.attempts >= max {
                row.phase = HookPhase::Failed;
                row.next_attempt_at = None;
                let note = format!(
                    "{what} failed after {} attempts: {m}; the promotion stands",
                    row.attempts
                );
                return Some(event(true, EVENT_FAILED, note));
            }
            let wait = backoff(hook, row.attempts);
            let next = now.checked_add(wait).map_or_else(|_| stamp(now), stamp);
            row.phase = HookPhase::Pending;
            row.next_attempt_at = Some(next.clone());
            let note = format!(
                "{what}: attempt {} of {max} failed: {m}; next attempt at {next}",
                row.attempts
            );
            Some(event(true, EVENT_FAILED, note))
        }
    }
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

/// Set the HooksSucceeded condition from the hooks of the newest
/// promotion that has any (abandoned ones aside), or remove it when there
/// are none: True when all succeeded, False naming each failed hook,
/// Unknown while some are pending or running.
pub fn set_condition(conds: &mut Vec<Condition>, rows: &[HookStatus], generation: i64, now: &str) {
    let live: Vec<&HookStatus> = rows
        .iter()
        .filter(|r| r.phase != HookPhase::Abandoned)
        .collect();
    let Some(epoch) = live.iter().map(|r| r.epoch).max() else {
        conds.retain(|c| c.type_ != types::HOOKS_SUCCEEDED);
        return;
    };
    let live: Vec<&HookStatus> = live.into_iter().filter(|r| r.epoch == epoch).collect();
    let failed: Vec<String> = live
        .iter()
        .filter(|r| r.phase == HookPhase::Failed)
        .map(|r| format!("{}: {}", r.name, r.message.as_deref().unwrap_or("failed")))
        .collect();
    let waiting: Vec<String> = live
        .iter()
        .filter(|r| !r.phase.finished())
        .map(|r| match &r.next_attempt_at {
            Some(at) if r.phase == HookPhase::Pending => {
                format!("{} (attempt {} failed, next at {at})", r.name, r.attempts)
            }
            _ => format!("{} ({})", r.name, r.phase.as_str()),
        })
        .collect();
    let (status, reason, message) = if !failed.is_empty() {
        (
            ConditionStatus::False,
            "HookFailed",
            format!(
                "after the promotion at epoch {epoch}, failed: {}; the promotion stands (status.hooks, HookFailed Events)",
                failed.join("; ")
            ),
        )
    } else if !waiting.is_empty() {
        (
            ConditionStatus::Unknown,
            "HooksRunning",
            format!(
                "hooks of the promotion at epoch {epoch} not finished: {}",
                waiting.join(", ")
            ),
        )
    } else {
        (
            ConditionStatus::True,
            "Succeeded",
            format!(
                "all {} hooks of the promotion at epoch {epoch} succeeded",
                live.len()
            ),
        )
    };
    conditions::set_condition(
        conds,
        Condition::new(
            types::HOOKS_SUCCEEDED,
            status,
            reason,
            message,
            generation,
            now,
        ),
    );
}

/// What an HTTP hook's answer means: 2xx is success; a redirect (never
/// followed) or any other status is a failed attempt, named with the
/// answer's `error` field when it is JSON with one, else the start of the
/// answer (secret-looking values masked either way), as a site's error.
pub fn http_outcome(status: u16, body: &str) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::Succeeded(format!("HTTP {status}"));
    }
    if (300..400).contains(&status) {
        return Outcome::AttemptFailed(format!(
            "HTTP {status}: a redirect, which is not followed; set http.url to the address that answers"
        ));
    }
    let text = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| body.to_string());
    let text = trim(&mask_secret_values(&text), MAX_MESSAGE);
    Outcome::AttemptFailed(if text.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {text}")
    })
}

/// What a Job hook's Job says: Complete is success, Failed is final.
pub fn job_outcome(job: &str, seen: &JobSeen) -> Outcome {
    if seen.complete {
        return Outcome::Succeeded(format!("Job {job} complete"));
    }
    if let Some(why) = &seen.failed {
        return Outcome::Failed(format!("Job {job} failed: {why}"));
    }
    Outcome::Running(format!(
        "Job {job}: {} pods running, {} failed so far",
        seen.active, seen.failed_pods
    ))
}

/// The Job of one hook of one promotion: `<pair>-<hook>-e<epoch>`, or,
/// past 63 characters (a label value; the Job's pods carry it), its start,
/// a hash of the whole and the epoch.
pub fn job_name(pair: &str, hook: &str, epoch: i64) -> String {
    use sha2::{Digest, Sha256};
    let full = format!("{pair}-{hook}-e{epoch}");
    if full.len() <= 63 {
        return full;
    }
    let hash = hex::encode(Sha256::digest(full.as_bytes()));
    let suffix = format!("-{}-e{epoch}", &hash[..10]);
    let keep = 63usize.saturating_sub(suffix.len());
    let head = full[..keep.min(full.len())].trim_end_matches('-');
    format!("{head}{suffix}")
}

/// The value of `Idempotency-Key` and `X-Sitehapair-Hook-Id`: the same for
/// every attempt of one hook of one promotion, and for no other.
pub fn hook_id(pair_uid: &str, epoch: i64, hook: &str) -> String {
    format!("{pair_uid}-e{epoch}-{hook}")
}

/// The JSON body of an HTTP hook.
pub fn http_body(pair: &str, namespace: &str, rec: &PromotionRecord, hook: &str) -> Value {
    json!({
        "pair": pair,
        "namespace": namespace,
        "from": rec.from,
        "to": rec.to,
        "epoch": rec.epoch,
        "reason": rec.reason,
        "forced": rec.forced,
        "completedAt": rec.completed_at,
        "hook": hook,
    })
}

/// The environment every container of a Job hook gets.
pub fn job_env(
    pair: &str,
    namespace: &str,
    rec: &PromotionRecord,
    hook: &str,
) -> Vec<(String, String)> {
    [
        ("SITEHAPAIR_PAIR", pair.to_string()),
        ("SITEHAPAIR_NAMESPACE", namespace.to_string()),
        ("SITEHAPAIR_HOOK", hook.to_string()),
        ("SITEHAPAIR_FROM", rec.from.clone().unwrap_or_default()),
        ("SITEHAPAIR_TO", rec.to.clone()),
        ("SITEHAPAIR_EPOCH", rec.epoch.to_string()),
        ("SITEHAPAIR_REASON", rec.reason.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[cfg(test)]
#[path = "hooks_tests.rs"]
mod tests;
