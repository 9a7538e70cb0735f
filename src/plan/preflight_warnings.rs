//! The whole-pair part of preflight, pure: what about the rest of the pair
//! an administrator should know before a promotion, without it blocking
//! the promotion: a rejected or unreadable source, a prune waiting for
//! approval, a standby other than the target that fails its health check.

use crate::api::conditions::{self, ConditionStatus, types};
use crate::api::{SiteHAPairStatus, SiteHealth};

/// Named warnings for a promotion to `target`, from the pair's status.
pub fn pair_warnings(status: &SiteHAPairStatus, target: &str) -> Vec<String> {
    let mut out = Vec::new();
    let cond = |t: &str| conditions::find(&status.conditions, t);
    if let Some(c) = cond(types::SOURCE_READY).filter(|c| c.status == ConditionStatus::False) {
        out.push(format!("source ({}): {}", c.reason, c.message));
    }
    if let Some(c) = cond(types::IN_SYNC).filter(|c| {
        c.status == ConditionStatus::False
            && c.reason == crate::plan::conditions::reasons::InSyncReason::PruneBlocked.as_str()
    }) {
        out.push(format!("prune approval pending: {}", c.message));
    }
    for row in &status.sites {
        let other = row.name != target && Some(row.name.as_str()) != status.active_site.as_deref();
        if other && row.health.is_some_and(|h| h != SiteHealth::Healthy) {
            out.push(format!(
                "standby {} fails its health check: after the promotion the pair has no healthy standby but the old active",
                row.name
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::SiteStatus;
    use crate::api::conditions::Condition;

    fn row(name: &str, health: SiteHealth) -> SiteStatus {
        SiteStatus {
            name: name.into(),
            health: Some(health),
            ..SiteStatus::default()
        }
    }

    #[test]
    fn a_rejected_source_a_pending_prune_and_a_sick_third_site_are_named() {
        let mut st = SiteHAPairStatus {
            active_site: Some("east".into()),
            sites: vec![
                row("east", SiteHealth::Unhealthy),
                row("west", SiteHealth::Healthy),
                row("north", SiteHealth::Unreachable),
            ],
            ..SiteHAPairStatus::default()
        };
        let c = |t: &str, r: &str, m: &str| Condition::new(t, ConditionStatus::False, r, m, 1, "t");
        st.conditions = vec![
            c(
                types::SOURCE_READY,
                "InvalidRevision",
                "revision abc is rejected",
            ),
            c(
                types::IN_SYNC,
                "PruneBlocked",
                "12 deletions wait for approval",
            ),
        ];
        let w = pair_warnings(&st, "west");
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].contains("InvalidRevision") && w[0].contains("abc"),
            "{w:?}"
        );
        assert!(w[1].contains("12 deletions"), "{w:?}");
        // The active (east) and the target are not standbys here.
        assert!(w[2].contains("standby north"), "{w:?}");
    }

    #[test]
    fn a_quiet_pair_has_no_warnings() {
        let st = SiteHAPairStatus {
            active_site: Some("east".into()),
            sites: vec![
                row("east", SiteHealth::Healthy),
                row("west", SiteHealth::Healthy),
            ],
            ..SiteHAPairStatus::default()
        };
        assert!(pair_warnings(&st, "west").is_empty());
    }
}
