//! Folding a promotion decision into the status, pure: activeSite, epoch,
//! status.promotion, the history, the Promoting and PromotionBlocked
//! conditions and the phase; and the Events the decision's notices become.
//! Also the bridge from site status rows to the machine's observations.

use crate::api::conditions::{self, Condition, ConditionStatus, types};
use crate::api::{Phase, PromotionPhase, SiteHAPairStatus, SiteMode};
use crate::plan::observe::PlannedEvent;
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

/// Put the decision into `status`; returns the Events of its notices.
pub fn fold_promotion(
    status: &mut SiteHAPairStatus,
    d: &PromotionDecision,
    generation: i64,
    now: &str,
) -> Vec<PlannedEvent> {
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
    let set = |conds: &mut Vec<Condition>, t: &str, s, reason: &str, msg: String| {
        conditions::set_condition(conds, Condition::new(t, s, reason, msg, generation, now));
    };
    let was = conditions::find(&status.conditions, types::PROMOTION_BLOCKED)
        .filter(|c| c.status == ConditionStatus::True)
        .map(|c| c.reason.clone());
    let mut events = Vec::new();
    match d.blocked.first() {
        None => set(
            &mut status.conditions,
            types::PROMOTION_BLOCKED,
            ConditionStatus::False,
            "NotBlocked",
            "no promotion is blocked".into(),
        ),
        Some(first) => {
            let to = d.running.as_ref().map_or("?", |p| p.to.as_str());
            let list: Vec<&str> = d.blocked.iter().map(|b| b.message.as_str()).collect();
            let msg = format!("promotion of {to} waits: {}", list.join("; "));
            // An Event when the promotion becomes blocked, or for a new reason.
            if was.as_deref() != Some(first.reason.as_str()) {
                events.push(PlannedEvent {
                    warning: true,
                    reason: "PromotionBlocked",
                    action: "Promote",
                    note: msg.clone(),
                });
            }
            set(
                &mut status.conditions,
                types::PROMOTION_BLOCKED,
                ConditionStatus::True,
                first.reason.as_str(),
                msg,
            );
        }
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
                match p.phase {
                    PromotionPhase::Unknown(_) => "UnknownPhase",
                    _ => p.phase.as_str(),
                },
                msg.clone(),
            );
            status.phase = Some(if p.phase == PromotionPhase::WaitingForOldActive {
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
    events.extend(d.notices.iter().map(|n| PlannedEvent {
        warning: n.warning,
        reason: n.reason,
        action: "Promote",
        note: n.note.clone(),
    }));
    events
}
