//! The promotion trip, the I/O half: ask the pure machine for the next
//! step, write the new phase to status first, then take the step (a mode
//! change on a site, or the traffic switch), and go on while steps succeed.
//! Every step is idempotent, so an operator killed between any two of them
//! (or a new leader) resumes from the phase in status.

use std::time::Duration;

use kube::ResourceExt;
use tracing::{info, warn};

use super::secrets::TripSecrets;
use super::site_drivers::site_driver;
use super::status_write::Written;
use super::sync::{Drivers, site_mode};
use super::{Context, Error};
use crate::api::{
    ANNOTATION_AUTOMATIC_FAILOVER, SiteContact, SiteHAPair, SiteHAPairStatus, SiteMode, duration,
};
use crate::plan::observe::PlannedEvent;
use crate::plan::preflight_warnings::pair_warnings;
use crate::plan::promotion::{ForcePast, PromotionInput, Step, plan_promotion};
use crate::plan::promotion_status::{fold_promotion, observations};
use crate::plan::sync_status::SiteReport;
use crate::sites::{Mode, Site};

/// Most steps one reconcile takes (a whole planned promotion is four).
const MAX_STEPS: usize = 8;
/// Timeout of one mode change.
const MODE_TIMEOUT: Duration = Duration::from_secs(10);

/// Fault injection for the resume tests, compiled only with the
/// `failpoints` feature (the test command's builds): with
/// `SITEHAPAIR_FAILPOINT_EXIT_AT_PHASE=<phase>` the process exits at once
/// (no cleanup, the Lease kept, like SIGKILL) right after writing that
/// promotion phase (or standby-first change step, status.activeChange)
/// and before taking its step.
#[cfg(feature = "failpoints")]
pub(super) fn crash_point(status: &SiteHAPairStatus) {
    let promotion = status.promotion.as_ref().map(|p| p.phase.as_str());
    let change = status.active_change.as_ref().map(|c| c.step.as_str());
    let Ok(exit_at) = std::env::var("SITEHAPAIR_FAILPOINT_EXIT_AT_PHASE") else {
        return;
    };
    if let Some(phase) = [promotion, change]
        .into_iter()
        .flatten()
        .find(|p| *p == exit_at)
    {
        warn!(phase, "failpoint: exiting before the step of this phase");
        std::process::exit(86);
    }
}

/// Without the `failpoints` feature there is no crash switch at all.
#[cfg(not(feature = "failpoints"))]
pub(super) fn crash_point(_status: &SiteHAPairStatus) {}

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
/// before every step; `written` is the status last written. Site answers
/// stay typed: a failed mode change updates what the machine sees of the
/// site (silence, refusal, 409), and a 409 re-reads the site's mode so the
/// machine adopts the newer epoch before it plans again.
pub async fn promotion_trip(
    ctx: &Context,
    obj: &SiteHAPair,
    status: &mut SiteHAPairStatus,
    written: &mut Written,
    reports: &mut [SiteReport],
    drivers: &Drivers,
    now: jiff::Timestamp,
) -> Result<Vec<PlannedEvent>, Error> {
    let generation = obj.metadata.generation.unwrap_or(0);
    let namespace = obj.namespace().unwrap_or_default();
    let contact = duration::parse(
        "promotion.contactTimeout",
        &obj.spec.promotion.contact_timeout,
    )
    .unwrap_or(Duration::from_secs(1800));
    let settling = duration::parse("promotion.settlingTime", &obj.spec.promotion.settling_time)
        .unwrap_or_default();
    let warnings = pair_warnings(status, &obj.spec.active_site);
    let force_past = force_past_of(obj);
    let mut events = Vec::new();
    for _ in 0..MAX_STEPS {
        // The trip's one clock reading, taken before the sites were
        // observed: a window is never counted past what was seen.
        let sites = observations(status, reports);
        let source_revision = status
            .expected_revision(obj.spec.source.is_some())
            .map(str::to_string);
        let running = status.promotion.clone();
        let current = status.active_site.clone();
        let traffic = status.traffic_site.clone();
        let shifted = status
            .active_change
            .as_ref()
            .and_then(|c| c.holds_traffic_on())
            .map(str::to_string);
        let decision = plan_promotion(&PromotionInput {
            target: &obj.spec.active_site,
            current: current.as_deref(),
            epoch: status.epoch,
            running: running.as_ref(),
            traffic: traffic.as_deref(),
            sites: &sites,
            source_revision: source_revision.as_deref(),
            require_in_sync: obj.spec.promotion.require_in_sync,
            require_healthy: obj.spec.promotion.require_healthy,
            contact_timeout: contact,
            traffic_failover: obj.spec.traffic.failover,
            reason: promotion_reason(obj),
            allow_parity_mismatch: obj
                .annotations()
                .get(crate::api::ANNOTATION_ALLOW_PARITY_MISMATCH)
                .map(String::as_str),
            force_past: force_past
                .as_ref()
                .and_then(|(value, by)| ForcePast::parse(value, by)),
            settling,
            warnings: &warnings,
            shifted: shifted.as_deref(),
            now,
        });
        let stamp = crate::plan::promotion::stamp(now);
        events.extend(fold_promotion(status, &decision, generation, &stamp));
        let Some(step) = decision.step else {
            break;
        };
        // The phase reaches status before the step is taken.
        written.write(ctx, obj, status).await?;
        crash_point(status);
        if !ctx.is_leader() {
            return Err(Error::NotLeader {
                namespace,
                name: obj.name_any(),
            });
        }
        match step {
            Step::SwitchTraffic => {
                super::reconcile::apply_traffic(ctx, obj, status.traffic_site.as_deref()).await?
            }
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

/// The force-past annotation and who set it: the force-past-by
/// annotation (`<SITE@EPOCH> by <who>`, written by `sitehapair promote
/// --force-past` from the API server's SelfSubjectReview) when it was
/// written for this very value; else it is not known who.
fn force_past_of(obj: &SiteHAPair) -> Option<(String, String)> {
    let value = obj.annotations().get(crate::api::ANNOTATION_FORCE_PAST)?;
    let by = obj
        .annotations()
        .get(crate::api::ANNOTATION_FORCE_PAST_BY)
        .and_then(|by| who_forced(value, by))
        .unwrap_or_else(|| {
            "someone not recorded (set it with sitehapair promote --force-past to record who)"
                .to_string()
        });
    Some((value.clone(), crate::sites::http::trim(&by, 120)))
}

/// Who the force-past-by annotation names, if it was written for `value`
/// (one left from an earlier force-past names nobody).
fn who_forced(value: &str, by: &str) -> Option<String> {
    let (for_value, who) = by.split_once(" by ")?;
    (for_value.trim() == value.trim() && !who.trim().is_empty()).then(|| who.trim().to_string())
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
    let namespace = obj.namespace().unwrap_or_default();
    let site = report.name.clone();
    let mode = if active { Mode::Active } else { Mode::Passive };
    // The write (with every call a kind makes for it: a probe, a token
    // renewal, a role record) must land before this replica's renew
    // deadline, when another replica may lead and fence: it gets the time
    // left, and is not started with too little.
    let Some(budget) = super::leader::write_budget(ctx.leader_until.remaining(), MODE_TIMEOUT)
    else {
        report.error = Some(format!(
            "site {site}: PUT /mode not sent: this replica's lease runs out before it could land"
        ));
        return ModeChange::Failed;
    };
    // The trip's driver when it was built, else from the Secrets now.
    let driver = match drivers.get(&site) {
        Some(d) => Ok(d.clone().with_timeout(budget)),
        None => match obj.spec.sites.iter().find(|s| s.name == site) {
            Some(spec) => {
                let secrets = TripSecrets::new(&ctx.secrets, &namespace);
                let health = &obj.spec.health_check.path;
                site_driver(&secrets, &ctx.site_clients, spec, health, budget).await
            }
            None => Err(format!("site {site} is not in spec.sites")),
        },
    };
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
    let Some(budget) = super::leader::write_budget(ctx.leader_until.remaining(), budget) else {
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

#[cfg(test)]
mod tests {
    #[test]
    fn who_forced_is_believed_only_for_the_value_it_was_written_for() {
        use super::who_forced;
        assert_eq!(
            who_forced("east@4", "east@4 by user alice").as_deref(),
            Some("user alice")
        );
        assert_eq!(who_forced("east@7", "east@4 by user alice"), None);
        assert_eq!(who_forced("east@4", "user alice"), None);
    }

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
