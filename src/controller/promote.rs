//! The promotion trip, the I/O half: ask the pure machine for the next
//! step, write the new phase to status first, then take the step (a mode
//! change on a site, or the traffic switch), and go on while steps succeed.
//! Every step is idempotent, so an operator killed between any two of them
//! (or a new leader) resumes from the phase in status.

use std::time::Duration;

use kube::ResourceExt;
use tracing::{info, warn};

use super::status_write::apply_status;
use super::sync::{Drivers, site_driver};
use super::{Context, Error};
use crate::api::{ANNOTATION_AUTOMATIC_FAILOVER, SiteHAPair, SiteHAPairStatus, duration};
use crate::plan::observe::PlannedEvent;
use crate::plan::promotion::{PromotionInput, Step, plan_promotion};
use crate::plan::promotion_status::{fold_promotion, observations};
use crate::plan::sync_status::SiteReport;
use crate::sites::{Mode, Site};

/// Most steps one reconcile takes (a whole planned promotion is four).
const MAX_STEPS: usize = 8;
/// Timeout of one mode change.
const MODE_TIMEOUT: Duration = Duration::from_secs(10);

/// Fault injection for the resume tests: with
/// `SITEHAPAIR_FAILPOINT_EXIT_AT_PHASE=<phase>` the process exits at once
/// (no cleanup, the Lease kept, like SIGKILL) right after writing that
/// promotion phase and before taking its step.
fn crash_point(status: &SiteHAPairStatus) {
    let Some(phase) = status.promotion.as_ref().map(|p| p.phase.as_str()) else {
        return;
    };
    if std::env::var("SITEHAPAIR_FAILPOINT_EXIT_AT_PHASE").is_ok_and(|v| v == phase) {
        warn!(phase, "failpoint: exiting before the step of this phase");
        std::process::exit(86);
    }
}

/// Why spec.activeSite names its site: Automatic when the operator's own
/// failover annotation names it, else Manual.
pub fn promotion_reason(obj: &SiteHAPair) -> &'static str {
    let auto = obj
        .annotations()
        .get(ANNOTATION_AUTOMATIC_FAILOVER)
        .is_some_and(|v| v.split(':').next() == Some(obj.spec.active_site.as_str()));
    if auto { "Automatic" } else { "Manual" }
}

/// Run the machine until it waits. `status` is updated in place and written
/// before every step; `written` is the status last written.
pub async fn promotion_trip(
    ctx: &Context,
    obj: &SiteHAPair,
    status: &mut SiteHAPairStatus,
    written: &mut Option<SiteHAPairStatus>,
    reports: &mut [SiteReport],
    drivers: &Drivers,
    generation: i64,
) -> Result<Vec<PlannedEvent>, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let contact = duration::parse(
        "promotion.contactTimeout",
        &obj.spec.promotion.contact_timeout,
    )
    .unwrap_or(Duration::from_secs(1800));
    let mut events = Vec::new();
    for _ in 0..MAX_STEPS {
        let now = jiff::Timestamp::now();
        let sites = observations(status, reports);
        let source_revision = status
            .expected_revision(obj.spec.source.is_some())
            .map(str::to_string);
        let running = status.promotion.clone();
        let current = status.active_site.clone();
        let decision = plan_promotion(&PromotionInput {
            target: &obj.spec.active_site,
            current: current.as_deref(),
            epoch: status.epoch,
            running: running.as_ref(),
            sites: &sites,
            source_revision: source_revision.as_deref(),
            require_in_sync: obj.spec.promotion.require_in_sync,
            require_healthy: obj.spec.promotion.require_healthy,
            contact_timeout: contact,
            reason: promotion_reason(obj),
            now,
        });
        let stamp = crate::plan::promotion::stamp(now);
        events.extend(fold_promotion(status, &decision, generation, &stamp));
        let Some(step) = decision.step else {
            break;
        };
        // The phase reaches status before the step is taken.
        if apply_status(ctx, obj, written.as_ref(), status).await? {
            *written = Some(status.clone());
        }
        crash_point(status);
        if !ctx.is_leader() {
            return Err(Error::NotLeader {
                namespace,
                name: obj.name_any(),
            });
        }
        match step {
            Step::SwitchTraffic => {
                super::reconcile::apply_traffic(ctx, obj, status.active_site.as_deref()).await?
            }
            Step::SetMode {
                site,
                active,
                epoch,
            } => {
                let mode = if active { Mode::Active } else { Mode::Passive };
                let Some(spec) = obj.spec.sites.iter().find(|s| s.name == site) else {
                    break;
                };
                // The trip's driver when it was built, else from the Secrets now.
                let driver = match drivers.get(&site) {
                    Some(d) => Ok(d.clone().with_timeout(MODE_TIMEOUT)),
                    None => site_driver(&ctx.client, &namespace, spec, MODE_TIMEOUT).await,
                };
                let result = match driver {
                    Ok(d) => d.set_mode(mode, epoch).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                let Some(report) = reports.iter_mut().find(|r| r.name == site) else {
                    break;
                };
                match result {
                    Ok(state) => {
                        info!(site = %site, mode = ?state.mode, epoch = state.epoch, "site mode set");
                        report.mode = Some(
                            if state.mode == Mode::Active {
                                "Active"
                            } else {
                                "Passive"
                            }
                            .into(),
                        );
                        report.epoch = Some(state.epoch);
                        if let Some(row) = status.sites.iter_mut().find(|r| r.name == site) {
                            row.mode = report.mode.clone();
                            row.epoch = report.epoch;
                        }
                    }
                    Err(e) => {
                        warn!(site = %site, error = %e, "mode change failed");
                        // Seen as unreachable now: the machine decides what that means.
                        report.mode = None;
                        report.epoch = None;
                        report.error = Some(e.clone());
                        if let Some(p) = status.promotion.as_mut() {
                            p.message = Some(e);
                        }
                        if running.is_none() && status.promotion.is_none() {
                            // Steady-state fencing failed; try again next trip.
                            break;
                        }
                    }
                }
            }
        }
    }
    Ok(events)
}
