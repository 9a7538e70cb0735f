//! The health check the user configured (issue 11, item 1): a GIS server's
//! load-balancer check lives at its own path under the admin URL, or at a
//! URL of its own per site; the operator calls exactly that, without the
//! site's token, and its answer decides the site's health.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::hostile_site::{Answer, HostileSite};
use crate::support::operator::Operator;
use crate::support::site::ReferenceSite;
use crate::support::syncbed::{pair_for, token_secrets};
use crate::support::{Namespace, condition, stderr, wait_for};

const WAIT: Duration = Duration::from_secs(45);
const GIS_CHECK: &str = "/arcgis/rest/info/healthCheck";

fn status(ns: &Namespace) -> Value {
    ns.get_json("shp/gis")
        .map(|o| o["status"].clone())
        .unwrap_or(Value::Null)
}

#[test]
fn the_configured_health_check_path_is_the_one_called_and_decides_health() {
    let ns = Namespace::new("health-path");
    let dir = tempfile::tempdir().expect("tempdir");
    let east = ReferenceSite::start_with(
        dir.path(),
        "east",
        "east-token-1",
        &["--health-path", GIS_CHECK],
    );
    let west = ReferenceSite::start_with(
        dir.path(),
        "west",
        "west-token-2",
        &["--health-path", GIS_CHECK],
    );
    token_secrets(&ns);
    let mut pair = pair_for("gis", &east, &west);
    pair["spec"]["healthCheck"] =
        json!({"path": format!("{GIS_CHECK}?f=json"), "interval": "1s", "timeout": "1s"});
    let _op = Operator::start(&ns.name, "op", &[]);
    let out = ns.apply(&pair.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("both sites healthy through the GIS check", WAIT, || {
        let st = status(&ns);
        let healthy = condition(&st, "Healthy");
        (healthy["status"] == "True" && st["activeSite"] == "east").then_some(())
    });
    for site in [&east, &west] {
        let reqs = site.requests();
        assert!(
            reqs.iter().any(|r| r["path"] == GIS_CHECK),
            "{} was never checked at {GIS_CHECK}",
            site.name
        );
        assert!(
            !reqs.iter().any(|r| r["path"] == "/health"),
            "{} was checked at /health",
            site.name
        );
    }
    // The site says it may not take traffic: the pair says so, naming it.
    let out = std::process::Command::new("curl")
        .args([
            "-sf",
            "-X",
            "PUT",
            "-H",
            "Authorization: Bearer west-token-2",
        ])
        .args([
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"healthy": false}"#,
        ])
        .arg(format!("{}/_control/health", west.url))
        .output()
        .expect("curl");
    assert!(out.status.success());
    let msg = wait_for("west unhealthy", WAIT, || {
        let st = status(&ns);
        let h = condition(&st, "Healthy");
        (h["status"] == "False").then(|| h["message"].as_str().unwrap_or_default().to_string())
    });
    assert!(msg.contains("west"), "{msg}");
}

#[test]
fn a_sites_own_health_check_url_is_called_without_its_token() {
    let ns = Namespace::new("health-url");
    let dir = tempfile::tempdir().expect("tempdir");
    let east = ReferenceSite::start(dir.path(), "east", "east-token-1");
    let west = ReferenceSite::start(dir.path(), "west", "west-token-2");
    token_secrets(&ns);
    let up = Arc::new(AtomicBool::new(true));
    let flag = up.clone();
    let lb = HostileSite::start(move |_, _| {
        if flag.load(Ordering::Relaxed) {
            Answer::Now {
                status: 200,
                body: r#"{"success":true}"#.into(),
            }
        } else {
            Answer::Now {
                status: 503,
                body: r#"{"success":false}"#.into(),
            }
        }
    });
    let mut pair = pair_for("gis", &east, &west);
    pair["spec"]["sites"][1]["healthCheckUrl"] = json!(format!("{}/lb/check?f=json", lb.url));
    pair["spec"]["healthCheck"] = json!({"interval": "1s", "timeout": "1s"});
    let _op = Operator::start(&ns.name, "op", &[]);
    let out = ns.apply(&pair.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("both sites healthy", WAIT, || {
        let st = status(&ns);
        (condition(&st, "Healthy")["status"] == "True" && st["sites"][1]["mode"] == "Passive")
            .then_some(())
    });
    let checks: Vec<_> = lb
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/lb/check"))
        .collect();
    assert!(
        !checks.is_empty(),
        "the load balancer check was never called"
    );
    assert!(
        checks.iter().all(|r| r.method == "GET" && !r.bearer),
        "a check carried the site's token"
    );
    assert!(
        !west.requests().iter().any(|r| r["path"] == "/health"),
        "west's own /health was called instead of its healthCheckUrl"
    );
    up.store(false, Ordering::Relaxed);
    let msg = wait_for("west unhealthy through its own check", WAIT, || {
        let st = status(&ns);
        let h = condition(&st, "Healthy");
        (h["status"] == "False").then(|| h["message"].as_str().unwrap_or_default().to_string())
    });
    assert!(msg.contains("west") && !msg.contains("east"), "{msg}");
}

#[test]
fn a_health_check_url_that_is_not_http_is_refused_by_the_api_server() {
    let ns = Namespace::new("health-bad");
    let mut pair = crate::support::base_pair("gis");
    pair["spec"]["sites"][0]["healthCheckUrl"] = json!("ftp://lb.example/check");
    let out = ns.apply(&pair.to_string());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("healthCheckUrl must be an http:// or https:// URL"),
        "{}",
        stderr(&out)
    );
}
