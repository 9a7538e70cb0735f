//! One reconcile of one `SiteHAPair`: finalizer handling, then the pure
//! status plan, the sync trip (observe the sites, sync them from the source,
//! standby first), the status write, the pair's metrics, events and traffic.

use std::sync::Arc;
use std::time::Instant;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use super::status_write::Written;
use super::{Context, Error};
use crate::api::{ANNOTATION_RECONCILE_REQUESTED_AT, FINALIZER, SiteHAPair};
use crate::plan::observe::{PlannedEvent, plan_status_with, spec_problems};
use crate::plan::schedule::{requeue_after, sync_allowed, until_slot};
use crate::plan::sync_status::fold_report;
use crate::source::git::redact_url;

use super::active_change::change_trip;
use super::failover::{carry_out, failover_check};
use super::hooks::hooks_trip;
use super::promote::promotion_trip;
use super::secrets::TripSecrets;
use super::sync::sync_trip;

/// Entry point given to the kube-runtime Controller.
pub async fn reconcile(obj: Arc<SiteHAPair>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = obj.namespace().ok_or(Error::NoNamespace)?;
    let name = obj.name_any();
    if !ctx.shard.holds(&namespace, &name) {
        // Another shard's pair (woken here by an owned object or a trigger).
        return Ok(Action::await_change());
    }
    if !ctx.is_leader() {
        return Err(Error::NotLeader { namespace, name });
    }
    let api: Api<SiteHAPair> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(obj) => apply(&obj, &ctx).await,
            FinalizerEvent::Cleanup(obj) => cleanup(&obj, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer {
            namespace: namespace.clone(),
            name: name.clone(),
            message: other.to_string(),
        },
    });
    ctx.metrics.observe_reconcile(started.elapsed());
    if result.is_ok() {
        ctx.reset_backoff(&super::PairKey::new(&namespace, &name));
    }
    result
}

/// Called by the Controller when reconcile fails: count it, back off per object.
pub fn error_policy(obj: Arc<SiteHAPair>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.observe_error(error.metric_reason());
    let key = super::PairKey::of(&obj);
    let delay = ctx.backoff(&key);
    warn!(object = %key, error = %error, retry_in_s = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

/// The soonest a pair is looked at again after a trip.
const MIN_REQUEUE: std::time::Duration = std::time::Duration::from_millis(200);

/// How often one reconcile re-reads and plans again after a status write
/// lost to a newer resourceVersion.
const CONFLICT_RETRIES: usize = 2;

/// One trip, always planned from a current status: the cached copy when
/// this replica can vouch for it, else a fresh read; again on a fresh read
/// when a guarded status write finds the object moved.
async fn apply(obj: &SiteHAPair, ctx: &Context) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::NoNamespace)?;
    let name = obj.name_any();
    let get_fresh = || async {
        let api: Api<SiteHAPair> = Api::namespaced(ctx.client.clone(), &namespace);
        api.get(&name).await.map_err(|source| Error::StatusWrite {
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        })
    };
    // Read fresh when this replica cannot vouch for the cached copy: the
    // first trip of the term, or a status other than the one it last wrote
    // or read (the cache lags behind a write). At rest the copy is known
    // and nothing is read.
    let key = super::PairKey::new(&namespace, &name);
    let mut fresh: Option<SiteHAPair> = None;
    if !ctx.seen_in_term(&key) || !ctx.is_known_status(&key, obj.status.as_ref()) {
        let obj = get_fresh().await?;
        ctx.mark_seen(&key);
        ctx.remember_status(&key, obj.status.as_ref());
        fresh = Some(obj);
    }
    let mut attempt = 0;
    loop {
        let current = fresh.as_ref().unwrap_or(obj);
        match apply_once(current, ctx).await {
            Err(Error::Conflict { .. }) if attempt < CONFLICT_RETRIES => {
                attempt += 1;
                info!(namespace = %namespace, name = %name, attempt, "status may have moved since it was read: planning again on a fresh read");
                let obj = get_fresh().await?;
                ctx.remember_status(&key, obj.status.as_ref());
                fresh = Some(obj);
            }
            other => return other,
        }
    }
}

/// One trip on `obj`, whose status is current (see `apply`).
async fn apply_once(obj: &SiteHAPair, ctx: &Context) -> Result<Action, Error> {
    let trip_started = jiff::Timestamp::now();
    let now = now_rfc3339();
    let generation = obj.metadata.generation.unwrap_or(0);
    let requested = obj
        .annotations()
        .get(ANNOTATION_RECONCILE_REQUESTED_AT)
        .map(String::as_str);
    let old = obj.status.as_ref();
    let claimed = ctx.claimed_elsewhere(obj);
    let mut plan = plan_status_with(&obj.spec, generation, old, requested, &now, &claimed);
    if !claimed.is_empty() {
        return leave_claimed_sites_alone(obj, ctx, plan).await;
    }

    // A new value of the refresh annotation asks for a fetch now.
    let handled = old.and_then(|s| s.last_handled_reconcile_at.as_deref());
    let asked = requested
        .filter(|r| Some(*r) != handled)
        .map(|r| parse_time(r).unwrap_or_else(std::time::SystemTime::now));
    // A push the webhook took in memory asks the same.
    let pushed = obj
        .spec
        .source
        .as_ref()
        .and_then(|s| ctx.push.pushed_at(&s.git.url));
    let refresh = asked.max(pushed);
    let status = &plan.status;
    let sync_now = sync_allowed(&obj.spec, status);
    let secrets = TripSecrets::new(&ctx.secrets, &obj.namespace().unwrap_or_default());
    let trip = sync_trip(ctx, &secrets, obj, status, sync_now, refresh).await;
    let (mut report, drivers) = (trip.report, trip.drivers);
    let mut written = Written::read(obj);
    // Under ShiftTraffic the active site is changed by the standby-first
    // procedure, its steps written to status as they are taken.
    if let Some(work) = trip.active_work {
        let events =
            change_trip(ctx, obj, &mut plan.status, &mut written, &mut report, work).await?;
        plan.events.extend(events);
    }
    let url = obj
        .spec
        .source
        .as_ref()
        .map(|s| redact_url(&s.git.url))
        .unwrap_or_default();
    let previous = old.map(|s| s.conditions.clone()).unwrap_or_default();
    let sync_events = fold_report(&mut plan.status, &previous, &report, &url, generation, &now);
    plan.events.extend(sync_events);

    // Promotion and fencing: the phase is written before each step.
    let promo_events = if spec_problems(&obj.spec).is_empty() {
        promotion_trip(
            ctx,
            obj,
            &mut plan.status,
            &mut written,
            &mut report.sites,
            &drivers,
            trip_started,
        )
        .await?
    } else {
        Vec::new()
    };
    plan.events.extend(promo_events);
    // Work after a promotion: recorded before it is done, never undoing it.
    let before = old.and_then(|s| s.history.last()).map(|r| r.epoch);
    let (hook_events, hooks_due) =
        hooks_trip(ctx, obj, &mut plan.status, &mut written, before, generation).await?;
    plan.events.extend(hook_events);
    let (failover_events, due) = failover_check(obj, &mut plan.status, &previous, generation, &now);
    plan.events.extend(failover_events);

    let wrote = written.write(ctx, obj, &plan.status).await?;
    // The pair's gauges follow the status that stands now, written or not.
    ctx.metrics.pairs.observe_pair(
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
        &plan.status,
    );
    if wrote {
        info!(
            namespace = obj.namespace().unwrap_or_default(),
            name = obj.name_any(),
            generation,
            phase = plan.status.phase.map(|p| p.as_str()).unwrap_or(""),
            "status written"
        );
    }
    // The spec change of a failover comes after the status it was decided on.
    if let Some(due) = due {
        plan.events
            .push(carry_out(ctx, obj, due, written.resource_version()).await?);
    }
    for event in &plan.events {
        publish(ctx, obj, event).await;
    }
    // `apply` planned this trip from a current status, so traffic may follow it.
    apply_traffic(ctx, obj, plan.status.traffic_site.as_deref()).await?;
    // The next trip falls on the pair's slot of the interval, whatever woke
    // this one: a slow or silent site does not stretch the health-check
    // period, and pairs a push woke together do not stay in step.
    let after = next_trip(
        ctx,
        obj,
        requeue_after(&obj.spec, &plan.status, plan.requeue_after),
    );
    // Or sooner, when a hook's next attempt is due (counted from now).
    let after = hooks_due.map_or(after, |h| after.min(h));
    Ok(Action::requeue(after.max(MIN_REQUEUE)))
}

/// A pair naming a site another pair manages does nothing but say so: no
/// site is called, nothing is written but its status (Degraded,
/// `SiteClaimed`, naming the other pair) and a warning Event when that is
/// news.
async fn leave_claimed_sites_alone(
    obj: &SiteHAPair,
    ctx: &Context,
    plan: crate::plan::observe::StatusPlan,
) -> Result<Action, Error> {
    let was = obj
        .status
        .as_ref()
        .and_then(|s| {
            crate::api::conditions::find(&s.conditions, crate::api::conditions::types::DEGRADED)
        })
        .map(|c| (c.reason.clone(), c.message.clone()));
    let now = plan
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == crate::api::conditions::types::DEGRADED)
        .map(|c| (c.reason.clone(), c.message.clone()));
    Written::read(obj).write(ctx, obj, &plan.status).await?;
    if was != now
        && let Some((_, note)) = now
    {
        let event = PlannedEvent {
            warning: true,
            reason: "SiteClaimed",
            action: "Claim",
            note,
        };
        publish(ctx, obj, &event).await;
    }
    let after = next_trip(
        ctx,
        obj,
        requeue_after(&obj.spec, &plan.status, plan.requeue_after),
    );
    Ok(Action::requeue(after.max(MIN_REQUEUE)))
}

/// How long until the pair's next trip, every `period`, on its slot.
fn next_trip(ctx: &Context, obj: &SiteHAPair, period: std::time::Duration) -> std::time::Duration {
    let hash = crate::plan::shard::pair_hash(&obj.namespace().unwrap_or_default(), &obj.name_any());
    until_slot(period, hash, ctx.epoch.elapsed())
}

/// Point the pair's traffic objects at `site` (status.trafficSite, which
/// the promotion machine decides: the active site, or the promotion target
/// under spec.traffic.failover Immediate).
pub(super) async fn apply_traffic(
    ctx: &Context,
    obj: &SiteHAPair,
    site: Option<&str>,
) -> Result<(), Error> {
    let namespace = obj.namespace().ok_or(Error::NoNamespace)?;
    let name = obj.name_any();
    if !ctx.is_leader() {
        return Err(Error::NotLeader { namespace, name });
    }
    let Some(owner) = obj.controller_owner_ref(&()) else {
        return Ok(());
    };
    let site = site.and_then(|a| obj.spec.sites.iter().find(|s| s.name == a));
    let objs = crate::traffic::objects::build(&name, &namespace, &obj.spec, site, owner);
    // Written only when what they hold changes (or someone else changed them).
    let key = super::PairKey::new(&namespace, &name);
    let hash = super::traffic_memo::objects_hash(&objs);
    if ctx.traffic.unchanged(&key, &namespace, hash) {
        return Ok(());
    }
    // Every write carries the resourceVersion (and uid) of the object as
    // this replica last wrote it, else as its watch shows it: one that
    // lands late, after a new leader moved the traffic, is refused. And
    // none is sent after this replica's renew deadline.
    let apply = async {
        let known = ctx.traffic.known(&key, &namespace, &objs).await;
        crate::traffic::apply_guarded(&ctx.client, &namespace, &name, &objs, &known).await
    };
    let applied = match ctx.leader_until.remaining() {
        None => Ok(apply.await),
        Some(left) => tokio::time::timeout(left, apply).await,
    };
    match applied {
        Ok(Ok(applied)) => ctx.traffic.record(&key, hash, applied),
        Ok(Err(e)) => {
            // Moved under it (409) or failed: the next trip plans again on
            // the watch's versions.
            ctx.traffic.forget(&key);
            return Err(e.into());
        }
        Err(_) => {
            // A write may have landed: what this replica wrote is unknown.
            ctx.traffic.forget(&key);
            return Err(Error::NotLeader { namespace, name });
        }
    }
    Ok(())
}

/// A pair is going away: remove what the operator made in the cluster (its
/// owned objects are also garbage-collected through owner references) and
/// leave the sites exactly as they are.
async fn cleanup(obj: &SiteHAPair, ctx: &Context) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::NoNamespace)?;
    crate::traffic::remove(&ctx.client, &namespace, &obj.name_any()).await?;
    ctx.forget(&super::PairKey::new(&namespace, obj.name_any()));
    publish(
        ctx,
        obj,
        &PlannedEvent {
            warning: false,
            reason: "Deleted",
            action: "Cleanup",
            note: "pair deleted: its traffic Service and EndpointSlices were removed; the sites were left as they are"
                .to_string(),
        },
    )
    .await;
    Ok(Action::await_change())
}

/// Publish an Event; a failure to publish is logged, never fatal.
/// The shared recorder folds repeats of one reason into a series and keeps
/// the first note, so Events whose note is the news are created one by one.
async fn publish(ctx: &Context, obj: &SiteHAPair, event: &PlannedEvent) {
    ctx.metrics.observe_event(event.reason);
    if event.is_unique() {
        if let Err(e) = create_event(ctx, obj, event).await {
            warn!(name = obj.name_any(), error = %e, reason = event.reason, "could not publish event");
        }
        return;
    }
    let ev = Event {
        type_: if event.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: event.reason.to_string(),
        note: Some(event.note.clone()),
        action: event.action.to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        warn!(name = obj.name_any(), error = %e, reason = event.reason, "could not publish event");
    }
}

/// Create one events.k8s.io Event about `obj`.
async fn create_event(
    ctx: &Context,
    obj: &SiteHAPair,
    event: &PlannedEvent,
) -> Result<(), kube::Error> {
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
    let namespace = obj.namespace().unwrap_or_default();
    let ev = K8sEvent {
        metadata: ObjectMeta {
            // The name the Recorder also uses: object name and a nanosecond stamp.
            name: Some(format!(
                "{}.{:x}",
                obj.name_any(),
                jiff::Timestamp::now().as_nanosecond()
            )),
            namespace: Some(namespace.clone()),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(jiff::Timestamp::now())),
        action: Some(event.action.to_string()),
        reason: Some(event.reason.to_string()),
        note: Some(event.note.chars().take(1024).collect()),
        type_: Some(if event.warning { "Warning" } else { "Normal" }.to_string()),
        regarding: Some(obj.object_ref(&())),
        reporting_controller: Some("sitehapair-operator".to_string()),
        reporting_instance: Some(ctx.identity.clone()),
        ..K8sEvent::default()
    };
    let api: Api<K8sEvent> = Api::namespaced(ctx.client.clone(), &namespace);
    api.create(&kube::api::PostParams::default(), &ev).await?;
    Ok(())
}

/// An RFC 3339 time as a SystemTime, if it is one.
fn parse_time(s: &str) -> Option<std::time::SystemTime> {
    let t: jiff::Timestamp = s.trim().parse().ok()?;
    Some(std::time::SystemTime::from(t))
}

/// The current time as Kubernetes writes it: RFC 3339, whole seconds, UTC.
/// The only place the shell reads the clock for status.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| jiff::Timestamp::now().to_string())
}
