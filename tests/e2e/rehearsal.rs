//! Rehearsal of a planned promotion on the real control plane, as a user
//! runs it: `sitehapair promote gis --to west --rehearse --wait` runs the
//! steps that change nothing (preflight, a full listing of west compared
//! with git, its health check, its role read, the hook marked rehearse),
//! prints them with their times, what the real promotion would do and how
//! long it would take, and exits 0; no role, epoch, traffic or service
//! changes on any site. A target behind the source and failing its health
//! check fails the rehearsal naming both problems (exit 1); a real
//! promotion asked at the same time cancels it, and the rehearsal of the
//! way back estimates its time from that promotion's phases.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::hostile_site::{Answer, HostileSite};
use crate::support::site::ReferenceSite;
use crate::support::syncbed::{SyncBed, service, set_health};
use crate::support::{stderr, stdout, testbed, wait_for};

const CONVERGE: Duration = Duration::from_secs(60);

fn cli(ns: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sitehapair"))
        .args(args)
        .args(["-n", ns])
        .env("KUBECONFIG", &testbed().kubeconfig)
        .output()
        .expect("run sitehapair")
}

/// `sitehapair promote gis --to west --rehearse --wait`: its exit code
/// and all it said.
fn rehearse_west(ns: &str) -> (Option<i32>, String) {
    let out = cli(
        ns,
        &[
            "promote",
            "gis",
            "--to",
            "west",
            "--rehearse",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    (
        out.status.code(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

/// What a site's admin API says of its role: `GET /mode`.
fn mode(site: &ReferenceSite, token: &str) -> Value {
    let out = Command::new("curl")
        .args(["-s", "-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{}/mode", site.url))
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Every write a site took: its role (PUT /mode) and its services.
fn writes(site: &ReferenceSite) -> usize {
    site.requests()
        .iter()
        .filter(|r| r["method"] != "GET")
        .count()
}

/// What must not move: the sites' roles and writes, the pair's roles,
/// epoch and traffic, the traffic endpoints.
fn fixed(bed: &SyncBed) -> Value {
    let st = bed.status();
    json!({
        "east": mode(&bed.east, "east-token-1"),
        "west": mode(&bed.west, "west-token-2"),
        "eastWrites": writes(&bed.east),
        "westWrites": writes(&bed.west),
        "activeSite": st["activeSite"],
        "trafficSite": st["trafficSite"],
        "epoch": st["epoch"],
        "promotion": st["promotion"],
        "history": st["history"],
        "slice": crate::support::pair::slice_addresses(&bed.ns),
    })
}

/// A pair in sync at its first revision, with a hook marked rehearse
/// (answered by `rehearsed`) and one that is not (`after`).
fn bed_with_hooks(
    prefix: &str,
    rehearsed: &HostileSite,
    after: &HostileSite,
) -> (SyncBed, Value, String) {
    let mut bed = SyncBed::new(prefix, &[("roads", 1), ("parcels", 1)]);
    let rev1 = bed.repo.git(&["rev-parse", "HEAD"]);
    bed.start_operator(&[]);
    let mut pair = bed.pair(&bed.repo.file_url());
    pair["spec"]["promotion"] = json!({"hooks": [
        {"name": "check-dns", "http": {"url": format!("{}/dns", rehearsed.url)}, "rehearse": true},
        {"name": "renew-certs", "http": {"url": format!("{}/certs", after.url)}},
    ]});
    bed.apply(&pair);
    bed.wait_in_sync(&rev1, CONVERGE);
    wait_for("the traffic endpoints on east", CONVERGE, || {
        let s = crate::support::pair::slice_addresses(&bed.ns);
        (s.is_array() && bed.status()["trafficSite"] == "east").then_some(())
    });
    (bed, pair, rev1)
}

fn ok_server() -> HostileSite {
    HostileSite::start(|_, _| Answer::Now {
        status: 200,
        body: r#"{"ok": true}"#.into(),
    })
}

#[test]
fn a_rehearsal_reports_passed_with_step_timings_and_changes_no_role_epoch_traffic_or_site() {
    let (rehearsed, after) = (ok_server(), ok_server());
    let (bed, _, rev1) = bed_with_hooks("rehearse-ok", &rehearsed, &after);
    let before = fixed(&bed);
    assert_eq!(before["east"]["mode"], "active", "{before}");

    let (code, text) = rehearse_west(&bed.ns.name);
    assert_eq!(code, Some(0), "{text}");
    eprintln!("{text}");
    for want in [
        "rehearsal of the promotion to west",
        "Passed",
        "Preflight",
        "CompareWithSource",
        &format!("holds exactly revision {}", &rev1[..12]),
        "HealthCheck",
        "ReadRole",
        "Hook check-dns",
        "Hook renew-certs",
        "the real promotion would:",
        "Demoting: set east passive at epoch 2",
        "Promoting: set west active at epoch 2",
        "SwitchingTraffic: point the traffic Service gis from east to west",
        "estimated time: about",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }

    let st = bed.status();
    let r = &st["rehearsal"];
    assert_eq!(r["result"], "Passed", "{r}");
    assert_eq!(r["site"], "west");
    assert!(r["finishedAt"].is_string(), "{r}");
    assert!(
        r["requestedBy"].as_str().is_some_and(|b| !b.is_empty()),
        "{r}"
    );
    let steps = r["steps"].as_array().expect("steps");
    let names: Vec<&str> = steps.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "Preflight",
            "CompareWithSource",
            "HealthCheck",
            "ReadRole",
            "Hook check-dns",
            "Hook renew-certs"
        ]
    );
    for s in steps {
        assert!(
            s["milliseconds"].is_i64() && s["startedAt"].is_string(),
            "{s}"
        );
    }
    assert_eq!(steps[5]["outcome"], "Skipped", "{}", steps[5]);
    assert!(r["estimatedSeconds"].is_i64(), "{r}");

    // The hook marked rehearse was called once, as a rehearsal; the other not at all.
    let calls = rehearsed.requests();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].header("x-sitehapair-rehearsal"), Some("true"));
    let body: Value = serde_json::from_str(&calls[0].body).expect("JSON body");
    assert_eq!(
        (body["rehearsal"].clone(), body["to"].clone()),
        (json!(true), json!("west"))
    );
    assert!(after.requests().is_empty(), "{:?}", after.requests());

    // Nothing moved: roles, epochs, writes, traffic.
    assert_eq!(fixed(&bed), before);
    assert!(
        bed.events("RehearsalSucceeded")
            .iter()
            .any(|n| n.contains("west")),
        "no RehearsalSucceeded Event"
    );
    // Counted once, by result.
    let series = format!(
        "sitehapair_rehearsals_total{{namespace=\"{}\",pair=\"gis\",result=\"Passed\"}} ",
        bed.ns.name
    );
    let metrics = bed
        .op
        .as_ref()
        .and_then(|op| op.http_get("/metrics"))
        .unwrap_or_default();
    assert!(
        metrics
            .lines()
            .any(|l| l.strip_prefix(&series).is_some_and(|v| v.trim() == "1")),
        "no {series}1 in the operator's metrics"
    );
    // `sitehapair status` shows it.
    let out = cli(&bed.ns.name, &["status", "gis"]);
    assert!(
        stdout(&out).contains("rehearsal of the promotion to west"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_rehearsal_to_a_target_behind_the_source_and_unhealthy_fails_naming_both() {
    let (rehearsed, after) = (ok_server(), ok_server());
    let (bed, mut pair, rev1) = bed_with_hooks("rehearse-bad", &rehearsed, &after);
    // Report mode: the new revision is fetched, west keeps the old one.
    pair["spec"]["sync"] = json!({"mode": "Report"});
    bed.apply(&pair);
    bed.repo.write("services/roads.yaml", &service("roads", 2));
    let rev2 = bed.repo.commit("roads v2");
    wait_for("the new revision fetched", CONVERGE, || {
        (bed.status()["source"]["revision"] == rev2.as_str()).then_some(())
    });
    set_health(&bed.west, "west-token-2", false);
    let before = fixed(&bed);

    let (code, text) = rehearse_west(&bed.ns.name);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("Failed"), "{text}");
    eprintln!("{text}");
    let r = bed.status()["rehearsal"].clone();
    assert_eq!(r["result"], "Failed", "{r}");
    let problems = r["problems"].to_string();
    assert!(
        problems.contains(&format!(
            "differs from revision {}: 0 to create, 1 to replace, 0 to delete (roads)",
            &rev2[..12]
        )),
        "{problems}"
    );
    assert!(problems.contains("fails its health check"), "{problems}");
    assert!(
        problems.contains(&format!("holds revision {}", &rev1[..12])),
        "the preflight's inSync check: {problems}"
    );
    assert_eq!(fixed(&bed), before);
    assert!(
        bed.events("RehearsalFailed")
            .iter()
            .any(|n| n.contains("would not pass")),
        "no RehearsalFailed Event"
    );
}

#[test]
fn a_real_promotion_asked_with_a_rehearsal_cancels_the_rehearsal() {
    let (rehearsed, after) = (ok_server(), ok_server());
    let (bed, mut pair, _) = bed_with_hooks("rehearse-cancel", &rehearsed, &after);
    pair["spec"]["activeSite"] = json!("west");
    pair["spec"]["promotion"]["rehearse"] = json!({"site": "west", "id": "one"});
    bed.apply(&pair);
    let st = crate::support::status::wait_status(
        &bed.ns,
        "gis",
        "the rehearsal cancelled and west active",
        |st| {
            st["rehearsal"]["result"] == "Cancelled"
                && st["activeSite"] == "west"
                && st["promotion"].is_null()
        },
    );
    let msg = st["rehearsal"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("a real promotion to west"), "{msg}");
    // The rehearsal called no hook; the real promotion ran them.
    assert!(
        rehearsed
            .requests()
            .iter()
            .all(|c| c.header("x-sitehapair-rehearsal").is_none()),
        "a cancelled rehearsal called its hook"
    );
    // Rehearsing the way back estimates it from the promotion just made.
    pair["spec"]["promotion"]["rehearse"] = json!({"site": "east", "id": "two"});
    bed.apply(&pair);
    let st =
        crate::support::status::wait_status(&bed.ns, "gis", "the rehearsal back to east", |st| {
            st["rehearsal"]["id"] == "two" && st["rehearsal"]["result"] == "Passed"
        });
    let basis = st["rehearsal"]["estimateBasis"]
        .as_str()
        .unwrap_or_default();
    assert!(
        basis.contains("as the promotion at epoch 2 (east to west) took"),
        "{basis}"
    );
    assert_eq!(st["activeSite"], "west");
    assert_eq!(st["epoch"], 2);
}
