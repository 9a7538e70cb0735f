//! The HTTP site driver against the reference site, both real: the whole
//! contract, fencing, auth, persistence across a restart, unreachability.

use std::time::Duration;

use serde_json::json;
use sitehapair::sites::{Mode, Site, SiteError};

use crate::support::drivers::{driver, runtime};
use crate::support::site::ReferenceSite;

/// Each call of the drivers here is given this long.
const TIMEOUT: Duration = Duration::from_secs(2);

#[test]
fn driver_speaks_the_whole_contract_with_the_reference_site() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut site = ReferenceSite::start(dir.path(), "east", "east-token-123");
    let d = driver(&site, "east-token-123", TIMEOUT);
    let rt = runtime();
    rt.block_on(async {
        assert!(d.health().await.expect("health"));
        let info = d.info().await.expect("info");
        assert_eq!(info.product, "sitehapair-reference-site");
        let m = d.mode().await.expect("mode");
        assert_eq!((m.mode, m.epoch), (Mode::Passive, 0));

        // Fencing: a newer epoch applies, an older one is refused and changes nothing.
        let m = d.set_mode(Mode::Active, 3).await.expect("activate");
        assert_eq!((m.mode, m.epoch), (Mode::Active, 3));
        let e = d.set_mode(Mode::Passive, 2).await.unwrap_err();
        assert!(matches!(e, SiteError::Fenced { .. }), "{e}");
        assert!(e.to_string().contains("site east"), "{e}");
        assert_eq!(d.mode().await.expect("mode").mode, Mode::Active);
        // Same epoch again is idempotent.
        d.set_mode(Mode::Active, 3).await.expect("repeat");

        // Services: create, replace, list, delete, delete absent.
        d.put_service("roads", &json!({"type": "MapServer", "v": 1}))
            .await
            .expect("create");
        d.put_service("roads", &json!({"type": "MapServer", "v": 2}))
            .await
            .expect("replace");
        d.put_service("odd?name#1", &json!({"v": 0}))
            .await
            .expect("encoded name");
        let all = d.services().await.expect("services");
        assert_eq!(all["roads"], json!({"type": "MapServer", "v": 2}));
        assert!(all.contains_key("odd?name#1"));
        d.delete_service("odd?name#1").await.expect("delete");
        d.delete_service("never-there")
            .await
            .expect("absent counts as deleted");
        assert_eq!(d.services().await.expect("services").len(), 1);
    });

    // A restart loses nothing.
    let addr = site.addr().to_string();
    site.kill();
    let site = ReferenceSite::start_on(dir.path(), "east", "east-token-123", &addr);
    let d = driver(&site, "east-token-123", TIMEOUT);
    rt.block_on(async {
        let m = d.mode().await.expect("mode after restart");
        assert_eq!((m.mode, m.epoch), (Mode::Active, 3));
        assert_eq!(d.services().await.expect("services")["roads"]["v"], 2);
    });
    // The request log names the writes.
    let writes: Vec<String> = site
        .requests()
        .iter()
        .filter(|r| r["method"] == "PUT" || r["method"] == "DELETE")
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap_or(""),
                r["path"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        writes.contains(&"PUT /services/roads".to_string()),
        "{writes:?}"
    );
    assert!(writes.contains(&"PUT /mode".to_string()), "{writes:?}");
}

#[test]
fn wrong_token_is_refused_and_never_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = ReferenceSite::start(dir.path(), "west", "right-token");
    let d = driver(&site, "wrong-token-xyz", TIMEOUT);
    let e = runtime().block_on(d.services()).unwrap_err();
    assert!(matches!(e, SiteError::Unauthorized { .. }), "{e}");
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains("wrong-token-xyz") && !text.contains("right-token"),
        "{text}"
    );
    // Health is open to load balancers.
    assert!(runtime().block_on(d.health()).expect("health"));
}

#[test]
fn unhealthy_and_unreachable_sites_are_told_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut site = ReferenceSite::start(dir.path(), "east", "t");
    let d = driver(&site, "t", TIMEOUT);
    let rt = runtime();
    let client = reqwest::Client::new();
    rt.block_on(async {
        let r = client
            .put(format!("{}/_control/health", site.url))
            .bearer_auth("t")
            .json(&json!({"healthy": false, "reason": "test"}))
            .send()
            .await
            .expect("control");
        assert!(r.status().is_success());
        assert!(!d.health().await.expect("health answers"));
    });
    site.kill();
    let e = rt.block_on(d.mode()).unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    assert!(
        e.to_string()
            .starts_with("site east: GET /mode: unreachable"),
        "{e}"
    );
}
