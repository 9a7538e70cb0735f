//! Invalid specs are refused by the API server with a message that names the
//! field and says what to fix.

use serde_json::{Value, json};

use crate::support::{Namespace, base_pair, stderr};

fn site(name: &str) -> Value {
    json!({"name": name, "adminUrl": format!("https://{name}.example/admin"),
           "credentialsSecretRef": {"name": format!("{name}-admin")}, "trafficAddresses": ["192.0.2.1"]})
}

fn refused(ns: &Namespace, pair: &Value, expect: &[&str]) {
    let out = ns.apply(&pair.to_string());
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "API server accepted an invalid pair: {pair}"
    );
    for needle in expect {
        assert!(err.contains(needle), "error lacks {needle:?}:\n{err}");
    }
}

#[test]
fn invalid_specs_are_refused_with_a_clear_message() {
    let ns = Namespace::new("invalid");
    // Sanity: the base pair is valid.
    let out = ns.apply(&base_pair("ok").to_string());
    assert!(out.status.success(), "base pair refused: {}", stderr(&out));

    let mut p = base_pair("one-site");
    p["spec"]["sites"] = json!([site("east")]);
    refused(&ns, &p, &["spec.sites", "should have at least 2 items"]);

    let mut p = base_pair("nine-sites");
    p["spec"]["sites"] = Value::Array((0..9).map(|i| site(&format!("s{i}"))).collect());
    p["spec"]["activeSite"] = json!("s0");
    refused(&ns, &p, &["spec.sites", "must have at most 8 items"]);

    let mut p = base_pair("duplicate");
    p["spec"]["sites"] = json!([site("east"), site("east")]);
    refused(&ns, &p, &["spec.sites", "every site name must be unique"]);

    let mut p = base_pair("bad-active");
    p["spec"]["activeSite"] = json!("north");
    refused(&ns, &p, &["spec.activeSite", "must name one of spec.sites"]);

    let mut p = base_pair("bad-name");
    p["spec"]["sites"][1]["name"] = json!("West_Site");
    p["spec"]["activeSite"] = json!("east");
    refused(&ns, &p, &["spec.sites[1].name", "should match"]);

    let mut p = base_pair("bad-url");
    p["spec"]["sites"][0]["adminUrl"] = json!("ftp://east.example/admin");
    refused(
        &ns,
        &p,
        &[
            "spec.sites[0].adminUrl",
            "adminUrl must be an http:// or https:// URL",
        ],
    );

    let mut p = base_pair("bad-duration");
    p["spec"]["promotion"] = json!({"contactTimeout": "half an hour"});
    refused(&ns, &p, &["spec.promotion.contactTimeout", "should match"]);

    let mut p = base_pair("bad-prune");
    p["spec"]["sync"] = json!({"maxPruneFraction": 150});
    refused(
        &ns,
        &p,
        &[
            "spec.sync.maxPruneFraction",
            "should be less than or equal to 100",
        ],
    );

    let mut p = base_pair("no-traffic");
    p["spec"]["sites"][0]
        .as_object_mut()
        .expect("site")
        .remove("trafficAddresses");
    refused(
        &ns,
        &p,
        &[
            "spec.sites[0]",
            "set exactly one of trafficAddresses or trafficHostname",
        ],
    );

    let mut p = base_pair("bad-ip");
    p["spec"]["sites"][0]["trafficAddresses"] = json!(["not-an-ip"]);
    refused(&ns, &p, &["trafficAddresses", "must be IP addresses"]);

    // Only an http hook can be rehearsed.
    let mut p = base_pair("rehearse-job");
    p["spec"]["promotion"] = json!({"hooks": [{"name": "certs", "rehearse": true,
        "job": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}}]});
    refused(
        &ns,
        &p,
        &["spec.promotion.hooks[0]", "rehearse is for http hooks"],
    );
}
