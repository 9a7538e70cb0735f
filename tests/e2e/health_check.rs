//! The health check the user configured (issue 11, item 1): a GIS server's
//! load-balancer check lives at its own path under the admin URL, or at a
//! URL of its own per site; the operator calls exactly that, without the
//! site's token, and its answer decides the site's health.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use crate::support::hostile_site::{Answer, HostileSite};
use crate::support::operator::Operator;
use crate::support::secrets::token_secrets;
use crate::support::site::ReferenceSite;
use crate::support::status::{WAIT, pair_status};
use crate::support::syncbed::{pair_for, set_health};
use crate::support::{Namespace, condition, stderr, wait_for};

const GIS_CHECK: &str = "/arcgis/rest/info/healthCheck";

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
        let st = pair_status(&ns, "gis");
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
    set_health(&west, "west-token-2", false);
    let msg = wait_for("west unhealthy", WAIT, || {
        let st = pair_status(&ns, "gis");
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
        let st = pair_status(&ns, "gis");
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
        let st = pair_status(&ns, "gis");
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
