//! `sitehapair check` (issue 28, part 2) against reference sites started
//! with the fault under test: each problem is reported naming the site and
//! the fix, with exit 1; ready sites exit 0, and a check that cannot run
//! exits 2. One namespace and two sites per test (they start in
//! milliseconds); no operator runs.

use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::arcgis::{ArcGisEmulator, USERNAME};
use crate::support::arcgis_bed::{EAST_PASSWORD, WEST_PASSWORD};
use crate::support::secrets::{create_secret, put_secret, token_secrets};
use crate::support::site::ReferenceSite;
use crate::support::syncbed::{pair_for, put_service};
use crate::support::{Namespace, base_pair, stderr, stdout, testbed};

struct CheckBed {
    ns: Namespace,
    east: ReferenceSite,
    west: ReferenceSite,
    pair: Value,
    dir: tempfile::TempDir,
}

const ROADS: &str = "roads";

impl CheckBed {
    /// Two reference sites with these extra flags, their token Secrets,
    /// the same service on both, and a pair file naming them (east active).
    fn new(prefix: &str, east_flags: &[&str], west_flags: &[&str]) -> Self {
        let ns = Namespace::new(prefix);
        let dir = tempfile::tempdir().expect("tempdir");
        let east = ReferenceSite::start_with(dir.path(), "east", "east-token-1", east_flags);
        let west = ReferenceSite::start_with(dir.path(), "west", "west-token-2", west_flags);
        token_secrets(&ns);
        for (site, token) in [(&east, "east-token-1"), (&west, "west-token-2")] {
            put_service(
                site,
                token,
                ROADS,
                &json!({"type": "MapServer", "layers": [0, 1]}),
            );
        }
        let mut pair = pair_for("gis", &east, &west);
        pair["metadata"]["namespace"] = json!(ns.name);
        Self {
            ns,
            east,
            west,
            pair,
            dir,
        }
    }

    /// `sitehapair check --pair FILE ARGS`: (exit code, stdout and stderr).
    fn check(&self, extra: &[&str]) -> (Option<i32>, String) {
        let file = self.dir.path().join("pair.yaml");
        std::fs::write(&file, self.pair.to_string()).expect("write pair file");
        let out: Output = Command::new(env!("CARGO_BIN_EXE_sitehapair"))
            .args([
                "check",
                "--pair",
                file.to_str().expect("utf-8"),
                "--timeout",
                "3",
            ])
            .args(extra)
            .env("KUBECONFIG", &testbed().kubeconfig)
            .output()
            .expect("run sitehapair check");
        (
            out.status.code(),
            format!("{}{}", stdout(&out), stderr(&out)),
        )
    }

    /// The check's one problem line; asserts exit 1 and exactly one problem.
    fn one_problem(&self, extra: &[&str]) -> String {
        let (code, out) = self.check(extra);
        assert_eq!(code, Some(1), "{out}");
        let problems: Vec<&str> = out.lines().filter(|l| l.starts_with("- ")).collect();
        assert_eq!(problems.len(), 1, "{out}");
        problems[0].to_string()
    }
}

/// `PUT /mode` on a reference site.
fn set_mode(site: &ReferenceSite, token: &str, mode: &str, epoch: i64) {
    let out = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "PUT",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .args(["-H", "Content-Type: application/json"])
        .args(["-d", &json!({"mode": mode, "epoch": epoch}).to_string()])
        .arg(format!("{}/mode", site.url))
        .output()
        .expect("curl");
    assert!(out.status.success(), "PUT /mode on {}", site.name);
}

#[test]
fn check_reports_ready_sites_in_a_table_and_its_write_probe_changes_nothing() {
    let bed = CheckBed::new("check-ready", &[], &[]);
    let (code, out) = bed.check(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("ready:"), "{out}");
    for site in ["east", "west"] {
        let row = out
            .lines()
            .find(|l| l.starts_with(site))
            .unwrap_or_else(|| panic!("no row for {site}: {out}"));
        assert!(row.contains("yes") && row.contains("passive"), "{row}");
        assert!(
            out.contains(&format!("write probe of {site}: PUT /mode")),
            "{out}"
        );
        let site = if site == "east" { &bed.east } else { &bed.west };
        let mode_puts: Vec<Value> = site
            .requests()
            .into_iter()
            .filter(|r| r["method"] == "PUT" && r["path"] == "/mode")
            .collect();
        assert_eq!(mode_puts.len(), 1, "the write probe: {mode_puts:?}");
    }
    // The probe wrote the mode and epoch each site held.
    let (_, again) = bed.check(&[]);
    assert!(
        again.lines().filter(|l| l.contains("passive  0")).count() == 2,
        "{again}"
    );
    // No pair file: the check cannot run.
    let out = Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args(["check", "--pair", "/nonexistent/pair.yaml"])
        .env("KUBECONFIG", &testbed().kubeconfig)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn check_names_an_unreachable_site() {
    let mut bed = CheckBed::new("check-unreach", &[], &[]);
    bed.west.kill();
    let p = bed.one_problem(&[]);
    assert!(
        p.contains("site west: unreachable") && p.contains("adminUrl"),
        "{p}"
    );
}

#[test]
fn check_names_a_site_that_refuses_the_credentials() {
    let bed = CheckBed::new("check-creds", &[], &[]);
    put_secret(&bed.ns, "west-admin", &[("token", "not-the-token")]);
    let p = bed.one_problem(&[]);
    assert!(
        p.contains("site west: the credentials were refused") && p.contains("Secret"),
        "{p}"
    );
}

#[test]
fn check_names_sites_of_different_versions() {
    let bed = CheckBed::new("check-version", &[], &["--version", "2.0"]);
    let p = bed.one_problem(&[]);
    assert!(
        p.contains("east=1.0, west=2.0") && p.contains("upgrade"),
        "{p}"
    );
}

#[test]
fn check_names_sites_with_different_token_keys() {
    let bed = CheckBed::new(
        "check-tokenkey",
        &["--token-key-fingerprint", "sha256:aaaa"],
        &["--token-key-fingerprint", "sha256:bbbb"],
    );
    let p = bed.one_problem(&[]);
    assert!(
        p.contains("east=sha256:aaaa, west=sha256:bbbb") && p.contains("same shared token key"),
        "{p}"
    );
}

#[test]
fn check_names_two_active_sites() {
    let bed = CheckBed::new("check-active", &[], &[]);
    set_mode(&bed.east, "east-token-1", "active", 1);
    set_mode(&bed.west, "west-token-2", "active", 2);
    let p = bed.one_problem(&[]);
    assert!(
        p.contains("east (epoch 1), west (epoch 2) are all active") && p.contains("demote"),
        "{p}"
    );
}

#[test]
fn check_names_a_site_another_pair_manages() {
    let bed = CheckBed::new("check-claim", &[], &[]);
    let mut first = bed.pair.clone();
    first["metadata"]["name"] = json!("first");
    first["spec"]["sites"][1]["adminUrl"] = json!("http://192.0.2.99:1/admin");
    let out = bed.ns.apply(&first.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let p = bed.one_problem(&[]);
    assert!(
        p.contains("site east (") && p.contains(&format!("pair {}/first", bed.ns.name)),
        "{p}"
    );
}

#[test]
fn check_counts_and_names_the_services_that_differ_between_sites() {
    let bed = CheckBed::new("check-services", &[], &[]);
    put_service(
        &bed.east,
        "east-token-1",
        "parcels",
        &json!({"type": "FeatureServer"}),
    );
    put_service(
        &bed.west,
        "west-token-2",
        ROADS,
        &json!({"type": "MapServer", "layers": [0]}),
    );
    let p = bed.one_problem(&[]);
    assert!(p.contains("site west differs from east: 1 (parcels) only on east, 0 only on west, 1 (roads) different"), "{p}");
}

#[test]
fn check_names_an_invalid_git_folder() {
    let bed = CheckBed::new("check-folder", &[], &[]);
    let repo = bed.dir.path().join("checkout");
    std::fs::create_dir_all(&repo).expect("mkdir");
    std::fs::write(repo.join("roads.yaml"), "type: [unclosed\n").expect("write");
    let p = bed.one_problem(&["--dir", repo.to_str().expect("utf-8")]);
    assert!(
        p.contains("the git folder is not valid") && p.contains("roads.yaml:"),
        "{p}"
    );
}

#[test]
fn check_names_arcgis_sites_with_different_shared_keys_and_probes_their_privilege_by_a_read() {
    let ns = Namespace::new("check-arcgis");
    let dir = tempfile::tempdir().expect("tempdir");
    let east = ArcGisEmulator::start(
        dir.path(),
        "east",
        EAST_PASSWORD,
        &["--shared-key", "key-east-1"],
    );
    let west = ArcGisEmulator::start(
        dir.path(),
        "west",
        WEST_PASSWORD,
        &["--shared-key", "key-west-2"],
    );
    let mut pair = base_pair("gis");
    pair["metadata"]["namespace"] = json!(ns.name);
    for (i, (site, pw)) in [(&east, EAST_PASSWORD), (&west, WEST_PASSWORD)]
        .iter()
        .enumerate()
    {
        create_secret(
            &ns,
            &format!("{}-admin", site.name),
            &[("username", USERNAME), ("password", pw)],
        );
        pair["spec"]["sites"][i]["kind"] = json!("ArcGISServer");
        pair["spec"]["sites"][i]["adminUrl"] = json!(site.url);
    }
    let file = dir.path().join("pair.yaml");
    std::fs::write(&file, pair.to_string()).expect("write pair file");
    let out = Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args([
            "check",
            "--pair",
            file.to_str().expect("utf-8"),
            "--timeout",
            "3",
        ])
        .env("KUBECONFIG", &testbed().kubeconfig)
        .output()
        .expect("run sitehapair check");
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{said}");
    let problems: Vec<&str> = said.lines().filter(|l| l.starts_with("- ")).collect();
    assert_eq!(problems.len(), 1, "{said}");
    assert!(
        problems[0].contains("different token keys")
            && problems[0].contains("east=")
            && problems[0].contains("west="),
        "{said}"
    );
    assert!(
        said.contains("write probe of east: read admin/security/tokens"),
        "{said}"
    );
    for pw in [EAST_PASSWORD, WEST_PASSWORD, "key-east-1", "key-west-2"] {
        assert!(!said.contains(pw), "a credential was printed: {said}");
    }
    // No service was written by the check.
    assert!(east.writes().is_empty() && west.writes().is_empty());
}

#[test]
fn check_names_a_site_whose_health_check_does_not_answer_healthy() {
    let bed = CheckBed::new("check-health", &[], &["--unhealthy"]);
    let p = bed.one_problem(&[]);
    assert!(
        p.contains("site west: the health check does not answer healthy")
            && p.contains("GET /health"),
        "{p}"
    );
}
