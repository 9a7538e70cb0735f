//! Work after a promotion, the I/O half. Once a trip's promotion is
//! Complete its hooks are recorded in status.hooks; every trip then asks
//! the pure part (`plan::hooks`) what is due, writes the attempts it
//! starts to status before making them (so an operator killed mid-call
//! resumes instead of forgetting a hook), makes the HTTP calls and Job
//! creations and reads concurrently, and folds their outcomes back into
//! status.hooks and Events (the HooksSucceeded condition is composed from
//! those rows). A hook never fails the reconcile and never touches the
//! promotion.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::join_all;
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use super::error::StepError;
use super::journal::StatusJournal;
use crate::api::{HookStatus, PromotionHook, PromotionRecord, SiteHAPair, SiteHAPairStatus};
use crate::controller::Context;
use crate::controller::hook_http::{self, Call};
use crate::controller::hook_job::{self, JobFor};
use crate::controller::secrets::TripSecrets;
use crate::plan::conditions::Findings;
use crate::plan::event::PlannedEvent;
use crate::plan::hooks::{
    Due, Outcome, Work, abandon_removed, begin, completed_now, due, finish, hook_id, http_body,
    next_wake, start,
};

/// Outcomes are remembered this long.
const REMEMBER_FOR: Duration = Duration::from_secs(600);

/// The outcomes of HTTP attempts this replica made, by hook and attempt:
/// when the status write after a call is refused (the object moved), the
/// trip planned again finds the attempt Running and takes its outcome from
/// here instead of calling as if it had been lost.
#[derive(Default)]
pub struct HookOutcomes {
    map: Mutex<HashMap<String, (Outcome, Instant)>>,
}

impl HookOutcomes {
    fn remember(&self, key: String, outcome: Outcome) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, (_, at)| now.saturating_duration_since(*at) < REMEMBER_FOR);
        map.insert(key, (outcome, now));
    }

    fn recall(&self, key: &str) -> Option<Outcome> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).map(|(o, _)| o.clone())
    }
}

/// The key of one attempt of one hook of one promotion.
fn attempt_key(id: &str, attempt: i32) -> String {
    format!("{id}#{attempt}")
}

/// Fault injection for the resume test, compiled only with the
/// `failpoints` feature: with `SITEHAPAIR_FAILPOINT_EXIT_BEFORE_HOOK=<hook>`
/// the process exits at once (like SIGKILL) after writing that hook's
/// attempt to status and before making it.
#[cfg(feature = "failpoints")]
fn crash_point(work: &[Due], rows: &[HookStatus]) {
    let Ok(hook) = std::env::var("SITEHAPAIR_FAILPOINT_EXIT_BEFORE_HOOK") else {
        return;
    };
    if work
        .iter()
        .any(|d| d.work.starts_attempt() && rows[d.index].name == hook)
    {
        warn!(hook, "failpoint: exiting before the hook's attempt");
        std::process::exit(86);
    }
}

/// Without the `failpoints` feature there is no crash switch at all.
#[cfg(not(feature = "failpoints"))]
fn crash_point(_work: &[Due], _rows: &[HookStatus]) {}

/// The hooks' part of a trip: `before` is the newest epoch in
/// status.history when the trip began. Returns the Events and how soon
/// the trip should come back for the hooks.
pub async fn hooks(
    ctx: &Context,
    obj: &SiteHAPair,
    status: &mut SiteHAPairStatus,
    journal: &mut StatusJournal<'_>,
    findings: &Findings,
    before: Option<i64>,
) -> Result<(Vec<PlannedEvent>, Option<Duration>), StepError> {
    let hooks = &obj.spec.promotion.hooks;
    let name = obj.name_any();
    let namespace = obj.namespace().unwrap_or_default();
    let mut events = Vec::new();
    if let Some(rec) = completed_now(before, &status.history).cloned() {
        events.extend(begin(&mut status.hooks, hooks, &rec));
    }
    events.extend(abandon_removed(&mut status.hooks, hooks));
    let now = journal.now();
    let promoting = status.promotion.is_some();
    let work = due(&status.hooks, hooks, &name, promoting, now);
    if work.iter().any(|d| d.work.starts_attempt()) {
        for d in &work {
            match &d.work {
                Work::Call => start(&mut status.hooks[d.index], None, now),
                Work::CreateJob { job } => start(&mut status.hooks[d.index], Some(job), now),
                _ => {}
            }
        }
        // The attempts reach status before they are made.
        journal.record(ctx, obj, status, findings).await?;
        crash_point(&work, &status.hooks);
        if !ctx.is_leader() {
            return Err(StepError::NotLeader);
        }
    }
    let secrets = TripSecrets::new(&ctx.secrets, &namespace);
    let rows: Vec<HookStatus> = work.iter().map(|d| status.hooks[d.index].clone()).collect();
    let calls = HookCalls {
        ctx,
        obj,
        secrets: &secrets,
        history: &status.history,
        hooks,
    };
    let outcomes = join_all(
        work.iter()
            .zip(&rows)
            .map(|(d, row)| calls.carry_out(d, row)),
    )
    .await;
    for (d, outcome) in work.iter().zip(outcomes) {
        let row = &mut status.hooks[d.index];
        let Some(hook) = hooks.iter().find(|h| h.name == row.name) else {
            continue;
        };
        events.extend(finish(row, hook, outcome, now));
    }
    Ok((events, next_wake(&status.hooks, promoting, now)))
}

/// What the hook calls and Jobs of one trip need.
struct HookCalls<'a> {
    ctx: &'a Context,
    obj: &'a SiteHAPair,
    secrets: &'a TripSecrets<'a>,
    history: &'a [PromotionRecord],
    hooks: &'a [PromotionHook],
}

impl HookCalls<'_> {
    /// Do one piece of work; its outcome, never an error.
    async fn carry_out(&self, d: &Due, row: &HookStatus) -> Outcome {
        let Some(hook) = self.hooks.iter().find(|h| h.name == row.name) else {
            return Outcome::Failed("the hook is not in spec.promotion.hooks".to_string());
        };
        let uid = self.obj.uid().unwrap_or_default();
        let id = hook_id(&uid, row.epoch, &row.name);
        let key = attempt_key(&id, row.attempts);
        let rec = self.history.iter().find(|r| r.epoch == row.epoch);
        let namespace = self.obj.namespace().unwrap_or_default();
        let pair = self.obj.name_any();
        let outcome = match (&d.work, rec) {
            (Work::Resume, _) => self.ctx.hook_outcomes.recall(&key).unwrap_or_else(|| {
                Outcome::AttemptFailed(
                    "the outcome of this attempt was not recorded (the operator stopped during it); calling again with the same Idempotency-Key".to_string(),
                )
            }),
            (Work::CheckJob { job }, _) => hook_job::check(&self.ctx.client, &namespace, job).await,
            (Work::Call | Work::CreateJob { .. }, None) => Outcome::Failed(format!(
                "the promotion at epoch {} is no longer in status.history",
                row.epoch
            )),
            (Work::Call, Some(rec)) => {
                let Some(spec) = &hook.http else {
                    return Outcome::Failed("the hook has no http".to_string());
                };
                let body = http_body(&pair, &namespace, rec, &row.name);
                let call = Call {
                    id: &id,
                    attempt: row.attempts,
                    body: &body,
                };
                let outcome = hook_http::call(self.secrets, spec, &call).await;
                self.ctx.hook_outcomes.remember(key, outcome.clone());
                outcome
            }
            (Work::CreateJob { job }, Some(rec)) => {
                let (Some(spec), Some(owner)) = (&hook.job, self.obj.controller_owner_ref(&()))
                else {
                    return Outcome::Failed("the hook has no job, or the pair no uid".to_string());
                };
                let who = JobFor {
                    pair: &pair,
                    namespace: &namespace,
                    hook: &row.name,
                    owner,
                    rec,
                };
                match hook_job::build(job, spec, &who) {
                    Ok(j) => hook_job::create(&self.ctx.client, &j, &uid).await,
                    Err(message) => Outcome::Failed(message),
                }
            }
        };
        log(&namespace, &pair, row, &outcome);
        outcome
    }
}

fn log(namespace: &str, pair: &str, row: &HookStatus, outcome: &Outcome) {
    let (hook, epoch, attempt) = (row.name.as_str(), row.epoch, row.attempts);
    match outcome {
        Outcome::Succeeded(m) | Outcome::Running(m) => {
            info!(namespace, name = pair, hook, epoch, attempt, message = %m, "hook")
        }
        Outcome::AttemptFailed(m) | Outcome::Failed(m) => {
            warn!(namespace, name = pair, hook, epoch, attempt, message = %m, "hook attempt failed")
        }
    }
}
