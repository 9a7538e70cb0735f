//! Rehearsal of a planned promotion, the I/O half: when the pure part
//! (`plan::rehearsal`) says a request is to run, the Running record is
//! written first, then every step of a planned promotion that changes
//! nothing is run against the target and timed: the promotion's preflight,
//! a full listing of the target compared with the source revision, its
//! health check, `GET /mode`, and the hooks marked rehearse (called once,
//! marked as a rehearsal). No `PUT /mode`, no role record, no epoch, no
//! traffic: this file calls none of them. The record it ends with
//! (`plan::rehearsal_judge`) is written with the trip's status.

use std::time::{Duration, Instant};

use kube::ResourceExt;
use serde_json::json;

use super::error::StepError;
use super::journal::StatusJournal;
use crate::api::{PromotionHook, RehearsalRequest, SiteHAPair, SiteHAPairStatus};
use crate::controller::Context;
use crate::controller::hook_http::{self, Call};
use crate::controller::secrets::TripSecrets;
use crate::controller::sync::{Drivers, SourceOf, desired_for, site_mode};
use crate::plan::conditions::Findings;
use crate::plan::event::PlannedEvent;
use crate::plan::hooks::Outcome;
use crate::plan::promotion::preflight;
use crate::plan::promotion_input::PairAsks;
use crate::plan::promotion_status::observations;
use crate::plan::rehearsal::{Due, begin, due, finished_without_running, requested_by, would_do};
use crate::plan::rehearsal_judge::{Finding, Timed, conclude, event_of};
use crate::plan::sync_status::SiteReport;
use crate::plan::time::Timestamp;
use crate::sites::{Listing, Site, SiteDriver};

/// Timeout of the rehearsal's own calls to the target.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// What the rehearsal works from: the trip's observations.
pub struct Seen<'a> {
    pub reports: &'a [SiteReport],
    pub drivers: &'a Drivers,
    pub source: Option<&'a SourceOf>,
    pub asks: &'a PairAsks<'a>,
}

/// The rehearsal's part of a trip, after the promotion step: returns the
/// Event of a rehearsal that finished.
pub async fn rehearse(
    ctx: &Context,
    obj: &SiteHAPair,
    status: &mut SiteHAPairStatus,
    journal: &mut StatusJournal<'_>,
    findings: &Findings,
    seen: &Seen<'_>,
) -> Result<Vec<PlannedEvent>, StepError> {
    let req = obj.spec.promotion.rehearse.as_ref();
    let by = req.and_then(|r| requested_by(obj, r));
    let now = journal.now();
    let start = obj.status.clone().unwrap_or_default();
    match due(req, &obj.spec, &start, status) {
        Due::Nothing => Ok(Vec::new()),
        Due::Finish { result, message } => {
            let rec = finished_without_running(req, by, status, result, message, now);
            let event = event_of(&rec);
            status.rehearsal = Some(rec);
            Ok(vec![event])
        }
        Due::Run => {
            let Some(req) = req else {
                return Ok(Vec::new());
            };
            let running = begin(req, by, status, now);
            status.rehearsal = Some(running.clone());
            // The rehearsal is on record before its hooks are called.
            journal.record(ctx, obj, status, findings).await?;
            if !ctx.is_leader() {
                return Err(StepError::NotLeader);
            }
            let timed = run_steps(ctx, obj, status, req, seen, now).await;
            let traffic = obj
                .spec
                .traffic
                .service_name
                .clone()
                .unwrap_or_else(|| obj.name_any());
            let plan = would_do(
                &obj.spec,
                &traffic,
                status,
                &seen.asks.windows,
                &req.site,
                now,
            );
            let (rec, event) = conclude(&running, status, &timed, plan, Timestamp::now());
            tracing::info!(
                namespace = obj.namespace().unwrap_or_default(),
                name = obj.name_any(),
                site = %rec.site,
                result = rec.result.as_str(),
                problems = rec.problems.len(),
                "rehearsal finished"
            );
            status.rehearsal = Some(rec);
            Ok(vec![event])
        }
    }
}

/// Every step, in order, each timed.
async fn run_steps(
    ctx: &Context,
    obj: &SiteHAPair,
    status: &SiteHAPairStatus,
    req: &RehearsalRequest,
    seen: &Seen<'_>,
    now: Timestamp,
) -> Vec<Timed> {
    let site = req.site.as_str();
    let mut out = Vec::new();
    let clock = Clock::start();
    let sites = observations(status, seen.reports);
    // Planned with the trip's one clock reading, as the promotion is.
    let mut inp = seen.asks.input(status, &sites, now);
    inp.target = site;
    let fails = preflight(&inp).into_iter().map(|b| b.message).collect();
    out.push(clock.stop(Finding::Preflight(fails)));
    let driver = seen.drivers.get(site);
    let clock = Clock::start();
    let compared = compare(obj, driver, site, seen.source).await;
    out.push(clock.stop(Finding::Compare(compared)));
    let clock = Clock::start();
    let health = match driver {
        None => Err(no_driver(seen, site)),
        Some(d) => match tokio::time::timeout(seen.asks.times.health_timeout, d.health()).await {
            Ok(Ok(h)) => Ok(h),
            Ok(Err(e)) => Err(format!("health check: {e}")),
            Err(_) => Err(format!(
                "health check: no answer within {:?}",
                seen.asks.times.health_timeout
            )),
        },
    };
    out.push(clock.stop(Finding::Health(health)));
    let clock = Clock::start();
    let role = match driver {
        None => Err(no_driver(seen, site)),
        Some(d) => match tokio::time::timeout(CALL_TIMEOUT, d.mode()).await {
            Ok(Ok(m)) => Ok((site_mode(m.mode), m.epoch)),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("GET /mode: no answer within {CALL_TIMEOUT:?}")),
        },
    };
    out.push(clock.stop(Finding::Role(role)));
    for hook in &obj.spec.promotion.hooks {
        let clock = Clock::start();
        let outcome = call_hook(ctx, obj, status, req, hook).await;
        let name = hook.name.clone();
        out.push(clock.stop(Finding::Hook { name, outcome }));
    }
    out
}

/// Why the target has no driver this trip.
fn no_driver(seen: &Seen<'_>, site: &str) -> String {
    seen.reports
        .iter()
        .find(|r| r.name == site)
        .and_then(|r| r.error.clone())
        .unwrap_or_else(|| format!("site {site} could not be called"))
}

/// A full listing of the target (no ETag: every service read), compared
/// with the revision the trip synced to.
async fn compare(
    obj: &SiteHAPair,
    driver: Option<&SiteDriver>,
    site: &str,
    source: Option<&SourceOf>,
) -> Option<(String, Result<crate::plan::diff::SiteDiff, String>)> {
    let (revision, services) = source?;
    let set = services.as_ref().as_ref().ok()?;
    let Some(d) = driver else {
        return Some((
            revision.clone(),
            Err(format!("site {site} could not be called")),
        ));
    };
    let listed = tokio::time::timeout(CALL_TIMEOUT, d.services_if_changed(None)).await;
    let live = match listed {
        Ok(Ok(Listing::Full { services, .. })) => services,
        Ok(Ok(Listing::Unchanged)) => {
            return Some((
                revision.clone(),
                Err("the site answered 304 to a listing without an ETag".into()),
            ));
        }
        Ok(Err(e)) => return Some((revision.clone(), Err(e.to_string()))),
        Err(_) => {
            return Some((
                revision.clone(),
                Err(format!("no listing within {CALL_TIMEOUT:?}")),
            ));
        }
    };
    let desired = desired_for(&Ok(d.clone()), site, set);
    let mut diff = crate::plan::diff::diff(&desired, &live);
    if !obj.spec.sync.prune {
        // A pair that never prunes would not delete them either.
        diff.delete.clear();
    }
    Some((revision.clone(), Ok(diff)))
}

/// One call of a hook marked rehearse, marked as a rehearsal; `None` for
/// the others (skipped).
async fn call_hook(
    ctx: &Context,
    obj: &SiteHAPair,
    status: &SiteHAPairStatus,
    req: &RehearsalRequest,
    hook: &PromotionHook,
) -> Option<Result<String, String>> {
    let spec = hook.http.as_ref().filter(|_| hook.rehearse)?;
    let namespace = obj.namespace().unwrap_or_default();
    let secrets = TripSecrets::new(&ctx.secrets, &namespace);
    let id = format!(
        "{}-rehearsal-{}-{}",
        obj.uid().unwrap_or_default(),
        req.id,
        hook.name
    );
    let body = json!({
        "pair": obj.name_any(),
        "namespace": namespace,
        "from": status.active_site,
        "to": req.site,
        "epoch": status.epoch + 1,
        "reason": "Rehearsal",
        "forced": false,
        "hook": hook.name,
        "rehearsal": true,
    });
    let call = Call {
        id: &id,
        attempt: 1,
        body: &body,
    };
    Some(match hook_http::call(&secrets, spec, &call).await {
        Outcome::Succeeded(m) => Ok(m),
        Outcome::Running(m) | Outcome::AttemptFailed(m) | Outcome::Failed(m) => Err(m),
    })
}

/// When a step began, by the wall clock and a monotonic one.
struct Clock {
    at: Timestamp,
    started: Instant,
}

impl Clock {
    fn start() -> Self {
        Self {
            at: Timestamp::now(),
            started: Instant::now(),
        }
    }

    fn stop(&self, finding: Finding) -> Timed {
        Timed {
            finding,
            started_at: self.at,
            milliseconds: i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX),
        }
    }
}
