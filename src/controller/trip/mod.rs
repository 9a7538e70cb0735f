//! One trip of one pair, straight through, each step a function of its
//! own: observe the pair (the status this trip starts from, the spec
//! checked, claims) → sync (observe the sites, write them standby first)
//! → change (the standby-first change of the active, ShiftTraffic) →
//! promote (on a new pair's first sight, the sync again once the first
//! activation named the standby) → hooks → compose (every condition and
//! the phase, from the findings; `plan::conditions`) → record (the
//! journal, the one writer of status) → failover patch → events →
//! traffic. The clock is read once, at the start; everything after plans
//! with that reading.

pub mod change;
pub mod error;
pub mod events;
pub mod failover;
pub mod hooks;
pub mod journal;
pub mod promote;
pub mod rehearse;
pub mod traffic;
pub mod verify;

use std::time::Duration;

use kube::ResourceExt;
use tracing::info;

use self::error::TripError;
use self::journal::StatusJournal;
use crate::api::{ANNOTATION_RECONCILE_REQUESTED_AT, SiteHAPair, SiteHAPairStatus};
use crate::controller::Context;
use crate::controller::secrets::TripSecrets;
use crate::controller::sync::{Drivers, SourceOf, SyncAsk, sync};
use crate::plan::conditions::{Findings, Refusal};
use crate::plan::event::PlannedEvent;
use crate::plan::failover::FailoverDecision;
use crate::plan::preflight_warnings::pair_warnings;
use crate::plan::promotion_input::PairAsks;
use crate::plan::schedule::{
    contact_deadline_in, promotion_pending, requeue_after, sync_allowed, window_due_in,
};
use crate::plan::spec_check::{SpecCheck, check_spec};
use crate::plan::status_start::start_status;
use crate::plan::sync_status::{SyncReport, failure_counts, fold_sync, restore_failure_counts};
use crate::plan::time::Timestamp;
use crate::plan::verify::{Revert, verify_due_in};
use crate::plan::windows::sync_window_closed;

/// What a trip leaves for the reconcile: when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TripEnd {
    /// The pair's interval (its slot is the reconcile's to find).
    pub period: Duration,
    /// Sooner, when a hook's next attempt is due or a promotion's contact
    /// window runs out.
    pub due: Option<Duration>,
}

/// What the trip carries from step to step: the status data, the Events
/// so far, the findings so far, the spec as checked.
struct State {
    status: SiteHAPairStatus,
    events: Vec<PlannedEvent>,
    findings: Findings,
    check: SpecCheck,
}

/// One trip on `obj`, whose status is current (the reconcile read it
/// fresh when it could not vouch for the cached copy).
pub async fn run(obj: &SiteHAPair, ctx: &Context) -> Result<TripEnd, TripError> {
    // The trip's one reading of the clock.
    let now = Timestamp::now();
    let mut journal = StatusJournal::open(obj, now);
    let mut st = observe_pair(obj, ctx);
    if matches!(st.findings.refusal, Some(Refusal::Claimed(_))) {
        return refused(ctx, obj, &mut journal, st).await;
    }
    // On first sight the sites may be observed twice (see below).
    let first_sight = st.status.active_site.is_none();
    let counts = first_sight.then(|| failure_counts(&st.status));
    let mut synced = sync_and_fold(ctx, obj, &mut journal, &mut st).await?;
    // Promotion and fencing: the phase is recorded before each step.
    if st.check.valid() {
        // Warned of from this trip's conditions, composed as they stand,
        // when a promotion may start (only its start reads them).
        let warnings = if promotion_pending(&obj.spec, &st.status) {
            let now_composed = journal.compose(obj, &st.status, &st.findings).status;
            pair_warnings(&now_composed, &obj.spec.active_site)
        } else {
            Vec::new()
        };
        let asks = PairAsks::of(obj, &st.check, warnings);
        let promoted = promote::promote(
            ctx,
            obj,
            &mut st.status,
            &mut journal,
            &mut st.findings,
            &mut synced.report.sites,
            &synced.drivers,
            &asks,
        );
        st.events
            .extend(promoted.await.map_err(TripError::Promote)?);
        // A new pair's sync waits for its first activation to name the
        // standby; once this trip made it, the sync runs here, not a trip
        // (and a status write) later. Its observation replaces the first:
        // a failing site counts one failed trip, not two.
        if let Some(counts) = counts.filter(|_| sync_allowed(&obj.spec, &st.check, &st.status)) {
            restore_failure_counts(&mut st.status, &counts);
            match sync_and_fold(ctx, obj, &mut journal, &mut st).await {
                Ok(s) => synced = s,
                Err(e) => {
                    // The activation's Events are not planned again.
                    events::publish_all(ctx, obj, &st.events).await;
                    return Err(e);
                }
            }
        }
        // A rehearsal, when one is asked: after the promotion step, so that
        // a real change cancels it; it changes no role and no traffic.
        let seen = rehearse::Seen {
            reports: &synced.report.sites,
            drivers: &synced.drivers,
            source: synced.source.as_ref(),
            asks: &asks,
        };
        let rehearsed =
            rehearse::rehearse(ctx, obj, &mut st.status, &mut journal, &st.findings, &seen);
        st.events
            .extend(rehearsed.await.map_err(TripError::Rehearse)?);
    }
    // Work after a promotion: recorded before it is done, never undoing it.
    let before = obj
        .status
        .as_ref()
        .and_then(|s| s.history.last())
        .map(|r| r.epoch);
    let hooked = hooks::hooks(ctx, obj, &mut st.status, &mut journal, &st.findings, before);
    let (hook_events, hooks_due) = hooked.await.map_err(TripError::Hooks)?;
    st.events.extend(hook_events);
    // Verification of the last promotion, and a revert when it failed.
    let verified = verify::verify(obj, &mut st.status, &st.check, before, journal.now()).await;
    st.events.extend(verified.events);
    finish(ctx, obj, &mut journal, st, hooks_due, verified.revert).await
}

/// Another pair manages a site of this one: no site is called; the pair
/// says so in its status and an Event.
async fn refused(
    ctx: &Context,
    obj: &SiteHAPair,
    journal: &mut StatusJournal<'_>,
    mut st: State,
) -> Result<TripEnd, TripError> {
    let (composed, _) = journal
        .record(ctx, obj, &st.status, &st.findings)
        .await
        .map_err(TripError::Record)?;
    st.events.extend(composed.events);
    events::publish_all(ctx, obj, &st.events).await;
    Ok(end(&st.check, &composed.status, None))
}

/// What the sync step of a trip leaves for the steps after it.
struct TripSync {
    report: SyncReport,
    drivers: Drivers,
    source: Option<SourceOf>,
}

/// Sync the sites, then the standby-first change of the active site; then
/// fold what it saw and did into the trip's status and findings.
async fn sync_and_fold(
    ctx: &Context,
    obj: &SiteHAPair,
    journal: &mut StatusJournal<'_>,
    st: &mut State,
) -> Result<TripSync, TripError> {
    let secrets = TripSecrets::new(&ctx.secrets, &obj.namespace().unwrap_or_default());
    let sync_now = sync_allowed(&obj.spec, &st.check, &st.status);
    let asked = reconcile_asked(obj, journal.now());
    let refresh = refresh_asked(obj, ctx, asked);
    let times = &st.check.times;
    let ask = SyncAsk {
        sync: sync_now,
        refresh,
        reconcile_asked: asked.is_some(),
        window_closed: sync_window_closed(&st.check.windows, journal.now()),
    };
    let synced = sync(ctx, &secrets, obj, &st.status, times, ask).await;
    let mut report = synced.report;
    if let Some(work) = synced.active_work {
        let (status, findings) = (&mut st.status, &st.findings);
        let done = change::change(ctx, obj, status, journal, findings, &mut report, work);
        st.events.extend(done.await.map_err(TripError::Change)?);
    }
    let has_source = obj.spec.source.is_some();
    let folded = fold_sync(&mut st.status, report.clone(), has_source, journal.now());
    st.events.extend(folded.0);
    st.findings.sync = Some(folded.1);
    Ok(TripSync {
        report,
        drivers: synced.drivers,
        source: synced.source,
    })
}

/// The automatic failover's decision (none when a revert is due), compose
/// and record, the revert's or the failover's spec change, the Events,
/// the traffic.
async fn finish(
    ctx: &Context,
    obj: &SiteHAPair,
    journal: &mut StatusJournal<'_>,
    mut st: State,
    hooks_due: Option<Duration>,
    revert: Option<Revert>,
) -> Result<TripEnd, TripError> {
    let decision = match revert {
        Some(_) => FailoverDecision::Stay,
        None => crate::plan::failover::decide(obj, &st.status, &st.check.times, journal.now()),
    };
    if let FailoverDecision::Blocked { reason, message } = &decision {
        st.findings.failover_hold = Some((*reason, message.clone()));
    }
    let composed = record(ctx, obj, journal, &st.status, &st.findings).await?;
    st.events.extend(composed.events);
    // The spec change of a revert or a failover comes after the status it
    // was decided on. The Events of the recorded status go out whatever
    // the spec change does: they are not planned again.
    let change = match (&revert, &decision) {
        (Some(r), _) => Some(verify::revert_change(r)),
        (None, FailoverDecision::Promote { to, why }) => {
            Some(failover::SpecChange::failover(to, why))
        }
        _ => None,
    };
    if let Some(change) = change {
        let at = journal.resource_version();
        match failover::patch_active_site(ctx, obj, change, at).await {
            Ok(event) => st.events.push(event),
            Err(e) => {
                events::publish_all(ctx, obj, &st.events).await;
                return Err(TripError::Failover(e));
            }
        }
    }
    events::publish_all(ctx, obj, &st.events).await;
    // The reconcile planned this trip from a current status, so traffic may follow it.
    let site = composed.status.traffic_site.as_deref();
    traffic::apply_traffic(ctx, obj, site)
        .await
        .map_err(TripError::Traffic)?;
    let now = journal.now();
    let contact = contact_deadline_in(&composed.status, now);
    let window = window_due_in(&st.check, &obj.spec, &composed.status, now);
    let verifying = verify_due_in(&composed.status, st.check.verify, now);
    let due = [hooks_due, contact, window, verifying]
        .into_iter()
        .flatten()
        .min();
    Ok(end(&st.check, &composed.status, due))
}

/// The pair itself: the status this trip starts from, the spec checked
/// once, the sites another pair claims.
fn observe_pair(obj: &SiteHAPair, ctx: &Context) -> State {
    let generation = obj.metadata.generation.unwrap_or(0);
    let requested = obj
        .annotations()
        .get(ANNOTATION_RECONCILE_REQUESTED_AT)
        .map(String::as_str);
    let start = start_status(&obj.spec, generation, obj.status.as_ref(), requested);
    let check = check_spec(&obj.spec);
    let claimed = ctx.claimed_elsewhere(obj);
    let refusal = if !claimed.is_empty() {
        Some(Refusal::Claimed(claimed))
    } else if !check.valid() {
        Some(Refusal::InvalidSpec(check.problems.clone()))
    } else {
        None
    };
    let source_url = obj
        .spec
        .source
        .as_ref()
        .map(|s| crate::api::redact::redact_url(&s.git.url))
        .unwrap_or_default();
    State {
        status: start.status,
        events: start.events,
        findings: Findings {
            refusal,
            source_url,
            ..Findings::default()
        },
        check,
    }
}

/// Compose and record the trip's status; the pair's gauges follow the
/// status that stands now, written or not.
async fn record(
    ctx: &Context,
    obj: &SiteHAPair,
    journal: &mut StatusJournal<'_>,
    status: &SiteHAPairStatus,
    findings: &Findings,
) -> Result<crate::plan::conditions::Composed, TripError> {
    let (composed, recorded) = journal
        .record(ctx, obj, status, findings)
        .await
        .map_err(TripError::Record)?;
    let (namespace, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    // At rest the status stands at the version the gauges already show.
    let key = crate::controller::PairKey::new(&namespace, &name);
    let version = journal.resource_version();
    if recorded == journal::Recorded::Written || !ctx.gauges_show(&key, version) {
        ctx.metrics
            .pairs
            .observe_pair(&namespace, &name, &composed.status);
        ctx.gauges_shown(&key, version);
    }
    if recorded == journal::Recorded::Written {
        info!(
            namespace,
            name,
            generation = obj.metadata.generation.unwrap_or(0),
            phase = composed.status.phase.map(|p| p.as_str()).unwrap_or(""),
            "status written"
        );
    }
    Ok(composed)
}

/// A new value of the refresh annotation (not handled yet): when a person
/// asked for a reconcile.
fn reconcile_asked(obj: &SiteHAPair, now: Timestamp) -> Option<std::time::SystemTime> {
    let handled = obj
        .status
        .as_ref()
        .and_then(|s| s.last_handled_reconcile_at.as_deref());
    obj.annotations()
        .get(ANNOTATION_RECONCILE_REQUESTED_AT)
        .map(String::as_str)
        .filter(|r| Some(*r) != handled)
        .map(|r| std::time::SystemTime::from(crate::plan::time::parse(r).unwrap_or(now)))
}

/// A reconcile asked for (`asked`), or a push the webhook took in memory
/// (remembered for as long as the operator runs), asks for a fetch now.
fn refresh_asked(
    obj: &SiteHAPair,
    ctx: &Context,
    asked: Option<std::time::SystemTime>,
) -> Option<std::time::SystemTime> {
    let pushed = obj
        .spec
        .source
        .as_ref()
        .and_then(|s| ctx.push.pushed_at(&s.git.url));
    asked.max(pushed)
}

fn end(check: &SpecCheck, status: &SiteHAPairStatus, due: Option<Duration>) -> TripEnd {
    TripEnd {
        period: requeue_after(&check.times, status),
        due,
    }
}
