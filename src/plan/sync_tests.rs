//! Unit tests of the sync plan and the active-site gate.

use serde_json::json;

use super::*;
use crate::api::SyncSpec;

fn set(names: &[(&str, i64)]) -> ServiceSet {
    names
        .iter()
        .map(|(n, v)| (n.to_string(), json!({"v": v})))
        .collect()
}

fn view<'a>(live: &'a ServiceSet, synced: Option<&'a str>) -> SiteView<'a> {
    SiteView {
        name: "east",
        live,
        synced_revision: synced,
        joining: false,
        adopting: false,
        adoption_approved: None,
        window_closed: None,
    }
}

#[test]
fn a_closed_sync_window_writes_nothing_and_says_why() {
    let live = set(&[("a", 1)]);
    let mut v = view(&live, Some("r0"));
    v.window_closed = Some("sync waits until 2026-12-12T21:00:00Z");
    let p = plan_site(&v, &set(&[("a", 2)]), "r1", &SyncSpec::default(), None);
    assert!(p.apply.is_empty());
    assert_eq!(p.drift.replace, ["a"]);
    assert_eq!(
        p.hold,
        Some(Hold::OutsideWindow(
            "sync waits until 2026-12-12T21:00:00Z".into()
        ))
    );
    assert!(!p.reaches_revision());
}

fn adopting<'a>(live: &'a ServiceSet, approved: Option<&'a str>) -> SiteView<'a> {
    SiteView {
        adopting: true,
        adoption_approved: approved,
        ..view(live, None)
    }
}

#[test]
fn a_first_sync_that_only_creates_runs_at_once() {
    let live = set(&[("a", 1)]);
    let desired = set(&[("a", 1), ("b", 2)]);
    let p = plan_site(
        &adopting(&live, None),
        &desired,
        "r1",
        &SyncSpec::default(),
        None,
    );
    assert_eq!(p.hold, None);
    assert_eq!(p.apply.create, ["b"]);
    assert_eq!(p.adoption(true), None);
}

#[test]
fn a_first_sync_that_replaces_or_deletes_waits_for_the_adoption_annotation_of_its_revision() {
    let live = set(&[("a", 1), ("x", 0)]);
    let desired = set(&[("a", 2), ("b", 2)]);
    let sync = SyncSpec::default();
    let p = plan_site(&adopting(&live, None), &desired, "r1", &sync, None);
    assert!(p.apply.is_empty(), "nothing is written before acceptance");
    assert!(
        matches!(&p.hold, Some(Hold::Adoption { site, revision }) if site == "east" && revision == "r1"),
        "{:?}",
        p.hold
    );
    let plan = p.adoption(true).expect("a plan waits");
    assert_eq!(plan.revision, "r1");
    assert_eq!(
        (plan.create, plan.replace, plan.delete),
        (
            vec!["b".to_string()],
            vec!["a".to_string()],
            vec!["x".to_string()]
        )
    );
    assert!(
        p.hold
            .as_ref()
            .is_some_and(|h| h.message().contains("sitehapair.io/approve-adoption=r1"))
    );
    // An acceptance of another revision accepts nothing.
    let stale = plan_site(&adopting(&live, Some("r0")), &desired, "r1", &sync, None);
    assert!(stale.apply.is_empty());
    // Accepted: the whole plan is written, its deletions included (the
    // person saw them), though they exceed maxPruneFraction.
    let ok = plan_site(&adopting(&live, Some("r1")), &desired, "r1", &sync, None);
    assert_eq!(ok.hold, None);
    assert_eq!(ok.apply, ok.drift);
    // Automatic: no wait.
    let auto = SyncSpec {
        adopt: crate::api::AdoptMode::Automatic,
        ..SyncSpec::default()
    };
    let p = plan_site(
        &adopting(&live, None),
        &set(&[("a", 2), ("x", 0)]),
        "r1",
        &auto,
        None,
    );
    assert_eq!(p.apply.replace, ["a"]);
    // A site the pair has synced before is not adopted again.
    let synced = plan_site(
        &view(&live, Some("r0")),
        &set(&[("a", 2), ("x", 0)]),
        "r1",
        &sync,
        None,
    );
    assert_eq!(synced.apply.replace, ["a"]);
}

#[test]
fn with_prune_off_an_adoption_that_would_only_leave_services_behind_runs_at_once() {
    let live = set(&[("a", 1), ("x", 0)]);
    let sync = SyncSpec {
        prune: false,
        ..SyncSpec::default()
    };
    let p = plan_site(
        &adopting(&live, None),
        &set(&[("a", 1), ("b", 2)]),
        "r1",
        &sync,
        None,
    );
    assert_eq!(p.apply.create, ["b"]);
    assert!(p.apply.delete.is_empty());
}

#[test]
fn automatic_applies_the_whole_drift() {
    let desired = set(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)]);
    let live = set(&[("a", 1), ("b", 9), ("c", 3), ("d", 4), ("x", 0)]);
    let p = plan_site(
        &view(&live, None),
        &desired,
        "r1",
        &SyncSpec::default(),
        None,
    );
    assert_eq!(p.apply, p.drift);
    assert_eq!(p.apply.replace, ["b"]);
    assert_eq!(p.apply.delete, ["x"]);
    assert!(p.reaches_revision());
}

#[test]
fn report_mode_writes_nothing() {
    let sync = SyncSpec {
        mode: crate::api::SyncMode::Report,
        ..SyncSpec::default()
    };
    let live = set(&[]);
    let p = plan_site(&view(&live, None), &set(&[("a", 1)]), "r1", &sync, None);
    assert!(p.apply.is_empty());
    assert_eq!(p.drift.create, ["a"]);
    assert_eq!(p.hold, Some(Hold::ReportMode));
    assert!(!p.reaches_revision());
}

#[test]
fn self_heal_off_leaves_out_of_band_edits_but_applies_new_revisions() {
    let sync = SyncSpec {
        self_heal: false,
        ..SyncSpec::default()
    };
    let desired = set(&[("a", 1)]);
    let live = set(&[("a", 2)]);
    let same = plan_site(&view(&live, Some("r1")), &desired, "r1", &sync, None);
    assert!(same.apply.is_empty());
    assert_eq!(same.hold, Some(Hold::SelfHealOff));
    let newer = plan_site(&view(&live, Some("r0")), &desired, "r1", &sync, None);
    assert_eq!(newer.apply.replace, ["a"]);
}

#[test]
fn prune_off_keeps_extra_services_and_still_counts_as_synced() {
    let sync = SyncSpec {
        prune: false,
        ..SyncSpec::default()
    };
    let live = set(&[("a", 1), ("old", 1)]);
    let p = plan_site(
        &view(&live, None),
        &set(&[("a", 1), ("b", 1)]),
        "r",
        &sync,
        None,
    );
    assert_eq!(p.apply.create, ["b"]);
    assert!(p.apply.delete.is_empty());
    assert_eq!(p.drift.delete, ["old"]);
    assert!(p.reaches_revision());
}

#[test]
fn prune_guard_holds_the_whole_site_until_approved() {
    let live = set(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
    let desired = set(&[("a", 1)]);
    let p = plan_site(
        &view(&live, None),
        &desired,
        "r9",
        &SyncSpec::default(),
        None,
    );
    assert!(p.apply.is_empty());
    assert!(matches!(p.hold, Some(Hold::Prune(_))));
    let wrong = plan_site(
        &view(&live, None),
        &desired,
        "r9",
        &SyncSpec::default(),
        Some("r8"),
    );
    assert!(wrong.apply.is_empty());
    let ok = plan_site(
        &view(&live, None),
        &desired,
        "r9",
        &SyncSpec::default(),
        Some("r9"),
    );
    assert_eq!(ok.apply.delete, ["b", "c", "d"]);
}

#[test]
fn empty_source_never_empties_a_site() {
    let live = set(&[("a", 1)]);
    let p = plan_site(
        &view(&live, None),
        &set(&[]),
        "r",
        &SyncSpec::default(),
        Some("r"),
    );
    assert!(p.apply.is_empty());
    assert!(
        p.hold
            .as_ref()
            .is_some_and(|h| h.message().contains("allowEmpty"))
    );
}

fn outcome(name: &str, rev: Option<&str>, healthy: bool) -> PassiveOutcome {
    PassiveOutcome {
        name: name.into(),
        error: None,
        synced_revision: rev.map(str::to_string),
        healthy,
        hold: None,
    }
}

#[test]
fn gate_opens_only_when_every_passive_is_synced_and_healthy() {
    assert!(active_gate(&[], "r").is_ok());
    assert!(active_gate(&[outcome("w", Some("r"), true)], "r").is_ok());
    let unhealthy = active_gate(&[outcome("w", Some("r"), false)], "r").unwrap_err();
    assert_eq!(unhealthy.reason(), "PassiveUnhealthy");
    assert!(unhealthy.message().contains("active site was not touched"));
    let behind = active_gate(&[outcome("w", Some("old"), true)], "r").unwrap_err();
    assert_eq!(behind.reason(), "PassiveHeld");
    let mut failed = outcome("w", Some("r"), true);
    failed.error = Some("site w: unreachable".into());
    assert_eq!(
        active_gate(&[failed], "r").unwrap_err().reason(),
        "PassiveSyncFailed"
    );
}
