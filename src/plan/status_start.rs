//! The status a trip starts from, pure: the one the last trip left, moved
//! to this generation (and refresh request), one row per spec site; the
//! Events of a first sight or a spec change. Conditions and the phase are
//! not decided here but by `conditions::compose` at the end of the trip.

use crate::api::{SiteHAPairSpec, SiteHAPairStatus, SiteStatus};
use crate::plan::event::PlannedEvent;

/// The status a trip starts from and the Events of what it noticed.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    pub status: SiteHAPairStatus,
    pub events: Vec<PlannedEvent>,
}

/// Start this trip's status from the last one (`old`).
pub fn start_status(
    spec: &SiteHAPairSpec,
    generation: i64,
    old: Option<&SiteHAPairStatus>,
    reconcile_requested_at: Option<&str>,
) -> Start {
    let mut status = old.cloned().unwrap_or_default();
    let mut events = Vec::new();
    let first_sight = status.active_site.is_none() && status.observed_generation.is_none();
    if first_sight {
        // status.activeSite stays empty: the promotion machine decides who is
        // active once the sites have told their modes.
        events.push(PlannedEvent {
            warning: false,
            reason: "Observed",
            action: "Observe",
            note: format!(
                "first sight of the pair: {} sites, {} to be active",
                spec.sites.len(),
                spec.active_site
            ),
        });
    } else if status.observed_generation != Some(generation) {
        events.push(PlannedEvent {
            warning: false,
            reason: "SpecChanged",
            action: "Observe",
            note: format!("observed generation {generation}"),
        });
    }
    status.observed_generation = Some(generation);
    if let Some(at) = reconcile_requested_at {
        status.last_handled_reconcile_at = Some(at.to_string());
    }
    let running = status.active_site.is_some();
    status.sites = site_rows(spec, &status.sites, running);
    Start { status, events }
}

/// One row per site of the spec, kept from `old`; a site added to a pair
/// that already runs (`running`) starts as joining.
fn site_rows(spec: &SiteHAPairSpec, old: &[SiteStatus], running: bool) -> Vec<SiteStatus> {
    spec.sites
        .iter()
        .map(|s| {
            old.iter()
                .find(|o| o.name == s.name)
                .cloned()
                .unwrap_or_else(|| SiteStatus {
                    name: s.name.clone(),
                    joining: running.then_some(true),
                    ..SiteStatus::default()
                })
        })
        .collect()
}

#[cfg(test)]
#[path = "status_start_tests.rs"]
mod tests;
