//! How an attempt came out and what that makes of its hook: an HTTP
//! hook's answer or a Job hook's Job read as an `Outcome`, and the outcome
//! folded into the hook's row (the next phase, when the next attempt is
//! due, the Event).

use jiff::Timestamp;
use serde_json::Value;

use crate::api::redact::{MAX_MESSAGE, mask_secret_values, trim};
use crate::api::{HookPhase, HookStatus, PromotionHook};
use crate::plan::event::PlannedEvent;
use crate::plan::promotion::stamp;

use super::schedule::{allowed, backoff};
use super::{EVENT_FAILED, EVENT_SUCCEEDED, JobSeen, Outcome, event, label};

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
