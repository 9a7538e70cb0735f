//! Unit tests of the reference site's request handling, in process (no
//! socket): entity tags and conditional GET, virtual sites kept apart,
//! persistence of a single site, path decoding.
//! Run: `cargo test --example reference-site`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use crate::routes::{Server, Settings, Shared, Site, Sites, dispatch, percent_decode};
use crate::state::{SiteState, load};

fn settings() -> Settings {
    Settings {
        version: "1.0".into(),
        token_key_fingerprint: None,
        unhealthy_with_service: None,
        health_path: "/health".into(),
    }
}

fn virtual_server(n: usize) -> Shared {
    let mut all = HashMap::new();
    for i in 0..n {
        let name = format!("s-{i}");
        let token = format!("t.{name}");
        all.insert(
            name.clone(),
            Arc::new(Site::new(name, token, None, SiteState::default(), true)),
        );
    }
    Arc::new(Server {
        settings: settings(),
        sites: Sites::Virtual(all),
        log: std::sync::Mutex::new(None),
    })
}

/// One request: (status, ETag, body).
async fn send(
    server: &Shared,
    method: &str,
    uri: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Option<String>, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let resp = dispatch(State(server.clone()), req).await;
    let status = resp.status();
    let tag = resp
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, tag, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn a_conditional_get_of_the_services_answers_304_until_a_service_changes() {
    let s = virtual_server(1);
    let tok = Some("t.s-0");
    let (st, tag0, body) = send(&s, "GET", "/v/s-0/services", tok, &[], None).await;
    assert_eq!((st, body.as_str()), (StatusCode::OK, r#"{"services":{}}"#));
    let tag0 = tag0.expect("an ETag");
    let (st, tag, body) = send(
        &s,
        "GET",
        "/v/s-0/services",
        tok,
        &[("if-none-match", &tag0)],
        None,
    )
    .await;
    assert_eq!(
        (st, tag.as_deref(), body.as_str()),
        (StatusCode::NOT_MODIFIED, Some(tag0.as_str()), "")
    );
    // Any other If-None-Match gets the whole answer.
    for other in [
        "\"nope\"",
        "*",
        &format!("W/{tag0}"),
        &format!("{tag0}, \"x\""),
    ] {
        let (st, tag, _) = send(
            &s,
            "GET",
            "/v/s-0/services",
            tok,
            &[("if-none-match", other)],
            None,
        )
        .await;
        assert_eq!(
            (st, tag.as_deref()),
            (StatusCode::OK, Some(tag0.as_str())),
            "{other}"
        );
    }
    let def = json!({"type": "MapServer", "v": 1});
    let (st, _, _) = send(
        &s,
        "PUT",
        "/v/s-0/services/roads",
        tok,
        &[],
        Some(def.clone()),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, tag1, body) = send(
        &s,
        "GET",
        "/v/s-0/services",
        tok,
        &[("if-none-match", &tag0)],
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "a change makes the old tag stale");
    let tag1 = tag1.expect("an ETag");
    assert_ne!(tag1, tag0);
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v, json!({"services": {"roads": def}}));
    let (st, _, _) = send(
        &s,
        "GET",
        "/v/s-0/services",
        tok,
        &[("if-none-match", &tag1)],
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_MODIFIED);
    // Deleting it brings back the empty set and its tag.
    let (st, _, _) = send(&s, "DELETE", "/v/s-0/services/roads", tok, &[], None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, tag, _) = send(
        &s,
        "GET",
        "/v/s-0/services",
        tok,
        &[("if-none-match", &tag0)],
        None,
    )
    .await;
    assert_eq!((st, tag), (StatusCode::NOT_MODIFIED, Some(tag0)));
}

#[tokio::test]
async fn virtual_sites_keep_their_own_state_token_and_health() {
    let s = virtual_server(2);
    let (a, b) = (Some("t.s-0"), Some("t.s-1"));
    let (st, _, _) = send(
        &s,
        "PUT",
        "/v/s-0/services/roads",
        a,
        &[],
        Some(json!({"v": 1})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _, _) = send(
        &s,
        "PUT",
        "/v/s-0/mode",
        a,
        &[],
        Some(json!({"mode": "active", "epoch": 4})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, _, body) = send(&s, "GET", "/v/s-1/services", b, &[], None).await;
    assert_eq!(body, r#"{"services":{}}"#);
    let (_, _, body) = send(&s, "GET", "/v/s-1/mode", b, &[], None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).ok(),
        Some(json!({"mode": "passive", "epoch": 0}))
    );
    let (_, _, body) = send(&s, "GET", "/v/s-1/info", b, &[], None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON")["name"],
        "s-1"
    );
    // One site's token opens no other site; the health check needs none.
    let (st, _, _) = send(&s, "GET", "/v/s-1/services", a, &[], None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _, _) = send(
        &s,
        "PUT",
        "/v/s-1/_control/health",
        b,
        &[],
        Some(json!({"healthy": false})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        send(&s, "GET", "/v/s-1/health", None, &[], None).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        send(&s, "GET", "/v/s-0/health", None, &[], None).await.0,
        StatusCode::OK
    );
    // Fencing is per site.
    let (st, _, _) = send(
        &s,
        "PUT",
        "/v/s-0/mode",
        a,
        &[],
        Some(json!({"mode": "passive", "epoch": 3})),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, _, _) = send(
        &s,
        "PUT",
        "/v/s-1/mode",
        b,
        &[],
        Some(json!({"mode": "active", "epoch": 1})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    // Unknown sites and paths outside /v/ are not found.
    for uri in ["/v/s-2/health", "/health", "/v/", "/services"] {
        assert_eq!(
            send(&s, "GET", uri, a, &[], None).await.0,
            StatusCode::NOT_FOUND,
            "{uri}"
        );
    }
}

#[tokio::test]
async fn a_single_site_persists_and_reads_back_its_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("east.state.json");
    let site = Site::new(
        "east".into(),
        "tok".into(),
        Some(path.clone()),
        SiteState::default(),
        true,
    );
    let s: Shared = Arc::new(Server {
        settings: settings(),
        sites: Sites::Single(Arc::new(site)),
        log: std::sync::Mutex::new(None),
    });
    let tok = Some("tok");
    send(
        &s,
        "PUT",
        "/mode",
        tok,
        &[],
        Some(json!({"mode": "active", "epoch": 2})),
    )
    .await;
    let (st, _, _) = send(
        &s,
        "PUT",
        "/services/odd%3Fname%231",
        tok,
        &[],
        Some(json!({"v": 0})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _, _) = send(
        &s,
        "PUT",
        "/services/roads",
        tok,
        &[],
        Some(json!({"v": 2})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _, _) = send(
        &s,
        "PUT",
        "/services/roads",
        tok,
        &[],
        Some(json!({"v": 3})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, tag, _) = send(&s, "GET", "/services", tok, &[], None).await;
    let back = load(&path).await.expect("state file");
    assert_eq!(
        (back.mode.as_str(), back.epoch, back.count()),
        ("active", 2, 2)
    );
    assert!(back.contains("odd?name#1"));
    let mut back = back;
    assert_eq!(
        Some(back.etag_of(&back.services_body())),
        tag,
        "the tag survives a restart"
    );
    assert_eq!(
        send(&s, "GET", "/services", Some("bad"), &[], None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&s, "PATCH", "/mode", tok, &[], None).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        send(&s, "DELETE", "/services/never", tok, &[], None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn percent_escapes_are_decoded() {
    assert_eq!(
        percent_decode("odd%3Fname%231").as_deref(),
        Some("odd?name#1")
    );
    assert_eq!(percent_decode("a%2").as_deref(), Some("a%2"));
    assert_eq!(percent_decode("%zz%41").as_deref(), Some("%zzA"));
    assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
    assert_eq!(percent_decode("%FF"), None);
}

/// The client path: the active answers 200 naming itself and its epoch, a
/// passive 503; both say who answered in X-Site and X-Site-Epoch.
#[tokio::test]
async fn the_client_path_serves_on_the_active_and_refuses_on_a_passive() {
    let site = Arc::new(Site::new(
        "east".into(),
        "t".into(),
        None,
        SiteState::default(),
        true,
    ));
    let passive = crate::client::answer(site.clone()).await;
    assert_eq!(passive.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(passive.headers()["x-site"], "east");
    {
        let mut st = site.state.lock().await;
        st.mode = "active".into();
        st.epoch = 4;
    }
    let active = crate::client::answer(site).await;
    assert_eq!(active.status(), StatusCode::OK);
    assert_eq!(active.headers()["x-site-epoch"], "4");
    let body = axum::body::to_bytes(active.into_body(), 1024)
        .await
        .expect("body");
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v, json!({"site": "east", "epoch": 4}));
}
