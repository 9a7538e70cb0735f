//! Unit tests of the rehearsal's pure half: when a request runs, is left
//! alone or is cancelled; what the real promotion would do; the estimate;
//! how the steps are judged; and that nothing of it moves a role.

use serde_json::json;

use super::{Due, begin, due, estimate, finished_now, finished_without_running, would_do};
use crate::api::{
    PromotionRecord, PromotionStatus, RehearsalRequest, RehearsalResult, SiteHAPairSpec,
    SiteHAPairStatus, SiteMode, StepOutcome, StepTiming,
};
use crate::plan::diff::SiteDiff;
use crate::plan::rehearsal_judge::{Finding, Timed, conclude};
use crate::plan::time::Timestamp;

fn now() -> Timestamp {
    "2026-12-07T10:00:00Z".parse().expect("time")
}

fn spec() -> SiteHAPairSpec {
    serde_json::from_value(json!({
        "activeSite": "east",
        "sites": [
            {"name": "east", "adminUrl": "https://e", "credentialsSecretRef": {"name": "e"}, "trafficAddresses": ["192.0.2.1"]},
            {"name": "west", "adminUrl": "https://w", "credentialsSecretRef": {"name": "w"}, "trafficAddresses": ["192.0.2.2"]}
        ],
        "promotion": {"hooks": [{"name": "dns", "http": {"url": "https://h/x"}, "rehearse": true}]}
    }))
    .expect("spec")
}

fn status() -> SiteHAPairStatus {
    SiteHAPairStatus {
        active_site: Some("east".into()),
        traffic_site: Some("east".into()),
        epoch: 4,
        ..SiteHAPairStatus::default()
    }
}

fn req(id: &str) -> RehearsalRequest {
    RehearsalRequest {
        site: "west".into(),
        id: id.into(),
    }
}

#[test]
fn a_new_request_runs_and_the_same_one_finished_does_not_run_again() {
    let (spec, mut st) = (spec(), status());
    assert_eq!(due(None, &spec, &st, &st), Due::Nothing);
    assert_eq!(due(Some(&req("1")), &spec, &st, &st), Due::Run);
    let mut rec = begin(&req("1"), None, &st, now());
    rec.result = RehearsalResult::Passed;
    st.rehearsal = Some(rec);
    assert_eq!(due(Some(&req("1")), &spec, &st, &st), Due::Nothing);
    assert_eq!(due(Some(&req("2")), &spec, &st, &st), Due::Run);
}

#[test]
fn a_real_promotion_pending_or_running_cancels_the_rehearsal() {
    let (mut spec, st) = (spec(), status());
    spec.active_site = "west".into();
    let Due::Finish { result, message } = due(Some(&req("1")), &spec, &st, &st) else {
        panic!("a pending promotion must cancel");
    };
    assert_eq!(result, RehearsalResult::Cancelled);
    assert!(message.contains("pending"), "{message}");
    let spec = self::spec();
    let mut st = status();
    st.promotion = Some(PromotionStatus {
        to: "west".into(),
        ..PromotionStatus::default()
    });
    assert!(matches!(
        due(Some(&req("1")), &spec, &st, &st),
        Due::Finish {
            result: RehearsalResult::Cancelled,
            ..
        }
    ));
}

#[test]
fn a_promotion_finished_within_the_trip_still_cancels_the_rehearsal() {
    let mut spec = spec();
    spec.active_site = "west".into();
    let start = status();
    let mut after = status();
    (after.active_site, after.traffic_site, after.epoch) =
        (Some("west".into()), Some("west".into()), 5);
    assert!(matches!(
        due(Some(&req("1")), &spec, &start, &after),
        Due::Finish {
            result: RehearsalResult::Cancelled,
            ..
        }
    ));
}

#[test]
fn a_rehearsal_left_running_is_cancelled_when_the_roles_moved_since() {
    let spec = spec();
    let mut st = status();
    st.rehearsal = Some(begin(&req("1"), None, &st, now()));
    assert_eq!(due(Some(&req("1")), &spec, &st, &st), Due::Run, "resumed");
    st.epoch = 5;
    let Due::Finish { result, message } = due(Some(&req("1")), &spec, &st, &st) else {
        panic!("moved roles must cancel");
    };
    assert_eq!(result, RehearsalResult::Cancelled);
    assert!(message.contains("epoch 5"), "{message}");
    // Withdrawn while running: cancelled too.
    st.epoch = 4;
    assert!(matches!(
        due(None, &spec, &st, &st),
        Due::Finish {
            result: RehearsalResult::Cancelled,
            ..
        }
    ));
}

#[test]
fn rehearsing_the_active_site_or_an_unknown_one_fails_at_once() {
    let (spec, st) = (spec(), status());
    let active = RehearsalRequest {
        site: "east".into(),
        id: "1".into(),
    };
    assert!(matches!(
        due(Some(&active), &spec, &st, &st),
        Due::Finish {
            result: RehearsalResult::Failed,
            ..
        }
    ));
    let unknown = RehearsalRequest {
        site: "north".into(),
        id: "1".into(),
    };
    let Due::Finish { message, .. } = due(Some(&unknown), &spec, &st, &st) else {
        panic!("unknown site");
    };
    let rec = finished_without_running(
        Some(&unknown),
        None,
        &st,
        RehearsalResult::Failed,
        message,
        now(),
    );
    assert_eq!(rec.problems.len(), 1);
    assert!(rec.finished_at.is_some());
}

#[test]
fn would_do_lists_demote_promote_switch_and_hooks_in_order() {
    let steps = would_do(&spec(), "web", &status(), &[], "west", now());
    let phases: Vec<&str> = steps
        .iter()
        .map(|s| s.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        phases,
        [
            "Preflight",
            "Demoting",
            "Promoting",
            "SwitchingTraffic",
            "Complete"
        ]
    );
    assert!(steps[1].contains("east passive at epoch 5"), "{steps:?}");
    assert!(steps[2].contains("west active at epoch 5"), "{steps:?}");
    assert!(steps[3].contains("web from east to west"), "{steps:?}");
}

#[test]
fn the_estimate_adds_the_last_promotions_role_changes_to_what_was_measured() {
    let mut st = status();
    let (s, basis) = estimate(&st, 1500);
    assert_eq!(s, 2);
    assert!(basis.contains("only"), "{basis}");
    let step = |phase: &str, seconds| StepTiming {
        phase: phase.into(),
        started_at: String::new(),
        seconds,
    };
    st.history.push(PromotionRecord {
        to: "east".into(),
        epoch: 4,
        steps: vec![
            step("Preflight", 30),
            step("Demoting", 3),
            step("Promoting", 4),
            step("SwitchingTraffic", 1),
        ],
        ..PromotionRecord::default()
    });
    let (s, basis) = estimate(&st, 1500);
    assert_eq!(s, 2 + 8, "preflight is measured, not taken from history");
    assert!(basis.contains("epoch 4"), "{basis}");
}

fn timed(finding: Finding, ms: i64) -> Timed {
    Timed {
        finding,
        started_at: now(),
        milliseconds: ms,
    }
}

#[test]
fn a_clean_rehearsal_passes_with_every_step_timed_and_changes_no_role() {
    let st = status();
    let running = begin(&req("1"), Some("user alice".into()), &st, now());
    let steps = [
        timed(Finding::Preflight(vec![]), 1),
        timed(
            Finding::Compare(Some(("a".repeat(40), Ok(SiteDiff::default())))),
            20,
        ),
        timed(Finding::Health(Ok(true)), 5),
        timed(Finding::Role(Ok((SiteMode::Passive, 4))), 4),
        timed(
            Finding::Hook {
                name: "dns".into(),
                outcome: Some(Ok("HTTP 200".into())),
            },
            30,
        ),
        timed(
            Finding::Hook {
                name: "certs".into(),
                outcome: None,
            },
            0,
        ),
    ];
    let mut after = st.clone();
    let (rec, event) = conclude(&running, &st, &steps, vec!["x".into()], now());
    after.rehearsal = Some(rec.clone());
    assert_eq!(rec.result, RehearsalResult::Passed, "{:?}", rec.problems);
    assert_eq!(event.reason, "RehearsalSucceeded");
    assert_eq!(rec.steps.len(), 6);
    assert_eq!(rec.steps[5].outcome, StepOutcome::Skipped);
    assert_eq!(rec.steps[1].milliseconds, 20);
    assert_eq!(rec.estimated_seconds, Some(1));
    assert_eq!(rec.requested_by.as_deref(), Some("user alice"));
    // Roles, epoch, traffic and promotion are as they were.
    assert_eq!(after.active_site, st.active_site);
    assert_eq!(after.epoch, st.epoch);
    assert_eq!(after.traffic_site, st.traffic_site);
    assert_eq!(after.promotion, st.promotion);
}

#[test]
fn a_target_out_of_sync_unhealthy_or_active_fails_naming_each_problem() {
    let st = status();
    let running = begin(&req("1"), None, &st, now());
    let drift = SiteDiff {
        create: vec!["roads".into()],
        replace: vec![],
        delete: vec!["old".into()],
    };
    let steps = [
        timed(
            Finding::Preflight(vec!["healthy: site west fails".into()]),
            1,
        ),
        timed(Finding::Compare(Some(("b".repeat(40), Ok(drift)))), 20),
        timed(Finding::Health(Ok(false)), 5),
        timed(Finding::Role(Ok((SiteMode::Active, 4))), 4),
    ];
    let (rec, event) = conclude(&running, &st, &steps, vec![], now());
    assert_eq!(rec.result, RehearsalResult::Failed);
    assert_eq!(event.reason, "RehearsalFailed");
    assert!(event.warning);
    assert_eq!(rec.problems.len(), 4, "{:?}", rec.problems);
    assert!(rec.problems[1].contains("1 to create, 0 to replace, 1 to delete"));
    assert!(rec.problems[2].contains("fails its health check"));
    assert!(rec.problems[3].contains("Active"));
}

#[test]
fn a_finished_rehearsal_is_counted_by_the_write_that_finished_it_only() {
    let mut st = status();
    st.rehearsal = Some(begin(&req("1"), None, &st, now()));
    assert_eq!(finished_now(None, &st), None, "running");
    let mut done = st.clone();
    if let Some(r) = &mut done.rehearsal {
        r.result = RehearsalResult::Passed;
    }
    assert_eq!(
        finished_now(Some(&st), &done),
        Some(RehearsalResult::Passed)
    );
    assert_eq!(finished_now(Some(&done), &done), None, "written again");
}

#[test]
fn no_rehearsal_runs_while_the_active_site_fails_its_checks() {
    let spec = spec();
    let mut st = status();
    st.sites = vec![crate::api::SiteStatus {
        name: "east".into(),
        consecutive_failures: Some(1),
        ..crate::api::SiteStatus::default()
    }];
    match due(Some(&req("1")), &spec, &st, &st) {
        Due::Finish { result, message } => {
            assert_eq!(result, RehearsalResult::Cancelled);
            assert!(message.contains("would delay a failover"), "{message}");
        }
        other => panic!("a rehearsal ran beside a failing active: {other:?}"),
    }
    st.sites[0].consecutive_failures = Some(0);
    assert_eq!(due(Some(&req("1")), &spec, &st, &st), Due::Run);
}
