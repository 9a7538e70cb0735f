//! Adopting two running sites (issue 28, part 1): `sitehapair export`
//! writes one live site's services into a folder that `validate` accepts,
//! and a pair pointed at that folder with the exported site active finds
//! both sites in sync and writes no service (from the sites' request
//! logs), for contract sites and for emulated ArcGIS Server sites. An
//! export masks secret values, which `validate` then refuses until they
//! are written back, and never writes into a folder that is not empty
//! unless told to. Between export and apply, `sitehapair check` finds the
//! sites ready and the folder equal to both.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::arcgis::{ArcGisEmulator, USERNAME};
use crate::support::arcgis_bed::{EAST_PASSWORD, SHARED_KEY, WEST_PASSWORD};
use crate::support::git::GitRepo;
use crate::support::operator::Operator;
use crate::support::secrets::create_secret;
use crate::support::site::ReferenceSite;
use crate::support::syncbed::{pair_for, put_service, start_sites};
use crate::support::{Namespace, base_pair, condition, repo_root, stderr, testbed, wait_for};

const WAIT: Duration = Duration::from_secs(45);

fn sitehapair(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args(args)
        .env("KUBECONFIG", &testbed().kubeconfig)
        .output()
        .expect("run sitehapair")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(out))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Export `site` of `pair` (written to a file in `dir`) into the
/// repository's services/ folder, validate it for `kind`, commit it.
fn export_and_commit(
    ns: &Namespace,
    dir: &Path,
    pair: &Value,
    site: &str,
    kind: &str,
) -> (GitRepo, String, String) {
    let repo = GitRepo::new(dir, "adopted");
    let pair_file = dir.join("pair.yaml");
    std::fs::write(&pair_file, pair.to_string()).expect("write pair file");
    let out_dir = repo.work.join("services");
    let out = sitehapair(&[
        "export",
        "--pair",
        s(&pair_file),
        "-n",
        &ns.name,
        "--site",
        site,
        "--out",
        s(&out_dir),
    ]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "export: {said}");
    let v = sitehapair(&[
        "validate",
        s(&repo.work),
        "--path",
        "services",
        "--kind",
        kind,
    ]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "validate: {}\nexport said: {said}",
        text(&v)
    );
    let rev = repo.commit("exported from the live site");
    // The check before applying: ready, and the first sync writes nothing.
    let c = sitehapair(&[
        "check",
        "--pair",
        s(&pair_file),
        "-n",
        &ns.name,
        "--dir",
        s(&repo.work),
    ]);
    let checked = text(&c);
    assert_eq!(c.status.code(), Some(0), "check: {checked}");
    for site in ["east", "west"] {
        assert!(
            checked.contains(&format!(
                "site {site}: equal to the git folder; the first sync writes nothing"
            )),
            "{checked}"
        );
    }
    (repo, rev, said)
}

/// Apply `pair` following the repository (path services/), start an
/// operator, and wait until both sites are in sync at `rev`.
fn adopt(ns: &Namespace, mut pair: Value, repo: &GitRepo, rev: &str) -> Operator {
    pair["spec"]["source"] = json!({"git": {"url": repo.file_url(), "ref": {"branch": "main"}, "path": "services", "interval": "5s"}});
    pair["spec"]["healthCheck"] = json!({"interval": "1s", "timeout": "1s"});
    let out = ns.apply(&pair.to_string());
    assert!(out.status.success(), "apply: {}", stderr(&out));
    let op = Operator::start(&ns.name, "op", &[]);
    wait_for(&format!("both sites in sync at {rev}"), WAIT, || {
        let st = ns.get_json("shp/gis")?["status"].clone();
        let rows = st["sites"].as_array()?;
        (rows.len() == 2
            && rows.iter().all(|r| r["syncedRevision"] == rev)
            && condition(&st, "InSync")["status"] == "True"
            && st["activeSite"] == "east")
            .then_some(())
    });
    op
}

#[test]
fn an_exported_contract_site_validates_and_its_pair_is_in_sync_with_no_write() {
    let ns = Namespace::new("adopt-contract");
    let dir = tempfile::tempdir().expect("tempdir");
    let (east, west) = start_sites(&ns, dir.path());
    let services = [
        (
            "roads",
            json!({"type": "MapServer", "layers": [{"id": 0, "name": "Roads"}], "maxRecordCount": 2000}),
        ),
        (
            "parcels",
            json!({"name": "parcels", "type": "FeatureServer", "keyField": "OBJECTID"}),
        ),
    ];
    for site in [&east, &west] {
        let token = if site.name == "east" {
            "east-token-1"
        } else {
            "west-token-2"
        };
        for (name, def) in &services {
            put_service(site, token, name, def);
        }
    }
    let writes_before = (east.service_writes(), west.service_writes());
    assert_eq!(
        writes_before,
        (2, 2),
        "the request logs show the writes made by hand"
    );
    let mut pair = pair_for("gis", &east, &west);
    pair["metadata"]["namespace"] = json!(ns.name);
    let (repo, rev, said) = export_and_commit(&ns, dir.path(), &pair, "east", "Contract");
    assert!(
        said.contains("exported 2 services from site east"),
        "{said}"
    );
    assert!(
        !said.contains("masked"),
        "nothing here looks secret: {said}"
    );
    let _op = adopt(&ns, pair, &repo, &rev);
    assert_eq!(
        (east.service_writes(), west.service_writes()),
        writes_before,
        "a site was written: east {:?}",
        east.requests()
            .iter()
            .filter(|r| r["method"] != "GET")
            .collect::<Vec<_>>()
    );
}

/// `admin/services[/folder]/createService` of an example definition.
fn create_example(site: &ArcGisEmulator, folder: Option<&str>, file: &str) {
    let path = repo_root().join("examples/arcgis/services/prod").join(file);
    let def = std::fs::read_to_string(&path).expect("example service");
    if let Some(f) = folder {
        site.admin(
            "/admin/services/createFolder",
            &[("folderName", f), ("description", "")],
        );
    }
    let at = folder.map_or("/admin/services/createService".to_string(), |f| {
        format!("/admin/services/{f}/createService")
    });
    let v = site.admin(&at, &[("service", &def)]);
    assert_ne!(
        v["status"], "error",
        "createService {file} on {}: {v}",
        site.name
    );
}

#[test]
fn an_exported_arcgis_site_validates_and_its_pair_is_in_sync_with_no_write() {
    let ns = Namespace::new("adopt-arcgis");
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ["--shared-key", SHARED_KEY];
    let east = ArcGisEmulator::start(dir.path(), "east", EAST_PASSWORD, &key);
    let west = ArcGisEmulator::start(dir.path(), "west", WEST_PASSWORD, &key);
    for (site, pw) in [("east", EAST_PASSWORD), ("west", WEST_PASSWORD)] {
        create_secret(
            &ns,
            &format!("{site}-admin"),
            &[("username", USERNAME), ("password", pw)],
        );
    }
    for site in [&east, &west] {
        create_example(site, None, "SampleWorldCities.MapServer.json");
        create_example(site, Some("Hydro"), "Hydro.Rivers.MapServer.json");
    }
    let writes_before = (east.writes().len(), west.writes().len());
    assert!(
        writes_before.0 >= 2 && writes_before.1 >= 2,
        "the request logs show the services created by hand"
    );
    let mut pair = base_pair("gis");
    pair["metadata"]["namespace"] = json!(ns.name);
    for (i, site) in [&east, &west].iter().enumerate() {
        pair["spec"]["sites"][i]["kind"] = json!("ArcGISServer");
        pair["spec"]["sites"][i]["adminUrl"] = json!(site.url);
    }
    let (repo, rev, said) = export_and_commit(&ns, dir.path(), &pair, "east", "ArcGISServer");
    assert!(
        said.contains("exported 2 services from site east"),
        "{said}"
    );
    for file in [
        "SampleWorldCities.MapServer.json",
        "Hydro.Rivers.MapServer.json",
    ] {
        assert!(
            repo.work.join("services").join(file).is_file(),
            "{file} missing: {said}"
        );
    }
    // The server's own folders are named as left out.
    assert!(
        said.contains("folder System") && said.contains("folder Utilities"),
        "{said}"
    );
    let _op = adopt(&ns, pair, &repo, &rev);
    assert_eq!(
        (east.writes().len(), west.writes().len()),
        writes_before,
        "a site was written: {:?} {:?}",
        east.writes(),
        west.writes()
    );
}

#[test]
fn an_export_masks_secrets_which_validate_refuses_and_keeps_a_full_folder_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = ReferenceSite::start(dir.path(), "east", "east-token-1");
    put_service(
        &site,
        "east-token-1",
        "roads",
        &json!({"type": "MapServer", "connection": {"user": "gis", "password": "pw-roads-live"}, "url": "postgres://gis:pw-db-live@db/roads"}),
    );
    let creds = dir.path().join("east.credentials.yaml");
    std::fs::write(&creds, "token: east-token-1\n").expect("write credentials");
    let repo = dir.path().join("repo");
    let out_dir = repo.join("services");
    let export = |force: bool| {
        let mut args = vec![
            "export",
            "--admin-url",
            &site.url,
            "--kind",
            "Contract",
            "--credentials",
            s(&creds),
            "--out",
            s(&out_dir),
        ];
        if force {
            args.push("--force");
        }
        sitehapair(&args)
    };
    let out = export(false);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let file = std::fs::read_to_string(out_dir.join("roads.json")).expect("roads.json");
    assert!(
        !file.contains("pw-roads-live") && !file.contains("pw-db-live"),
        "{file}"
    );
    assert!(
        !said.contains("pw-roads-live") && !said.contains("pw-db-live"),
        "{said}"
    );
    assert!(
        said.contains("roads.json /connection/password") && said.contains("roads.json /url"),
        "{said}"
    );
    let v = sitehapair(&["validate", s(&repo), "--path", "services"]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    assert!(
        text(&v)
            .contains("services/roads.json:1: /connection/password still holds SITEHAPAIR-MASKED"),
        "{}",
        text(&v)
    );

    // The folder is not empty now: refused (exit 2) and left as it was.
    std::fs::write(out_dir.join("roads.json"), "{\"edited\": true}\n").expect("edit");
    let out = export(false);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(out_dir.join("roads.json")).expect("kept"),
        "{\"edited\": true}\n"
    );
    let out = export(true);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        std::fs::read_to_string(out_dir.join("roads.json"))
            .expect("rewritten")
            .contains("MapServer")
    );
}
