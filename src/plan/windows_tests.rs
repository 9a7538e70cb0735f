//! Unit and property tests of the change windows.

use proptest::prelude::*;

use super::*;
use crate::api::ChangeWindow;

fn window(kind: WindowKind, schedule: &str, duration: &str, tz: &str) -> ChangeWindow {
    ChangeWindow {
        kind,
        schedule: schedule.into(),
        duration: duration.into(),
        time_zone: tz.into(),
        applies_to: vec![WindowAction::Sync, WindowAction::Promotion],
        hold_failover: false,
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn parsed(w: &[ChangeWindow]) -> Vec<Window> {
    let (ok, problems) = parse_windows(w);
    assert!(problems.is_empty(), "{problems:?}");
    ok
}

#[test]
fn standard_cron_fields_become_the_crates_with_sunday_as_zero_or_seven() {
    assert_eq!(to_crate_syntax("0 22 * * 6").unwrap(), "0 0 22 * * Sat *");
    assert_eq!(
        to_crate_syntax("30 1 * * 0,7").unwrap(),
        "0 30 1 * * Sun,Sun *"
    );
    assert_eq!(
        to_crate_syntax("0 8 * * 1-5").unwrap(),
        "0 0 8 * * Mon-Fri *"
    );
    assert_eq!(
        to_crate_syntax("*/15 * * * */2").unwrap(),
        "0 */15 * * * */2 *"
    );
    assert_eq!(
        to_crate_syntax("0 8 * * Mon-Fri").unwrap(),
        "0 0 8 * * Mon-Fri *"
    );
    assert!(
        to_crate_syntax("0 8 * *")
            .unwrap_err()
            .contains("five fields")
    );
    assert!(
        to_crate_syntax("0 8 1 * 1")
            .unwrap_err()
            .contains("both day-of-month and day-of-week")
    );
    assert!(
        to_crate_syntax("0 8 * * 8")
            .unwrap_err()
            .contains("use 0-7")
    );
}

#[test]
fn a_bad_window_is_named_with_what_to_fix() {
    let (_, problems) = parse_windows(&[
        window(WindowKind::Allow, "0 22 * * 6", "4h", "Mars/Olympus"),
        window(WindowKind::Deny, "0 25 * * *", "1h", "UTC"),
    ]);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("spec.windows[0].timeZone") && problems[0].contains("Europe/Berlin")
    );
    assert!(problems[1].contains("spec.windows[1].schedule"));
}

#[test]
fn an_allow_window_opens_at_its_time_in_its_zone_and_closes_after_its_duration() {
    // Saturdays 22:00 Berlin time (21:00 UTC in winter), for 4 hours.
    let w = parsed(&[window(
        WindowKind::Allow,
        "0 22 * * 6",
        "4h",
        "Europe/Berlin",
    )]);
    let a = Action::PlannedPromotion;
    // Friday 2026-12-11 10:00 UTC: closed until Saturday 21:00 UTC.
    assert_eq!(
        gate(&w, a, t("2026-12-11T10:00:00Z")),
        Gate::Closed {
            until: Some(t("2026-12-12T21:00:00Z")),
            why: "outside every allow window (spec.windows[0] (Allow 0 22 * * 6 for 4h (Europe/Berlin)))".into()
        }
    );
    assert_eq!(gate(&w, a, t("2026-12-12T21:00:00Z")), Gate::Open);
    assert_eq!(gate(&w, a, t("2026-12-13T00:59:59Z")), Gate::Open);
    assert!(matches!(
        gate(&w, a, t("2026-12-13T01:00:00Z")),
        Gate::Closed { .. }
    ));
}

#[test]
fn deny_wins_over_allow_and_the_wait_ends_when_the_deny_does() {
    let w = parsed(&[
        window(WindowKind::Allow, "0 0 * * *", "24h", "UTC"),
        window(WindowKind::Deny, "0 9 * * *", "2h", "UTC"),
    ]);
    match gate(&w, Action::Sync, t("2026-12-07T10:00:00Z")) {
        Gate::Closed { until, why } => {
            assert_eq!(until, Some(t("2026-12-07T11:00:00Z")));
            assert!(why.contains("deny window spec.windows[1]"), "{why}");
        }
        Gate::Open => panic!("inside a deny window"),
    }
    assert_eq!(
        gate(&w, Action::Sync, t("2026-12-07T11:00:00Z")),
        Gate::Open
    );
}

#[test]
fn automatic_failover_is_held_only_by_windows_that_say_so_and_actions_only_by_their_windows() {
    let mut deny = window(WindowKind::Deny, "0 0 * * *", "24h", "UTC");
    deny.applies_to = vec![WindowAction::Promotion];
    let now = t("2026-12-07T10:00:00Z");
    let w = parsed(std::slice::from_ref(&deny));
    assert!(matches!(
        gate(&w, Action::PlannedPromotion, now),
        Gate::Closed { .. }
    ));
    assert_eq!(gate(&w, Action::AutomaticFailover, now), Gate::Open);
    assert_eq!(
        gate(&w, Action::Sync, now),
        Gate::Open,
        "a promotion window rules no sync"
    );
    deny.hold_failover = true;
    let w = parsed(&[deny]);
    assert!(matches!(
        gate(&w, Action::AutomaticFailover, now),
        Gate::Closed { .. }
    ));
    assert_eq!(
        gate(&[], Action::PlannedPromotion, now),
        Gate::Open,
        "no windows: always"
    );
}

proptest! {
    /// Whatever the windows and the time: the gate is open exactly when no
    /// ruling deny window is open and, if there are ruling allow windows,
    /// one of them is open; and a closed gate's `until` is later than now
    /// and open.
    #[test]
    fn the_gate_agrees_with_the_windows_and_until_is_an_opening(
        specs in prop::collection::vec((any::<bool>(), 0u8..24, 0u8..7, 1u16..600), 0..4),
        minutes in 0i64..(60 * 24 * 21),
    ) {
        let spec: Vec<ChangeWindow> = specs
            .iter()
            .map(|(allow, hour, day, len)| {
                let kind = if *allow { WindowKind::Allow } else { WindowKind::Deny };
                window(kind, &format!("0 {hour} * * {day}"), &format!("{len}m"), "Europe/Berlin")
            })
            .collect();
        let w = parsed(&spec);
        let now = t("2026-12-01T00:00:00Z")
            .checked_add(SignedDuration::from_mins(minutes))
            .expect("time");
        let denied = w.iter().any(|x| x.kind == WindowKind::Deny && x.open_at(now));
        let allows: Vec<&Window> = w.iter().filter(|x| x.kind == WindowKind::Allow).collect();
        let allowed = allows.is_empty() || allows.iter().any(|x| x.open_at(now));
        match gate(&w, Action::Sync, now) {
            Gate::Open => prop_assert!(!denied && allowed),
            Gate::Closed { until, .. } => {
                prop_assert!(denied || !allowed);
                if let Some(u) = until {
                    prop_assert!(u > now);
                    prop_assert_eq!(gate(&w, Action::Sync, u), Gate::Open);
                }
            }
        }
    }
}
