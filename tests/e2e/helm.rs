//! The chart as users install it: helm lint, the rendered manifests equal
//! manifests/install.yaml, helm install on the test bed, the operator run
//! with a token of the chart's ServiceAccount syncing and promoting under
//! exactly that RBAC, an action outside it refused, upgrade and uninstall;
//! and manifests/install.yaml applied to a fresh test bed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::helm::helm;
use crate::support::syncbed::{SyncBed, service, site_services};
use crate::support::{kubectl_in, ok, repo_root, script, stderr, stdout, testbed, wait_for};

fn render() -> String {
    let o = Command::new(repo_root().join("scripts/render-manifests.sh"))
        .env("SITEHAPAIR_RENDER_STDOUT", "1")
        .output()
        .expect("render");
    ok(o, "render-manifests")
}

#[test]
fn the_chart_lints_clean_and_the_manifests_match_it() {
    let out = ok(
        helm(
            &["lint", "charts/sitehapair", "--strict"],
            &testbed().kubeconfig,
        ),
        "helm lint",
    );
    assert!(
        !out.contains("[WARNING]") && !out.contains("[ERROR]"),
        "{out}"
    );
    let committed =
        std::fs::read_to_string(repo_root().join("manifests/install.yaml")).expect("manifests");
    assert!(
        render() == committed,
        "manifests/install.yaml drifted from the chart: run scripts/render-manifests.sh"
    );
    let chart_crd = std::fs::read_to_string(
        repo_root().join("charts/sitehapair/crds/sitehapair.io_sitehapairs.yaml"),
    )
    .expect("chart CRD");
    let crd = std::fs::read_to_string(repo_root().join("crds/sitehapair.io_sitehapairs.yaml"))
        .expect("CRD");
    assert!(
        chart_crd == crd,
        "charts/sitehapair/crds drifted from crds/"
    );
    // No wildcard anywhere in the RBAC.
    assert!(!committed.contains("\"*\""), "a wildcard in the RBAC");
}

/// A kubeconfig for the test bed's server holding `token`.
fn token_kubeconfig(dir: &Path, token: &str) -> PathBuf {
    let tb = testbed();
    let raw = ok(
        kubectl_in(
            tb,
            None,
            &["config", "view", "--raw", "--minify", "-o", "json"],
        ),
        "config view",
    );
    let cfg: Value = serde_json::from_str(&raw).expect("kubeconfig json");
    let cluster = &cfg["clusters"][0]["cluster"];
    let kc = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "tb", "cluster": {
            "server": cluster["server"],
            "certificate-authority-data": cluster["certificate-authority-data"]}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "tb", "user": "sa"}}],
        "current-context": "sa",
    });
    let path = dir.join("sa-kubeconfig");
    std::fs::write(&path, kc.to_string()).expect("write kubeconfig");
    path
}

#[test]
fn the_operator_syncs_and_promotes_under_the_charts_rbac() {
    let tb = testbed();
    let nonce = std::process::id() % 100_000;
    let release = format!("rel{nonce}");
    let release_ns = format!("shp-system-{nonce}");
    let out = helm(
        &[
            "install",
            &release,
            "charts/sitehapair",
            "-n",
            &release_ns,
            "--create-namespace",
            "--wait=false",
        ],
        &tb.kubeconfig,
    );
    ok(out, "helm install");
    let full = format!("{release}-sitehapair");
    for obj in [
        format!("deployment/{full}"),
        format!("serviceaccount/{full}"),
        format!("role/{full}-leader"),
        format!("service/{full}-metrics"),
    ] {
        ok(kubectl_in(tb, Some(&release_ns), &["get", &obj]), &obj);
    }
    ok(
        kubectl_in(tb, None, &["get", &format!("clusterrole/{full}")]),
        "clusterrole",
    );
    ok(
        kubectl_in(tb, None, &["get", &format!("clusterrolebinding/{full}")]),
        "clusterrolebinding",
    );
    ok(
        kubectl_in(tb, None, &["get", "crd/sitehapairs.sitehapair.io"]),
        "crd",
    );
    let dep: Value = serde_json::from_str(&ok(
        kubectl_in(
            tb,
            Some(&release_ns),
            &["get", &format!("deployment/{full}"), "-o", "json"],
        ),
        "deployment",
    ))
    .expect("json");
    let c = &dep["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
        true
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(dep["spec"]["replicas"], 2);

    // The operator outside the cluster with the chart's ServiceAccount token.
    let token = ok(
        kubectl_in(
            tb,
            Some(&release_ns),
            &["create", "token", &full, "--duration", "2h"],
        ),
        "create token",
    );
    let mut bed = SyncBed::new("rbac", &[("roads", 1)]);
    let kc = token_kubeconfig(bed.dir.path(), token.trim());
    let kcs = kc.to_str().expect("utf-8").to_string();

    // Outside the RBAC: refused.
    let o = Command::new(tb.bin.join("kubectl"))
        .args([
            "--kubeconfig",
            &kcs,
            "-n",
            &bed.ns.name,
            "delete",
            "secret",
            "east-admin",
        ])
        .output()
        .expect("kubectl");
    assert!(
        !o.status.success() && stderr(&o).contains("forbidden"),
        "{}",
        stderr(&o)
    );
    let o = Command::new(tb.bin.join("kubectl"))
        .args([
            "--kubeconfig",
            &kcs,
            "auth",
            "can-i",
            "update",
            "secrets",
            "-A",
        ])
        .output()
        .expect("kubectl");
    assert_eq!(stdout(&o).trim(), "no", "the operator never writes Secrets");
    // The Jobs of promotion hooks: created, never deleted (their pair owns them).
    for (verb, want) in [("create", "yes"), ("watch", "yes"), ("delete", "no")] {
        let o = Command::new(tb.bin.join("kubectl"))
            .args(["--kubeconfig", &kcs, "-n", &bed.ns.name])
            .args(["auth", "can-i", verb, "jobs.batch"])
            .output()
            .expect("kubectl");
        assert_eq!(stdout(&o).trim(), want, "{verb} jobs");
    }
    // Role records of ArcGIS sites: read, created, replaced; never listed or deleted.
    for (verb, want) in [
        ("get", "yes"),
        ("create", "yes"),
        ("update", "yes"),
        ("delete", "no"),
        ("list", "no"),
    ] {
        let o = Command::new(tb.bin.join("kubectl"))
            .args(["--kubeconfig", &kcs, "-n", &bed.ns.name])
            .args(["auth", "can-i", verb, "configmaps"])
            .output()
            .expect("kubectl");
        assert_eq!(stdout(&o).trim(), want, "{verb} configmaps");
    }

    bed.start_operator_env(
        &["--lease-namespace", &release_ns, "--lease-name", &full],
        &[("KUBECONFIG", &kcs)],
    );
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    let mut pair = bed.pair(&bed.repo.file_url());
    bed.apply(&pair);
    bed.wait_in_sync(&rev1, Duration::from_secs(45));
    bed.repo.write("services/roads.yaml", &service("roads", 2));
    let rev2 = bed.repo.commit("roads v2");
    bed.wait_in_sync(&rev2, Duration::from_secs(45));
    assert_eq!(
        site_services(&bed.west, "west-token-2")["roads"]["version"],
        2
    );

    pair["spec"]["activeSite"] = json!("west");
    bed.apply(&pair);
    wait_for(
        "west promoted under the chart's RBAC",
        Duration::from_secs(45),
        || {
            let st = bed.status();
            (st["activeSite"] == "west" && st["promotion"].is_null()).then_some(())
        },
    );
    wait_for("traffic on west", Duration::from_secs(30), || {
        bed.ns
            .get_json("endpointslice/gis-ipv4")
            .filter(|s| s["endpoints"][0]["addresses"] == json!(["192.0.2.20"]))
    });
    assert!(!bed.events("Synced").is_empty());
    let logs = bed.op.as_ref().map(|o| o.logs()).unwrap_or_default();
    assert!(
        !logs.to_lowercase().contains("forbidden"),
        "the operator was refused something:\n{logs}"
    );

    // Upgrade, then uninstall: the CRD and the pairs stay.
    ok(
        helm(
            &[
                "upgrade",
                &release,
                "charts/sitehapair",
                "-n",
                &release_ns,
                "--set",
                "replicaCount=3",
            ],
            &tb.kubeconfig,
        ),
        "helm upgrade",
    );
    let replicas = ok(
        kubectl_in(
            tb,
            Some(&release_ns),
            &[
                "get",
                &format!("deployment/{full}"),
                "-o",
                "jsonpath={.spec.replicas}",
            ],
        ),
        "replicas",
    );
    assert_eq!(replicas.trim(), "3");
    bed.op = None;
    ok(
        helm(&["uninstall", &release, "-n", &release_ns], &tb.kubeconfig),
        "helm uninstall",
    );
    assert!(
        !kubectl_in(
            tb,
            Some(&release_ns),
            &["get", &format!("deployment/{full}")]
        )
        .status
        .success()
    );
    assert!(
        !kubectl_in(tb, None, &["get", &format!("clusterrole/{full}")])
            .status
            .success()
    );
    ok(
        kubectl_in(tb, None, &["get", "crd/sitehapairs.sitehapair.io"]),
        "the CRD stays",
    );
    assert!(bed.ns.get_json("shp/gis").is_some(), "the pair stays");
    let _ = kubectl_in(
        tb,
        None,
        &["delete", "namespace", &release_ns, "--wait=false"],
    );
}

/// A control plane of its own for one test; torn down when dropped.
struct FreshTestbed {
    dir: PathBuf,
    kubeconfig: PathBuf,
}

impl FreshTestbed {
    fn up() -> Self {
        let dir = std::env::temp_dir().join(format!("sitehapair-fresh-{}", std::process::id()));
        let out = Command::new(script())
            .arg("up")
            .arg(&dir)
            .output()
            .expect("testbed up");
        let text = ok(out, "testbed up");
        let kubeconfig = PathBuf::from(text.lines().last().expect("kubeconfig line").trim());
        Self { dir, kubeconfig }
    }
}

impl Drop for FreshTestbed {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("down").arg(&self.dir).status();
    }
}

#[test]
fn install_yaml_applies_to_a_fresh_test_bed() {
    let fresh = FreshTestbed::up();
    let kubectl = |args: &[&str]| {
        Command::new(testbed().bin.join("kubectl"))
            .args(args)
            .env("KUBECONFIG", &fresh.kubeconfig)
            .env("KUBECACHEDIR", fresh.dir.join("kubecache"))
            .output()
            .expect("kubectl")
    };
    let manifests = repo_root().join("manifests/install.yaml");
    ok(
        kubectl(&[
            "apply",
            "--server-side",
            "-f",
            manifests.to_str().expect("utf-8"),
        ]),
        "apply install.yaml",
    );
    ok(
        kubectl(&[
            "wait",
            "--for=condition=Established",
            "crd/sitehapairs.sitehapair.io",
            "--timeout=60s",
        ]),
        "CRD Established",
    );
    for obj in [
        "deployment/sitehapair",
        "serviceaccount/sitehapair",
        "service/sitehapair-metrics",
        "role/sitehapair-leader",
    ] {
        ok(kubectl(&["get", "-n", "sitehapair-system", obj]), obj);
    }
    ok(kubectl(&["get", "clusterrole/sitehapair"]), "clusterrole");
    // The same manifests again change nothing.
    let again = ok(
        kubectl(&[
            "apply",
            "--server-side",
            "-f",
            manifests.to_str().expect("utf-8"),
        ]),
        "apply again",
    );
    assert!(
        again
            .lines()
            .all(|l| l.contains("serverside-applied") || l.contains("unchanged")),
        "{again}"
    );
}
