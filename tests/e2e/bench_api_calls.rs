//! Load command, not a test (ignored by default): the API calls one
//! reconcile of an idle pair makes. A pair with two healthy sites and a
//! private https repository (credentials in a Secret) converges; then, over
//! BENCH_IDLE_SECONDS (default 30) with nothing changing, the API server's
//! audit log is read for the operator's calls (its User-Agent names it) and
//! they are divided by the reconciles the operator counted. Lease renewals
//! are shown apart. Run: scripts/bench-api-calls.sh (a test bed of its own,
//! started with TESTBED_AUDIT=1).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::git::GitHttp;
use crate::support::secrets::put_secret;
use crate::support::syncbed::SyncBed;
use crate::support::{testbed, wait_for};

/// The operator's calls in the audit log after byte `from`, by
/// "verb resource" (subresource appended), Lease calls included.
fn operator_calls(audit: &std::path::Path, from: usize) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(audit).unwrap_or_default();
    let mut calls = BTreeMap::new();
    for line in text.get(from..).unwrap_or_default().lines() {
        let Ok(ev) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if !ev["userAgent"]
            .as_str()
            .unwrap_or_default()
            .starts_with("sitehapair/")
        {
            continue;
        }
        let r = &ev["objectRef"];
        let mut what = r["resource"].as_str().unwrap_or("(none)").to_string();
        if let Some(sub) = r["subresource"].as_str() {
            what = format!("{what}/{sub}");
        }
        let verb = ev["verb"].as_str().unwrap_or("?");
        *calls.entry(format!("{verb} {what}")).or_default() += 1;
    }
    calls
}

#[test]
#[ignore = "a benchmark: run with scripts/bench-api-calls.sh"]
fn bench_api_calls_per_idle_reconcile() {
    let idle: u64 = std::env::var("BENCH_IDLE_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let audit = testbed()
        .kubeconfig
        .parent()
        .expect("test bed folder")
        .join("logs/audit.log");
    assert!(
        audit.exists(),
        "no audit log at {}: start the test bed with TESTBED_AUDIT=1",
        audit.display()
    );
    let mut bed = SyncBed::new("bench-api", &[("roads", 1), ("parcels", 2)]);
    let git = GitHttp::start(bed.dir.path(), "deploy", "bench-pass-1");
    put_secret(
        &bed.ns,
        "git-creds",
        &[("username", "deploy"), ("password", "bench-pass-1")],
    );
    bed.start_operator(&[]);
    let mut pair = bed.pair(&git.url("services"));
    pair["spec"]["source"]["git"]["secretRef"] = json!({"name": "git-creds"});
    pair["spec"]["healthCheck"] = json!({"interval": "2s", "timeout": "1s"});
    bed.apply(&pair);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev, Duration::from_secs(60));
    // Let the first minute's writes (conditions settling) pass.
    std::thread::sleep(Duration::from_secs(5));
    let op = bed.op.as_ref().expect("operator");
    let reconciles = || op.metric("sitehapair_reconciles_total").unwrap_or(0.0);
    let from = std::fs::metadata(&audit)
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    let r0 = reconciles();
    std::thread::sleep(Duration::from_secs(idle));
    let r1 = reconciles();
    // The audit log is written a little behind the requests.
    let calls = wait_for("the audit log to catch up", Duration::from_secs(10), || {
        let c = operator_calls(&audit, from);
        (!c.is_empty()).then_some(c)
    });
    let n = (r1 - r0).max(1.0);
    let (lease, rest): (Vec<_>, Vec<_>) = calls.iter().partition(|(k, _)| k.ends_with(" leases"));
    let total: u64 = rest.iter().map(|(_, v)| **v).sum();
    println!("idle pair, {idle} s, {n} reconciles");
    for (k, v) in &rest {
        println!("  {k}: {v} ({:.2} per reconcile)", **v as f64 / n);
    }
    for (k, v) in &lease {
        println!("  {k}: {v} (Lease, not per reconcile)");
    }
    println!(
        "API calls per idle reconcile: {:.2} ({total} calls / {n} reconciles, Lease aside)",
        total as f64 / n
    );
}
