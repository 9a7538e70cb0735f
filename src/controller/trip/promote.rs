//! The promotion step, the I/O half: ask the pure machine for the next
//! step, record the new phase in status first when the step needs it
//! (`plan::promotion_commit`), then take the step (a mode change on a
//! site, or the traffic switch), and go on while steps succeed.
//! Every step is idempotent, so an operator killed between any two of them
//! (or a new leader) resumes from the phase in status.

use std::time::Duration;

use kube::ResourceExt;
use tracing::{info, warn};

use super::error::StepError;
use super::journal::StatusJournal;
use super::traffic::apply_traffic;
use crate::api::{SiteContact, SiteHAPair, SiteHAPairStatus, SiteMode};
use crate::controller::Context;
use crate::controller::secrets::TripSecrets;
use crate::controller::site_drivers::site_driver;
use crate::controller::sync::{Drivers, site_mode};
use crate::plan::conditions::Findings;
use crate::plan::event::PlannedEvent;
use crate::plan::promotion::{Step, plan_promotion};
use crate::plan::promotion_input::PairAsks;
use crate::plan::promotion_status::{fold_promotion, observations};
use crate::plan::sync_status::SiteReport;
use crate::sites::{Mode, Site, SiteDriver};

/// Most steps one reconcile takes (a whole planned promotion is four).
const MAX_STEPS: usize = 8;
/// Timeout of one mode change.
const MODE_TIMEOUT: Duration = Duration::from_secs(10);

/// Run the machine until it waits. `status` is updated in place and
/// recorded before every step; why the machine waits goes into
/// `findings.blocked`. Site answers stay typed: a failed mode change
/// updates what the machine sees of the site (silence, refusal, 409), and a
/// 409 re-reads the site's mode so the machine adopts the newer epoch
/// before it plans again.
#[allow(clippy::too_many_arguments)]
pub async fn promote(
    ctx: &Context,
    obj: &SiteHAPair,
    status: &mut SiteHAPairStatus,
    journal: &mut StatusJournal<'_>,
    findings: &mut Findings,
    reports: &mut [SiteReport],
    drivers: &Drivers,
    asks: &PairAsks<'_>,
) -> Result<Vec<PlannedEvent>, StepError> {
    let mut events = Vec::new();
    for _ in 0..MAX_STEPS {
        // The trip's one clock reading, taken before the sites were
        // observed: a window is never counted past what was seen.
        let sites = observations(status, reports);
        let decision = plan_promotion(&asks.input(status, &sites, journal.now()));
        events.extend(fold_promotion(status, &decision));
        findings.blocked = Some(decision.blocked);
        let Some(step) = decision.step else {
            break;
        };
        // The phase reaches status before the step is taken, when the step
        // needs it there (a demotion, an activation not yet covered by a
        // record of its promotion); the traffic switch goes out at once.
        journal
            .before_promotion_step(ctx, obj, status, findings, &step)
            .await?;
        if !ctx.is_leader() {
            return Err(StepError::NotLeader);
        }
        match step {
            Step::SwitchTraffic => apply_traffic(ctx, obj, status.traffic_site.as_deref()).await?,
            Step::SetMode {
                site,
                active,
                epoch,
            } => {
                let Some(report) = reports.iter_mut().find(|r| r.name == site) else {
                    break;
                };
                let stop = set_mode(ctx, obj, drivers, report, active, epoch).await;
                if let Some(row) = status.sites.iter_mut().find(|r| r.name == site) {
                    row.mode = Some(report.mode.unwrap_or(SiteMode::Unknown));
                    row.contact = Some(report.contact);
                    if report.epoch.is_some() {
                        row.epoch = report.epoch;
                    }
                    row.message = report.error.clone();
                }
                if stop == ModeChange::Failed {
                    // What the site holds now is not known: a site that was
                    // just seen active must not be taken for silent within
                    // this trip. The next trip looks again.
                    break;
                }
            }
        }
    }
    Ok(events)
}

/// How a mode change came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModeChange {
    Done,
    /// Refused with 409; the site's mode was read again.
    Fenced,
    /// Failed; what the site holds now is unknown.
    Failed,
}

/// `PUT /mode` on one site, folding the answer into its report. A 409
/// re-reads the site's mode (the newer epoch it holds).
async fn set_mode(
    ctx: &Context,
    obj: &SiteHAPair,
    drivers: &Drivers,
    report: &mut SiteReport,
    active: bool,
    epoch: i64,
) -> ModeChange {
    let site = report.name.clone();
    let mode = if active { Mode::Active } else { Mode::Passive };
    // The write (with every call a kind makes for it: a probe, a token
    // renewal, a role record) must land before this replica's renew
    // deadline, when another replica may lead and fence: it gets the time
    // left, and is not started with too little.
    let Some(budget) =
        crate::controller::leader::write_budget(ctx.leader_until.remaining(), MODE_TIMEOUT)
    else {
        report.error = Some(format!(
            "site {site}: PUT /mode not sent: this replica's lease runs out before it could land"
        ));
        return ModeChange::Failed;
    };
    // The trip's driver when it was built, else from the Secrets now.
    let driver = driver_for(ctx, obj, drivers, &site, budget).await;
    let driver = match driver {
        Ok(d) => d,
        Err(e) => {
            report.contact = SiteContact::Misconfigured;
            report.mode = None;
            report.error = Some(e);
            return ModeChange::Failed;
        }
    };
    // Building the driver may have waited (a Secret read): the time left
    // is measured again right before the write goes out.
    let Some(budget) =
        crate::controller::leader::write_budget(ctx.leader_until.remaining(), budget)
    else {
        report.error = Some(format!(
            "site {site}: PUT /mode not sent: this replica's lease runs out before it could land"
        ));
        return ModeChange::Failed;
    };
    let started = std::time::Instant::now();
    let call = tokio::time::timeout(budget, driver.set_mode(mode, epoch)).await;
    let answer = call.unwrap_or_else(|_| {
        Err(crate::sites::SiteError::Timeout {
            site: site.clone(),
            call: "PUT /mode".to_string(),
            timeout_ms: started.elapsed().as_millis(),
        })
    });
    match answer {
        Ok(state) => {
            info!(site = %site, mode = ?state.mode, epoch = state.epoch, "site mode set");
            report.contact = SiteContact::Answered;
            report.mode = Some(site_mode(state.mode));
            report.epoch = Some(state.epoch);
            report.error = None;
            ModeChange::Done
        }
        Err(e) => {
            warn!(site = %site, error = %e, "mode change failed");
            report.contact = e.contact();
            report.mode = None;
            report.error = Some(e.to_string());
            if e.contact() == SiteContact::Fenced
                && let Ok(m) = driver.mode().await
            {
                // Fenced at a newer epoch: what it holds now is news the
                // machine plans with.
                report.contact = SiteContact::Answered;
                report.mode = Some(site_mode(m.mode));
                report.epoch = Some(m.epoch);
                return ModeChange::Fenced;
            }
            ModeChange::Failed
        }
    }
}

/// The trip's driver of `site` when it was built, else one built from the
/// Secrets now, with `budget` as its timeout.
async fn driver_for(
    ctx: &Context,
    obj: &SiteHAPair,
    drivers: &Drivers,
    site: &str,
    budget: Duration,
) -> Result<SiteDriver, String> {
    if let Some(d) = drivers.get(site) {
        return Ok(d.clone().with_timeout(budget));
    }
    let Some(spec) = obj.spec.sites.iter().find(|s| s.name == site) else {
        return Err(format!("site {site} is not in spec.sites"));
    };
    let secrets = TripSecrets::new(&ctx.secrets, &obj.namespace().unwrap_or_default());
    let health = &obj.spec.health_check.path;
    site_driver(&secrets, &ctx.site_clients, spec, health, budget).await
}

#[cfg(test)]
mod tests {
    /// The crash switch ships in no build a user runs: not a default
    /// feature, not in the image's build.
    #[test]
    fn the_crash_switch_is_in_no_default_or_image_build() {
        let root = env!("CARGO_MANIFEST_DIR");
        let manifest = std::fs::read_to_string(format!("{root}/Cargo.toml")).expect("Cargo.toml");
        let features = manifest
            .split("[features]")
            .nth(1)
            .and_then(|f| f.split("\n[").next())
            .expect("a [features] table");
        assert!(
            !features
                .lines()
                .any(|l| l.trim_start().starts_with("default") && l.contains("failpoints")),
            "failpoints is a default feature"
        );
        let dockerfile = std::fs::read_to_string(format!("{root}/Dockerfile")).expect("Dockerfile");
        assert!(dockerfile.contains("cargo build --release"));
        assert!(
            !dockerfile.contains("failpoints"),
            "the image turns failpoints on"
        );
    }
}
