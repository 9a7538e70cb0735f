//! Adding a site safely (issue 11, item 3, in part): a site named twice in
//! one pair is refused by the API server; a site another pair already
//! manages is left alone by the later pair, which says which pair holds it.

use serde_json::json;

use crate::support::pair::Pair;
use crate::support::secrets::create_secret;
use crate::support::site::ReferenceSite;
use crate::support::status::WAIT;
use crate::support::{Namespace, base_pair, condition, stderr, wait_for};

#[test]
fn a_site_named_twice_in_one_pair_is_refused_by_the_api_server() {
    let ns = Namespace::new("claims-dup");
    let mut pair = base_pair("gis");
    pair["spec"]["sites"][1]["adminUrl"] = pair["spec"]["sites"][0]["adminUrl"].clone();
    let out = ns.apply(&pair.to_string());
    assert!(
        !out.status.success(),
        "a pair naming one site twice was accepted"
    );
    assert!(
        stderr(&out).contains("two sites have the same adminUrl"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_site_another_pair_manages_is_left_alone_and_the_pair_is_named() {
    let p = Pair::start_with("claims", |_| {}, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let north = ReferenceSite::start(dir.path(), "north", "north-token-3");
    create_secret(&p.ns, "north-admin", &[("token", "north-token-3")]);
    let writes = |s: &ReferenceSite| s.requests().iter().filter(|r| r["method"] == "PUT").count();
    let east_puts = writes(&p.east);

    // A second pair that would make east its passive and north its active.
    let mut second = base_pair("second");
    second["spec"]["activeSite"] = json!("north");
    second["spec"]["sites"][0]["name"] = json!("north");
    second["spec"]["sites"][0]["adminUrl"] = json!(north.url);
    second["spec"]["sites"][0]["credentialsSecretRef"] = json!({"name": "north-admin"});
    second["spec"]["sites"][1]["name"] = json!("e");
    second["spec"]["sites"][1]["adminUrl"] = json!(format!(
        "{}/",
        p.east.url.to_uppercase().replace("HTTP://", "http://")
    ));
    let out = p.ns.apply(&second.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let msg = wait_for("the second pair degraded", WAIT, || {
        let st = p.ns.get_json("shp/second")?["status"].clone();
        let d = condition(&st, "Degraded");
        (d["reason"] == "SiteClaimed")
            .then(|| d["message"].as_str().unwrap_or_default().to_string())
    });
    assert!(
        msg.contains("site e") && msg.contains(&format!("pair {}/gis", p.ns.name)),
        "{msg}"
    );
    assert!(!p.ns.events("SiteClaimed").is_empty());
    let st = p.ns.get_json("shp/second").expect("second")["status"].clone();
    assert!(
        st["activeSite"].is_null(),
        "the second pair activated a site: {st}"
    );
    // Neither east nor north was written by the second pair; the first
    // pair is untouched.
    assert_eq!(writes(&p.east), east_puts, "east was written");
    assert_eq!(writes(&north), 0, "north was written");
    let first = p.status();
    assert_eq!(first["activeSite"], "east");
    assert_eq!(first["epoch"], 1);
}
