//! The standby-first change of the active site, the I/O half
//! (spec.sync.strategy ShiftTraffic): ask the pure planner for the next
//! action, write status.activeChange (and where traffic goes) first, then
//! take the action: point the traffic objects at a site, or write the
//! revision to the active site and check its health. Every action is
//! idempotent, so a killed operator resumes from the step in status.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use tracing::info;

use super::promote::crash_point;
use super::status_write::Written;
use super::sync::{ListingKeys, Observed, Target, sync_one};
use super::{Context, Error};
use crate::api::{SiteHAPair, SiteHAPairStatus};
use crate::plan::active_change::{ChangeAction, ChangeInput, plan_change};
use crate::plan::diff::ServiceSet;
use crate::plan::observe::PlannedEvent;
use crate::plan::sync_status::SyncReport;
use crate::sites::Site;
use crate::source::files::FileError;

/// Most actions one trip takes (a whole change is three).
const MAX_ACTIONS: usize = 8;

/// The active site's change, left by the sync trip to the procedure.
pub struct ActiveWork {
    /// The active site has writes to take.
    pub work: bool,
    /// Every passive holds the revision and passed its check.
    pub gate_open: bool,
    /// Passives that may take traffic (healthy, synced, not joining).
    pub candidates: Vec<String>,
    pub(super) observed: Observed,
    pub revision: String,
    pub services: Arc<Result<ServiceSet, FileError>>,
    pub synced: BTreeMap<String, String>,
    pub joining: BTreeSet<String>,
    pub approved: Option<String>,
    pub health_timeout: Duration,
    /// The pair, and what its listings are matched to.
    pub pair_key: super::PairKey,
    pub desired_key: String,
}

/// Run the procedure until it waits. `status` is updated in place and
/// written before every action; `report` gets the active site's writes,
/// health and any hold.
pub async fn change_trip(
    ctx: &Context,
    obj: &SiteHAPair,
    status: &mut SiteHAPairStatus,
    written: &mut Written,
    report: &mut SyncReport,
    mut work: ActiveWork,
) -> Result<Vec<PlannedEvent>, Error> {
    let Some(active) = status.active_site.clone() else {
        return Ok(Vec::new());
    };
    let healthy: Vec<String> = report
        .sites
        .iter()
        .filter(|r| r.healthy == Some(true))
        .map(|r| r.name.clone())
        .collect();
    let empty = ServiceSet::new();
    let desired = work.services.as_ref().as_ref().unwrap_or(&empty);
    let own = super::sync::desired_for(&work.observed.driver, desired);
    let desired = own.as_ref().unwrap_or(desired);
    let mut traffic_applied: Option<String> = None;
    let mut active_checked: Option<Result<(), String>> = None;
    let mut events = Vec::new();
    let drain = crate::api::duration::parse("sync.drainTime", &obj.spec.sync.drain_time)
        .unwrap_or(Duration::from_secs(10));
    for _ in 0..MAX_ACTIONS {
        let now = jiff::Timestamp::now();
        let running = status.active_change.clone();
        let d = plan_change(&ChangeInput {
            strategy: obj.spec.sync.strategy,
            running: running.as_ref(),
            active: &active,
            revision: &work.revision,
            gate_open: work.gate_open,
            active_work: work.work,
            candidates: &work.candidates,
            healthy: &healthy,
            traffic_applied: traffic_applied.as_deref(),
            active_checked: active_checked.clone(),
            drain,
            now,
        });
        status.active_change = d.change.clone();
        events.extend(d.events);
        if let Some(hold) = d.hold
            && let Some(r) = report.sites.iter_mut().find(|r| r.name == active)
        {
            r.hold = Some(hold);
        }
        let Some(action) = d.action else {
            break;
        };
        if let ChangeAction::MoveTraffic(site) = &action {
            status.traffic_site = Some(site.clone());
        }
        // The step reaches status before it is taken.
        written.write(ctx, obj, status).await?;
        crash_point(status);
        if !ctx.is_leader() {
            return Err(Error::NotLeader {
                namespace: obj.namespace().unwrap_or_default(),
                name: obj.name_any(),
            });
        }
        match action {
            ChangeAction::MoveTraffic(site) => {
                super::reconcile::apply_traffic(ctx, obj, Some(&site)).await?;
                info!(name = obj.name_any(), site = %site, "standby-first change: traffic moved");
                traffic_applied = Some(site);
            }
            ChangeAction::ChangeActive => {
                let listings = ListingKeys {
                    memo: &ctx.listings,
                    pair: &work.pair_key,
                    desired: &work.desired_key,
                };
                let target = Target {
                    revision: &work.revision,
                    desired,
                    spec: &obj.spec,
                    synced: &work.synced,
                    joining: &work.joining,
                    approved: work.approved.as_deref(),
                    listings: &listings,
                };
                let o = &mut work.observed;
                let outcome = sync_one(o, &target).await;
                let checked = match (&outcome.error, &o.driver) {
                    (Some(e), _) => Err(e.clone()),
                    // A prune guard held the active back: it did not take the revision.
                    (None, _) if o.report.prune_blocked => {
                        Err(outcome.hold.clone().unwrap_or_default())
                    }
                    (None, Err(e)) => Err(e.clone()),
                    (None, Ok(driver)) => {
                        let h = tokio::time::timeout(work.health_timeout, driver.health()).await;
                        let ok = matches!(h, Ok(Ok(true)));
                        o.report.healthy = Some(ok);
                        if ok {
                            Ok(())
                        } else {
                            Err("it fails its health check".to_string())
                        }
                    }
                };
                info!(name = obj.name_any(), site = %active, ok = checked.is_ok(), wrote = ?o.report.wrote, "standby-first change: active site changed and checked");
                if let Some(r) = report.sites.iter_mut().find(|r| r.name == active) {
                    *r = o.report.clone();
                }
                // Written once: a retry this trip has nothing more to write.
                work.work = false;
                active_checked = Some(checked);
            }
        }
    }
    Ok(events)
}
