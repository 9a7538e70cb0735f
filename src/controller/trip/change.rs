//! The standby-first change of the active site, the I/O half
//! (spec.sync.strategy ShiftTraffic): ask the pure planner for the next
//! action, write status.activeChange (and where traffic goes) first, then
//! take the action: point the traffic objects at a site, or write the
//! revision to the active site and check its health. Every action is
//! idempotent, so a killed operator resumes from the step in status.

use kube::ResourceExt;
use tracing::info;

use super::error::StepError;
use super::journal::StatusJournal;
use super::traffic::apply_traffic;
use crate::api::{SiteHAPair, SiteHAPairStatus};
use crate::controller::Context;
use crate::controller::sync::{ActiveWork, ListingKeys, Target, sync_one};
use crate::plan::active_change::{ChangeAction, ChangeInput, plan_change};
use crate::plan::conditions::Findings;
use crate::plan::event::PlannedEvent;
use crate::plan::overlay::SourceSet;
use crate::plan::sync_status::SyncReport;
use crate::sites::Site;

/// Most actions one trip takes (a whole change is three).
const MAX_ACTIONS: usize = 8;

/// Run the procedure until it waits. `status` is updated in place and
/// recorded before every action; `report` gets the active site's writes,
/// health and any hold.
pub async fn change(
    ctx: &Context,
    obj: &SiteHAPair,
    status: &mut SiteHAPairStatus,
    journal: &mut StatusJournal<'_>,
    findings: &Findings,
    report: &mut SyncReport,
    mut work: ActiveWork,
) -> Result<Vec<PlannedEvent>, StepError> {
    let Some(active) = status.active_site.clone() else {
        return Ok(Vec::new());
    };
    let healthy: Vec<String> = report
        .sites
        .iter()
        .filter(|r| r.healthy == Some(true))
        .map(|r| r.name.clone())
        .collect();
    let (empty, services) = (SourceSet::default(), work.services.clone());
    let desired = services.as_ref().as_ref().unwrap_or(&empty);
    let mut traffic_applied: Option<String> = None;
    let mut active_checked: Option<Result<(), String>> = None;
    let mut events = Vec::new();
    let now = journal.now();
    for _ in 0..MAX_ACTIONS {
        let running = status.active_change.clone();
        let d = plan_change(&ChangeInput {
            strategy: obj.spec.sync.strategy,
            running: running.as_ref(),
            active: &active,
            revision: &work.revision,
            gate_open: work.gate_open,
            active_work: work.active_has_writes,
            candidates: &work.candidates,
            healthy: &healthy,
            traffic_applied: traffic_applied.as_deref(),
            active_checked: active_checked.clone(),
            drain: work.drain,
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
        journal.before_step(ctx, obj, status, findings).await?;
        if !ctx.is_leader() {
            return Err(StepError::NotLeader);
        }
        match action {
            ChangeAction::MoveTraffic(site) => {
                apply_traffic(ctx, obj, Some(&site)).await?;
                info!(name = obj.name_any(), site = %site, "standby-first change: traffic moved");
                traffic_applied = Some(site);
            }
            ChangeAction::ChangeActive => {
                let checked = change_active(ctx, obj, &mut work, desired).await;
                info!(name = obj.name_any(), site = %active, ok = checked.is_ok(), wrote = ?work.observed.report.wrote, "standby-first change: active site changed and checked");
                if let Some(r) = report.sites.iter_mut().find(|r| r.name == active) {
                    *r = work.observed.report.clone();
                }
                // Written once: a retry this trip has nothing more to write.
                work.active_has_writes = false;
                active_checked = Some(checked);
            }
        }
    }
    Ok(events)
}

/// Write the revision to the active site and check its health; why it did
/// not take the revision or fails, if so.
async fn change_active(
    ctx: &Context,
    obj: &SiteHAPair,
    work: &mut ActiveWork,
    desired: &SourceSet,
) -> Result<(), String> {
    let listings = ListingKeys {
        memo: &ctx.listings,
        pair: &work.pair_key,
        desired: &work.desired_key,
        // Only settled after the write here, never asked.
        now: std::time::Instant::now(),
        every: std::time::Duration::ZERO,
        relist: true,
    };
    let target = Target {
        revision: &work.revision,
        desired,
        spec: &obj.spec,
        synced: &work.synced,
        joining: &work.joining,
        approved: work.approved.as_deref(),
        adoption_approved: work.adoption_approved.as_deref(),
        window_closed: work.window_closed.as_deref(),
        listings: &listings,
    };
    let o = &mut work.observed;
    let outcome = sync_one(o, &target).await;
    match (&outcome.error, &o.driver) {
        (Some(e), _) => Err(e.clone()),
        // A prune guard, an adoption waiting or a sync window that closed
        // meanwhile held the active back: it did not take the revision.
        (None, _)
            if o.report.prune_blocked || o.report.adoption.is_some() || o.report.outside_window =>
        {
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
    }
}
