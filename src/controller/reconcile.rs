//! One reconcile of one `SiteHAPair`: leadership and shard checks, the
//! finalizer (added to a new pair, whose first trip then runs on the
//! patch's answer; the clean-up of a deleted pair), the read that lets a trip
//! plan from a current status, the retry on a fresh read when a status
//! write finds the pair moved, and when to come back. The trip itself is
//! in `trip`.

use std::sync::Arc;
use std::time::Instant;

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use tracing::{info, warn};

use super::trip::events::publish;
use super::{Context, Error};
use crate::api::{FIELD_MANAGER, FINALIZER, SiteHAPair};
use crate::plan::event::PlannedEvent;
use crate::plan::schedule::until_slot;

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
    let obj = match with_finalizer(&api, obj, &ctx).await {
        Ok(Some(obj)) => obj,
        // Moved since the cache's copy: again soon, on the newer copy (a
        // change the watch filters out would bring no reconcile).
        Ok(None) => return Ok(Action::requeue(MIN_REQUEUE)),
        Err(source) => {
            return Err(Error::Finalizer {
                namespace,
                name,
                message: format!("adding it: {source}"),
            });
        }
    };
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

/// The pair as it stands with the finalizer: `obj` itself when it has it
/// or is going away, else the answer of the patch that added it. That
/// answer is the pair at the write's resourceVersion, status included, so
/// it is remembered as read fresh and the first trip runs on it at once:
/// no fresh read and no wait for the watch to bring the patched pair back.
/// The patch is guarded by the resourceVersion of `obj` (no finalizer list
/// edited since is overwritten); a pair that moved is tried again soon
/// (`None`). A copy with no resourceVersion (none from the API server) is
/// left to kube-runtime's `finalizer`, whose patch tests the list itself.
async fn with_finalizer(
    api: &Api<SiteHAPair>,
    obj: Arc<SiteHAPair>,
    ctx: &Context,
) -> Result<Option<Arc<SiteHAPair>>, kube::Error> {
    if obj.metadata.deletion_timestamp.is_some()
        || obj.metadata.resource_version.is_none()
        || obj.finalizers().iter().any(|f| f == FINALIZER)
    {
        return Ok(Some(obj));
    }
    let mut finalizers = obj.finalizers().to_vec();
    finalizers.push(FINALIZER.to_string());
    let patch = serde_json::json!({
        "metadata": {
            "resourceVersion": obj.resource_version(),
            "finalizers": finalizers,
        }
    });
    let pp = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    match api.patch(&obj.name_any(), &pp, &Patch::Merge(&patch)).await {
        Ok(patched) => {
            let key = super::PairKey::of(&patched);
            ctx.mark_seen(&key);
            ctx.remember_version(&key, patched.metadata.resource_version.as_deref());
            Ok(Some(Arc::new(patched)))
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
        Err(e) => Err(e),
    }
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
        api.get(&name).await.map_err(|source| Error::Read {
            namespace: namespace.clone(),
            name: name.clone(),
            source,
        })
    };
    // Read fresh when this replica cannot vouch for the cached copy: the
    // first trip of the term, or a resourceVersion other than the one it
    // last wrote or read (the cache lags behind a write, or someone changed
    // the pair). At rest the copy is known and nothing is read.
    let key = super::PairKey::new(&namespace, &name);
    let mut fresh: Option<SiteHAPair> = None;
    let version = obj.metadata.resource_version.as_deref();
    if !ctx.seen_in_term(&key) || !ctx.is_known_version(&key, version) {
        let obj = get_fresh().await?;
        ctx.mark_seen(&key);
        ctx.remember_version(&key, obj.metadata.resource_version.as_deref());
        fresh = Some(obj);
    }
    let mut attempt = 0;
    loop {
        let current = fresh.as_ref().unwrap_or(obj);
        let trip = super::trip::run(current, ctx)
            .await
            .map_err(|source| Error::Trip {
                namespace: namespace.clone(),
                name: name.clone(),
                source,
            });
        match trip {
            Err(e) if e.is_conflict() && attempt < CONFLICT_RETRIES => {
                attempt += 1;
                info!(namespace = %namespace, name = %name, attempt, "status may have moved since it was read: planning again on a fresh read");
                let obj = get_fresh().await?;
                ctx.remember_version(&key, obj.metadata.resource_version.as_deref());
                fresh = Some(obj);
            }
            Err(e) => return Err(e),
            // The next trip falls on the pair's slot of the interval,
            // whatever woke this one: a slow or silent site does not
            // stretch the health-check period, and pairs a push woke
            // together do not stay in step. Sooner when a hook is due or a
            // promotion's contact window runs out.
            Ok(end) => {
                let after = next_trip(ctx, current, end.period);
                let after = end.due.map_or(after, |d| after.min(d));
                return Ok(Action::requeue(after.max(MIN_REQUEUE)));
            }
        }
    }
}

/// How long until the pair's next trip, every `period`, on its slot.
fn next_trip(ctx: &Context, obj: &SiteHAPair, period: std::time::Duration) -> std::time::Duration {
    let hash = crate::plan::shard::pair_hash(&obj.namespace().unwrap_or_default(), &obj.name_any());
    until_slot(period, hash, ctx.started.elapsed())
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
