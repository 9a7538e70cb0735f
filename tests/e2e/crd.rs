//! The CRD installs, the example applies, `kubectl get` shows the columns and
//! `kubectl explain` explains the fields.

use crate::support::{Namespace, example_pair, stderr, stdout, testbed};

#[test]
fn crd_is_established_and_example_applies() {
    let tb = testbed();
    let out = crate::support::kubectl_cmd(tb, None)
        .args(["get", "crd", "sitehapairs.sitehapair.io", "-o", "json"])
        .output()
        .expect("kubectl");
    let crd: serde_json::Value = serde_json::from_slice(&out.stdout).expect("crd json");
    let established = crd["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True");
    assert!(established, "CRD not Established: {crd}");

    let ns = Namespace::new("crd");
    let out = ns.apply(&example_pair());
    assert!(
        out.status.success(),
        "apply examples/pair.yaml: {}",
        stderr(&out)
    );
    let table = ns.kubectl(&["get", "shp"]);
    let header = table.lines().next().expect("header line");
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns,
        ["NAME", "ACTIVE", "PHASE", "REVISION", "IN-SYNC", "AGE"],
        "{table}"
    );
    assert!(table.contains("gis"), "{table}");

    // Defaults are filled in by the API server.
    let obj = ns.get_json("sitehapair/gis").expect("pair exists");
    assert_eq!(obj["spec"]["sync"]["selfHeal"], true);
    assert_eq!(obj["spec"]["promotion"]["automatic"]["enabled"], false);
    assert_eq!(obj["spec"]["promotion"]["automatic"]["minInterval"], "1h");
}

#[test]
fn kubectl_explain_prints_field_docs() {
    let ns = Namespace::new("explain");
    let out = ns.kubectl_raw(&["explain", "shp.spec.promotion"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "contactTimeout",
        "How long to keep trying to reach an unreachable old active site",
        "requireInSync",
        "automatic",
    ] {
        assert!(text.contains(needle), "explain lacks {needle:?}:\n{text}");
    }
    let text = ns.kubectl(&["explain", "sitehapair.spec.sites.name"]);
    assert!(text.contains("DNS label"), "{text}");
}
