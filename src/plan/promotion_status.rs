//! Folding a promotion decision into the status data, pure: activeSite,
//! epoch, trafficSite, status.promotion, the history; and the Events the
//! decision's notices become. Also the bridge from site status rows to the
//! machine's observations.

use crate::api::{SiteHAPairStatus, SiteMode};
use crate::plan::event::PlannedEvent;
use crate::plan::promotion::{ModeSeen, PromotionDecision, SiteObs, push_history};
use crate::plan::sync_status::SiteReport;

/// What the machine sees of each site: this trip's report joined with the
/// status row (synced revision, drift).
pub fn observations(status: &SiteHAPairStatus, reports: &[SiteReport]) -> Vec<SiteObs> {
    status
        .sites
        .iter()
        .map(|row| {
            let r = reports.iter().find(|r| r.name == row.name);
            let mode = r.and_then(|r| match (r.mode, r.epoch) {
                (Some(SiteMode::Active), Some(epoch)) => Some(ModeSeen {
                    active: true,
                    epoch,
                }),
                (Some(SiteMode::Passive), Some(epoch)) => Some(ModeSeen {
                    active: false,
                    epoch,
                }),
                _ => None,
            });
            SiteObs {
                name: row.name.clone(),
                contact: r.map(|r| r.contact).unwrap_or_default(),
                mode,
                healthy: r.and_then(|r| r.healthy).unwrap_or(false),
                synced_revision: row.synced_revision.clone(),
                drifting: row
                    .drift
                    .is_some_and(|d| d.added + d.changed + d.removed > 0),
                message: r.and_then(|r| r.error.clone()),
                version: row.version.clone(),
                token_key: row.token_key_fingerprint.clone(),
                last_change: row.last_sync_time.as_deref().and_then(|t| t.parse().ok()),
                joining: row.joining == Some(true),
                last_epoch: row.epoch,
            }
        })
        .collect()
}

/// Put the decision into the status data (active site, epoch, traffic,
/// the running promotion, the history); returns the Events of its notices.
/// Why it waits (`d.blocked`) is a finding for `conditions::compose`.
pub fn fold_promotion(status: &mut SiteHAPairStatus, d: &PromotionDecision) -> Vec<PlannedEvent> {
    if status.active_site != d.active_site {
        // A new active site: a standby-first change of the old one is moot.
        status.active_change = None;
    }
    status.active_site = d.active_site.clone();
    status.epoch = d.epoch;
    status.traffic_site = d.traffic_site.clone();
    status.promotion = d.running.clone();
    if let Some(rec) = &d.finished {
        push_history(&mut status.history, rec.clone());
    }
    d.notices
        .iter()
        .map(|n| PlannedEvent {
            warning: n.warning,
            reason: n.reason,
            action: "Promote",
            note: n.note.clone(),
        })
        .collect()
}
