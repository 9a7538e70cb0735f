//! Every condition type over a table of findings: each row names what
//! was found and what the condition must say. Then `compose` as a whole:
//! transition times measured against the last trip, one Event per change.

use super::reasons::*;
use super::*;
use crate::api::conditions::ConditionStatus::{False, True, Unknown};
use crate::api::{
    HookPhase, HookStatus, PromotionPhase, PromotionStatus, SiteContact, SiteMode, SourceStatus,
};
use crate::plan::promotion::{Block, BlockReason};
use crate::plan::strays::{Stray, StrayKind};
use crate::plan::sync::GateClosed;
use crate::plan::sync_status::{SiteReport, SourceReport, SyncReport};

fn spec() -> SiteHAPairSpec {
    serde_json::from_value(serde_json::json!({
        "activeSite": "east",
        "sites": [
            {"name": "east", "adminUrl": "https://east.example",
             "credentialsSecretRef": {"name": "east"}, "trafficAddresses": ["192.0.2.1"]},
            {"name": "west", "adminUrl": "https://west.example",
             "credentialsSecretRef": {"name": "west"}, "trafficAddresses": ["192.0.2.2"]}
        ],
        "source": {"git": {"url": "https://git.example/gis.git"}}
    }))
    .expect("spec")
}

/// A pair at rest: east active at epoch 2.
fn data() -> SiteHAPairStatus {
    SiteHAPairStatus {
        active_site: Some("east".into()),
        epoch: 2,
        source: Some(SourceStatus {
            revision: Some("abcdef0123456789".into()),
            ..SourceStatus::default()
        }),
        ..SiteHAPairStatus::default()
    }
}

fn site(name: &str) -> SiteReport {
    SiteReport {
        name: name.into(),
        contact: SiteContact::Answered,
        healthy: Some(true),
        mode: Some(SiteMode::Passive),
        epoch: Some(2),
        ..SiteReport::default()
    }
}

fn fetched() -> SourceReport {
    SourceReport::Fetched {
        revision: "abcdef0123456789".into(),
        fetched_at: "t".into(),
        signed_by: None,
    }
}

/// Findings of a trip whose sync saw `sites` and the source as `source`.
fn synced(source: SourceReport, sites: Vec<SiteReport>) -> Findings {
    Findings {
        sync: Some(SyncFindings {
            report: SyncReport {
                source,
                sites,
                gate: None,
            },
            rows: Vec::new(),
            strays: Vec::new(),
            active: Some("east".into()),
            epoch: 2,
            change_failed: None,
        }),
        source_url: "https://git.example/gis.git".into(),
        blocked: Some(Vec::new()),
        ..Findings::default()
    }
}

fn at_rest() -> Findings {
    synced(fetched(), vec![site("east"), site("west")])
}

fn with_sync(f: impl FnOnce(&mut SyncFindings)) -> Findings {
    let mut found = at_rest();
    if let Some(s) = found.sync.as_mut() {
        f(s);
    }
    found
}

fn unreachable(name: &str) -> SiteReport {
    SiteReport {
        contact: SiteContact::NoAnswer,
        error: Some(format!("site {name}: connection refused")),
        mode: None,
        healthy: Some(false),
        ..site(name)
    }
}

/// A site that accepted a write its public API does not serve.
fn not_serving(name: &str) -> SiteReport {
    SiteReport {
        contact: SiteContact::NotServing,
        error: Some(format!(
            "site {name}: resource lakes: written but not served: /collections does not list it"
        )),
        ..site(name)
    }
}

#[test]
fn a_site_that_does_not_serve_what_it_accepted_is_degraded_with_its_own_reason() {
    let found = with_sync(|s| s.report.sites = vec![site("east"), not_serving("west")]);
    let d = super::degraded::degraded(&data(), &found);
    assert_eq!((d.status, d.reason), (True, DegradedReason::SiteNotServing));
    assert!(
        d.message.contains("written but not served"),
        "{}",
        d.message
    );
}

#[test]
fn degraded_names_the_one_problem_by_rank() {
    use DegradedReason as R;
    let invalid = Findings {
        refusal: Some(Refusal::InvalidSpec(vec![
            "spec.healthCheck.interval: bad".into(),
        ])),
        ..with_sync(|s| s.report.sites = vec![unreachable("west")])
    };
    let claimed = Findings {
        refusal: Some(Refusal::Claimed(vec!["a".into(), "b".into()])),
        ..Findings::default()
    };
    let stray = with_sync(|s| {
        s.strays = vec![Stray {
            site: "west".into(),
            kind: StrayKind::ReportsActive { epoch: 1 },
        }];
        s.report.sites = vec![site("east"), unreachable("west")];
    });
    let failed_source = synced(
        SourceReport::Failed {
            message: "git: timed out".into(),
        },
        vec![site("east")],
    );
    let table: Vec<(&str, Findings, ConditionStatus, R, &str)> = vec![
        ("at rest", at_rest(), False, R::AsExpected, "nothing"),
        ("no sync ran", Findings::default(), False, R::AsExpected, ""),
        (
            "a refused spec outranks a site",
            invalid,
            True,
            R::InvalidSpec,
            "healthCheck",
        ),
        (
            "a claim",
            claimed,
            True,
            R::SiteClaimed,
            "(and 1 more sites)",
        ),
        (
            "an unreachable site",
            with_sync(|s| s.report.sites = vec![site("east"), unreachable("west")]),
            True,
            R::SiteUnreachable,
            "connection refused",
        ),
        (
            "a failing source",
            failed_source,
            True,
            R::SourceUnavailable,
            "keep revision abcdef012345",
        ),
        (
            "a stray outranks an unreachable site",
            stray,
            True,
            R::StraySite,
            "west",
        ),
        (
            "an unhealthy passive",
            with_sync(|s| {
                s.report.gate = Some(GateClosed::PassiveUnhealthy {
                    site: "west".into(),
                    revision: "r".into(),
                })
            }),
            True,
            R::PassiveUnhealthy,
            "sync halted",
        ),
        (
            "an active that failed its check",
            with_sync(|s| s.change_failed = Some("east fails after r".into())),
            True,
            R::ActiveFailedCheck,
            "east fails",
        ),
    ];
    for (what, found, status, reason, says) in table {
        let v = degraded(&data(), &found);
        assert_eq!((v.status, v.reason), (status, reason), "{what}");
        assert!(v.message.contains(says), "{what}: {}", v.message);
    }
}

#[test]
fn ready_and_the_phase_follow_refusal_promotion_suspension_and_degradation() {
    use crate::api::Phase as P;
    let running = |phase| SiteHAPairStatus {
        promotion: Some(PromotionStatus {
            to: "west".into(),
            phase,
            epoch: 3,
            ..PromotionStatus::default()
        }),
        ..data()
    };
    let mut suspended = spec();
    suspended.sync.suspend = true;
    let mut to_west = spec();
    to_west.active_site = "west".into();
    let refused = Findings {
        refusal: Some(Refusal::InvalidSpec(vec!["bad".into()])),
        ..Findings::default()
    };
    let down = with_sync(|s| s.report.sites = vec![site("east"), unreachable("west")]);
    let table: Vec<(
        &str,
        SiteHAPairSpec,
        SiteHAPairStatus,
        Findings,
        ConditionStatus,
        &str,
        P,
    )> = vec![
        (
            "at rest",
            spec(),
            data(),
            at_rest(),
            True,
            "Observed",
            P::Ready,
        ),
        (
            "refused",
            spec(),
            running(PromotionPhase::Demoting),
            refused,
            False,
            "InvalidSpec",
            P::Degraded,
        ),
        (
            "promoting",
            spec(),
            running(PromotionPhase::Demoting),
            at_rest(),
            False,
            "Promoting",
            P::Promoting,
        ),
        (
            "waiting for the old active",
            spec(),
            running(PromotionPhase::WaitingForOldActive),
            at_rest(),
            False,
            "Promoting",
            P::WaitingForOldActive,
        ),
        (
            "pending",
            to_west,
            data(),
            at_rest(),
            False,
            "Promoting",
            P::Promoting,
        ),
        (
            "suspended outranks degraded",
            suspended,
            data(),
            down.clone(),
            True,
            "Suspended",
            P::Suspended,
        ),
        (
            "degraded",
            spec(),
            data(),
            down,
            False,
            "SiteUnreachable",
            P::Degraded,
        ),
    ];
    for (what, spec, data, found, status, reason, phase) in table {
        let d = degraded(&data, &found);
        let (v, p) = ready(&spec, &data, &found, &d);
        assert_eq!(
            (v.status, v.reason.as_str(), p),
            (status, reason, phase),
            "{what}"
        );
    }
}

#[test]
fn promoting_says_the_phase_pending_or_idle_and_keeps_for_a_refused_pair() {
    let mut to_west = spec();
    to_west.active_site = "west".into();
    let running = SiteHAPairStatus {
        promotion: Some(PromotionStatus {
            to: "west".into(),
            phase: PromotionPhase::SwitchingTraffic,
            ..PromotionStatus::default()
        }),
        ..data()
    };
    let refused = Findings {
        refusal: Some(Refusal::InvalidSpec(vec!["bad".into()])),
        ..Findings::default()
    };
    let is = |j: Judged<PromotingReason>| match j {
        Judged::Is(v) => Some((v.status, v.reason.as_str())),
        _ => None,
    };
    assert_eq!(
        is(promoting(&spec(), &data(), &at_rest())),
        Some((False, "Idle"))
    );
    assert_eq!(
        is(promoting(&to_west, &data(), &at_rest())),
        Some((True, "Pending"))
    );
    assert_eq!(
        is(promoting(&spec(), &running, &at_rest())),
        Some((True, "SwitchingTraffic"))
    );
    assert_eq!(promoting(&spec(), &data(), &refused), Judged::Keep);
}

#[test]
fn promotion_blocked_is_the_failover_hold_else_the_first_block_else_not_blocked() {
    let block = |reason| Block {
        reason,
        message: format!("{reason:?}"),
    };
    let blocked = Findings {
        blocked: Some(vec![
            block(BlockReason::CredentialsRefused),
            block(BlockReason::ParityMismatch),
        ]),
        ..at_rest()
    };
    let held = Findings {
        failover_hold: Some((FailoverHold::AntiFlap, "too soon".into())),
        ..at_rest()
    };
    let not_run = Findings {
        blocked: None,
        ..at_rest()
    };
    let is = |j: Judged<BlockedReason>| match j {
        Judged::Is(v) => Some((v.status, v.reason.as_str(), v.message)),
        _ => None,
    };
    let (s, r, m) = is(promotion_blocked(&data(), &blocked)).expect("judged");
    assert_eq!((s, r), (True, "CredentialsRefused"));
    assert!(m.contains("ParityMismatch"), "every block is named: {m}");
    assert_eq!(
        is(promotion_blocked(&data(), &held)),
        Some((True, "AntiFlap", "too soon".to_string()))
    );
    assert_eq!(
        is(promotion_blocked(&data(), &at_rest())).map(|(s, r, _)| (s, r)),
        Some((False, "NotBlocked"))
    );
    assert_eq!(promotion_blocked(&data(), &not_run), Judged::Keep);
}

#[test]
fn source_ready_follows_what_the_source_gave() {
    use SourceReadyReason as R;
    let mut no_source = spec();
    no_source.source = None;
    let never = SiteHAPairStatus {
        source: None,
        ..data()
    };
    let table: Vec<(
        &str,
        SiteHAPairSpec,
        SiteHAPairStatus,
        Findings,
        ConditionStatus,
        R,
    )> = vec![
        ("no source", no_source, data(), at_rest(), True, R::NoSource),
        ("fetched", spec(), data(), at_rest(), True, R::Fetched),
        (
            "not fetched this trip, known",
            spec(),
            data(),
            Findings::default(),
            True,
            R::Fetched,
        ),
        (
            "never fetched",
            spec(),
            never,
            Findings::default(),
            Unknown,
            R::NotFetched,
        ),
        (
            "failed",
            spec(),
            data(),
            synced(
                SourceReport::Failed {
                    message: "x".into(),
                },
                vec![],
            ),
            False,
            R::FetchFailed,
        ),
        (
            "refused",
            spec(),
            data(),
            synced(
                SourceReport::Refused {
                    message: "x".into(),
                },
                vec![],
            ),
            False,
            R::SourceRefused,
        ),
        (
            "invalid",
            spec(),
            data(),
            synced(
                SourceReport::Invalid {
                    revision: "r".into(),
                    message: "a.json:3: bad".into(),
                },
                vec![],
            ),
            False,
            R::InvalidRevision,
        ),
    ];
    for (what, spec, data, found, status, reason) in table {
        let v = source_ready(&spec, &data, &found);
        assert_eq!((v.status, v.reason), (status, reason), "{what}");
    }
}

#[test]
fn in_sync_names_the_first_problem_and_keeps_when_nothing_was_fetched() {
    use InSyncReason as R;
    let drifting = {
        let mut west = site("west");
        west.drift = Some(crate::api::Drift {
            added: 1,
            ..crate::api::Drift::default()
        });
        west
    };
    let blocked = {
        let mut west = site("west");
        west.prune_blocked = true;
        west.hold = Some("would delete 80%".into());
        west
    };
    let adopting = {
        let mut west = blocked.clone();
        west.prune_blocked = false;
        west.adoption = Some(crate::api::status::AdoptionPlan {
            revision: "r1".into(),
            replace: vec!["roads".into()],
            ..Default::default()
        });
        west
    };
    let table: Vec<(&str, Findings, ConditionStatus, R)> = vec![
        ("synced", at_rest(), True, R::Synced),
        (
            "adoption waiting",
            with_sync(|s| s.report.sites = vec![adopting]),
            False,
            R::AwaitingAdoption,
        ),
        (
            "unreachable",
            with_sync(|s| s.report.sites = vec![unreachable("west")]),
            False,
            R::SiteUnreachable,
        ),
        (
            "written, not served",
            with_sync(|s| s.report.sites = vec![site("east"), not_serving("west")]),
            False,
            R::NotServed,
        ),
        (
            "prune blocked",
            with_sync(|s| s.report.sites = vec![blocked]),
            False,
            R::PruneBlocked,
        ),
        (
            "gate held",
            with_sync(|s| {
                s.report.gate = Some(GateClosed::PassiveHeld {
                    site: "west".into(),
                    why: "held".into(),
                })
            }),
            False,
            R::PassiveHeld,
        ),
        (
            "drift",
            with_sync(|s| s.report.sites = vec![site("east"), drifting]),
            False,
            R::Drift,
        ),
    ];
    for (what, found, status, reason) in table {
        match in_sync(&[], &found) {
            Judged::Is(v) => assert_eq!((v.status, v.reason), (status, reason), "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    let none = Findings::default();
    match in_sync(&[], &none) {
        Judged::Is(v) => assert_eq!((v.status, v.reason), (Unknown, R::NotObserved)),
        other => panic!("{other:?}"),
    }
    let last = compose(&[], &spec(), &data(), &at_rest(), 1, now(0))
        .status
        .conditions;
    assert_eq!(in_sync(&last, &none), Judged::Keep);
}

#[test]
fn healthy_names_every_failing_site() {
    let mut sick = site("west");
    sick.healthy = Some(false);
    let refused = SiteReport {
        contact: SiteContact::CredentialsRefused,
        error: Some("401".into()),
        ..site("east")
    };
    type Row = (
        &'static str,
        Findings,
        Judged<(ConditionStatus, &'static str)>,
    );
    let table: Vec<Row> = vec![
        (
            "all",
            at_rest(),
            Judged::Is(Verdict::new(
                True,
                (True, ""),
                "all 2 sites pass their health checks",
            )),
        ),
        (
            "named",
            with_sync(|s| s.report.sites = vec![refused, sick]),
            Judged::Is(Verdict::new(
                False,
                (False, ""),
                "east refuses the credentials; west fails its health check",
            )),
        ),
        ("none observed", Findings::default(), Judged::Keep),
    ];
    for (what, found, want) in table {
        let got = match healthy(&found) {
            Judged::Is(v) => Judged::Is(Verdict::new(v.status, (v.status, ""), v.message)),
            Judged::Keep => Judged::Keep,
            Judged::Absent => Judged::Absent,
        };
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn parity_compares_the_rows_as_the_sync_left_them() {
    let row = |name: &str, version: &str| crate::api::SiteStatus {
        name: name.into(),
        version: Some(version.into()),
        token_key_fingerprint: Some("k".into()),
        ..crate::api::SiteStatus::default()
    };
    let same = with_sync(|s| s.rows = vec![row("east", "11.3"), row("west", "11.3")]);
    let skew = with_sync(|s| s.rows = vec![row("east", "11.3"), row("west", "11.1")]);
    let reason = |f: &Findings| match parity(f) {
        Judged::Is(v) => Some((v.status, v.reason)),
        _ => None,
    };
    assert_eq!(reason(&same), Some((True, ParityReason::Matched)));
    assert_eq!(reason(&skew), Some((False, ParityReason::VersionSkew)));
    assert_eq!(parity(&Findings::default()), Judged::Keep);
}

#[test]
fn hooks_succeeded_judges_the_newest_promotion_and_is_absent_without_hooks() {
    let row = |name: &str, epoch, phase| HookStatus {
        name: name.into(),
        epoch,
        phase,
        ..HookStatus::default()
    };
    let reason = |rows: &[HookStatus]| match hooks_succeeded(rows) {
        Judged::Is(v) => Some((v.status, v.reason)),
        _ => None,
    };
    assert_eq!(hooks_succeeded(&[]), Judged::Absent);
    assert_eq!(
        reason(&[
            row("a", 2, HookPhase::Failed),
            row("a", 3, HookPhase::Succeeded)
        ]),
        Some((True, HooksReason::Succeeded))
    );
    assert_eq!(
        reason(&[
            row("a", 3, HookPhase::Failed),
            row("b", 3, HookPhase::Running)
        ]),
        Some((False, HooksReason::HookFailed))
    );
    assert_eq!(
        reason(&[row("a", 3, HookPhase::Pending)]),
        Some((Unknown, HooksReason::HooksRunning))
    );
    assert_eq!(
        hooks_succeeded(&[row("a", 3, HookPhase::Abandoned)]),
        Judged::Absent
    );
}

fn now(s: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600 + s).expect("time")
}

#[path = "compose_tests.rs"]
mod compose;

#[path = "prerequisites_tests.rs"]
mod prerequisites_cases;
