//! Unit tests of the status a trip starts from, composed as a trip that
//! observed no site composes it (a pair on first sight, or refused).

use super::*;
use crate::api::conditions::{ConditionStatus, find, types};
use crate::api::*;
use crate::plan::conditions::{Findings, Refusal, compose};
use crate::plan::spec_check::check_spec;

/// What the trip decides before any site answers: the start status and
/// its conditions, the Events, when to come back.
struct Plan {
    status: SiteHAPairStatus,
    events: Vec<PlannedEvent>,
    requeue_after: std::time::Duration,
}

/// `now` is a label: "t<n>" or a time; labels map to distinct seconds.
fn at(now: &str) -> jiff::Timestamp {
    now.parse().unwrap_or_else(|_| {
        let n: i64 = now.bytes().map(i64::from).sum();
        jiff::Timestamp::from_second(1_767_225_600 + n).expect("time")
    })
}

fn plan_status(
    spec: &SiteHAPairSpec,
    generation: i64,
    old: Option<&SiteHAPairStatus>,
    requested: Option<&str>,
    now: &str,
) -> Plan {
    let start = start_status(spec, generation, old, requested);
    let check = check_spec(spec);
    let findings = Findings {
        refusal: (!check.valid()).then(|| Refusal::InvalidSpec(check.problems.clone())),
        source_url: spec
            .source
            .as_ref()
            .map(|s| crate::api::redact::redact_url(&s.git.url))
            .unwrap_or_default(),
        ..Findings::default()
    };
    let previous = old.map(|s| s.conditions.clone()).unwrap_or_default();
    let composed = compose(
        &previous,
        spec,
        &start.status,
        &findings,
        generation,
        at(now),
    );
    let mut events = start.events;
    events.extend(composed.events);
    Plan {
        status: composed.status,
        events,
        requeue_after: crate::plan::schedule::requeue_after(
            &check.times,
            &SiteHAPairStatus::default(),
        ),
    }
}

fn spec() -> SiteHAPairSpec {
    serde_json::from_value(serde_json::json!({
        "activeSite": "east",
        "sites": [
            {"name": "east", "adminUrl": "https://east.example/admin",
             "credentialsSecretRef": {"name": "east"}, "trafficAddresses": ["192.0.2.10"]},
            {"name": "west", "adminUrl": "https://west.example/admin",
             "credentialsSecretRef": {"name": "west"}, "trafficAddresses": ["192.0.2.20"]}
        ]
    }))
    .expect("valid spec")
}

#[test]
fn first_sight_leaves_activation_to_the_promotion_machine() {
    let plan = plan_status(&spec(), 1, None, None, "2026-01-01T00:00:00Z");
    let st = &plan.status;
    assert_eq!(st.active_site, None, "activated before any site was heard");
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(st.phase, Some(Phase::Promoting));
    let ready = find(&st.conditions, types::READY).expect("Ready condition");
    assert_eq!(ready.status, ConditionStatus::False);
    assert!(
        ready.message.contains("no site is active yet"),
        "{}",
        ready.message
    );
    assert_eq!(ready.observed_generation, 1);
    assert!(st.conditions.iter().all(|c| c.observed_generation == 1));
    assert_eq!(st.sites.len(), 2);
    assert_eq!(plan.events.len(), 1);
    assert_eq!(plan.requeue_after, std::time::Duration::from_secs(10));
}

#[test]
fn unchanged_input_gives_unchanged_status() {
    let first = plan_status(&spec(), 1, None, None, "2026-01-01T00:00:00Z");
    let second = plan_status(
        &spec(),
        1,
        Some(&first.status),
        None,
        "2026-01-01T00:05:00Z",
    );
    assert_eq!(
        first.status, second.status,
        "a steady pair must not be re-written"
    );
    assert!(second.events.is_empty());
}

#[test]
fn spec_edit_moves_observed_generation_on_every_condition() {
    let first = plan_status(&spec(), 1, None, None, "2026-01-01T00:00:00Z");
    let second = plan_status(
        &spec(),
        2,
        Some(&first.status),
        None,
        "2026-01-01T00:01:00Z",
    );
    assert_eq!(second.status.observed_generation, Some(2));
    assert!(
        second
            .status
            .conditions
            .iter()
            .all(|c| c.observed_generation == 2)
    );
    assert_eq!(second.events[0].reason, "SpecChanged");
}

#[test]
fn changed_active_site_is_a_pending_promotion() {
    let mut first = plan_status(&spec(), 1, None, None, "t0");
    first.status.active_site = Some("east".into());
    let mut s = spec();
    s.active_site = "west".into();
    let second = plan_status(&s, 2, Some(&first.status), None, "t1");
    assert_eq!(second.status.active_site.as_deref(), Some("east"));
    assert_eq!(second.status.phase, Some(Phase::Promoting));
    let p = find(&second.status.conditions, types::PROMOTING).expect("Promoting");
    assert_eq!(p.status, ConditionStatus::True);
}

#[test]
fn suspended_sync_shows_in_phase() {
    let mut s = spec();
    s.sync.suspend = true;
    let old = SiteHAPairStatus {
        active_site: Some("east".into()),
        ..SiteHAPairStatus::default()
    };
    let plan = plan_status(&s, 1, Some(&old), None, "t0");
    assert_eq!(plan.status.phase, Some(Phase::Suspended));
}

#[test]
fn bad_duration_degrades_with_the_field_named() {
    let mut s = spec();
    s.health_check.interval = "soon".into();
    let plan = plan_status(&s, 1, None, None, "t0");
    assert_eq!(plan.status.phase, Some(Phase::Degraded));
    let d = find(&plan.status.conditions, types::DEGRADED).expect("Degraded");
    assert!(
        d.message.contains("spec.healthCheck.interval"),
        "{}",
        d.message
    );
}

#[test]
fn reconcile_request_is_echoed() {
    let plan = plan_status(&spec(), 1, None, Some("2026-01-01T00:00:00Z"), "t0");
    assert_eq!(
        plan.status.last_handled_reconcile_at.as_deref(),
        Some("2026-01-01T00:00:00Z")
    );
}

#[test]
fn defaults_fill_every_optional_field() {
    let s = spec();
    assert_eq!(s.sync.mode, SyncMode::Automatic);
    assert!(s.sync.prune && s.sync.self_heal && !s.sync.allow_empty);
    assert_eq!(s.sync.max_prune_fraction, 50);
    assert_eq!(s.promotion.contact_timeout, "30m");
    assert_eq!(s.promotion.automatic.failure_threshold, 3);
    assert_eq!(s.health_check.path, "/health");
    assert_eq!(s.traffic.ports[0].port, 443);
    assert_eq!(s.sites[0].credentials_secret_ref.key, "token");
}

#[test]
fn source_ready_never_shows_credentials_in_the_url() {
    let mut s = spec();
    s.source = Some(SourceSpec {
        git: GitSource {
            url: "https://bob:hunter2@git.example.com/gis.git".into(),
            reference: Default::default(),
            path: ".".into(),
            secret_ref: None,
            interval: "1m".into(),
            verify: None,
        },
    });
    let plan = plan_status(&s, 1, None, None, "t0");
    let ready = find(&plan.status.conditions, types::SOURCE_READY).expect("SourceReady");
    assert!(!ready.message.contains("hunter2"), "{}", ready.message);
    assert!(
        ready.message.contains("https://git.example.com/gis.git"),
        "{}",
        ready.message
    );
    let mut fetched = plan.status.clone();
    fetched.source = Some(SourceStatus {
        revision: Some("abc".into()),
        ..SourceStatus::default()
    });
    let plan = plan_status(&s, 1, Some(&fetched), None, "t1");
    let ready = find(&plan.status.conditions, types::SOURCE_READY).expect("SourceReady");
    assert!(!ready.message.contains("hunter2"), "{}", ready.message);
}
