//! Per-site overlays (`<path>/.sites/<site>/<service>.yaml`, a JSON merge
//! patch over the base): on the real control plane two sites in sync hold
//! services that differ exactly by the overlay, `diff` compares each site
//! with its merged set, an overlay for a site the pair lacks is refused,
//! and `validate` names the file and line of such an overlay.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::syncbed::{SyncBed, site_services};
use crate::support::{testbed, wait_for};

const EAST: &str = "east-token-1";
const WEST: &str = "west-token-2";
const CONVERGE: Duration = Duration::from_secs(45);

/// The west overlay of roads: a host of its own, and the pool removed.
const WEST_ROADS: &str = "connection:\n  host: db-west.internal\n  user: null\nmaxInstances: 2\n";

/// Run the CLI; `diff` reaches the test bed's cluster.
fn sitehapair(args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sitehapair"));
    cmd.args(args);
    if args.first() == Some(&"diff") {
        cmd.env("KUBECONFIG", &testbed().kubeconfig);
    }
    let out = cmd.output().expect("run sitehapair");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn an_overlay_makes_two_sites_in_sync_differ_exactly_by_it() {
    let mut bed = SyncBed::new("overlay", &[("roads", 1), ("parcels", 1)]);
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    let pair = bed.pair(&bed.repo.file_url());
    bed.apply(&pair);
    bed.wait_in_sync(&rev1, CONVERGE);

    bed.repo
        .write("services/.sites/west/roads.yaml", WEST_ROADS);
    let rev2 = bed.repo.commit("west's own database for roads");
    bed.wait_in_sync(&rev2, CONVERGE);
    let east = site_services(&bed.east, EAST);
    let west = site_services(&bed.west, WEST);
    // East holds the base; west the base with its overlay merged; nothing else differs.
    assert_eq!(
        east["roads"]["connection"],
        json!({"user": "gis", "password": "pw-roads-secret"})
    );
    let mut want = east["roads"].clone();
    want["connection"] = json!({"host": "db-west.internal", "password": "pw-roads-secret"});
    want["maxInstances"] = json!(2);
    assert_eq!(west["roads"], want, "west: {west}");
    let mut west_rest = west.clone();
    let mut east_rest = east.clone();
    west_rest.as_object_mut().map(|m| m.remove("roads"));
    east_rest.as_object_mut().map(|m| m.remove("roads"));
    assert_eq!(west_rest, east_rest);
    assert_eq!(bed.condition("InSync")["status"], "True");

    // `diff` compares each site with its own merged set: nothing to do.
    let pair_file = bed.dir.path().join("pair.yaml");
    std::fs::write(&pair_file, pair.to_string()).expect("write pair file");
    let work = bed.repo.work.to_str().expect("utf-8").to_string();
    let pf = pair_file.to_str().expect("utf-8").to_string();
    let ns = bed.ns.name.clone();
    let diff = |what: &str| {
        let (code, out) = sitehapair(&["diff", "--pair", &pf, "--checkout", &work, "-n", &ns]);
        assert!(code == 0 || code == 1, "{what}: {out}");
        (code, out)
    };
    let (code, out) = diff("synced checkout");
    assert_eq!(code, 0, "{out}");
    // A change to west's overlay only: west shows the merged result, east nothing.
    bed.repo.write(
        "services/.sites/west/roads.yaml",
        &WEST_ROADS.replace("maxInstances: 2", "maxInstances: 3"),
    );
    let (code, out) = diff("west overlay changed");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("=== site east: 0 to create, 0 to replace, 0 to delete"),
        "{out}"
    );
    assert!(
        out.contains("=== site west: 0 to create, 1 to replace, 0 to delete"),
        "{out}"
    );
    assert!(
        out.contains("-  \"maxInstances\": 2") && out.contains("+  \"maxInstances\": 3"),
        "{out}"
    );
    assert!(
        out.contains("db-west.internal"),
        "the merged definition is shown: {out}"
    );

    // An overlay for a site the pair does not have: refused, no site written.
    bed.repo
        .write("services/.sites/north/parcels.yaml", "version: 9\n");
    let bad = bed
        .repo
        .commit("an overlay for north, and west's roads at 3");
    let msg = wait_for("the overlay for north refused", CONVERGE, || {
        let c = bed.condition("SourceReady");
        let m = c["message"].as_str()?.to_string();
        (c["reason"] == "InvalidRevision" && m.contains(&bad[..12])).then_some(m)
    });
    assert!(
        msg.contains("services/.sites/north/parcels.yaml:1: overlay for site \"north\""),
        "{msg}"
    );
    assert_eq!(site_services(&bed.west, WEST)["roads"]["maxInstances"], 2);
    assert_eq!(site_services(&bed.east, EAST), east);
    assert_eq!(bed.status()["source"]["revision"], rev2.as_str());
}

fn write(root: &std::path::Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

#[test]
fn validate_refuses_an_overlay_for_an_unknown_site_with_file_and_line() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path().to_str().expect("utf-8");
    write(d.path(), "prod/roads.yaml", "name: roads\nversion: 1\n");
    write(d.path(), "prod/.sites/east/roads.yaml", "version: 2\n");
    write(d.path(), "prod/.sites/nort/roads.yaml", "version: 3\n");
    // Without the pair's sites, every overlay folder is a site.
    let (code, out) = sitehapair(&["validate", dir, "--path", "prod"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("valid: 1 services under prod, overlays for east (1), nort (1)"),
        "{out}"
    );
    let refused = "invalid: prod/.sites/nort/roads.yaml:1: overlay for site \"nort\", which is not a site of the pair (sites: east, west)";
    let (code, out) = sitehapair(&["validate", dir, "--path", "prod", "--sites", "east,west"]);
    assert_eq!((code, out.trim()), (1, refused));
    // The same from the pair file, which also gives the path.
    let mut pair: Value = crate::support::base_pair("gis");
    pair["spec"]["source"] = json!({"git": {"url": "https://git.example/s.git", "path": "prod"}});
    let pf = d.path().join("pair.yaml");
    std::fs::write(&pf, pair.to_string()).expect("write pair file");
    let (code, out) = sitehapair(&["validate", dir, "--pair", pf.to_str().expect("utf-8")]);
    assert_eq!((code, out.trim()), (1, refused));
    // An overlay without a base service names its file and line too.
    std::fs::remove_dir_all(d.path().join("prod/.sites/nort")).expect("rm");
    write(
        d.path(),
        "prod/.sites/west/rivers.yaml",
        "# west only\nname: rivers\n",
    );
    let (code, out) = sitehapair(&["validate", dir, "--path", "prod", "--sites", "east,west"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("prod/.sites/west/rivers.yaml:2: overlay for site west patches service \"rivers\", which no service file defines"),
        "{out}"
    );
}
