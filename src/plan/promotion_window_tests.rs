//! Unit tests of a planned promotion that waits for its time or its change
//! window: built from the pair by `PairAsks` (notBefore, spec.windows, the
//! override annotation), and what the machine does with the wait.

use serde_json::json;

use super::promotion::{BlockReason, ModeSeen, PromotionReason, SiteObs, plan_promotion};
use super::promotion_input::PairAsks;
use super::spec_check::check_spec;
use crate::api::{SiteContact, SiteHAPairSpec, SiteHAPairStatus};

fn site(name: &str, active: bool, epoch: i64) -> SiteObs {
    SiteObs {
        name: name.into(),
        contact: SiteContact::Answered,
        mode: Some(ModeSeen { active, epoch }),
        healthy: true,
        synced_revision: None,
        drifting: false,
        message: None,
        version: None,
        token_key: None,
        last_change: None,
        joining: false,
        last_epoch: Some(epoch),
    }
}

fn unhealthy(name: &str) -> SiteObs {
    SiteObs {
        healthy: false,
        ..site(name, false, 1)
    }
}

fn spec(extra: serde_json::Value) -> SiteHAPairSpec {
    let mut v = json!({
        "activeSite": "west",
        "sites": [
            {"name": "east", "adminUrl": "https://e", "credentialsSecretRef": {"name": "e"}, "trafficAddresses": ["192.0.2.1"]},
            {"name": "west", "adminUrl": "https://w", "credentialsSecretRef": {"name": "w"}, "trafficAddresses": ["192.0.2.2"]}
        ]
    });
    if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        v.extend(extra.clone());
    }
    serde_json::from_value(v).expect("spec")
}

fn status() -> SiteHAPairStatus {
    SiteHAPairStatus {
        active_site: Some("east".into()),
        epoch: 1,
        traffic_site: Some("east".into()),
        ..SiteHAPairStatus::default()
    }
}

fn t(s: &str) -> jiff::Timestamp {
    s.parse().expect("time")
}

#[test]
fn a_scheduled_promotion_waits_for_its_time_then_starts() {
    let spec = spec(json!({"promotion": {"notBefore": "2026-12-12T22:00:00Z"}}));
    let check = check_spec(&spec);
    assert!(check.valid(), "{:?}", check.problems);
    let asks = PairAsks::of_spec(&spec, &check);
    let (st, sites) = (status(), [site("east", true, 1), site("west", false, 1)]);
    let early = plan_promotion(&asks.input(&st, &sites, t("2026-12-12T10:00:00Z")));
    assert!(
        early.running.is_none(),
        "started early: {:?}",
        early.running
    );
    assert_eq!(early.blocked[0].reason, BlockReason::Scheduled);
    assert!(
        early.blocked[0]
            .message
            .contains("scheduled for 2026-12-12T22:00:00Z")
    );
    assert_eq!(early.active_site.as_deref(), Some("east"));
    // Within the hour its preflight is told; west is fine, so it passes.
    let near = plan_promotion(&asks.input(&st, &sites, t("2026-12-12T21:30:00Z")));
    assert!(
        near.blocked[0].message.contains("preflight passes now"),
        "{:?}",
        near.blocked
    );
    // ...and a failing one changes the reason (an Event marks it).
    let sick = [site("east", true, 1), unhealthy("west")];
    let near = plan_promotion(&asks.input(&st, &sick, t("2026-12-12T21:30:00Z")));
    assert_eq!(
        near.blocked[0].reason,
        BlockReason::ScheduledPreflightFailing
    );
    let due = plan_promotion(&asks.input(&st, &sites, t("2026-12-12T22:00:00Z")));
    assert!(
        due.running.is_some(),
        "did not start at its time: {:?}",
        due.blocked
    );
}

#[test]
fn a_deny_window_holds_a_planned_promotion_and_the_override_for_its_target_lets_it_through() {
    let spec = spec(json!({"windows": [
        {"kind": "Deny", "schedule": "0 8 * * Mon-Fri", "duration": "10h", "timeZone": "Europe/Berlin"}
    ]}));
    let check = check_spec(&spec);
    assert!(check.valid(), "{:?}", check.problems);
    let (st, sites) = (status(), [site("east", true, 1), site("west", false, 1)]);
    // Monday 2026-12-07 10:00 UTC is 11:00 in Berlin: inside, until 17:00 UTC.
    let now = t("2026-12-07T10:00:00Z");
    let mut asks = PairAsks::of_spec(&spec, &check);
    let held = plan_promotion(&asks.input(&st, &sites, now));
    assert!(held.running.is_none());
    assert_eq!(held.blocked[0].reason, BlockReason::OutsideWindow);
    assert!(
        held.blocked[0]
            .message
            .contains("until 2026-12-07T17:00:00Z")
            && held.blocked[0]
                .message
                .contains("sitehapair.io/window-override=west"),
        "{}",
        held.blocked[0].message
    );
    // An override naming another site lets nothing through.
    asks.window_override = Some(("east".into(), "user bob".into()));
    assert!(
        plan_promotion(&asks.input(&st, &sites, now))
            .running
            .is_none()
    );
    asks.window_override = Some(("west".into(), "user alice".into()));
    let d = plan_promotion(&asks.input(&st, &sites, now));
    assert!(d.running.is_some());
    assert!(
        d.notices
            .iter()
            .any(|n| n.reason == "WindowOverridden" && n.note.contains("user alice")),
        "{:?}",
        d.notices
    );
    // An automatic failover is not held by a window that does not say so.
    asks.window_override = None;
    asks.reason = PromotionReason::Automatic;
    assert!(
        plan_promotion(&asks.input(&st, &sites, now))
            .running
            .is_some()
    );
    // After the window: it starts on its own.
    asks.reason = PromotionReason::Manual;
    let after = plan_promotion(&asks.input(&st, &sites, t("2026-12-07T17:00:00Z")));
    assert!(after.running.is_some());
}
