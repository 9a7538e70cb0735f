//! ArcGIS Server behind a pair (issue 13), on the real control plane with
//! two emulated ArcGIS Server sites (examples/arcgis-emulator) as separate
//! processes: services follow git standby first (create, edit, stop,
//! delete, a new folder), drift on a site is reverted, the server's own
//! folders are never touched; a planned promotion and an unplanned one
//! through the contact window fence through the role records; different
//! shared token keys refuse a promotion; the credentials appear in no log,
//! Event or status.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::arcgis_bed::{EAST_PASSWORD, WAIT, start};
use crate::support::git::GitRepo;
use crate::support::status::last_record;
use crate::support::{Namespace, base_pair, condition, repo_root, stderr, wait_for};

/// `sitehapair ARGS` against the test bed.
fn sitehapair(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args(args)
        .env("KUBECONFIG", &crate::support::testbed().kubeconfig)
        .output()
        .expect("run sitehapair")
}

/// One definition of the example folder.
fn example_service(file: &str) -> Value {
    let path = repo_root().join("examples/arcgis/services/prod").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("the example is JSON")
}

/// The example ArcGIS service folder, committed under services/.
fn example_repo(dir: &std::path::Path) -> (GitRepo, String) {
    let repo = GitRepo::new(dir, "arcgis-services");
    let examples = repo_root().join("examples/arcgis/services/prod");
    for entry in std::fs::read_dir(&examples).expect("examples/arcgis/services/prod") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("read example");
        repo.write(&format!("services/{name}"), &text);
    }
    let rev = repo.commit("the example ArcGIS services");
    (repo, rev)
}

/// Every write of `passive` comes before every write of `active`.
fn standby_first(passive: &[(i64, String, String)], active: &[(i64, String, String)]) {
    assert!(
        !passive.is_empty() && !active.is_empty(),
        "no writes: {passive:?} {active:?}"
    );
    let last_passive = passive.iter().map(|w| w.0).max().unwrap_or_default();
    let first_active = active.iter().map(|w| w.0).min().unwrap_or_default();
    assert!(
        last_passive <= first_active,
        "the active was written before the standby was done:\nstandby {passive:?}\nactive {active:?}"
    );
}

#[test]
fn arcgis_sites_follow_git_standby_first_and_drift_is_reverted() {
    let repo = std::cell::OnceCell::new();
    // Tokens live 12 s, so the driver renews them several times here.
    let flags = ["--token-seconds", "12"];
    let bed = start("arcgis-sync", &flags, &flags, |pair, dir| {
        let (r, _) = example_repo(dir);
        pair["spec"]["source"] = json!({"git": {"url": r.file_url(), "ref": {"branch": "main"}, "path": "services", "interval": "5s"}});
        let _ = repo.set(r);
    });
    let repo = repo.get().expect("repo");
    let rev1 = repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev1);

    // Both sites hold the three services, each folder made as needed,
    // the standby (west) first; the server's own folders are untouched.
    for site in [&bed.east, &bed.west] {
        let folders = site.folders();
        for f in ["Hydro", "Tools", "System", "Utilities"] {
            assert!(
                folders.iter().any(|x| x == f),
                "{}: folders {folders:?}",
                site.name
            );
        }
        let map = site.service("SampleWorldCities.MapServer");
        assert_eq!(map["capabilities"], "Map,Query,Data", "{map}");
        assert_eq!(
            site.service("Hydro/Rivers.MapServer")["extensions"][0]["typeName"],
            "FeatureServer"
        );
        assert_eq!(site.state("Tools/BufferPoints.GPServer"), "STARTED");
        assert!(
            !site.service("System/CachingTools.GPServer").is_null(),
            "a built-in service was removed"
        );
    }
    let (east_1, west_1) = (bed.east.writes(), bed.west.writes());
    standby_first(&west_1, &east_1);
    assert!(
        east_1
            .iter()
            .any(|w| w.1 == "createFolder" && w.2.contains("createFolder")),
        "{east_1:?}"
    );

    // A pull request: edit one service, stop one, delete one, add one in a new folder.
    let map_file = "services/SampleWorldCities.MapServer.json";
    let mut map = example_service("SampleWorldCities.MapServer.json");
    map["maxInstancesPerNode"] = json!(5);
    repo.write(map_file, &serde_json::to_string_pretty(&map).expect("json"));
    let gp_file = "services/Tools.BufferPoints.GPServer.json";
    let mut gp = example_service("Tools.BufferPoints.GPServer.json");
    gp["configuredState"] = json!("STOPPED");
    repo.write(gp_file, &serde_json::to_string_pretty(&gp).expect("json"));
    repo.remove("services/Hydro.Rivers.MapServer.json");
    repo.write(
        "services/Imagery.Elevation.ImageServer.json",
        &json!({"serviceName": "Elevation", "type": "ImageServer", "description": "Terrain",
                "capabilities": "Image,Metadata", "properties": {"path": "${arcgisinput}/Imagery/Elevation.ImageServer/extracted/elevation.crf"}})
            .to_string(),
    );
    let rev2 = repo.commit("edit, stop, delete, and a new folder");
    bed.wait_in_sync(&rev2);
    for site in [&bed.east, &bed.west] {
        assert_eq!(
            site.service("SampleWorldCities.MapServer")["maxInstancesPerNode"],
            5,
            "{}",
            site.name
        );
        assert_eq!(
            site.state("Tools/BufferPoints.GPServer"),
            "STOPPED",
            "{}",
            site.name
        );
        assert!(
            site.service("Hydro/Rivers.MapServer").is_null(),
            "{}: Rivers not deleted",
            site.name
        );
        assert!(
            site.folders().iter().any(|f| f == "Imagery"),
            "{}",
            site.name
        );
        assert_eq!(
            site.service("Imagery/Elevation.ImageServer")["capabilities"],
            "Image,Metadata"
        );
    }
    let east_2: Vec<_> = bed.east.writes().split_off(east_1.len());
    let west_2: Vec<_> = bed.west.writes().split_off(west_1.len());
    standby_first(&west_2, &east_2);
    let ops: Vec<&str> = east_2.iter().map(|w| w.1.as_str()).collect();
    for op in ["edit", "stop", "delete", "createFolder", "createService"] {
        assert!(ops.contains(&op), "east got no {op}: {east_2:?}");
    }

    // `sitehapair diff` compares as the operator does: the checkout that
    // is live shows no change although the sites show their own fields
    // and defaults; a pull request shows its change, per site.
    let pair_file = bed.dir.path().join("pair.json");
    std::fs::write(&pair_file, bed.pair.to_string()).expect("write the pair file");
    let work = repo.work.to_str().expect("utf-8").to_string();
    let pf = pair_file.to_str().expect("utf-8").to_string();
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
        text.contains("=== site east: 0 to create, 0 to replace, 0 to delete"),
        "{text}"
    );
    repo.git(&["checkout", "--quiet", "-b", "pr/more-instances"]);
    map["maxInstancesPerNode"] = json!(6);
    repo.write(map_file, &serde_json::to_string_pretty(&map).expect("json"));
    let out = diff();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    for site in ["east", "west"] {
        assert!(
            text.contains(&format!(
                "=== site {site}: 0 to create, 1 to replace, 0 to delete"
            )),
            "{text}"
        );
    }
    assert!(
        text.contains("SampleWorldCities.MapServer") && text.contains("\"maxInstancesPerNode\": 6"),
        "{text}"
    );

    // `sitehapair validate --kind ArcGISServer` checks the ArcGIS rules.
    let out = sitehapair(&[
        "validate",
        &work,
        "--path",
        "services",
        "--kind",
        "ArcGISServer",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    repo.write(
        "services/Hydro.Lakes.MapServer.json",
        &json!({"serviceName": "Rivers", "type": "MapServer"}).to_string(),
    );
    let out = sitehapair(&[
        "validate",
        &work,
        "--path",
        "services",
        "--kind",
        "ArcGISServer",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "Hydro.Lakes.MapServer: its serviceName is \"Rivers\", but the name says \"Lakes\""
        ),
        "{text}"
    );
    repo.remove("services/Hydro.Lakes.MapServer.json");
    repo.git(&["checkout", "--quiet", "."]);
    repo.git(&["checkout", "--quiet", "main"]);

    // Drift: someone edits the active site by hand; the operator reverts it.
    let mut by_hand = bed.east.service("SampleWorldCities.MapServer");
    by_hand["maxInstancesPerNode"] = json!(9);
    let answer = bed.east.admin(
        "/admin/services/SampleWorldCities.MapServer/edit",
        &[("service", &by_hand.to_string())],
    );
    assert_eq!(answer["status"], "success", "{answer}");
    wait_for("the hand edit reverted", WAIT, || {
        (bed.east.service("SampleWorldCities.MapServer")["maxInstancesPerNode"] == 5).then_some(())
    });

    // At rest nothing more is written: a definition the server shows with
    // its own fields and defaults is not drift.
    let settled = bed.east.writes().len();
    let listings = || {
        bed.east
            .requests()
            .iter()
            .filter(|r| r["path"] == "/admin/services")
            .count()
    };
    let checks = || {
        bed.east
            .requests()
            .iter()
            .filter(|r| {
                r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/healthCheck"))
            })
            .count()
    };
    let (seen, checked) = (listings(), checks());
    wait_for("three more listings of east", WAIT, || {
        (listings() >= seen + 3).then_some(())
    });
    // A listing is a call per folder and per service: at rest it comes
    // once per source interval (5 s), not on every health trip (1 s).
    let (listed, trips) = (listings() - seen, checks() - checked);
    assert!(
        trips >= 2 * listed,
        "{listed} listings in {trips} health trips at rest"
    );
    assert_eq!(
        bed.east.writes().len(),
        settled,
        "writes at rest: {:?}",
        bed.east.writes().split_off(settled)
    );

    assert!(
        bed.east.tokens_issued() >= 2,
        "tokens were not renewed: {}",
        bed.east.tokens_issued()
    );
    assert_eq!(condition(&bed.status(), "Healthy")["status"], "True");
    bed.assert_no_credentials();
}

#[test]
fn arcgis_promotions_planned_and_forced_fence_through_the_role_records() {
    let bed = start("arcgis-promote", &[], &[], |pair, _| {
        pair["spec"]["promotion"] = json!({"contactTimeout": "8s"});
    });
    bed.wait("east active", |st| {
        st["activeSite"] == "east" && st["phase"] == "Ready"
    });
    bed.wait_role(&bed.east, "active", 1);
    // Traffic follows the status that records the active (written after it).
    wait_for("traffic on east", WAIT, || {
        (bed.traffic() == json!(["192.0.2.10"])).then_some(())
    });

    // Planned: both answer; demote east, promote west, traffic follows.
    bed.promote("west");
    let st = bed.wait("west active at epoch 2", |st| {
        st["activeSite"] == "west" && st["epoch"] == 2 && st["promotion"].is_null()
    });
    assert_eq!(last_record(&st)["forced"], false, "{}", st["history"]);
    bed.wait_role(&bed.west, "active", 2);
    bed.wait_role(&bed.east, "passive", 2);
    wait_for("traffic on west", WAIT, || {
        (bed.traffic() == json!(["192.0.2.20"])).then_some(())
    });

    // Unplanned: west stops answering. Its record can be written, but the
    // driver reaches the site first, so it is silence: the window runs,
    // then the switch is forced.
    bed.west.signal("STOP");
    bed.promote("east");
    let waiting = bed.wait("waiting for the old active", |st| {
        st["phase"] == "WaitingForOldActive"
    });
    assert!(
        !waiting["promotion"]["deadline"].is_null(),
        "{}",
        waiting["promotion"]
    );
    assert_eq!(
        bed.role(&bed.west),
        Some(("active".into(), 2)),
        "west was demoted while silent"
    );
    let st = bed.wait("east forced active at epoch 3", |st| {
        st["activeSite"] == "east" && st["epoch"] == 3 && st["promotion"].is_null()
    });
    assert_eq!(last_record(&st)["forced"], true, "{}", st["history"]);
    bed.wait_role(&bed.east, "active", 3);
    wait_for("traffic on east", WAIT, || {
        (bed.traffic() == json!(["192.0.2.10"])).then_some(())
    });

    // West comes back: it meets the newer epoch and is demoted.
    bed.west.signal("CONT");
    bed.wait_role(&bed.west, "passive", 3);
    assert_eq!(bed.role(&bed.east), Some(("active".into(), 3)));
    bed.assert_no_credentials();
}

#[test]
fn arcgis_sites_with_different_shared_token_keys_refuse_a_promotion() {
    let bed = start(
        "arcgis-parity",
        &["--shared-key", "key-of-east-0001"],
        &["--shared-key", "key-of-west-0002"],
        |_, _| {},
    );
    let st = bed.wait("Parity=False", |st| {
        condition(st, "Parity")["status"] == "False"
    });
    assert_eq!(
        condition(&st, "Parity")["reason"],
        "TokenKeyMismatch",
        "{}",
        condition(&st, "Parity")
    );
    let fingerprints: Vec<&str> = st["sites"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["tokenKeyFingerprint"].as_str())
        .collect();
    assert_eq!(fingerprints.len(), 2, "{}", st["sites"]);
    assert_ne!(fingerprints[0], fingerprints[1]);
    assert!(
        !st.to_string().contains("key-of-east-0001"),
        "the shared key itself in status"
    );

    bed.promote("west");
    let st = bed.wait("the promotion blocked on parity", |st| {
        condition(st, "PromotionBlocked")["reason"] == "ParityMismatch"
    });
    assert_eq!(st["activeSite"], "east");
    assert_eq!(bed.role(&bed.west).map(|r| r.0), Some("passive".into()));

    // The keys made equal: the promotion goes on.
    bed.west.set_shared_key("key-of-east-0001");
    bed.wait("west active", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    bed.wait_role(&bed.west, "active", 2);
    let logs = bed.op.logs();
    assert!(
        !logs.contains("key-of-east-0001") && !logs.contains("key-of-west-0002"),
        "a shared key in the log"
    );
}

#[test]
fn an_arcgis_site_that_refuses_the_password_blocks_a_promotion_and_is_never_forced() {
    let bed = start("arcgis-cred", &[], &[], |pair, _| {
        pair["spec"]["promotion"] = json!({"contactTimeout": "3s"});
    });
    bed.wait("east active", |st| {
        st["activeSite"] == "east" && st["phase"] == "Ready"
    });
    bed.wait_role(&bed.east, "active", 1);
    // A password rotation done in the wrong order: east is alive, healthy
    // and active, and refuses every token request.
    let rotated = "rotated-too-early-3a7c";
    bed.set_password("east", rotated);
    bed.promote("west");
    let st = bed.wait("the promotion blocked on east's credentials", |st| {
        condition(st, "PromotionBlocked")["reason"] == "CredentialsRefused"
    });
    let msg = condition(&st, "PromotionBlocked")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("site east") && msg.contains("never forced"),
        "{msg}"
    );
    // Through three whole windows (3 s each) from the block, with east
    // asked again and again: at every look still blocked on east's
    // credentials, never forced, east the active site and the role
    // records unchanged.
    let window = Duration::from_secs(3);
    let token_requests = || {
        bed.east
            .requests()
            .iter()
            .filter(|r| r["operation"] == "generateToken")
            .count()
    };
    let seen = token_requests();
    let blocked_at = std::time::Instant::now();
    let mut samples = 0;
    while blocked_at.elapsed() < window * 3 + Duration::from_millis(500)
        || token_requests() < seen + 3
    {
        assert!(
            blocked_at.elapsed() < WAIT,
            "east was asked {} more times in {WAIT:?}",
            token_requests() - seen
        );
        let st = bed.status();
        samples += 1;
        let at = format!(
            "sample {samples}, {:?} after the block",
            blocked_at.elapsed()
        );
        assert_ne!(
            st["promotion"]["forced"], true,
            "{at}: forced past a live site: {st}"
        );
        assert_eq!(st["promotion"]["to"], "west", "{at}: {st}");
        assert_eq!(st["activeSite"], "east", "{at}: {st}");
        let blocked = condition(&st, "PromotionBlocked");
        assert_eq!(
            (blocked["status"].as_str(), blocked["reason"].as_str()),
            (Some("True"), Some("CredentialsRefused")),
            "{at}: {st}"
        );
        assert!(
            st["history"]
                .as_array()
                .is_none_or(|h| h.iter().all(|r| r["forced"] != true)),
            "{at}: {st}"
        );
        assert_eq!(bed.role(&bed.west), Some(("passive".into(), 1)), "{at}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(samples >= 10, "only {samples} samples");
    assert_eq!(bed.role(&bed.east), Some(("active".into(), 1)));
    assert_eq!(bed.role(&bed.west), Some(("passive".into(), 1)));
    assert!(bed.ns.events("PromotionForced").is_empty());
    // The Secret fixed: the promotion completes, planned.
    bed.set_password("east", EAST_PASSWORD);
    let st = bed.wait("west active", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    assert_eq!(last_record(&st)["forced"], false, "{}", st["history"]);
    bed.wait_role(&bed.east, "passive", 2);
    bed.wait_role(&bed.west, "active", 2);
    assert!(
        !bed.op.logs().contains(rotated),
        "the rotated password in the log"
    );
}

#[test]
fn the_arcgis_example_pair_is_accepted_and_an_unknown_site_kind_is_refused() {
    let ns = Namespace::new("arcgis-example");
    let example = std::fs::read_to_string(repo_root().join("examples/arcgis/pair.yaml"))
        .expect("read the example");
    let out = ns.apply(&example);
    assert!(
        out.status.success(),
        "examples/arcgis/pair.yaml refused: {}",
        stderr(&out)
    );
    let applied = ns.get_json("shp/arcgis").expect("the example pair");
    assert_eq!(applied["spec"]["sites"][0]["kind"], "ArcGISServer");
    assert_eq!(applied["spec"]["traffic"]["failover"], "Immediate");

    let mut p = base_pair("bad-kind");
    p["spec"]["sites"][0]["kind"] = json!("ArcGIS");
    let out = ns.apply(&p.to_string());
    let err = stderr(&out);
    assert!(!out.status.success(), "an unknown kind was accepted");
    assert!(
        err.contains("spec.sites[0].kind")
            && err.contains("\"Contract\"")
            && err.contains("\"ArcGISServer\""),
        "{err}"
    );
}
