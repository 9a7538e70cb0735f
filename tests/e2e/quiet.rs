//! Quiet at rest, counted at the API server: with git unchanged and the
//! sites healthy, a pair's reconciles make no API writes (status, traffic
//! objects, Events) over several health intervals, while its sites keep
//! being checked. The API server's audit log (the test command starts the
//! test bed with TESTBED_AUDIT=1) attributes each request to the operator by
//! its User-Agent and to the test by namespace.

use std::time::Duration;

use serde_json::Value;

use crate::support::syncbed::SyncBed;
use crate::support::{site_row, testbed, wait_for};

const WRITES: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// The operator's write requests in `namespace` after byte `from` of the
/// audit log, as "verb resource[/sub] name", Lease renewals aside.
fn operator_writes(audit: &std::path::Path, from: usize, namespace: &str) -> Vec<String> {
    operator_requests(audit, from, namespace, &WRITES)
}

/// The operator's requests of the given verbs in `namespace` after byte
/// `from` of the audit log, in the order they were answered, as "verb
/// resource[/sub] name", Lease renewals aside.
fn operator_requests(
    audit: &std::path::Path,
    from: usize,
    namespace: &str,
    verbs: &[&str],
) -> Vec<String> {
    let text = std::fs::read_to_string(audit).unwrap_or_default();
    text.get(from..)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|ev| {
            ev["userAgent"]
                .as_str()
                .is_some_and(|a| a.starts_with("sitehapair/"))
                && ev["objectRef"]["namespace"] == namespace
                && ev["objectRef"]["resource"] != "leases"
                && verbs.contains(&ev["verb"].as_str().unwrap_or_default())
        })
        .map(|ev| {
            let r = &ev["objectRef"];
            let sub = r["subresource"]
                .as_str()
                .map(|s| format!("/{s}"))
                .unwrap_or_default();
            format!(
                "{} {}{sub} {}",
                ev["verb"].as_str().unwrap_or("?"),
                r["resource"].as_str().unwrap_or("?"),
                r["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn audit_len(audit: &std::path::Path) -> usize {
    std::fs::metadata(audit)
        .map(|m| m.len() as usize)
        .unwrap_or(0)
}

/// Settled: a stretch of three seconds (three health intervals) with no
/// write by the operator in `namespace`.
fn wait_settled(audit: &std::path::Path, namespace: &str) {
    wait_for("the pair to settle", Duration::from_secs(60), || {
        let from = audit_len(audit);
        std::thread::sleep(Duration::from_secs(3));
        operator_writes(audit, from, namespace)
            .is_empty()
            .then_some(())
    });
}

/// The test bed's audit log (the test command starts the bed with it).
fn audit_log() -> std::path::PathBuf {
    let audit = testbed()
        .kubeconfig
        .parent()
        .expect("test bed folder")
        .join("logs/audit.log");
    assert!(
        audit.exists(),
        "no audit log at {}: start the test bed with TESTBED_AUDIT=1 (scripts/test.sh does)",
        audit.display()
    );
    audit
}

/// A new pair's way to Ready and InSync is two status writes: the first
/// activation's record (the epoch reserved before any site holds it), then
/// the trip's status after the standby's passive stamp and the first sync,
/// which run in the same trip (at 1,000 pairs each write is an API server
/// round trip on the way to Ready). The first trip runs on the answer of
/// the patch that added the finalizer: no read of the pair comes before
/// the first status write.
#[test]
fn a_new_pair_reaches_ready_and_in_sync_in_two_status_writes_with_no_read_before_the_first() {
    let audit = audit_log();
    let mut bed = SyncBed::new("firstwrites", &[("roads", 1), ("parcels", 2)]);
    bed.start_operator(&[]);
    let ns = bed.ns.name.clone();
    let from = audit_len(&audit);
    let pair = bed.pair(&bed.repo.file_url());
    bed.apply(&pair);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev, Duration::from_secs(60));
    wait_settled(&audit, &ns);
    let status_writes: Vec<String> = operator_writes(&audit, from, &ns)
        .into_iter()
        .filter(|w| w.contains("sitehapairs/status"))
        .collect();
    assert_eq!(
        status_writes.len(),
        2,
        "status writes from apply to settled: {status_writes:?}"
    );
    // The finalizer's patch, then the first status write, with no GET of
    // the pair between them (nor before).
    let pair_requests: Vec<String> =
        operator_requests(&audit, from, &ns, &["get", "patch", "update"])
            .into_iter()
            .filter(|r| r.contains(" sitehapairs"))
            .collect();
    let first_status = pair_requests
        .iter()
        .position(|r| r.contains("sitehapairs/status"))
        .expect("a status write");
    assert_eq!(
        pair_requests[..first_status]
            .iter()
            .map(|r| r.split(' ').next().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["patch"],
        "the operator's requests of the pair before its first status write: {pair_requests:?}"
    );
    // Both sites were stamped with the epoch the first write reserved.
    let status = bed.status();
    for site in ["east", "west"] {
        let row = site_row(&status, site);
        assert_eq!(row["epoch"], 1, "{site}: {row}");
    }
    assert_eq!(bed.condition("Ready")["status"], "True");
}

#[test]
fn an_idle_pair_makes_no_api_writes_over_several_health_intervals() {
    let audit = audit_log();
    let mut bed = SyncBed::new("quiet", &[("roads", 1), ("parcels", 2)]);
    bed.start_operator(&[]);
    let pair = bed.pair(&bed.repo.file_url());
    bed.apply(&pair);
    let rev = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.wait_in_sync(&rev, Duration::from_secs(60));
    let ns = bed.ns.name.clone();

    // Settled: before that, the first trips write status and traffic.
    wait_settled(&audit, &ns);

    // Then eight health intervals (1 s) and a git interval (5 s) at rest.
    let op = bed.op.as_ref().expect("operator");
    let reconciles = || op.metric("sitehapair_reconciles_total").unwrap_or(0.0);
    let health_checks = |site: &crate::support::site::ReferenceSite| {
        site.requests()
            .iter()
            .filter(|r| r["path"] == "/health")
            .count()
    };
    let (r0, e0, w0) = (
        reconciles(),
        health_checks(&bed.east),
        health_checks(&bed.west),
    );
    let from = audit_len(&audit);
    std::thread::sleep(Duration::from_secs(8));
    let (r1, e1, w1) = (
        reconciles(),
        health_checks(&bed.east),
        health_checks(&bed.west),
    );
    // The log backend writes each request once answered (the policy
    // omits RequestReceived), so every write of the window is in it.
    let writes = operator_writes(&audit, from, &ns);
    assert!(
        writes.is_empty(),
        "an idle pair wrote to the API server: {writes:?}"
    );
    assert!(r1 - r0 >= 5.0, "the pair was not reconciled: {r0} -> {r1}");
    assert!(
        e1 - e0 >= 5 && w1 - w0 >= 5,
        "the sites were not checked: east {e0} -> {e1}, west {w0} -> {w1}"
    );
    // The status still says Ready and InSync: nothing was hidden by silence.
    assert_eq!(bed.condition("InSync")["status"], "True");
    assert_eq!(bed.condition("Ready")["status"], "True");
}
