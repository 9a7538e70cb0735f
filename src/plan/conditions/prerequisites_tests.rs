//! The Prerequisites condition: on a new pair, what `sitehapair check`
//! would find, judged from the trip's rows; once a site is synced, Adopted.

use super::*;
use crate::api::{SiteHealth, SiteStatus};

fn row(name: &str, version: &str) -> SiteStatus {
    SiteStatus {
        name: name.into(),
        mode: Some(if name == "east" {
            SiteMode::Active
        } else {
            SiteMode::Passive
        }),
        health: Some(SiteHealth::Healthy),
        contact: Some(SiteContact::Answered),
        epoch: Some(2),
        version: Some(version.into()),
        ..SiteStatus::default()
    }
}

fn with_rows(rows: Vec<SiteStatus>) -> Findings {
    with_sync(|s| s.rows = rows)
}

fn prerequisites_of(composed: &Composed) -> &Condition {
    find(&composed.status.conditions, types::PREREQUISITES).expect("Prerequisites")
}

#[test]
fn a_new_pair_whose_sites_are_ready_meets_its_prerequisites() {
    let f = with_rows(vec![row("east", "1.0"), row("west", "1.0")]);
    let c = compose(&[], &spec(), &data(), &f, 1, now(0));
    let p = prerequisites_of(&c);
    assert_eq!((p.status, p.reason.as_str()), (True, "Met"), "{p:?}");
    assert!(c.events.iter().all(|e| e.reason != "PrerequisitesNotMet"));
}

#[test]
fn a_new_pair_names_each_problem_check_would_find_and_warns_once() {
    let mut west = row("west", "2.0");
    west.health = Some(SiteHealth::Unhealthy);
    let f = with_rows(vec![row("east", "1.0"), west]);
    let first = compose(&[], &spec(), &data(), &f, 1, now(0));
    let p = prerequisites_of(&first);
    assert_eq!((p.status, p.reason.as_str()), (False, "ProblemsFound"));
    assert!(
        p.message
            .contains("site west: the health check does not answer healthy")
            && p.message.contains("east=1.0, west=2.0")
            && p.message.contains("fix: upgrade"),
        "{}",
        p.message
    );
    let warned = |c: &Composed| {
        c.events
            .iter()
            .filter(|e| e.reason == "PrerequisitesNotMet")
            .count()
    };
    assert_eq!(warned(&first), 1);
    let next = compose(&first.status.conditions, &spec(), &data(), &f, 1, now(30));
    assert_eq!(warned(&next), 0, "a steady problem is one Event");
}

#[test]
fn a_site_active_other_than_the_spec_says_so_before_the_first_sync() {
    let mut east = row("east", "1.0");
    east.mode = Some(SiteMode::Passive);
    let mut west = row("west", "1.0");
    west.mode = Some(SiteMode::Active);
    west.epoch = Some(7);
    let c = compose(
        &[],
        &spec(),
        &data(),
        &with_rows(vec![east, west]),
        1,
        now(0),
    );
    let p = prerequisites_of(&c);
    assert!(
        p.status == False
            && p.message
                .contains("site west is active (epoch 7) but spec.activeSite is east"),
        "{p:?}"
    );
}

#[test]
fn a_claimed_site_is_a_problem_though_no_site_was_observed() {
    let f = Findings {
        refusal: Some(Refusal::Claimed(vec![
            "site east (https://east.example) is already managed by pair ns/first".into(),
        ])),
        ..Findings::default()
    };
    let c = compose(&[], &spec(), &data(), &f, 1, now(0));
    let p = prerequisites_of(&c);
    assert!(
        p.status == False && p.message.contains("already managed by pair ns/first"),
        "{p:?}"
    );
}

#[test]
fn once_a_site_is_synced_the_pair_has_adopted_its_sites() {
    let mut west = row("west", "2.0");
    west.health = Some(SiteHealth::Unhealthy);
    let mut d = data();
    d.sites = vec![SiteStatus {
        synced_revision: Some("abcdef0123456789".into()),
        ..row("east", "1.0")
    }];
    let c = compose(
        &[],
        &spec(),
        &d,
        &with_rows(vec![row("east", "1.0"), west]),
        1,
        now(0),
    );
    let p = prerequisites_of(&c);
    assert_eq!((p.status, p.reason.as_str()), (True, "Adopted"), "{p:?}");
}
