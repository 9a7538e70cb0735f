//! Verification after a promotion (spec.promotion.verify): a new active
//! that fails its health check right after the switch is reverted (the
//! previous active promoted back through the same promotion, reason
//! Revert, asked by sitehapair/verify) and the pair is held: automatic
//! failover does not run until `sitehapair ack` acknowledges; a new active
//! that passes (its health check and a probe) is recorded as verified.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::pair::Pair;
use crate::support::status::{WAIT, last_record};
use crate::support::syncbed::set_health;
use crate::support::{Namespace, base_pair, condition, site_row, stderr, testbed, wait_for};

/// A pair whose promotions are verified: 5 checks in a row, 2 s apart,
/// within 60 s; automatic failover on, without anti-flap. With `probe`,
/// each check also GETs west's health check (a probe that passes while
/// west is healthy).
fn verified_pair(prefix: &str, probe: bool) -> Pair {
    Pair::start_with(
        prefix,
        |pair| {
            pair["spec"]["healthCheck"] = json!({"interval": "2s", "timeout": "1s"});
            let mut verify = json!({"period": "60s", "successes": 5, "interval": "2s"});
            if probe {
                let west = pair["spec"]["sites"][1]["adminUrl"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_end_matches('/')
                    .to_string();
                verify["probes"] =
                    json!([{"url": format!("{west}/health?probe=verify"), "expectStatus": 200}]);
            }
            // failureThreshold 5: the verification's first failed check
            // (every 2 s) reverts long before failover counts 5 failed trips.
            pair["spec"]["promotion"] = json!({
                "automatic": {"enabled": true, "failureThreshold": 5, "minInterval": "0s"},
                "verify": verify,
            });
        },
        &[],
    )
}

/// `sitehapair COMMAND gis -n NS`: whether it exited 0, and what it said.
fn cli(p: &Pair, command: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args([command, "gis", "-n", &p.ns.name])
        .env("KUBECONFIG", &testbed().kubeconfig)
        .output()
        .expect("sitehapair");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

fn mode(st: &Value, site: &str) -> Value {
    site_row(st, site)["mode"].clone()
}

#[test]
fn a_failed_verification_reverts_and_holds_failover_until_acknowledged() {
    let p = verified_pair("verify-revert", false);
    p.promote("west");
    p.wait_status("west active", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    // West fails its check right after the switch.
    set_health(&p.west, "west-token-2", false);
    let st = p.wait_status("the revert to east, held", |st| {
        st["activeSite"] == "east"
            && st["promotion"].is_null()
            && condition(st, "Held")["status"] == "True"
    });
    assert_eq!(
        condition(&st, "Held")["reason"],
        "VerificationFailed",
        "{st}"
    );
    assert_eq!(st["hold"]["site"], "west", "{st}");
    assert_eq!(st["hold"]["revertedTo"], "east", "{st}");
    let revert = last_record(&st);
    assert_eq!(revert["reason"], "Revert", "{st}");
    assert_eq!(revert["from"], "west", "{st}");
    assert_eq!(revert["requestedBy"], "sitehapair/verify", "{st}");
    let why = revert["why"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("VerificationFailed: west failed its check"),
        "{why}"
    );
    let history = st["history"].as_array().cloned().unwrap_or_default();
    let failed = &history[history.len() - 2];
    assert_eq!(failed["to"], "west", "{st}");
    assert_eq!(failed["verification"]["result"], "Failed", "{st}");
    // The same fencing: a new epoch, west demoted, east active.
    assert!(revert["epoch"].as_i64() > failed["epoch"].as_i64(), "{st}");
    let st = p.wait_status("west passive, east active", |st| {
        mode(st, "west") == "Passive" && mode(st, "east") == "Active"
    });
    assert!(
        st["history"]
            .as_array()
            .is_some_and(|h| h.len() == history.len())
    );
    wait_for("traffic on east", WAIT, || {
        (p.slice_addresses() == json!(["192.0.2.10"])).then_some(())
    });
    let obj = p.ns.get_json("shp/gis").expect("pair");
    assert_eq!(obj["spec"]["activeSite"], "east");
    for reason in ["VerificationFailed", "PromotionReverted"] {
        assert!(!p.events(reason).is_empty(), "no {reason} Event");
    }

    // East fails while west is healthy again: the failover is held.
    set_health(&p.west, "west-token-2", true);
    set_health(&p.east, "east-token-1", false);
    let st = p.wait_status("failover held by the hold", |st| {
        condition(st, "PromotionBlocked")["reason"] == "Held"
    });
    assert_eq!(st["activeSite"], "east", "{st}");
    assert_eq!(
        p.ns.get_json("shp/gis").expect("pair")["spec"]["activeSite"],
        "east"
    );

    // sitehapair status says it is held, how to acknowledge, and the record.
    let (ok, said) = cli(&p, "status");
    assert!(ok, "{said}");
    for needle in [
        "HELD since",
        "sitehapair ack gis",
        "asked by sitehapair/verify: VerificationFailed",
        "verification Failed",
        "switched ",
    ] {
        assert!(said.contains(needle), "status lacks {needle:?}:\n{said}");
    }

    // A person acknowledges: the hold clears, naming who, and the
    // failover runs.
    let (ok, said) = cli(&p, "ack");
    assert!(ok, "{said}");
    assert!(said.contains("acknowledged the hold"), "{said}");
    let st = p.wait_status("the hold cleared", |st| {
        condition(st, "Held")["status"] == "False" && st["hold"].is_null()
    });
    assert_eq!(condition(&st, "Held")["reason"], "NotHeld", "{st}");
    let acked = p.events("HoldAcknowledged");
    assert!(
        acked.iter().any(|e| e.contains("acknowledged by user")),
        "{acked:?}"
    );
    let st = p.wait_status("automatic failover to west", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    assert_eq!(last_record(&st)["reason"], "Automatic", "{st}");
}

#[test]
fn a_promotion_that_passes_verification_is_recorded_verified() {
    let p = verified_pair("verify-pass", true);
    p.promote("west");
    let st = p.wait_status("west verified", |st| {
        st["activeSite"] == "west"
            && st["verification"].is_null()
            && last_record(st)["verification"]["result"] == "Passed"
    });
    let rec = last_record(&st);
    assert_eq!(rec["to"], "west", "{st}");
    assert!(rec["switchedAt"].is_string(), "{st}");
    assert!(rec["cleanedUpAt"].is_string(), "{st}");
    assert_eq!(condition(&st, "Held")["status"], "False", "{st}");
    assert!(st["hold"].is_null(), "{st}");
    assert!(!p.events("VerificationPassed").is_empty());
    assert!(p.events("PromotionReverted").is_empty());
    // The probe was called on each check.
    let probes = p
        .west
        .requests()
        .iter()
        .filter(|r| {
            r["query"]
                .as_str()
                .is_some_and(|q| q.contains("probe=verify"))
        })
        .count();
    assert!(probes >= 5, "{probes} probe calls");
    let metrics =
        p.op.as_ref()
            .and_then(|o| o.http_get("/metrics"))
            .unwrap_or_default();
    for step in ["Preflight", "Verification"] {
        assert!(
            metrics.contains(&format!(
                "sitehapair_promotion_step_seconds_count{{step=\"{step}\"}}"
            )),
            "{metrics}"
        );
    }
}

#[test]
fn bad_verify_settings_are_refused_with_a_clear_message() {
    let ns = Namespace::new("verify-invalid");
    let cases = [
        (
            json!({"period": "1s", "interval": "5s"}),
            "verify.period must be at least verify.interval",
        ),
        (json!({"period": "soon"}), "spec.promotion.verify.period"),
        (json!({"successes": 0}), "spec.promotion.verify.successes"),
        (
            json!({"probes": [{"url": "ftp://gis.example/"}]}),
            "a verify probe's url must be an http:// or https:// URL",
        ),
    ];
    for (i, (verify, expect)) in cases.into_iter().enumerate() {
        let mut pair = base_pair(&format!("bad-verify-{i}"));
        pair["spec"]["promotion"] = json!({"verify": verify});
        let out = ns.apply(&pair.to_string());
        let err = stderr(&out);
        assert!(!out.status.success(), "accepted: {pair}");
        assert!(err.contains(expect), "error lacks {expect:?}:\n{err}");
    }
    let mut ok = base_pair("good-verify");
    ok["spec"]["promotion"] = json!({"verify": {}});
    let out = ns.apply(&ok.to_string());
    assert!(out.status.success(), "defaults refused: {}", stderr(&out));
}
