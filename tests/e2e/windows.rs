//! Promotions a team plans: a planned promotion outside its change window
//! waits (phase Scheduled, PromotionBlocked OutsideWindow, an Event), the
//! sites untouched, until `sitehapair promote --now` lets it through,
//! recorded with who asked and why; a scheduled switchover
//! (spec.promotion.notBefore) is accepted at once and carried out at its
//! time; each history entry names who asked and how long each phase took.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::json;

use crate::support::pair::Pair;
use crate::support::{condition, stderr, stdout, testbed, wait_for};

fn cli(ns: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args(args)
        .args(["-n", ns])
        .env("KUBECONFIG", &testbed().kubeconfig)
        .output()
        .expect("run sitehapair")
}

#[test]
fn a_promotion_outside_its_window_waits_until_promote_now_lets_it_through_and_records_who_and_why()
{
    let p = Pair::start("windows", |pair| {
        // A deny window over promotions that is always open.
        pair["spec"]["windows"] = json!([{
            "kind": "Deny", "schedule": "0 0 * * *", "duration": "24h",
            "timeZone": "Europe/Berlin", "appliesTo": ["Promotion"]
        }]);
    });
    let out = cli(&p.ns.name, &["promote", "gis", "--to", "west"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let st = p.wait_status("the promotion waiting for its window", |st| {
        st["phase"] == "Scheduled" && condition(st, "PromotionBlocked")["reason"] == "OutsideWindow"
    });
    let msg = condition(&st, "PromotionBlocked")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("inside the deny window spec.windows[0]")
            && msg.contains("sitehapair.io/window-override=west"),
        "{msg}"
    );
    assert_eq!(st["activeSite"], "east");
    assert!(st["promotion"].is_null(), "{st}");
    assert!(
        p.events("PromotionOutsideWindow")
            .iter()
            .any(|n| n.contains("deny window")),
        "no PromotionOutsideWindow Event"
    );
    let modes = |s: &crate::support::site::ReferenceSite| {
        s.requests()
            .iter()
            .filter(|r| r["method"] == "PUT" && r["path"] == "/mode")
            .count()
    };
    let (east_puts, west_puts) = (modes(&p.east), modes(&p.west));
    // A few trips later nothing has moved.
    let seen = p.west.requests().len();
    wait_for("more trips", Duration::from_secs(30), || {
        (p.west.requests().len() > seen + 6).then_some(())
    });
    assert_eq!((modes(&p.east), modes(&p.west)), (east_puts, west_puts));

    let out = cli(
        &p.ns.name,
        &[
            "promote",
            "gis",
            "--to",
            "west",
            "--now",
            "--reason",
            "CHG-1234 kernel patch",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let st = p.status();
    let last = st["history"]
        .as_array()
        .and_then(|h| h.last())
        .cloned()
        .expect("a history entry");
    assert_eq!(last["to"], "west");
    assert_eq!(last["why"], "CHG-1234 kernel patch");
    let by = last["requestedBy"].as_str().unwrap_or_default();
    assert!(by.starts_with("user "), "{last}");
    let phases: Vec<&str> = last["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["phase"].as_str())
        .collect();
    assert_eq!(phases.first(), Some(&"Preflight"), "{last}");
    assert!(
        phases.contains(&"Demoting") && phases.contains(&"SwitchingTraffic"),
        "{last}"
    );
    assert!(last["switchedAt"].is_string(), "{last}");
    assert!(
        p.events("WindowOverridden").iter().any(|n| n.contains(by)),
        "no WindowOverridden Event naming {by}"
    );
    // `sitehapair status` prints who asked and why.
    let out = cli(&p.ns.name, &["status", "gis"]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("asked by {by}")) && text.contains("CHG-1234 kernel patch"),
        "{text}"
    );
    // The override was for that promotion only: the next one, asked for
    // without --now, waits for the window again.
    let out = cli(&p.ns.name, &["promote", "gis", "--to", "east"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let annotations = p.ns.kubectl(&[
        "get",
        "shp",
        "gis",
        "-o",
        "jsonpath={.metadata.annotations}",
    ]);
    assert!(!annotations.contains("window-override"), "{annotations}");
    let st = p.wait_status("the next promotion waiting for its window", |st| {
        st["phase"] == "Scheduled" && condition(st, "PromotionBlocked")["reason"] == "OutsideWindow"
    });
    assert_eq!(st["activeSite"], "west");
}

#[test]
fn a_scheduled_switchover_is_accepted_at_once_and_carried_out_at_its_time() {
    let p = Pair::start("schedule", |_| {});
    let at = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(12))
        .expect("time")
        .round(jiff::Unit::Second)
        .expect("round");
    let patch = json!({"spec": {"activeSite": "west", "promotion": {"notBefore": at.to_string()}}});
    p.ns.kubectl(&[
        "patch",
        "shp",
        "gis",
        "--type",
        "merge",
        "-p",
        &patch.to_string(),
    ]);
    let st = p.wait_status("the switchover scheduled", |st| st["phase"] == "Scheduled");
    let msg = condition(&st, "PromotionBlocked")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains(&format!("scheduled for {at}")), "{msg}");
    assert_eq!(condition(&st, "PromotionBlocked")["reason"], "Scheduled");
    assert!(
        condition(&st, "Ready")["status"] == "True",
        "a scheduled change leaves the pair Ready: {st}"
    );
    let st = p.wait_status("west active after its time", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    let last = st["history"]
        .as_array()
        .and_then(|h| h.last())
        .cloned()
        .expect("entry");
    let started: jiff::Timestamp = last["startedAt"]
        .as_str()
        .expect("startedAt")
        .parse()
        .expect("time");
    assert!(started >= at, "started {started} before its time {at}");
    // Set with kubectl: the field manager that set spec.activeSite.
    assert_eq!(last["requestedBy"], "field manager kubectl-patch", "{last}");
}
