//! Unit tests of the emulator's pure parts (parameter merging, name rules,
//! error shapes, tokens with the time passed in, routes, the site's
//! operations, persistence) and a few whole requests through `dispatch`
//! in process (no socket).
//! Run: `cargo test --example arcgis-emulator`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use crate::admin::{Route, ServiceOp, parse_route};
use crate::model::{ApiError, NewIds, Site, valid_name, valid_type};
use crate::params::{Format, Params, decode_component};
use crate::reply::{Reply, error_body};
use crate::routes::{Server, Settings, Shared, current_version_text, dispatch};
use crate::tokens::{self, Binding, Claims, TokenError};

fn ids() -> NewIds {
    let (id, item_id) = ("sid".into(), "item".into());
    NewIds { id, item_id }
}

#[test]
fn query_and_body_merge_with_the_query_first() {
    let p = Params::parse(
        Some("f=json&token=q&a=%7B%22x%22%3A1%7D"),
        Some("token=b&b=x+y&c"),
    );
    assert_eq!(
        p.get("token"),
        Some("q"),
        "the first value wins, query first"
    );
    assert_eq!(p.get("a"), Some("{\"x\":1}"));
    assert_eq!(p.get("b"), Some("x y"));
    assert_eq!(p.get("c"), Some(""));
    assert_eq!(p.non_empty("c"), None);
    assert_eq!(p.get("F"), None, "names are case-sensitive");
    assert_eq!(p.format(), Format::Json);
    assert_eq!(Params::parse(Some("f=PJSON"), None).format(), Format::Pjson);
    assert_eq!(Params::parse(None, None).format(), Format::Html);
    assert_eq!(Params::parse(Some("f=kmz"), None).format(), Format::Html);
    let p = Params::parse(Some("detail=TRUE&x=maybe"), None);
    assert_eq!(p.boolean("detail"), Some(Ok(true)));
    assert_eq!(p.boolean("x"), Some(Err("maybe".into())));
    assert_eq!(p.boolean("absent"), None);
}

#[test]
fn decoding_keeps_malformed_escapes_and_plus_only_in_forms() {
    assert_eq!(decode_component("a%2Fb+c", true), "a/b c");
    assert_eq!(decode_component("a%2Fb+c", false), "a/b+c");
    assert_eq!(decode_component("100%", true), "100%");
    assert_eq!(decode_component("%zz%4", true), "%zz%4");
    assert_eq!(decode_component("%C3%A9", true), "é");
}

#[test]
fn names_are_letters_digits_underscores_and_hyphens() {
    for ok in ["Hydro", "roads_2024", "a-b", "X", &"n".repeat(120)] {
        assert!(valid_name(ok), "{ok}");
    }
    for bad in ["", "has space", "dot.ted", "sl/ash", "é", &"n".repeat(121)] {
        assert!(!valid_name(bad), "{bad}");
    }
    assert!(valid_type("MapServer") && valid_type("GPServer") && valid_type("FeatureServer"));
    assert!(!valid_type("Server") && !valid_type("Map") && !valid_type("Map_Server"));
}

#[test]
fn errors_have_the_admin_shape_and_http_200() {
    let r = Reply::error(ApiError::new(498, "Invalid token."));
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.error_code, Some(498));
    assert_eq!(
        r.body,
        json!({"status": "error", "messages": ["Invalid token."], "code": 498})
    );
    let e = ApiError {
        code: 400,
        messages: vec!["a".into(), "b".into()],
    };
    assert_eq!(error_body(&e)["messages"], json!(["a", "b"]));
    assert_eq!(Reply::success().body, json!({"status": "success"}));
}

fn claims(expires: i64) -> Claims {
    Claims {
        user: "siteadmin".into(),
        expires,
        binding: Binding::Ip("127.0.0.1".into()),
    }
}

#[test]
fn tokens_expire_and_die_with_their_key() {
    let t = tokens::issue("key-1", &claims(10_000)).expect("token");
    assert_eq!(
        tokens::verify("key-1", &t, 9_999).map(|c| c.user),
        Ok("siteadmin".into())
    );
    assert_eq!(
        tokens::verify("key-1", &t, 10_000),
        Err(TokenError::Expired)
    );
    assert_eq!(tokens::verify("key-2", &t, 0), Err(TokenError::Invalid));
    assert_eq!(
        tokens::verify("key-1", "garbage", 0),
        Err(TokenError::Invalid)
    );
    let mut tampered = t.clone();
    tampered.replace_range(0..1, if t.starts_with('e') { "f" } else { "e" });
    assert_eq!(
        tokens::verify("key-1", &tampered, 0),
        Err(TokenError::Invalid)
    );
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&t)
        .expect("b64");
    assert!(
        !String::from_utf8_lossy(&raw).contains("siteadmin"),
        "opaque"
    );
    assert_ne!(
        tokens::issue("key-1", &claims(10_000)),
        Some(t),
        "nonces differ"
    );
}

#[test]
fn lifetimes_are_capped_and_overridden() {
    // Asked 30 min, caps 1440 and 60: 30 min.
    assert_eq!(
        tokens::lifetime_ms(Some(30), 60, 1440, 60, None),
        30 * 60_000
    );
    // Asked a day: capped at --max-token-minutes.
    assert_eq!(
        tokens::lifetime_ms(Some(1440), 60, 1440, 60, None),
        60 * 60_000
    );
    // Not asked: shortTimeout, then the caps.
    assert_eq!(tokens::lifetime_ms(None, 20, 1440, 60, None), 20 * 60_000);
    assert_eq!(
        tokens::lifetime_ms(Some(90), 60, 45, 600, None),
        45 * 60_000
    );
    assert_eq!(tokens::lifetime_ms(Some(0), 60, 45, 600, None), 60_000);
    assert_eq!(tokens::lifetime_ms(Some(30), 60, 1440, 60, Some(3)), 3_000);
}

#[test]
fn current_version_appends_a_nonzero_patch() {
    assert_eq!(current_version_text("11.3.0"), "11.3");
    assert_eq!(current_version_text("10.5.1"), "10.51");
    assert_eq!(current_version_text("10.9.1"), "10.91");
    assert_eq!(current_version_text("11.1"), "11.1");
}

#[test]
fn routes_tell_folders_from_services() {
    let svc = |folder: Option<&str>, key: &str, op| Route::Service {
        folder: folder.map(str::to_string),
        key: key.into(),
        op,
    };
    assert_eq!(parse_route(""), Route::SiteRoot);
    assert_eq!(parse_route("/"), Route::SiteRoot);
    assert_eq!(parse_route("/services/"), Route::Services);
    assert_eq!(
        parse_route("/services/Hydro"),
        Route::Folder("Hydro".into())
    );
    assert_eq!(
        parse_route("/services/Roads.MapServer"),
        svc(None, "Roads.MapServer", None)
    );
    assert_eq!(
        parse_route("/services/Roads.MapServer/stop"),
        svc(None, "Roads.MapServer", Some(ServiceOp::Stop))
    );
    assert_eq!(
        parse_route("/services/Hydro/createService"),
        Route::CreateService(Some("Hydro".into()))
    );
    assert_eq!(
        parse_route("/services/Hydro/deleteFolder"),
        Route::DeleteFolder("Hydro".into())
    );
    assert_eq!(
        parse_route("/services/Hydro/Rivers.FeatureServer/status"),
        svc(
            Some("Hydro"),
            "Rivers.FeatureServer",
            Some(ServiceOp::Status)
        )
    );
    assert_eq!(
        parse_route("/services/Hydro%5FX"),
        Route::Folder("Hydro_X".into())
    );
    assert_eq!(
        parse_route("/services/A.MapServer/explode"),
        Route::Unknown("explode".into())
    );
    assert_eq!(parse_route("/a/b/c/d/e"), Route::Unknown("e".into()));
    assert_eq!(parse_route("/security/tokens/update"), Route::TokensUpdate);
    assert_eq!(parse_route("/mode/update").operation(), "update");
    assert_eq!(parse_route("/services/Hydro").operation(), "folder");
}

#[test]
fn services_are_created_edited_stopped_and_deleted() {
    let mut site = Site::new("k".into(), true, 0);
    assert!(site.folders.contains_key("System") && site.folders.contains_key("Utilities"));
    site.create_folder(Some("Hydro"), "water").expect("folder");
    assert_eq!(
        site.create_folder(Some("Hydro"), "").map_err(|e| e.code),
        Err(400)
    );
    assert_eq!(
        site.create_folder(Some("bad name"), "").map_err(|e| e.code),
        Err(400)
    );
    let def =
        r#"{"serviceName":"Rivers","type":"MapServer","description":"r","capabilities":"Map"}"#;
    assert_eq!(
        site.create_service(Some("Nope"), Some(def), ids())
            .map_err(|e| e.code),
        Err(404)
    );
    site.create_service(Some("Hydro"), Some(def), ids())
        .expect("create");
    assert_eq!(
        site.create_service(Some("Hydro"), Some(def), ids())
            .map_err(|e| e.code),
        Err(400)
    );
    let key = "Rivers.MapServer";
    let full = site.service_json(Some("Hydro"), key).expect("json");
    assert_eq!(full["configuredState"], "STARTED");
    assert_eq!(full["capabilities"], "Map");
    assert_eq!(full["maxInstancesPerNode"], 2, "a framework default");
    assert_eq!(full["provider"], "ArcObjects11");
    assert_eq!(full["id"], "sid");
    assert_eq!(full["serverId"], json!(site.server_id));
    assert_eq!(full["portalProperties"]["portalItems"][0]["itemID"], "item");
    assert!(full["properties"]["outputDir"].is_string());

    // Edit: serviceName/type may be left out; what is left out is gone.
    site.edit_service(
        Some("Hydro"),
        key,
        Some(r#"{"description":"new","maxInstancesPerNode":5}"#),
    )
    .expect("edit");
    let full = site.service_json(Some("Hydro"), key).expect("json");
    assert_eq!(
        (
            full["description"].clone(),
            full["maxInstancesPerNode"].clone()
        ),
        (json!("new"), json!(5))
    );
    assert!(full.get("capabilities").is_none());
    let wrong = r#"{"serviceName":"Other"}"#;
    assert_eq!(
        site.edit_service(Some("Hydro"), key, Some(wrong))
            .map_err(|e| e.code),
        Err(400)
    );

    site.set_started(Some("Hydro"), key, false).expect("stop");
    assert_eq!(
        site.status_json(Some("Hydro"), key).expect("status"),
        json!({"configuredState": "STOPPED", "realTimeState": "STOPPED"})
    );
    let listing = site.folder_json("Hydro").expect("folder");
    assert_eq!(
        listing["services"],
        json!([{"folderName": "Hydro", "serviceName": "Rivers", "type": "MapServer", "description": "new"}])
    );
    site.delete_service(Some("Hydro"), key).expect("delete");
    assert_eq!(
        site.service_json(Some("Hydro"), key).map_err(|e| e.code),
        Err(404)
    );
    let builtin = site.delete_service(Some("System"), "CachingTools.GPServer");
    assert_eq!(builtin.map_err(|e| e.code), Err(400));
}

#[test]
fn a_stopped_definition_is_created_stopped_and_folders_go_with_their_services() {
    let mut site = Site::new("k".into(), false, 0);
    assert!(site.folders.is_empty());
    let def = r#"{"serviceName":"A","type":"GPServer","configuredState":"STOPPED"}"#;
    site.create_service(None, Some(def), ids())
        .expect("create at root");
    assert_eq!(
        site.status_json(None, "A.GPServer").expect("s")["configuredState"],
        "STOPPED"
    );
    let root = site.root_json(false);
    assert_eq!(root["folderName"], "/");
    assert_eq!(root["services"][0]["folderName"], "/");
    assert_eq!(site.root_json(true)["services"][0]["maxWaitTime"], 60);
    site.create_folder(Some("F"), "").expect("folder");
    site.create_service(
        Some("F"),
        Some(r#"{"serviceName":"B","type":"MapServer"}"#),
        ids(),
    )
    .expect("create");
    site.delete_folder("F").expect("delete folder");
    assert!(site.folder(Some("F")).is_err());
    assert_eq!(
        site.create_service(None, Some("[1]"), ids())
            .map_err(|e| e.code),
        Err(400)
    );
    assert_eq!(
        site.create_service(None, None, ids()).map_err(|e| e.code),
        Err(400)
    );
}

#[test]
fn read_only_mode_blocks_publishing_and_tokens_config_updates() {
    let mut site = Site::new("k".into(), false, 0);
    let flags = [("runAsync", Some(Ok(false)))];
    site.update_mode(Some("READ_ONLY"), &flags, 7)
        .expect("mode");
    assert_eq!(
        site.mode_json(),
        json!({"siteMode": "READ_ONLY", "copyConfigLocal": true, "lastModified": 7})
    );
    assert_eq!(
        site.create_folder(Some("X"), "").map_err(|e| e.code),
        Err(403)
    );
    assert!(site.update_mode(Some("SOMETIMES"), &[], 8).is_err());
    site.update_mode(Some("EDITABLE"), &[], 9).expect("mode");
    site.create_folder(Some("X"), "").expect("editable again");

    let cfg = r#"{"type":"BUILTIN","properties":{"sharedKey":"new","longTimeout":"2880","shortTimeout":120}}"#;
    assert_eq!(site.update_tokens(Some(cfg)), Ok(true));
    assert_eq!(
        site.tokens_json(),
        json!({"type": "BUILTIN", "properties": {"sharedKey": "new", "longTimeout": "2880", "shortTimeout": "120"}})
    );
    assert_eq!(
        site.update_tokens(Some(r#"{"properties":{"shortTimeout":"9999"}}"#))
            .map_err(|e| e.code),
        Err(400)
    );
    assert_eq!(site.update_tokens(Some(r#"{"properties":{}}"#)), Ok(false));
}

#[tokio::test]
async fn the_site_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.json");
    assert_eq!(crate::state::load(&path).await.expect("load"), None);
    let mut site = Site::new("k".into(), true, 0);
    site.create_folder(Some("Hydro"), "d").expect("folder");
    crate::state::persist(Some(&path), &site)
        .await
        .expect("persist");
    assert_eq!(crate::state::load(&path).await.expect("load"), Some(site));
}

fn server() -> Shared {
    Arc::new(Server {
        settings: Settings {
            username: "siteadmin".into(),
            password: "s3cret".into(),
            version: "11.3.0".into(),
            build: "0".into(),
            max_token_minutes: 60,
            token_seconds: None,
        },
        site: tokio::sync::Mutex::new(Site::new("shared".into(), true, 0)),
        state_file: None,
        health: std::sync::Mutex::new((true, String::new())),
        log: std::sync::Mutex::new(None),
    })
}

/// One request with a form body: (status, body as JSON).
async fn send(server: &Shared, method: &str, uri: &str, form: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .expect("request");
    let resp = dispatch(State(server.clone()), req).await;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A GET without a body: its JSON.
async fn get(server: &Shared, uri: &str) -> Value {
    send(server, "GET", uri, "").await.1
}

#[tokio::test]
async fn a_token_opens_the_admin_api() {
    let s = server();
    let (status, body) = send(&s, "GET", "/arcgis/admin/services?f=json", "").await;
    assert_eq!((status, body["code"].clone()), (StatusCode::OK, json!(499)));
    assert_eq!(
        get(&s, "/arcgis/admin/services?f=json&token=nope").await["code"],
        498
    );
    let (_, body) = send(
        &s,
        "POST",
        "/arcgis/admin/generateToken",
        "username=siteadmin&password=bad&client=requestip&f=json",
    )
    .await;
    assert_eq!(
        (body["code"].clone(), body["status"].clone()),
        (json!(400), json!("error"))
    );
    assert!(
        !body.to_string().contains("bad"),
        "the password is never echoed"
    );
    let body = get(
        &s,
        "/arcgis/admin/generateToken?username=siteadmin&password=s3cret&f=json",
    )
    .await;
    assert_eq!(body["code"], 405, "generateToken is POST only");
    let (_, body) = send(
        &s,
        "POST",
        "/arcgis/admin/generateToken",
        "username=siteadmin&password=s3cret&client=requestip&expiration=30&f=json",
    )
    .await;
    let token = body["token"].as_str().expect("token").to_string();
    let expires = body["expires"].as_str().and_then(|e| e.parse::<i64>().ok());
    assert!(expires.expect("expires: a string of ms") > crate::routes::now_ms());

    let def = r#"{"serviceName":"Roads","type":"MapServer"}"#;
    let form = format!("service={}&f=json&token={token}", def.replace('"', "%22"));
    let (_, body) = send(&s, "POST", "/arcgis/admin/services/createService", &form).await;
    assert_eq!(body, json!({"status": "success"}));
    let at = |tail: &str| format!("/arcgis/admin/{tail}?f=json&token={token}");
    let body = get(&s, &at("services/Roads.MapServer/status")).await;
    assert_eq!(body["realTimeState"], "STARTED");
    let body = get(&s, &at("services/Roads.MapServer/stop")).await;
    assert_eq!(body["code"], 405, "stop is POST only");
    assert_eq!(get(&s, &at("nothing")).await["code"], 404);
}

#[tokio::test]
async fn the_health_check_and_info_need_no_token() {
    let s = server();
    let (status, body) = send(&s, "GET", "/arcgis/rest/info/healthCheck?f=json", "").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    let (status, _) = send(
        &s,
        "PUT",
        "/_control/health",
        r#"{"healthy":false,"reason":"down"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(&s, "GET", "/arcgis/rest/info/healthcheck?f=json", "").await;
    assert_eq!(
        (status, body["error"]["message"].clone()),
        (StatusCode::SERVICE_UNAVAILABLE, json!("down"))
    );
    let body = get(&s, "/arcgis/rest/info?f=json").await;
    assert_eq!(
        (body["currentVersion"].clone(), body["fullVersion"].clone()),
        (json!(11.3), json!("11.3.0"))
    );
}
