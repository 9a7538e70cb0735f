//! The operator fills status with observedGeneration, phase and conditions,
//! follows spec edits, publishes Events, and lets a deleted pair go.

use std::time::Duration;

use serde_json::Value;

use crate::support::operator::Operator;
use crate::support::syncbed::live_sites;
use crate::support::{Namespace, base_pair, condition, stderr, wait_for};

#[test]
fn operator_writes_status_and_follows_spec_edits() {
    let ns = Namespace::new("status");
    let op = Operator::start(&ns.name, "solo", &[]);
    wait_for("/readyz", Duration::from_secs(20), || {
        op.http_get("/readyz")
    });
    // Real sites: with unreachable ones the pair is rightly Degraded.
    let dir = tempfile::tempdir().expect("tempdir");
    let (_east, _west, pair) = live_sites(&ns, dir.path(), "pair");
    let out = ns.apply(&pair.to_string());
    assert!(out.status.success(), "{}", stderr(&out));

    let obj = wait_for("status of generation 1", Duration::from_secs(20), || {
        ns.get_json("sitehapair/pair")
            .filter(|o| o["status"]["observedGeneration"] == 1 && o["status"]["phase"] == "Ready")
    });
    assert_eq!(obj["status"]["activeSite"], "east");
    let ready = condition(&obj["status"], "Ready");
    assert!(!ready.is_null(), "no Ready condition: {obj}");
    assert_eq!(ready["status"], "True");
    assert_eq!(ready["observedGeneration"], 1);
    assert!(
        ready["lastTransitionTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(!ready["reason"].as_str().unwrap_or("").is_empty());
    assert!(
        obj["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "sitehapair.io/cleanup"))
    );
    // Status is written with server-side apply by the one field manager.
    let full: Value = serde_json::from_str(&ns.kubectl(&[
        "get",
        "sitehapair/pair",
        "--show-managed-fields",
        "-o",
        "json",
    ]))
    .expect("json");
    let managers: Vec<&str> = full["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .filter(|m| m["subresource"] == "status")
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["sitehapair-operator"], "{full}");

    // A spec edit moves observedGeneration on status and on every condition.
    ns.kubectl(&[
        "patch",
        "shp",
        "pair",
        "--type=merge",
        "-p",
        r#"{"spec":{"healthCheck":{"interval":"20s"}}}"#,
    ]);
    let obj = wait_for("status of generation 2", Duration::from_secs(20), || {
        ns.get_json("sitehapair/pair")
            .filter(|o| o["status"]["observedGeneration"] == 2)
    });
    for c in obj["status"]["conditions"].as_array().expect("conditions") {
        assert_eq!(c["observedGeneration"], 2, "condition not moved: {c}");
    }

    // A suspended sync shows in the phase.
    ns.kubectl(&[
        "patch",
        "shp",
        "pair",
        "--type=merge",
        "-p",
        r#"{"spec":{"sync":{"suspend":true}}}"#,
    ]);
    wait_for("phase Suspended", Duration::from_secs(20), || {
        ns.get_json("sitehapair/pair")
            .filter(|o| o["status"]["phase"] == "Suspended")
    });

    // Events tell what happened.
    let events = wait_for("an Observed event", Duration::from_secs(20), || {
        let ev = ns.get_json("events.events.k8s.io")?;
        let reasons: Vec<String> = ev["items"]
            .as_array()?
            .iter()
            .filter_map(|e| e["reason"].as_str().map(String::from))
            .collect();
        reasons.iter().any(|r| r == "Observed").then_some(reasons)
    });
    assert!(events.iter().any(|r| r == "SpecChanged"), "{events:?}");

    // Logs are JSON lines when asked (--log-format json).
    let logs = op.logs();
    let first = logs.lines().next().expect("a log line");
    let line: Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("not JSON ({e}): {first}"));
    assert!(
        line["level"].is_string() && line["message"].is_string(),
        "{line}"
    );

    // A refresh request is echoed.
    ns.kubectl(&[
        "annotate",
        "shp",
        "pair",
        "sitehapair.io/reconcile-requested-at=2026-01-01T00:00:00Z",
    ]);
    wait_for("lastHandledReconcileAt", Duration::from_secs(20), || {
        ns.get_json("sitehapair/pair")
            .filter(|o| o["status"]["lastHandledReconcileAt"] == "2026-01-01T00:00:00Z")
    });
}

#[test]
fn deleting_a_pair_removes_the_finalizer_and_the_object() {
    let ns = Namespace::new("delete");
    let _op = Operator::start(&ns.name, "solo", &[]);
    let out = ns.apply(&base_pair("gone").to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("finalizer", Duration::from_secs(20), || {
        ns.get_json("sitehapair/gone").filter(|o| {
            o["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
        })
    });
    ns.kubectl(&[
        "delete",
        "sitehapair",
        "gone",
        "--wait=true",
        "--timeout=30s",
    ]);
    assert!(
        ns.get_json("sitehapair/gone").is_none(),
        "pair still exists after delete"
    );
}

#[test]
fn sigterm_stops_cleanly_and_releases_the_lease() {
    let ns = Namespace::new("sigterm");
    let mut op = Operator::start(
        &ns.name,
        "one",
        &["--lease-duration", "30", "--lease-grace", "15"],
    );
    wait_for("leadership", Duration::from_secs(20), || {
        (op.metric("sitehapair_leader") == Some(1.0)).then_some(())
    });
    let status = op.terminate().expect("exit status");
    assert!(
        status.success(),
        "operator exited with {status}: {}",
        op.logs()
    );
    // The Lease was released, so a new replica leads at once rather than after 30s.
    let lease = ns.get_json("lease/sitehapair-operator").expect("lease");
    let holder = lease["spec"]["holderIdentity"].as_str().unwrap_or("");
    assert!(holder.is_empty(), "lease still held by {holder:?}");
}
