//! Unit tests of folding a sync trip into the status, composed as the
//! trip composes it (conditions and Events from the findings).

use super::*;
use crate::api::conditions::{self, Condition, ConditionStatus, types};
use crate::api::{Phase, SiteHAPairSpec, SiteStatus};
use crate::plan::conditions::{Findings, compose};

/// A pair of east (active) and west with a source at `url`.
fn spec(url: &str) -> SiteHAPairSpec {
    let mut spec: SiteHAPairSpec = serde_json::from_value(serde_json::json!({
        "activeSite": "east",
        "sites": [
            {"name": "east", "adminUrl": "https://east.example",
             "credentialsSecretRef": {"name": "east"}, "trafficAddresses": ["192.0.2.1"]},
            {"name": "west", "adminUrl": "https://west.example",
             "credentialsSecretRef": {"name": "west"}, "trafficAddresses": ["192.0.2.2"]}
        ],
        "source": {"git": {"url": "https://g/r.git"}}
    }))
    .expect("spec");
    if url.is_empty() {
        spec.source = None;
    }
    spec
}

/// `now` is a label ("t1", "10:00"); labels map to distinct seconds.
fn at(now: &str) -> Timestamp {
    let n: i64 = now.bytes().map(i64::from).sum();
    Timestamp::from_second(1_767_225_600 + n).expect("time")
}

/// Fold the report into `s` and compose it, as a trip does; the Events of
/// both.
fn fold_report(
    s: &mut SiteHAPairStatus,
    previous: &[Condition],
    report: &SyncReport,
    url: &str,
    generation: i64,
    now: &str,
) -> Vec<PlannedEvent> {
    let (mut events, sync) = fold_sync(s, report.clone(), !url.is_empty(), at(now));
    let findings = Findings {
        sync: Some(sync),
        source_url: url.to_string(),
        ..Findings::default()
    };
    let composed = compose(previous, &spec(url), s, &findings, generation, at(now));
    events.extend(composed.events);
    *s = composed.status;
    events
}

fn status() -> SiteHAPairStatus {
    SiteHAPairStatus {
        phase: Some(Phase::Ready),
        active_site: Some("east".into()),
        sites: vec![
            SiteStatus {
                name: "east".into(),
                ..SiteStatus::default()
            },
            SiteStatus {
                name: "west".into(),
                ..SiteStatus::default()
            },
        ],
        ..SiteHAPairStatus::default()
    }
}

fn site(name: &str, rev: &str, wrote: &[&str]) -> SiteReport {
    SiteReport {
        name: name.into(),
        healthy: Some(true),
        mode: Some(crate::api::SiteMode::Passive),
        epoch: Some(1),
        drift: Some(Drift::default()),
        synced_revision: Some(rev.into()),
        wrote: SiteDiff {
            create: wrote.iter().map(|s| s.to_string()).collect(),
            ..SiteDiff::default()
        },
        ..SiteReport::default()
    }
}

/// A trip that fetched revision abcdef0123456789 and saw these sites.
fn fetched(sites: Vec<SiteReport>) -> SyncReport {
    SyncReport {
        source: SourceReport::Fetched {
            revision: "abcdef0123456789".into(),
            fetched_at: "t".into(),
            signed_by: None,
        },
        sites,
        gate: None,
    }
}

fn prev() -> Vec<Condition> {
    Vec::new()
}

fn cond<'a>(s: &'a SiteHAPairStatus, t: &str) -> &'a Condition {
    conditions::find(&s.conditions, t).expect("condition")
}

#[test]
fn a_clean_sync_is_in_sync_with_an_event_naming_the_written_site() {
    let mut s = status();
    let report = fetched(vec![
        site("east", "abcdef0123456789", &["a", "b"]),
        site("west", "abcdef0123456789", &[]),
    ]);
    let events = fold_report(&mut s, &prev(), &report, "https://g/r.git", 3, "t1");
    assert_eq!(cond(&s, types::IN_SYNC).status, ConditionStatus::True);
    assert_eq!(cond(&s, types::IN_SYNC).observed_generation, 3);
    assert_eq!(cond(&s, types::SOURCE_READY).status, ConditionStatus::True);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].note,
        "site east: revision abcdef012345: created a, b"
    );
    let t1 = crate::plan::time::stamp(at("t1"));
    assert_eq!(s.sites[0].last_sync_time.as_deref(), Some(t1.as_str()));
    assert_eq!(
        s.source.as_ref().and_then(|x| x.revision.as_deref()),
        Some("abcdef0123456789")
    );
}

#[test]
fn one_synced_event_names_every_site_written_in_the_trip() {
    let mut s = status();
    let report = fetched(vec![
        site("west", "abcdef0123456789", &["roads"]),
        site("east", "abcdef0123456789", &["roads"]),
    ]);
    let events = fold_report(&mut s, &prev(), &report, "https://g/r.git", 3, "t1");
    let synced: Vec<_> = events.iter().filter(|e| e.reason == "Synced").collect();
    assert_eq!(synced.len(), 1, "{events:?}");
    assert_eq!(
        synced[0].note,
        "site west: revision abcdef012345: created roads | site east: revision abcdef012345: created roads"
    );
}

#[test]
fn a_failed_fetch_keeps_the_last_revision_and_warns_once() {
    let mut s = status();
    s.source = Some(SourceStatus {
        revision: Some("r1".into()),
        ..SourceStatus::default()
    });
    let report = SyncReport {
        source: SourceReport::Failed {
            message: "https://g/r.git: connection refused".into(),
        },
        sites: vec![],
        gate: None,
    };
    let first = fold_report(&mut s, &prev(), &report, "u", 1, "t1");
    assert_eq!(first.iter().filter(|e| e.warning).count(), 1);
    assert_eq!(
        s.source.as_ref().and_then(|x| x.revision.as_deref()),
        Some("r1")
    );
    let c = cond(&s, types::SOURCE_READY);
    assert_eq!(c.status, ConditionStatus::False);
    assert!(
        c.message.contains("the sites keep revision r1"),
        "{}",
        c.message
    );
    assert_eq!(s.phase, Some(Phase::Degraded));
    let previous = s.conditions.clone();
    let again = fold_report(&mut s, &previous, &report, "u", 1, "t2");
    assert!(again.iter().all(|e| !e.warning), "{again:?}");
}

#[test]
fn an_unhealthy_passive_halts_with_degraded() {
    let mut s = status();
    let mut west = site("west", "r2", &["a"]);
    west.healthy = Some(false);
    let report = SyncReport {
        source: SourceReport::Fetched {
            revision: "r2".into(),
            fetched_at: "t".into(),
            signed_by: None,
        },
        sites: vec![west],
        gate: Some(GateClosed::PassiveUnhealthy {
            site: "west".into(),
            revision: "r2".into(),
        }),
    };
    let events = fold_report(&mut s, &prev(), &report, "u", 1, "t");
    let d = cond(&s, types::DEGRADED);
    assert_eq!(d.status, ConditionStatus::True);
    assert!(d.message.contains("west"));
    assert!(events.iter().any(|e| e.reason == "SyncHalted" && e.warning));
    assert_eq!(cond(&s, types::IN_SYNC).status, ConditionStatus::False);
    assert_eq!(s.sites[1].health, Some(crate::api::SiteHealth::Unhealthy));
    let h = cond(&s, types::HEALTHY);
    assert_eq!(
        (h.status, h.message.as_str()),
        (ConditionStatus::False, "west fails its health check")
    );
    assert_eq!(s.sites[1].consecutive_failures, Some(1));
}

/// Quiet at rest: a trip that sees the same revision and the same sites
/// folds into exactly the status it started from (nothing to write).
#[test]
fn a_trip_at_rest_changes_nothing_in_status() {
    let rev = "abcdef0123456789";
    let trip = |fetched_at: &str| SyncReport {
        source: SourceReport::Fetched {
            revision: rev.into(),
            fetched_at: fetched_at.into(),
            signed_by: None,
        },
        sites: vec![site("east", rev, &[]), site("west", rev, &[])],
        gate: None,
    };
    let mut s = status();
    fold_report(&mut s, &prev(), &trip("10:00"), "https://g/r.git", 3, "t1");
    let settled = s.clone();
    // A minute later the same revision is checked again.
    let events = fold_report(
        &mut s,
        &settled.conditions,
        &trip("10:01"),
        "https://g/r.git",
        3,
        "t2",
    );
    assert_eq!(s, settled);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(
        s.source.and_then(|x| x.fetched_at).as_deref(),
        Some("10:00")
    );
}

/// A new pair's first trip observes its sites twice (before its first
/// activation and in the sync that follows it): with the counts put back
/// between the folds, a failing site counts one failed trip, not two.
#[test]
fn a_second_observation_in_one_trip_counts_one_failure_not_two() {
    let mut s = status();
    s.sites[0].consecutive_failures = Some(1);
    let before = failure_counts(&s);
    let mut east = site("east", "r1", &[]);
    east.healthy = Some(false);
    let report = fetched(vec![east, site("west", "r1", &[])]);
    fold_report(&mut s, &prev(), &report, "u", 1, "t");
    assert_eq!(s.sites[0].consecutive_failures, Some(2));
    restore_failure_counts(&mut s, &before);
    fold_report(&mut s, &prev(), &report, "u", 1, "t");
    assert_eq!(s.sites[0].consecutive_failures, Some(2));
    assert_eq!(s.sites[1].consecutive_failures, Some(0));
    // Without the counts put back, the same trip counts twice.
    fold_report(&mut s, &prev(), &report, "u", 1, "t");
    assert_eq!(s.sites[0].consecutive_failures, Some(3));
}
