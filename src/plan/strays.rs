//! Strays, pure: while no promotion runs, a site beside the active one
//! that reports active, or the old active of a forced promotion that
//! speaks (an error answer) without telling its mode and was not fenced
//! since. Shown in Degraded, counted in a metric; the promotion machine
//! demotes it as soon as it tells its mode. A standby that answers errors
//! (booting, broken) is no stray: it was passive when last heard.

use crate::api::{SiteHAPairStatus, SiteMode};

/// One stray site and why it is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    pub site: String,
    pub kind: StrayKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrayKind {
    /// Reports active at `epoch` beside the active site.
    ReportsActive { epoch: i64 },
    /// Answers with an error, so its role is not known, and it was last
    /// fenced at `epoch`, below the pair's (None: never).
    RoleUnknown {
        epoch: Option<i64>,
        message: Option<String>,
    },
}

/// The strays of `status` (its site rows as this trip left them).
pub fn strays(status: &SiteHAPairStatus) -> Vec<Stray> {
    let Some(active) = status.active_site.as_deref() else {
        return Vec::new();
    };
    if status.promotion.is_some() {
        return Vec::new();
    }
    status
        .sites
        .iter()
        .filter(|row| row.name != active)
        .filter_map(|row| {
            let kind = match row.mode {
                Some(SiteMode::Active) => StrayKind::ReportsActive {
                    epoch: row.epoch.unwrap_or(0),
                },
                Some(SiteMode::Unknown)
                    if row.contact.is_some_and(|c| c.answered())
                        && passed_over_active(status, &row.name, row.epoch) =>
                {
                    StrayKind::RoleUnknown {
                        epoch: row.epoch,
                        message: row.message.clone(),
                    }
                }
                _ => return None,
            };
            Some(Stray {
                site: row.name.clone(),
                kind,
            })
        })
        .collect()
}

/// `site` was the active site a forced promotion went on without, and it
/// has not told a mode at or above that promotion's epoch since.
fn passed_over_active(status: &SiteHAPairStatus, site: &str, told: Option<i64>) -> bool {
    status
        .history
        .iter()
        .any(|r| r.forced && r.from.as_deref() == Some(site) && told.unwrap_or(0) < r.epoch)
}

/// The Degraded message naming every stray.
pub fn message(strays: &[Stray], active: &str, epoch: i64) -> String {
    let each: Vec<String> = strays
        .iter()
        .map(|s| match &s.kind {
            StrayKind::ReportsActive { epoch: e } => {
                format!("site {} reports active at epoch {e}", s.site)
            }
            StrayKind::RoleUnknown { epoch: e, message } => format!(
                "site {} answers but does not tell its mode ({}), and was last fenced at {}",
                s.site,
                message.as_deref().unwrap_or("an error"),
                e.map_or("no epoch".to_string(), |e| format!("epoch {e}")),
            ),
        })
        .collect();
    format!(
        "{} beside the active site {active} (epoch {epoch}); traffic stays on {active}, and a stray is demoted \
         as soon as it answers GET /mode",
        each.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{PromotionStatus, SiteContact, SiteStatus};

    fn row(name: &str, mode: SiteMode, contact: SiteContact, epoch: Option<i64>) -> SiteStatus {
        SiteStatus {
            name: name.into(),
            mode: Some(mode),
            contact: Some(contact),
            epoch,
            ..SiteStatus::default()
        }
    }

    /// West active at 5 after a promotion forced past east.
    fn pair(rows: Vec<SiteStatus>) -> SiteHAPairStatus {
        SiteHAPairStatus {
            active_site: Some("west".into()),
            epoch: 5,
            sites: rows,
            history: vec![crate::api::PromotionRecord {
                from: Some("east".into()),
                to: "west".into(),
                epoch: 5,
                forced: true,
                ..crate::api::PromotionRecord::default()
            }],
            ..SiteHAPairStatus::default()
        }
    }

    #[test]
    fn an_old_active_that_answers_500_after_a_forced_promotion_is_a_stray() {
        let st = pair(vec![
            row("east", SiteMode::Unknown, SiteContact::Failing, Some(4)),
            row("west", SiteMode::Active, SiteContact::Answered, Some(5)),
        ]);
        let found = strays(&st);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].site, "east");
        let msg = message(&found, "west", 5);
        assert!(
            msg.contains("site east answers but does not tell its mode"),
            "{msg}"
        );
        assert!(msg.contains("last fenced at epoch 4"), "{msg}");
    }

    #[test]
    fn a_site_reporting_active_beside_the_active_one_is_a_stray() {
        let st = pair(vec![
            row("east", SiteMode::Active, SiteContact::Answered, Some(5)),
            row("west", SiteMode::Active, SiteContact::Answered, Some(5)),
        ]);
        assert_eq!(
            strays(&st),
            vec![Stray {
                site: "east".into(),
                kind: StrayKind::ReportsActive { epoch: 5 }
            }]
        );
    }

    #[test]
    fn a_failing_standby_fenced_at_the_pairs_epoch_or_a_silent_one_is_no_stray() {
        let st = pair(vec![
            row("east", SiteMode::Unknown, SiteContact::Failing, Some(5)),
            row("north", SiteMode::Unknown, SiteContact::NoAnswer, Some(2)),
            // A standby back from a spell of silence, booting (503): it
            // was passive when last heard, and no promotion went past it.
            row("nova", SiteMode::Unknown, SiteContact::Failing, Some(2)),
            // A site just added, answering 500 before it ever told a mode.
            row("fresh", SiteMode::Unknown, SiteContact::Failing, None),
            row("south", SiteMode::Passive, SiteContact::Answered, Some(5)),
            row("west", SiteMode::Active, SiteContact::Answered, Some(5)),
        ]);
        assert_eq!(strays(&st), Vec::new());
    }

    #[test]
    fn while_a_promotion_runs_nobody_is_a_stray() {
        let mut st = pair(vec![
            row("east", SiteMode::Active, SiteContact::Answered, Some(4)),
            row("west", SiteMode::Active, SiteContact::Answered, Some(5)),
        ]);
        st.promotion = Some(PromotionStatus::default());
        assert_eq!(strays(&st), Vec::new());
    }
}
