//! Automatic failover: after failureThreshold failed checks the operator
//! changes spec.activeSite itself; a second failover inside minInterval is
//! held until acknowledged.

use serde_json::{Value, json};

use crate::support::pair::Pair;
use crate::support::status::WAIT;
use crate::support::syncbed::set_health;
use crate::support::{condition, wait_for};

#[test]
fn automatic_failover_runs_then_anti_flap_holds_until_acknowledged() {
    let p = Pair::start_with(
        "failover",
        |pair| {
            pair["spec"]["promotion"] =
                json!({"automatic": {"enabled": true, "failureThreshold": 2, "minInterval": "1h"}});
        },
        &[],
    );
    set_health(&p.east, "east-token-1", false);
    let st = p.wait_status("automatic failover to west", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    let rec = &st["history"][0];
    assert_eq!(rec["reason"], "Automatic", "{st}");
    let failures = st["sites"][0]["consecutiveFailures"].as_i64().unwrap_or(0);
    assert!(failures >= 2, "{st}");
    let obj = p.ns.get_json("shp/gis").expect("pair");
    assert_eq!(obj["spec"]["activeSite"], "west");
    let note = obj["metadata"]["annotations"]["sitehapair.io/automatic-failover"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(note.starts_with("west: active site east failed"), "{note}");
    let full: Value = serde_json::from_str(&p.ns.kubectl(&[
        "get",
        "shp",
        "gis",
        "-o",
        "json",
        "--show-managed-fields",
    ]))
    .expect("json");
    let managers: Vec<String> = full["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["manager"].as_str().map(str::to_string))
        .collect();
    assert!(
        managers.iter().any(|m| m == "sitehapair-failover"),
        "{managers:?}"
    );
    assert!(
        !p.events("AutomaticFailover").is_empty(),
        "{}",
        p.op.as_ref()
            .map(|o| o.logs())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("rror"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // West fails too while east is healthy again: held by anti-flap.
    set_health(&p.east, "east-token-1", true);
    set_health(&p.west, "west-token-2", false);
    let st = p.wait_status("the anti-flap hold", |st| {
        condition(st, "PromotionBlocked")["reason"] == "AntiFlap"
    });
    let msg = condition(&st, "PromotionBlocked")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let completed = st["history"][0]["completedAt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains(&format!("sitehapair.io/ack-failover={completed}")),
        "{msg}"
    );
    assert_eq!(
        p.ns.get_json("shp/gis").expect("pair")["spec"]["activeSite"],
        "west"
    );

    // The acknowledgement releases it.
    p.ns.kubectl(&[
        "annotate",
        "shp",
        "gis",
        &format!("sitehapair.io/ack-failover={completed}"),
    ]);
    let st = p.wait_status("failover back to east", |st| {
        st["activeSite"] == "east" && st["promotion"].is_null()
    });
    assert_eq!(st["history"][1]["reason"], "Automatic");
    wait_for("traffic on east", WAIT, || {
        (p.slice_addresses() == json!(["192.0.2.10"])).then_some(())
    });
}
