//! The judging of prerequisites (`sitehapair check`, the Prerequisites
//! condition): each problem from the findings that show it, naming the site
//! and the fix; a ready pair has none. The report's table and first-sync
//! lines are checked here too.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Folder, Probe, Problem, SiteFindings, judge};
use crate::api::SiteMode;
use crate::plan::diff::SiteDiff;
use crate::plan::prerequisites_report::{first_sync, table};

fn ready(name: &str, mode: SiteMode, epoch: i64) -> SiteFindings {
    SiteFindings {
        name: name.into(),
        setup: Probe::Passed,
        reach: Probe::Passed,
        credentials: Probe::Passed,
        read: Probe::Passed,
        write: Probe::Passed,
        health: Probe::Passed,
        version: Some("1.0".into()),
        token_key: Some("sha256:aa".into()),
        mode: Some((mode, epoch)),
        claimed: Vec::new(),
        services: Some(BTreeMap::from([("roads".to_string(), json!({"v": 1}))])),
        from_git: None,
    }
}

fn pair() -> Vec<SiteFindings> {
    vec![
        ready("east", SiteMode::Active, 3),
        ready("west", SiteMode::Passive, 3),
    ]
}

fn only(problems: &[Problem]) -> String {
    assert_eq!(problems.len(), 1, "{problems:#?}");
    problems[0].to_string()
}

#[test]
fn an_unreachable_site_is_named_and_not_judged_further() {
    let mut s = pair();
    s[1] = SiteFindings {
        reach: Probe::Failed("connection refused".into()),
        mode: None,
        services: None,
        ..s[1].clone()
    };
    let m = only(&judge(&s, "east", &Folder::NotGiven));
    assert!(
        m.starts_with("site west: unreachable") && m.contains("adminUrl"),
        "{m}"
    );
}

#[test]
fn refused_credentials_and_privileges_name_the_site_and_the_fix() {
    let mut s = pair();
    s[0].credentials = Probe::Refused("401".into());
    s[1].write = Probe::Refused("HTTP 403".into());
    let p = judge(&s, "east", &Folder::NotGiven);
    assert!(
        matches!(&p[0], Problem::CredentialsRefused { site } if site == "east"),
        "{p:?}"
    );
    assert!(p[0].to_string().contains("Secret"));
    assert!(
        matches!(&p[1], Problem::NotPrivileged { site, .. } if site == "west"),
        "{p:?}"
    );
    assert!(p[1].to_string().contains("administrator"));
}

#[test]
fn versions_and_token_keys_must_agree() {
    let mut s = pair();
    s[1].version = Some("2.0".into());
    let m = only(&judge(&s, "east", &Folder::NotGiven));
    assert!(
        m.contains("east=1.0, west=2.0") && m.contains("upgrade"),
        "{m}"
    );
    let mut s = pair();
    s[1].token_key = Some("sha256:bb".into());
    let m = only(&judge(&s, "east", &Folder::NotGiven));
    assert!(
        m.contains("token keys") && m.contains("west=sha256:bb"),
        "{m}"
    );
    // A site that does not report its key is not a mismatch.
    let mut s = pair();
    s[1].token_key = None;
    assert!(judge(&s, "east", &Folder::NotGiven).is_empty());
}

#[test]
fn two_active_sites_and_an_active_site_other_than_the_spec_are_problems() {
    let mut s = pair();
    s[1].mode = Some((SiteMode::Active, 4));
    let m = only(&judge(&s, "east", &Folder::NotGiven));
    assert!(
        m.contains("east (epoch 3), west (epoch 4) are all active"),
        "{m}"
    );
    let m = only(&judge(&pair(), "west", &Folder::NotGiven));
    assert!(
        m.contains("site east is active (epoch 3) but spec.activeSite is west"),
        "{m}"
    );
    assert!(m.contains("set spec.activeSite: east"), "{m}");
}

#[test]
fn a_claimed_site_and_an_unhealthy_one_are_named() {
    let mut s = pair();
    s[1].claimed = vec!["site west (http://x) is already managed by pair ns/other; ...".into()];
    s[0].health = Probe::Failed("GET /health answers unhealthy".into());
    let p = judge(&s, "east", &Folder::NotGiven);
    assert!(
        matches!(&p[0], Problem::Unhealthy { site, .. } if site == "east"),
        "{p:?}"
    );
    assert!(p[1].to_string().contains("pair ns/other"), "{p:?}");
}

#[test]
fn services_are_compared_with_the_spec_active_site_by_name_and_content() {
    let mut s = pair();
    let west = s[1].services.as_mut().expect("services");
    west.insert("extra".into(), json!({}));
    west.insert("roads".into(), json!({"v": 2}));
    s[0].services
        .as_mut()
        .expect("services")
        .insert("parcels".into(), json!({}));
    let m = only(&judge(&s, "east", &Folder::NotGiven));
    assert!(
        m.contains("site west differs from east: 1 (parcels) only on east, 1 (extra) only on west, 1 (roads) different"),
        "{m}"
    );
}

#[test]
fn an_invalid_folder_is_a_problem_with_the_files_named() {
    let f = Folder::Invalid {
        messages: vec!["services/bad.yaml:1: oops".into()],
    };
    let m = only(&judge(&pair(), "east", &f));
    assert!(
        m.contains("services/bad.yaml:1") && m.contains("sitehapair validate"),
        "{m}"
    );
}

#[test]
fn a_site_without_its_secret_is_named_once() {
    let mut s = pair();
    s[0] = SiteFindings {
        setup: Probe::Failed("Secret east-admin not found".into()),
        reach: Probe::Skipped,
        credentials: Probe::Skipped,
        read: Probe::Skipped,
        write: Probe::Skipped,
        health: Probe::Skipped,
        version: None,
        token_key: None,
        mode: None,
        services: None,
        ..s[0].clone()
    };
    let m = only(&judge(&s, "east", &Folder::NotGiven));
    assert!(
        m.starts_with("site east: its credentials could not be read"),
        "{m}"
    );
}

#[test]
fn a_ready_pair_has_no_problems_and_a_row_per_site() {
    assert!(judge(&pair(), "east", &Folder::Valid { services: 1 }).is_empty());
    let t = table(&pair());
    assert_eq!(t.lines().count(), 3, "{t}");
    assert!(
        t.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("east") && l.contains("active")),
        "{t}"
    );
}

#[test]
fn the_first_sync_from_the_folder_is_described_per_site_and_is_no_problem() {
    let mut s = pair();
    s[0].from_git = Some(SiteDiff::default());
    s[1].from_git = Some(SiteDiff {
        create: vec!["parcels".into()],
        replace: vec!["roads".into()],
        delete: Vec::new(),
    });
    assert!(judge(&s, "east", &Folder::Valid { services: 2 }).is_empty());
    let lines = first_sync(&s);
    assert_eq!(
        lines[0],
        "site east: equal to the git folder; the first sync writes nothing"
    );
    assert!(
        lines[1].contains("create 1 (parcels), replace 1 (roads)"),
        "{lines:?}"
    );
    assert!(lines[1].contains("approve-adoption"), "{lines:?}");
    s[1].from_git = Some(SiteDiff {
        create: vec!["parcels".into()],
        ..SiteDiff::default()
    });
    assert!(first_sync(&s)[1].contains("runs at once"));
    assert!(table(&s).contains("+1 ~0 -0"), "{}", table(&s));
}
