//! pygeoapi behind a pair (issue 27), on the real control plane with two
//! real pygeoapi servers (gunicorn, reloading their configuration), each
//! behind an authenticating front: resources follow git standby first
//! (create, change, delete), a resource pygeoapi refuses is reported with
//! the server's words and touches no other site, a hand edit through the
//! admin API is reverted, nothing is written at rest; a planned and a
//! forced promotion fence through the role records; a site killed in the
//! middle of a write is caught up; a site that accepts writes it does not
//! serve is reported as such, never in sync, never a promotion target.

use serde_json::{Value, json};

use crate::support::pygeoapi_bed::{EAST_PASSWORD, PATH, WAIT, WEST_TOKEN, start};
use crate::support::status::last_record;
use crate::support::wait_for;
use crate::support::{condition, site_row as row, stderr};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `sitehapair ARGS` against the test bed.
fn sitehapair(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args(args)
        .env("KUBECONFIG", &crate::support::testbed().kubeconfig)
        .output()
        .expect("run sitehapair")
}

#[test]
fn pygeoapi_sites_follow_git_standby_first_refuse_bad_resources_revert_hand_edits_and_rest_quietly()
{
    let bed = start("geo-sync", true, |_| {});
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev1);
    bed.wait_served_as_git();
    // Standby first: every write to west (passive) before any to east.
    let (east, west) = (bed.east.writes_since(0), bed.west.writes_since(0));
    assert!(!east.is_empty() && !west.is_empty(), "{east:?} {west:?}");
    let last_west = west.iter().map(|w| w.0).max().unwrap_or_default();
    let first_east = east.iter().map(|w| w.0).min().unwrap_or_default();
    assert!(
        last_west <= first_east,
        "east before west:\n{west:?}\n{east:?}"
    );
    let st = bed.status();
    assert_eq!(row(&st, "east")["version"], "0.24.0", "{st:#}");

    // A pull request: change one, delete one, add one.
    let mut lakes: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(bed.repo.work.join(PATH).join("lakes.yaml")).expect("lakes"),
    )
    .expect("yaml");
    lakes["title"] = json!("Lakes and ponds");
    bed.repo.write(
        &format!("{PATH}/lakes.yaml"),
        &serde_yaml_ng::to_string(&lakes).expect("yaml"),
    );
    bed.repo.remove(&format!("{PATH}/rivers.yaml"));
    let mut reservoirs = lakes.clone();
    reservoirs["title"] = json!("Reservoirs");
    bed.repo
        .write(&format!("{PATH}/reservoirs.json"), &reservoirs.to_string());
    let rev2 = bed
        .repo
        .commit("change lakes, delete rivers, add reservoirs");
    bed.wait_in_sync(&rev2);
    bed.wait_served_as_git();
    assert!(!bed.east.served().contains_key("rivers"));

    // `sitehapair diff` compares as the operator does: the live checkout
    // shows no change although pygeoapi answers gauges' temporal extent
    // in another spelling; a change shows, per site.
    let pair_file = bed.repo.work.join("../pair.json");
    std::fs::write(&pair_file, bed.pair.to_string()).expect("write the pair file");
    let (work, pf) = (
        bed.repo.work.to_str().expect("utf-8").to_string(),
        pair_file.to_str().expect("utf-8").to_string(),
    );
    let diff = || {
        sitehapair(&[
            "diff",
            "--pair",
            &pf,
            "--checkout",
            &work,
            "-n",
            &bed.ns.name,
        ])
    };
    let out = diff();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("=== site west: 0 to create, 0 to replace, 0 to delete"),
        "{text}"
    );
    let gauges_file = format!("{PATH}/gauges.json");
    let gauges = std::fs::read_to_string(bed.repo.work.join(&gauges_file)).expect("gauges");
    bed.repo
        .write(&gauges_file, &gauges.replace("River gauges", "Gauges"));
    let out = diff();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains("=== site east: 0 to create, 1 to replace, 0 to delete"),
        "{text}"
    );
    bed.repo.write(&gauges_file, &gauges);

    // A resource pygeoapi refuses: named with the server's words on the
    // standby; the active is not touched.
    let before = now_ms();
    bed.repo.write(
        &format!("{PATH}/broken.json"),
        &json!({"type": "collection", "title": "Broken", "description": "x", "keywords": [],
                "extents": {"spatial": {"bbox": "everywhere"}}, "providers": "none"})
        .to_string(),
    );
    // `sitehapair validate --kind Pygeoapi` already says what is wrong.
    let out = sitehapair(&["validate", &work, "--path", PATH, "--kind", "Pygeoapi"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("resource broken: a collection needs at least one provider"),
        "{text}"
    );
    let rev3 = bed.commit("a resource pygeoapi refuses");
    let st = bed.wait("the refusal named in InSync", |st| {
        st["source"]["revision"] == rev3.as_str()
            && condition(st, "InSync")["message"]
                .as_str()
                .is_some_and(|m| {
                    m.contains("ValidationError: Schema validation error") && m.contains("broken")
                })
    });
    assert_eq!(condition(&st, "InSync")["status"], "False");
    assert!(
        bed.east.writes_since(before).is_empty(),
        "the active was written: {:?}",
        bed.east.writes_since(before)
    );
    assert!(bed.west.configured().get("broken").is_none());
    bed.repo.remove(&format!("{PATH}/broken.json"));
    let rev4 = bed.commit("drop the broken resource");
    let out = sitehapair(&["validate", &work, "--path", PATH, "--kind", "Pygeoapi"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    bed.wait_in_sync(&rev4);

    // A hand edit through west's admin API is reverted.
    let mut edited = bed.west.configured()["lakes"].clone();
    edited["title"] = json!("Edited by hand");
    bed.west.admin_put("lakes", &edited);
    wait_for("the hand edit to be served", WAIT, || {
        (bed.west.served().get("lakes").map(String::as_str) == Some("Edited by hand")).then_some(())
    });
    wait_for("the hand edit reverted", WAIT, || {
        (bed.west.served().get("lakes").map(String::as_str) == Some("Lakes and ponds"))
            .then_some(())
    });
    bed.wait_in_sync(&rev4);

    // At rest nothing is written: the operator lists both sites again and
    // again (a listing reads the public API too) and writes nothing.
    let (east_writes, west_writes) = (bed.east.front.writes().len(), bed.west.front.writes().len());
    let listed = (bed.east.front.listings(), bed.west.front.listings());
    wait_for("three more listings of each site", WAIT, || {
        (bed.east.front.listings() >= listed.0 + 3 && bed.west.front.listings() >= listed.1 + 3)
            .then_some(())
    });
    assert_eq!(
        bed.east.front.writes().len(),
        east_writes,
        "east written at rest"
    );
    assert_eq!(
        bed.west.front.writes().len(),
        west_writes,
        "west written at rest"
    );
    bed.wait_served_as_git();
    let logs = bed.op.logs();
    assert!(
        !logs.contains(EAST_PASSWORD) && !logs.contains(WEST_TOKEN),
        "a credential in the log"
    );
}

#[test]
fn pygeoapi_promotions_fence_through_the_role_records_and_a_site_killed_mid_write_is_caught_up() {
    let mut bed = start("geo-promote", true, |pair| {
        pair["spec"]["promotion"] = json!({"contactTimeout": "5s"});
    });
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev1);
    bed.wait_role(&bed.east, "active", 1);
    bed.wait_role(&bed.west, "passive", 1);

    // Planned: both answer; east demoted, west promoted, in the records.
    bed.promote("west");
    let st = bed.wait("west active at epoch 2", |st| {
        st["activeSite"] == "west" && st["epoch"] == 2 && st["promotion"].is_null()
    });
    assert_eq!(last_record(&st)["forced"], false, "{}", st["history"]);
    bed.wait_role(&bed.west, "active", 2);
    bed.wait_role(&bed.east, "passive", 2);

    // Forced: west's admin API stops answering (its front is gone); the
    // window runs out and east is made active without demoting west.
    bed.west.front.stop();
    bed.promote("east");
    bed.wait("waiting for the old active", |st| {
        st["phase"] == "WaitingForOldActive"
    });
    assert_eq!(
        bed.role(&bed.west),
        Some(("active".into(), 2)),
        "west demoted while silent"
    );
    let st = bed.wait("east forced active at epoch 3", |st| {
        st["activeSite"] == "east" && st["epoch"] == 3 && st["promotion"].is_null()
    });
    assert_eq!(last_record(&st)["forced"], true, "{}", st["history"]);
    bed.wait_role(&bed.east, "active", 3);
    // West answers again: it meets the newer epoch and is demoted.
    bed.west.front.resume();
    bed.wait_role(&bed.west, "passive", 3);

    // A change reaches west (the standby) first; west is killed as the
    // write reaches it, started again, and caught up.
    let since = now_ms();
    bed.repo.remove(&format!("{PATH}/gauges.json"));
    let rev2 = bed.commit("delete gauges");
    wait_for("a write to west", WAIT, || {
        (!bed.west.writes_since(since).is_empty()).then_some(())
    });
    bed.west.server.restart();
    bed.wait_in_sync(&rev2);
    bed.wait_served_as_git();
    assert_eq!(bed.role(&bed.east), Some(("active".into(), 3)));
}

#[test]
fn a_pygeoapi_site_that_accepts_writes_it_does_not_serve_is_reported_never_synced_nor_promoted() {
    // West runs without reloading: its admin API writes the file, its
    // public API keeps serving what it started with.
    let bed = start("geo-unserved", false, |_| {});
    let st = bed.wait("west reported as not serving", |st| {
        row(st, "west")["contact"] == "NotServing"
            && condition(st, "InSync")["reason"] == "NotServed"
            && condition(st, "Degraded")["reason"] == "SiteNotServing"
    });
    let msg = condition(&st, "InSync")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("written but not served") && msg.contains("/collections"),
        "{msg}"
    );
    assert!(row(&st, "west")["syncedRevision"].is_null(), "{st:#}");
    // West's file took the write; its public API does not show it; the
    // active was never written.
    assert!(
        !bed.west
            .configured()
            .as_object()
            .is_none_or(|m| m.is_empty())
    );
    assert!(bed.west.served().is_empty(), "{:?}", bed.west.served());
    assert!(
        bed.east.writes_since(0).is_empty(),
        "{:?}",
        bed.east.writes_since(0)
    );
    // Not a promotion target.
    bed.promote("west");
    let st = bed.wait("the promotion blocked", |st| {
        condition(st, "PromotionBlocked")["reason"] == "SiteNotServing"
    });
    assert_eq!(st["activeSite"], "east");
    assert_eq!(bed.role(&bed.west).map(|r| r.0), Some("passive".into()));
}

#[test]
fn the_pygeoapi_example_pair_is_accepted_and_its_resources_are_valid() {
    let ns = crate::support::Namespace::new("geo-example");
    let root = crate::support::repo_root();
    let example = std::fs::read_to_string(root.join("examples/pygeoapi/pair.yaml"))
        .expect("read the example");
    let out = ns.apply(&example);
    assert!(
        out.status.success(),
        "examples/pygeoapi/pair.yaml refused: {}",
        stderr(&out)
    );
    let applied = ns.get_json("shp/geo").expect("the example pair");
    assert_eq!(applied["spec"]["sites"][1]["kind"], "Pygeoapi");
    let resources = root.join("examples/pygeoapi/resources");
    let out = sitehapair(&[
        "validate",
        resources.to_str().expect("utf-8"),
        "--path",
        "prod",
        "--kind",
        "Pygeoapi",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("valid: 3 services"), "{text}");
}
