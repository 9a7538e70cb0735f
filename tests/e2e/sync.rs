//! Services follow git: the pull-request flow, standby first, selfHeal and
//! Report mode, the prune guards, rejected revisions, and the health gate in
//! front of the active site. Real control plane, git CLI, reference sites.

use std::time::Duration;

use serde_json::json;

use crate::support::syncbed::{
    SyncBed, put_service, service, service_write_times, set_health, site_services,
};
use crate::support::wait_for;

const EAST: &str = "east-token-1";
const WEST: &str = "west-token-2";
const CONVERGE: Duration = Duration::from_secs(45);

#[test]
fn a_merged_pull_request_reaches_both_sites_standby_first() {
    let mut bed = SyncBed::new("sync-pr", &[("roads", 1), ("parcels", 1)]);
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    bed.apply(&bed.pair(&bed.repo.file_url()));
    bed.wait_in_sync(&rev1, CONVERGE);
    assert_eq!(site_services(&bed.east, EAST)["roads"]["version"], 1);

    // A pull request: a branch with a change, merged into main.
    let before_merge = now_s();
    bed.repo
        .git(&["checkout", "--quiet", "-b", "feature/hydrants"]);
    bed.repo.write("services/roads.yaml", &service("roads", 2));
    bed.repo
        .write("services/hydrants.yaml", &service("hydrants", 1));
    bed.repo.commit("roads v2, add hydrants");
    bed.repo.git(&["checkout", "--quiet", "main"]);
    bed.repo.git(&[
        "merge",
        "--quiet",
        "--no-ff",
        "-m",
        "Merge PR",
        "feature/hydrants",
    ]);
    let rev2 = bed.repo.commit("merged");
    // Without a webhook, within one interval (5 s) plus a reconcile.
    bed.wait_in_sync(&rev2, CONVERGE);

    for (site, token) in [(&bed.east, EAST), (&bed.west, WEST)] {
        let s = site_services(site, token);
        assert_eq!(s["roads"]["version"], 2, "{}: {s}", site.name);
        assert_eq!(s["hydrants"]["version"], 1, "{}: {s}", site.name);
    }
    // Standby first: every write of the merge on west came before any on east.
    let west: Vec<f64> = service_write_times(&bed.west)
        .into_iter()
        .filter(|t| *t >= before_merge)
        .collect();
    let east: Vec<f64> = service_write_times(&bed.east)
        .into_iter()
        .filter(|t| *t >= before_merge)
        .collect();
    assert_eq!(
        (west.len(), east.len()),
        (2, 2),
        "west {west:?} east {east:?}"
    );
    let last_west = west.iter().cloned().fold(f64::MIN, f64::max);
    let first_east = east.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        last_west <= first_east,
        "the active site was written before the passive: west {west:?} east {east:?}"
    );

    let st = bed.status();
    assert_eq!(st["source"]["revision"], rev2.as_str());
    assert_eq!(
        st["sites"][0]["drift"],
        json!({"added": 0, "changed": 0, "removed": 0})
    );
    let synced = bed.events("Synced");
    assert!(
        synced.iter().any(|n| n.contains("site west: revision")
            && n.contains("created hydrants")
            && n.contains("replaced roads")),
        "{synced:?}\n{}",
        bed.op
            .as_ref()
            .map(|o| o.logs())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("event"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn out_of_band_edits_are_reverted_or_reported() {
    let mut bed = SyncBed::new("sync-heal", &[("roads", 1)]);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    let mut pair = bed.pair(&bed.repo.file_url());
    bed.apply(&pair);
    bed.wait_in_sync(&rev, CONVERGE);

    // selfHeal (default): the edit is put back.
    put_service(
        &bed.west,
        WEST,
        "roads",
        &json!({"name": "roads", "version": 99}),
    );
    wait_for("west's roads reverted", CONVERGE, || {
        (site_services(&bed.west, WEST)["roads"]["version"] == 1).then_some(())
    });

    // Report mode: drift is reported and left alone.
    pair["spec"]["sync"] = json!({"mode": "Report"});
    bed.apply(&pair);
    wait_for("Report mode observed", CONVERGE, || {
        (bed.condition("InSync")["observedGeneration"] == 2).then_some(())
    });
    put_service(
        &bed.west,
        WEST,
        "roads",
        &json!({"name": "roads", "version": 98}),
    );
    let msg = bed.wait_condition("InSync", "False", "Drift", CONVERGE);
    assert!(msg.contains("site west: 0 to add, 1 changed"), "{msg}");
    assert!(msg.contains("Report"), "{msg}");
    assert_eq!(site_services(&bed.west, WEST)["roads"]["version"], 98);
    assert_eq!(bed.status()["sites"][1]["drift"]["changed"], 1);

    // selfHeal off: an edit on the site is reported, not reverted.
    pair["spec"]["sync"] = json!({"mode": "Automatic", "selfHeal": false});
    bed.apply(&pair);
    // Wait for the new generation's verdict, not the Report one still shown.
    let msg = wait_for("drift reported with selfHeal off", CONVERGE, || {
        let c = bed.condition("InSync");
        let m = c["message"].as_str()?.to_string();
        (c["observedGeneration"] == 3 && c["reason"] == "Drift" && m.contains("selfHeal is off"))
            .then_some(m)
    });
    assert!(msg.contains("site west: 0 to add, 1 changed"), "{msg}");
    assert_eq!(site_services(&bed.west, WEST)["roads"]["version"], 98);
    // A new revision is still applied with selfHeal off.
    bed.repo.write("services/roads.yaml", &service("roads", 3));
    let rev3 = bed.repo.commit("roads v3");
    bed.wait_in_sync(&rev3, CONVERGE);
    assert_eq!(site_services(&bed.west, WEST)["roads"]["version"], 3);
}

#[test]
fn mass_deletions_wait_for_approval_and_an_empty_source_changes_nothing() {
    let mut bed = SyncBed::new("sync-prune", &[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    bed.apply(&bed.pair(&bed.repo.file_url()));
    bed.wait_in_sync(&rev, CONVERGE);

    // Every service deleted: nothing changes, and the condition says why.
    for n in ["a", "b", "c", "d"] {
        bed.repo.remove(&format!("services/{n}.yaml"));
    }
    bed.repo.write("services/README.md", "no services\n");
    bed.repo.commit("delete everything");
    let msg = bed.wait_condition("InSync", "False", "PruneBlocked", CONVERGE);
    assert!(msg.contains("allowEmpty"), "{msg}");
    assert!(!bed.events("PruneBlocked").is_empty());
    for (site, token) in [(&bed.east, EAST), (&bed.west, WEST)] {
        assert_eq!(
            site_services(site, token).as_object().map(|o| o.len()),
            Some(4)
        );
    }

    // Three of four deleted (75% > 50%): waits for the approval of that revision.
    bed.repo.write("services/a.yaml", &service("a", 1));
    let rev2 = bed.repo.commit("keep only a");
    let msg = wait_for("the prune guard to name the new revision", CONVERGE, || {
        let c = bed.condition("InSync");
        let m = c["message"].as_str()?.to_string();
        (c["reason"] == "PruneBlocked" && m.contains(&rev2)).then_some(m)
    });
    assert!(msg.contains("3 of 4 services (75%)"), "{msg}");
    assert!(msg.contains("sitehapair.io/approve-prune"), "{msg}");
    assert_eq!(
        site_services(&bed.west, WEST).as_object().map(|o| o.len()),
        Some(4)
    );

    bed.ns.kubectl(&[
        "annotate",
        "shp",
        "gis",
        &format!("sitehapair.io/approve-prune={rev2}"),
    ]);
    bed.wait_in_sync(&rev2, CONVERGE);
    for (site, token) in [(&bed.east, EAST), (&bed.west, WEST)] {
        let s = site_services(site, token);
        assert_eq!(s.as_object().map(|o| o.len()), Some(1), "{s}");
    }
}

#[test]
fn a_broken_commit_changes_no_site_and_names_file_and_line() {
    let mut bed = SyncBed::new("sync-bad", &[("roads", 1)]);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    bed.apply(&bed.pair(&bed.repo.file_url()));
    bed.wait_in_sync(&rev, CONVERGE);

    let outside = bed.dir.path().join("outside.yaml");
    std::fs::write(&outside, "name: stolen\n").expect("write outside file");
    type Break = Box<dyn Fn(&SyncBed)>;
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "malformed YAML",
            Box::new(|b| {
                b.repo
                    .write("services/roads.yaml", "name: roads\nversion: [2\n")
            }),
            "services/roads.yaml:",
        ),
        (
            "two files of one name",
            Box::new(|b| {
                b.repo
                    .write("services/roads-copy.yaml", &service("roads", 7))
            }),
            "is also defined in services/roads",
        ),
        (
            "a ../ name",
            Box::new(|b| {
                b.repo
                    .write("services/evil.yaml", "name: ../../etc\nversion: 1\n")
            }),
            "services/evil.yaml:1: service name \"../../etc\"",
        ),
        (
            "a symlink out of the repository",
            Box::new(move |b| {
                std::os::unix::fs::symlink(&outside, b.repo.work.join("services/link.yaml"))
                    .expect("symlink")
            }),
            "services/link.yaml:1: symbolic link pointing outside the repository",
        ),
    ];
    let mut good = rev;
    for (what, breaks, expect) in cases {
        bed.repo.write("services/roads.yaml", &service("roads", 2));
        breaks(&bed);
        let bad = bed.repo.commit(what);
        let msg = wait_for(&format!("{what} rejected"), CONVERGE, || {
            let c = bed.condition("SourceReady");
            let m = c["message"].as_str()?.to_string();
            (c["reason"] == "InvalidRevision" && m.contains(&bad[..12])).then_some(m)
        });
        assert!(msg.contains(expect), "{what}: {msg}");
        // Nothing from the bad revision reached a site.
        for (site, token) in [(&bed.east, EAST), (&bed.west, WEST)] {
            let s = site_services(site, token);
            assert_eq!(s["roads"]["version"], 1, "{what}: {}: {s}", site.name);
            assert_eq!(s.as_object().map(|o| o.len()), Some(1), "{what}: {s}");
        }
        assert_eq!(bed.status()["source"]["revision"], good.as_str());
        // Fix it with a revert; the sites follow the fixed revision.
        bed.repo.git(&["revert", "--no-edit", "HEAD"]);
        good = bed.repo.commit("revert");
        bed.wait_in_sync(&good, CONVERGE);
    }
    assert!(!bed.events("InvalidRevision").is_empty());
}

#[test]
fn a_passive_failing_its_health_check_after_the_apply_halts_the_sync() {
    let mut bed = SyncBed::new("sync-gate", &[("roads", 1)]);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    bed.apply(&bed.pair(&bed.repo.file_url()));
    bed.wait_in_sync(&rev, CONVERGE);

    set_health(&bed.west, WEST, false);
    bed.repo.write("services/roads.yaml", &service("roads", 2));
    let rev2 = bed.repo.commit("roads v2");
    let msg = bed.wait_condition("Degraded", "True", "PassiveUnhealthy", CONVERGE);
    assert!(
        msg.contains("passive site west") && msg.contains("active site was not touched"),
        "{msg}"
    );
    assert_eq!(site_services(&bed.west, WEST)["roads"]["version"], 2);
    assert_eq!(site_services(&bed.east, EAST)["roads"]["version"], 1);
    assert!(!bed.events("SyncHalted").is_empty());
    assert_eq!(bed.status()["phase"], "Degraded");

    // Healthy again: the active follows.
    set_health(&bed.west, WEST, true);
    bed.wait_in_sync(&rev2, CONVERGE);
    assert_eq!(site_services(&bed.east, EAST)["roads"]["version"], 2);
    bed.wait_condition("Degraded", "False", "AsExpected", CONVERGE);
}

fn now_s() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}
