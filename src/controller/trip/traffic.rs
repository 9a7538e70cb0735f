//! Pointing a pair's traffic objects (its Service and EndpointSlices) at
//! the site status.trafficSite names: written only when what they hold
//! changes, guarded by the resourceVersion (and uid) this replica last
//! saw, and never after this replica's renew deadline.

use kube::{Resource, ResourceExt};

use super::error::TrafficStepError;
use crate::api::SiteHAPair;
use crate::controller::Context;

/// Point the pair's traffic objects at `site` (status.trafficSite, which
/// the promotion machine decides: the active site, or the promotion target
/// under spec.traffic.failover Immediate).
pub async fn apply_traffic(
    ctx: &Context,
    obj: &SiteHAPair,
    site: Option<&str>,
) -> Result<(), TrafficStepError> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    if !ctx.is_leader() {
        return Err(TrafficStepError::NotLeader);
    }
    let Some(owner) = obj.controller_owner_ref(&()) else {
        return Ok(());
    };
    // Written only when what they hold changes (or someone else changed
    // them); at rest the same inputs are not built again.
    let key = crate::controller::PairKey::new(&namespace, &name);
    let inputs = crate::controller::traffic_memo::inputs_hash(obj, site);
    if inputs.is_some_and(|h| ctx.traffic.unchanged(&key, &namespace, h)) {
        return Ok(());
    }
    let site = site.and_then(|a| obj.spec.sites.iter().find(|s| s.name == a));
    let objs = crate::traffic::objects::build(&name, &namespace, &obj.spec, site, owner);
    let hash = match inputs {
        Some(h) => h,
        None => {
            let h = crate::controller::traffic_memo::objects_hash(&objs);
            if ctx.traffic.unchanged(&key, &namespace, h) {
                return Ok(());
            }
            h
        }
    };
    // Every write carries the resourceVersion (and uid) of the object as
    // this replica last wrote it, else as its watch shows it: one that
    // lands late, after a new leader moved the traffic, is refused. And
    // none is sent after this replica's renew deadline.
    let apply = async {
        let known = ctx.traffic.known(&key, &namespace, &objs).await;
        let watched = ctx.traffic.pair_slices(&namespace, &name);
        crate::traffic::apply_guarded_on(&ctx.client, &namespace, &name, &objs, &known, watched)
            .await
    };
    let applied = match ctx.leader_until.remaining() {
        None => Ok(apply.await),
        Some(left) => tokio::time::timeout(left, apply).await,
    };
    match applied {
        Ok(Ok(applied)) => {
            ctx.traffic.record(&key, hash, applied);
            Ok(())
        }
        Ok(Err(e)) => {
            // Moved under it (409) or failed: the next trip plans again on
            // the watch's versions.
            ctx.traffic.forget(&key);
            Err(e.into())
        }
        Err(_) => {
            // A write may have landed: what this replica wrote is unknown.
            ctx.traffic.forget(&key);
            Err(TrafficStepError::NotLeader)
        }
    }
}
