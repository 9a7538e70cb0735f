//! Unit tests of the hooks' decisions: recording a completed promotion's
//! hooks (never the first activation's), Pending → Running → Succeeded,
//! failed attempts and their backoff, exhausted attempts, abandonment by a
//! newer promotion, the condition, the wake-up time, names and bodies.

use super::*;
use crate::api::conditions::{Condition, ConditionStatus, types};
use crate::api::redact::MAX_MESSAGE;
use crate::api::{HookPhase, HttpHook, JobHook, PromotionHook, PromotionRecord};
use crate::plan::promotion::REASON_INITIAL;
use serde_json::json;

/// The HooksSucceeded condition as `conditions::compose` writes it from
/// `rows` (absent when no live hook is left).
fn hooks_condition(conds: &mut Vec<Condition>, rows: &[HookStatus], generation: i64, now: &str) {
    conds.retain(|c| c.type_ != types::HOOKS_SUCCEEDED);
    if let crate::plan::conditions::Judged::Is(v) = crate::plan::conditions::hooks_succeeded(rows) {
        let (reason, message) = (v.reason.as_str(), v.message);
        let c = Condition::new(
            types::HOOKS_SUCCEEDED,
            v.status,
            reason,
            message,
            generation,
            now,
        );
        conds.push(c);
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn http(name: &str, attempts: i32, backoff: &str) -> PromotionHook {
    PromotionHook {
        name: name.into(),
        http: Some(HttpHook {
            url: "https://hooks.example/after".into(),
            token_secret_ref: None,
            ca_secret_ref: None,
            timeout: "10s".into(),
        }),
        job: None,
        attempts,
        backoff: backoff.into(),
        rehearse: false,
    }
}

fn job(name: &str) -> PromotionHook {
    PromotionHook {
        name: name.into(),
        http: None,
        job: Some(JobHook {
            spec: json!({"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}),
        }),
        attempts: 3,
        backoff: "10s".into(),
        rehearse: false,
    }
}

fn rec(to: &str, epoch: i64, reason: &str) -> PromotionRecord {
    PromotionRecord {
        from: Some("east".into()),
        to: to.into(),
        reason: reason.into(),
        epoch,
        started_at: "2026-01-01T00:00:00Z".into(),
        completed_at: "2026-01-01T00:00:05Z".into(),
        forced: false,
        forced_by: None,
        ..PromotionRecord::default()
    }
}

const NOW: &str = "2026-01-01T00:00:10Z";

#[test]
fn a_completed_promotion_records_its_hooks_pending() {
    let mut rows = Vec::new();
    let hooks = [http("notify", 3, "10s"), job("certs")];
    let events = begin(&mut rows, &hooks, &rec("west", 2, "Manual"));
    assert!(events.is_empty());
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.phase == HookPhase::Pending && r.epoch == 2 && r.attempts == 0)
    );
    // Recording the same promotion again changes nothing.
    let before = rows.clone();
    assert!(begin(&mut rows, &hooks, &rec("west", 2, "Manual")).is_empty());
    assert_eq!(rows, before);
}

#[test]
fn automatic_promotions_run_hooks_and_first_activations_run_none() {
    let hooks = [http("notify", 3, "10s")];
    let mut rows = Vec::new();
    begin(&mut rows, &hooks, &rec("east", 1, REASON_INITIAL));
    assert!(rows.is_empty(), "the first activation runs no hook");
    begin(&mut rows, &hooks, &rec("west", 2, "Automatic"));
    assert_eq!(rows.len(), 1);
}

#[test]
fn only_a_record_newer_than_the_trips_start_is_a_completion() {
    let history = vec![rec("east", 1, REASON_INITIAL), rec("west", 2, "Manual")];
    assert_eq!(completed_now(Some(1), &history).map(|r| r.epoch), Some(2));
    assert_eq!(completed_now(None, &history).map(|r| r.epoch), Some(2));
    assert!(completed_now(Some(2), &history).is_none());
    assert!(completed_now(Some(2), &[]).is_none());
}

#[test]
fn pending_then_running_then_succeeded() {
    let hooks = [http("notify", 3, "10s")];
    let mut rows = Vec::new();
    begin(&mut rows, &hooks, &rec("west", 2, "Manual"));
    let now = t(NOW);
    let work = due(&rows, &hooks, "gis", false, now);
    assert_eq!(
        work,
        vec![Due {
            index: 0,
            work: Work::Call
        }]
    );
    assert!(work[0].work.starts_attempt());
    start(&mut rows[0], None, now);
    assert_eq!(rows[0].phase, HookPhase::Running);
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[0].last_attempt_at.as_deref(), Some(NOW));
    let ev = finish(
        &mut rows[0],
        &hooks[0],
        Outcome::Succeeded("HTTP 200".into()),
        now,
    )
    .expect("an event");
    assert_eq!(rows[0].phase, HookPhase::Succeeded);
    assert_eq!((ev.reason, ev.warning), (EVENT_SUCCEEDED, false));
    assert!(
        ev.note
            .contains("hook notify of the promotion at epoch 2 succeeded")
    );
    assert!(due(&rows, &hooks, "gis", false, now).is_empty());
    assert_eq!(next_wake(&rows, false, now), None);
}

#[test]
fn a_failed_attempt_schedules_the_next_at_the_backoff_and_is_not_due_before() {
    let hooks = [http("notify", 3, "10s")];
    let mut rows = Vec::new();
    begin(&mut rows, &hooks, &rec("west", 2, "Manual"));
    let now = t(NOW);
    start(&mut rows[0], None, now);
    let ev = finish(
        &mut rows[0],
        &hooks[0],
        Outcome::AttemptFailed("HTTP 500: boom".into()),
        now,
    )
    .expect("an event");
    assert_eq!(rows[0].phase, HookPhase::Pending);
    assert_eq!(
        rows[0].next_attempt_at.as_deref(),
        Some("2026-01-01T00:00:20Z")
    );
    assert_eq!(rows[0].message.as_deref(), Some("HTTP 500: boom"));
    assert_eq!((ev.reason, ev.warning), (EVENT_FAILED, true));
    assert!(ev.note.contains("attempt 1 of 3 failed: HTTP 500: boom"));
    assert!(ev.note.contains("next attempt at 2026-01-01T00:00:20Z"));
    // Not due before its time; the trip comes back then.
    assert!(due(&rows, &hooks, "gis", false, t("2026-01-01T00:00:19Z")).is_empty());
    assert_eq!(next_wake(&rows, false, now), Some(Duration::from_secs(10)));
    assert_eq!(
        due(&rows, &hooks, "gis", false, t("2026-01-01T00:00:20Z")),
        vec![Due {
            index: 0,
            work: Work::Call
        }]
    );
    // The second failure waits three times as long.
    start(&mut rows[0], None, t("2026-01-01T00:00:20Z"));
    finish(
        &mut rows[0],
        &hooks[0],
        Outcome::AttemptFailed("x".into()),
        t("2026-01-01T00:00:20Z"),
    );
    assert_eq!(
        rows[0].next_attempt_at.as_deref(),
        Some("2026-01-01T00:00:50Z")
    );
}

#[test]
fn backoff_triples_up_to_its_cap() {
    let h = http("n", 10, "10s");
    let waits: Vec<u64> = (1..=4).map(|n| backoff(&h, n).as_secs()).collect();
    assert_eq!(waits, [10, 30, 90, 270]);
    assert_eq!(backoff(&h, 10), MAX_BACKOFF);
    assert_eq!(backoff(&http("n", 3, "1s"), 1), Duration::from_secs(1));
    // An unreadable backoff (the API server checks it) falls back to 10s.
    assert_eq!(backoff(&http("n", 3, "soon"), 1), Duration::from_secs(10));
}

#[test]
fn exhausted_attempts_are_failed_with_the_last_message() {
    let hooks = [http("notify", 2, "1s")];
    let mut rows = Vec::new();
    begin(&mut rows, &hooks, &rec("west", 2, "Manual"));
    let now = t(NOW);
    for _ in 0..2 {
        start(&mut rows[0], None, now);
        finish(
            &mut rows[0],
            &hooks[0],
            Outcome::AttemptFailed("HTTP 500".into()),
            now,
        );
    }
    assert_eq!(rows[0].phase, HookPhase::Failed);
    assert_eq!(rows[0].attempts, 2);
    assert_eq!(rows[0].next_attempt_at, None);
    assert!(due(&rows, &hooks, "gis", false, now).is_empty());
    let mut conds = Vec::new();
    hooks_condition(&mut conds, &rows, 4, NOW);
    let c = &conds[0];
    assert_eq!(c.type_, types::HOOKS_SUCCEEDED);
    assert_eq!(c.status, ConditionStatus::False);
    assert_eq!(c.reason, "HookFailed");
    assert_eq!(c.observed_generation, 4);
    assert!(c.message.contains("notify: HTTP 500"), "{}", c.message);
}

#[test]
fn a_failed_job_is_final_whatever_attempts_are_left() {
    let hooks = [job("certs")];
    let mut rows = Vec::new();
    begin(&mut rows, &hooks, &rec("west", 2, "Manual"));
    let now = t(NOW);
    let work = due(&rows, &hooks, "gis", false, now);
    assert_eq!(
        work[0].work,
        Work::CreateJob {
            job: "gis-certs-e2".into()
        }
    );
    start(&mut rows[0], Some("gis-certs-e2"), now);
    assert_eq!(
        due(&rows, &hooks, "gis", false, now)[0].work,
        Work::CheckJob {
            job: "gis-certs-e2".into()
        }
    );
    assert_eq!(next_wake(&rows, false, now), Some(JOB_POLL));
    let running = job_outcome(
        "gis-certs-e2",
        &JobSeen {
            active: 1,
            ..JobSeen::default()
        },
    );
    assert!(finish(&mut rows[0], &hooks[0], running, now).is_none());
    assert_eq!(rows[0].phase, HookPhase::Running);
    let failed = job_outcome(
        "gis-certs-e2",
        &JobSeen {
            failed: Some(
                "BackoffLimitExceeded: Job has reached the specified backoff limit".into(),
            ),
            ..JobSeen::default()
        },
    );
    let ev = finish(&mut rows[0], &hooks[0], failed, now).expect("event");
    assert_eq!(rows[0].phase, HookPhase::Failed);
    assert!(
        ev.note
            .contains("Job gis-certs-e2 failed: BackoffLimitExceeded")
    );
}

#[test]
fn a_newer_promotion_abandons_unfinished_hooks_and_drops_finished_ones() {
    let hooks = [http("notify", 3, "10s"), http("stores", 3, "10s")];
    let mut rows = Vec::new();
    begin(&mut rows, &hooks, &rec("west", 2, "Manual"));
    let now = t(NOW);
    start(&mut rows[0], None, now);
    finish(
        &mut rows[0],
        &hooks[0],
        Outcome::Succeeded("ok".into()),
        now,
    );
    start(&mut rows[1], None, now);
    finish(
        &mut rows[1],
        &hooks[1],
        Outcome::AttemptFailed("HTTP 503".into()),
        now,
    );
    let events = begin(&mut rows, &hooks, &rec("east", 3, "Automatic"));
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].reason, events[0].warning),
        (EVENT_ABANDONED, true)
    );
    assert!(
        events[0]
            .note
            .contains("hook stores of the promotion at epoch 2 abandoned")
    );
    let old: Vec<(&str, HookPhase)> = rows
        .iter()
        .filter(|r| r.epoch == 2)
        .map(|r| (r.name.as_str(), r.phase))
        .collect();
    assert_eq!(old, [("stores", HookPhase::Abandoned)]);
    assert_eq!(rows.iter().filter(|r| r.epoch == 3).count(), 2);
    // Only the new promotion's hooks are due; the condition speaks of it.
    let work = due(&rows, &hooks, "gis", false, now);
    assert!(work.iter().all(|d| rows[d.index].epoch == 3));
    let mut conds = Vec::new();
    hooks_condition(&mut conds, &rows, 1, NOW);
    assert_eq!(conds[0].status, ConditionStatus::Unknown);
    assert!(conds[0].message.contains("epoch 3"));
    // The promotion after that drops the abandoned row too.
    begin(&mut rows, &[], &rec("west", 4, "Manual"));
    assert!(
        rows.iter()
            .all(|r| r.epoch == 3 && r.phase == HookPhase::Abandoned)
    );
}

#[test]
fn a_hook_removed_from_the_spec_is_abandoned() {
    let hooks = [http("notify", 3, "10s")];
    let mut rows = Vec::new();
    begin(&mut rows, &hooks, &rec("west", 2, "Manual"));
    let events = abandon_removed(&mut rows, &[]);
    assert_eq!(events.len(), 1);
    assert_eq!(rows[0].phase, HookPhase::Abandoned);
    assert!(due(&rows, &[], "gis", false, t(NOW)).is_empty());
    // With no live hook left, the condition goes.
    let mut conds = vec![Condition::new(
        types::HOOKS_SUCCEEDED,
        ConditionStatus::True,
        "Succeeded",
        "x",
        1,
        NOW,
    )];
    hooks_condition(&mut conds, &rows, 1, NOW);
    assert!(conds.is_empty());
}

#[test]
fn an_http_attempt_left_running_is_resumed() {
    let hooks = [http("notify", 3, "10s")];
    let mut rows = Vec::new();
    begin(&mut rows, &hooks, &rec("west", 2, "Manual"));
    start(&mut rows[0], None, t(NOW));
    assert_eq!(
        due(&rows, &hooks, "gis", false, t(NOW))[0].work,
        Work::Resume
    );
    assert!(!Work::Resume.starts_attempt());
    assert_eq!(next_wake(&rows, false, t(NOW)), Some(Duration::ZERO));
}

#[test]
fn the_condition_is_true_when_all_succeeded() {
    let hooks = [http("a", 3, "10s"), http("b", 3, "10s")];
    let mut rows = Vec::new();
    begin(&mut rows, &hooks, &rec("west", 2, "Manual"));
    let now = t(NOW);
    for (r, h) in rows.iter_mut().zip(&hooks) {
        start(r, None, now);
        finish(r, h, Outcome::Succeeded("HTTP 204".into()), now);
    }
    let mut conds = Vec::new();
    hooks_condition(&mut conds, &rows, 2, NOW);
    assert_eq!(conds[0].status, ConditionStatus::True);
    assert_eq!(conds[0].reason, "Succeeded");
    assert_eq!(
        conds[0].message,
        "all 2 hooks of the promotion at epoch 2 succeeded"
    );
}

#[test]
fn http_answers_become_outcomes_with_masked_trimmed_text() {
    assert_eq!(http_outcome(204, ""), Outcome::Succeeded("HTTP 204".into()));
    assert!(
        matches!(http_outcome(302, ""), Outcome::AttemptFailed(m) if m.contains("not followed"))
    );
    let Outcome::AttemptFailed(m) = http_outcome(500, r#"{"password": "hunter2", "e": "x"}"#)
    else {
        panic!("a 500 is a failed attempt");
    };
    assert!(!m.contains("hunter2"), "{m}");
    let Outcome::AttemptFailed(m) = http_outcome(503, &"z\n".repeat(1000)) else {
        panic!("a 503 is a failed attempt");
    };
    assert!(m.chars().count() <= MAX_MESSAGE + 10 && !m.contains('\n'));
    assert_eq!(
        http_outcome(401, ""),
        Outcome::AttemptFailed("HTTP 401".into())
    );
    assert_eq!(
        http_outcome(500, r#"{"error": "store offline"}"#),
        Outcome::AttemptFailed("HTTP 500: store offline".into())
    );
}

#[test]
fn job_names_are_stable_and_fit_a_label() {
    assert_eq!(job_name("gis", "certs", 7), "gis-certs-e7");
    let long = job_name(&"p".repeat(60), &"h".repeat(63), 12);
    assert!(long.len() <= 63, "{long}");
    assert!(long.ends_with("-e12"));
    assert_eq!(long, job_name(&"p".repeat(60), &"h".repeat(63), 12));
    assert_ne!(long, job_name(&"p".repeat(60), &"h".repeat(63), 13));
    assert_ne!(
        job_name(&"p".repeat(60), &"h".repeat(62), 12),
        job_name(&"p".repeat(60), &"h".repeat(63), 12)
    );
}

#[test]
fn bodies_and_environment_name_the_promotion() {
    let r = rec("west", 5, "Automatic");
    let b = http_body("gis", "ops", &r, "notify");
    assert_eq!(b["from"], "east");
    assert_eq!(b["to"], "west");
    assert_eq!(b["epoch"], 5);
    assert_eq!(b["reason"], "Automatic");
    assert_eq!(b["completedAt"], "2026-01-01T00:00:05Z");
    assert_eq!(b["hook"], "notify");
    let env = job_env("gis", "ops", &r, "certs");
    assert!(env.contains(&("SITEHAPAIR_TO".into(), "west".into())));
    assert!(env.contains(&("SITEHAPAIR_EPOCH".into(), "5".into())));
    assert_eq!(hook_id("uid-1", 5, "notify"), "uid-1-e5-notify");
}

#[test]
fn no_new_attempt_starts_while_another_promotion_is_under_way() {
    let hooks = [http("notify", 3, "1s"), job("certs")];
    let mut rows = Vec::new();
    begin(&mut rows, &hooks, &rec("west", 2, "Manual"));
    let now = t(NOW);
    start(&mut rows[1], Some("gis-certs-e2"), now);
    // The pending HTTP hook waits; the running Job is still followed.
    let work = due(&rows, &hooks, "gis", true, now);
    assert_eq!(
        work,
        vec![Due {
            index: 1,
            work: Work::CheckJob {
                job: "gis-certs-e2".into()
            }
        }]
    );
    assert_eq!(next_wake(&rows, true, now), Some(JOB_POLL));
    assert_eq!(next_wake(&rows, false, now), Some(Duration::ZERO));
}
