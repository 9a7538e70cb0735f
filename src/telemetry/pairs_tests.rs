//! The per-pair metrics as /metrics renders them: values from a status,
//! counts from status changes, and no series left of a pair or site that
//! went away.

use crate::api::conditions::{Condition, ConditionStatus, types};
use crate::api::{
    PromotionPhase, PromotionRecord, PromotionStatus, SiteHAPairStatus, SiteHealth, SiteMode,
    SiteStatus,
};
use crate::telemetry::Metrics;

fn cond(t: &str, s: ConditionStatus) -> Condition {
    Condition::new(t, s, "R", "m", 1, "2026-01-01T00:00:00Z")
}

fn row(name: &str, mode: SiteMode, health: SiteHealth, epoch: i64, version: &str) -> SiteStatus {
    SiteStatus {
        name: name.into(),
        mode: Some(mode),
        health: Some(health),
        epoch: Some(epoch),
        version: Some(version.into()),
        ..SiteStatus::default()
    }
}

/// east active and healthy, west passive and unhealthy, epoch 3.
fn status() -> SiteHAPairStatus {
    SiteHAPairStatus {
        active_site: Some("east".into()),
        epoch: 3,
        sites: vec![
            row("east", SiteMode::Active, SiteHealth::Healthy, 3, "11.3"),
            row("west", SiteMode::Passive, SiteHealth::Unhealthy, 3, "11.3"),
        ],
        conditions: vec![
            cond(types::READY, ConditionStatus::True),
            cond(types::IN_SYNC, ConditionStatus::False),
        ],
        ..SiteHAPairStatus::default()
    }
}

/// The value of the one sample `series` (name and labels as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|v| v.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

fn site(metric: &str, site: &str) -> String {
    format!("sitehapair_{metric}{{namespace=\"ns\",pair=\"gis\",site=\"{site}\"}}")
}

fn pair(metric: &str) -> String {
    format!("sitehapair_{metric}{{namespace=\"ns\",pair=\"gis\"}}")
}

fn phase(p: &str) -> String {
    format!("sitehapair_promotion_phase{{namespace=\"ns\",pair=\"gis\",phase=\"{p}\"}}")
}

fn kind(k: &str) -> String {
    format!("sitehapair_promotions_total{{namespace=\"ns\",pair=\"gis\",kind=\"{k}\"}}")
}

#[test]
fn the_gauges_say_what_the_status_says() {
    let m = Metrics::default();
    m.pairs.observe_pair("ns", "gis", &status());
    let text = m.render();
    assert_eq!(sample(&text, &pair("pair_ready")), Some(1.0), "{text}");
    assert_eq!(sample(&text, &pair("pair_in_sync")), Some(0.0));
    assert_eq!(sample(&text, &pair("pair_epoch")), Some(3.0));
    // Same versions, no fingerprint known: unknown, not equal.
    assert_eq!(sample(&text, &pair("pair_parity")), Some(-1.0));
    assert_eq!(sample(&text, &site("site_up", "east")), Some(1.0));
    assert_eq!(sample(&text, &site("site_up", "west")), Some(0.0));
    assert_eq!(sample(&text, &site("site_active", "east")), Some(1.0));
    assert_eq!(sample(&text, &site("site_active", "west")), Some(0.0));
    assert_eq!(
        sample(&text, &site("site_reports_active", "east")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &site("site_reports_active", "west")),
        Some(0.0)
    );
    assert_eq!(sample(&text, &site("site_epoch", "west")), Some(3.0));
    assert_eq!(sample(&text, &phase("None")), Some(1.0));
    assert_eq!(sample(&text, &phase("WaitingForOldActive")), Some(0.0));
    // Every kind is there from 0.
    for k in ["planned", "automatic", "forced", "initial"] {
        assert_eq!(sample(&text, &kind(k)), Some(0.0), "{k}: {text}");
    }
}

#[test]
fn a_waiting_promotion_a_silent_site_and_a_version_skew() {
    let m = Metrics::default();
    let mut st = status();
    // The version skew, as the Parity condition says it.
    st.conditions = vec![
        cond(types::READY, ConditionStatus::False),
        cond(types::IN_SYNC, ConditionStatus::Unknown),
        cond(types::PARITY, ConditionStatus::False),
    ];
    st.sites[0] = SiteStatus {
        name: "east".into(),
        mode: Some(SiteMode::Unknown),
        health: Some(SiteHealth::Unreachable),
        version: Some("11.3".into()),
        ..SiteStatus::default()
    };
    st.sites[1].version = Some("11.4".into());
    st.promotion = Some(PromotionStatus {
        to: "west".into(),
        phase: PromotionPhase::WaitingForOldActive,
        ..PromotionStatus::default()
    });
    m.pairs.observe_pair("ns", "gis", &st);
    let text = m.render();
    assert_eq!(sample(&text, &pair("pair_ready")), Some(0.0), "{text}");
    assert_eq!(sample(&text, &pair("pair_in_sync")), Some(-1.0));
    assert_eq!(sample(&text, &pair("pair_parity")), Some(0.0));
    assert_eq!(sample(&text, &site("site_up", "east")), Some(0.0));
    // Still the pair's active site, but it does not say so itself.
    assert_eq!(sample(&text, &site("site_active", "east")), Some(1.0));
    assert_eq!(
        sample(&text, &site("site_reports_active", "east")),
        Some(0.0)
    );
    assert_eq!(sample(&text, &site("site_epoch", "east")), None, "{text}");
    assert_eq!(sample(&text, &phase("WaitingForOldActive")), Some(1.0));
    assert_eq!(sample(&text, &phase("None")), Some(0.0));
    // A phase from a newer operator is Unknown, not a label of its own.
    st.promotion = Some(PromotionStatus {
        phase: PromotionPhase::Unknown("Draining".into()),
        ..PromotionStatus::default()
    });
    m.pairs.observe_pair("ns", "gis", &st);
    let text = m.render();
    assert_eq!(sample(&text, &phase("Unknown")), Some(1.0));
    assert!(!text.contains("Draining"), "{text}");
}

fn record(to: &str, reason: &str, epoch: i64, forced: bool) -> PromotionRecord {
    PromotionRecord {
        from: Some("east".into()),
        to: to.into(),
        reason: reason.into(),
        epoch,
        started_at: "2026-01-01T00:00:00Z".into(),
        completed_at: format!("2026-01-01T00:00:{epoch:02}Z"),
        forced,
        forced_by: None,
        ..PromotionRecord::default()
    }
}

#[test]
fn promotions_and_waits_are_counted_once_per_change() {
    let m = Metrics::default();
    let now: jiff::Timestamp = "2026-01-01T00:10:00Z".parse().expect("time");
    let mut waiting = status();
    waiting.history = vec![record("east", "Initial", 1, false)];
    waiting.promotion = Some(PromotionStatus {
        to: "west".into(),
        phase: PromotionPhase::WaitingForOldActive,
        started_at: "2026-01-01T00:00:00Z".into(),
        silent_since: Some("2026-01-01T00:05:00Z".into()),
        ..PromotionStatus::default()
    });
    let mut done = waiting.clone();
    done.promotion = None;
    done.history.push(record("west", "Manual", 2, true));
    m.pairs.observe_transition("ns", "gis", None, &waiting, now);
    m.pairs
        .observe_transition("ns", "gis", Some(&waiting), &done, now);
    // Writing the same status again finishes nothing.
    m.pairs
        .observe_transition("ns", "gis", Some(&done), &done, now);
    let mut auto = done.clone();
    auto.history.push(record("east", "Automatic", 3, false));
    m.pairs
        .observe_transition("ns", "gis", Some(&done), &auto, now);
    let text = m.render();
    assert_eq!(sample(&text, &kind("initial")), Some(1.0), "{text}");
    assert_eq!(sample(&text, &kind("forced")), Some(1.0));
    assert_eq!(sample(&text, &kind("automatic")), Some(1.0));
    assert_eq!(sample(&text, &kind("planned")), None);
    assert_eq!(
        sample(&text, &pair("old_active_wait_seconds_count")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &pair("old_active_wait_seconds_sum")),
        Some(300.0)
    );
}

#[test]
fn a_pair_that_went_away_leaves_no_series_and_a_removed_site_neither() {
    let m = Metrics::default();
    m.pairs.observe_pair("ns", "gis", &status());
    let mut other = status();
    other.sites.truncate(1);
    m.pairs.observe_pair("ns", "kept", &other);
    let now = jiff::Timestamp::now();
    let mut done = status();
    done.history.push(record("west", "Manual", 2, false));
    m.pairs
        .observe_transition("ns", "gis", Some(&status()), &done, now);
    assert!(m.render().contains("pair=\"gis\""));
    assert_eq!(m.pairs.tracked_pairs().len(), 2);

    // west leaves the spec: its series go, east's stay.
    let mut one = status();
    one.sites.truncate(1);
    m.pairs.observe_pair("ns", "gis", &one);
    let text = m.render();
    assert!(!text.contains("site=\"west\""), "{text}");
    assert!(text.contains(&site("site_up", "east")));

    m.pairs.forget_pair("ns", "gis");
    let text = m.render();
    assert!(!text.contains("pair=\"gis\""), "{text}");
    assert!(text.contains("pair=\"kept\""), "{text}");
    assert_eq!(m.pairs.tracked_pairs(), ["ns/kept"]);
}
