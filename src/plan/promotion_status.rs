//! Folding a promotion decision into the status, pure: activeSite, epoch,
//! status.promotion, the history, the Promoting and PromotionBlocked
//! conditions and the phase; and the Events the decision's notices become.
//! Also the bridge from site status rows to the machine's observations.

use crate::api::conditions::{self, Condition, ConditionStatus, types};
use crate::api::{Phase, SiteHAPairStatus};
use crate::plan::observe::PlannedEvent;
use crate::plan::promotion::{PromotionDecision, SiteObs, phases, push_history};
use crate::plan::sync_status::SiteReport;

/// What the machine sees of each site: this trip's report joined with the
/// status row (synced revision, drift).
pub fn observations(status: &SiteHAPairStatus, reports: &[SiteReport]) -> Vec<SiteObs> {
    status
        .sites
        .iter()
        .map(|row| {
            let r = reports.iter().find(|r| r.name == row.name);
            let reachable = r.is_some_and(|r| r.mode.is_some() && r.epoch.is_some());
            SiteObs {
                name: row.name.clone(),
                reachable,
                healthy: r.and_then(|r| r.healthy).unwrap_or(false),
                active: r.and_then(|r| r.mode.as_deref()) == Some("Active"),
                epoch: r.and_then(|r| r.epoch).unwrap_or(0),
                synced_revision: row.synced_revision.clone(),
                drifting: row
                    .drift
                    .is_some_and(|d| d.added + d.changed + d.removed > 0),
            }
        })
        .collect()
}

/// Put the decision into `status`; returns the Events of its notices.
pub fn fold_promotion(
    status: &mut SiteHAPairStatus,
    d: &PromotionDecision,
    generation: i64,
    now: &str,
) -> Vec<PlannedEvent> {
    status.active_site = d.active_site.clone();
    status.epoch = d.epoch;
    status.promotion = d.running.clone();
    if let Some(rec) = &d.finished {
        push_history(&mut status.history, rec.clone());
    }
    let set = |conds: &mut Vec<Condition>, t: &str, s, reason: &str, msg: String| {
        conditions::set_condition(conds, Condition::new(t, s, reason, msg, generation, now));
    };
    if d.blocked.is_empty() {
        set(
            &mut status.conditions,
            types::PROMOTION_BLOCKED,
            ConditionStatus::False,
            "NotBlocked",
            "no promotion is blocked".into(),
        );
    } else {
        let to = d.running.as_ref().map(|p| p.to.as_str()).unwrap_or("?");
        set(
            &mut status.conditions,
            types::PROMOTION_BLOCKED,
            ConditionStatus::True,
            "PreflightFailed",
            format!(
                "promotion of {to} waits on preflight: {}",
                d.blocked.join("; ")
            ),
        );
    }
    match &d.running {
        Some(p) => {
            let msg = p
                .message
                .clone()
                .unwrap_or_else(|| format!("promoting {} at epoch {}", p.to, p.epoch));
            set(
                &mut status.conditions,
                types::PROMOTING,
                ConditionStatus::True,
                &p.phase,
                msg.clone(),
            );
            status.phase = Some(if p.phase == phases::WAITING {
                Phase::WaitingForOldActive
            } else {
                Phase::Promoting
            });
            set(
                &mut status.conditions,
                types::READY,
                ConditionStatus::False,
                "Promoting",
                msg,
            );
        }
        None => {
            set(
                &mut status.conditions,
                types::PROMOTING,
                ConditionStatus::False,
                "Idle",
                "no promotion is running".into(),
            );
            let degraded = conditions::find(&status.conditions, types::DEGRADED)
                .is_some_and(|c| c.status == ConditionStatus::True);
            if status.phase == Some(Phase::Promoting) && degraded {
                status.phase = Some(Phase::Degraded);
            } else if status.phase == Some(Phase::Promoting) {
                // plan_status saw spec and status differ; the machine settled it.
                status.phase = Some(Phase::Ready);
                let msg = format!(
                    "{} is the active site at epoch {}",
                    status.active_site.clone().unwrap_or_default(),
                    status.epoch
                );
                set(
                    &mut status.conditions,
                    types::READY,
                    ConditionStatus::True,
                    "Observed",
                    msg,
                );
            }
        }
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
