//! The traffic Service and EndpointSlice follow status.trafficSite (the
//! active site), are owned by the pair, and go away with it. Real reference
//! sites: nothing is activated, and no traffic placed, before they answer.

use std::time::Duration;

use serde_json::json;

use crate::support::operator::Operator;
use crate::support::syncbed::live_sites;
use crate::support::{Namespace, stderr, wait_for};

#[test]
fn traffic_points_at_the_active_site_and_goes_with_the_pair() {
    let ns = Namespace::new("traffic");
    let _op = Operator::start(&ns.name, "solo", &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let (_east, _west, mut pair) = live_sites(&ns, dir.path(), "gis");
    pair["spec"]["traffic"] =
        json!({"ports": [{"name": "https", "port": 443, "targetPort": 6443}]});
    let out = ns.apply(&pair.to_string());
    assert!(out.status.success(), "{}", stderr(&out));

    let slice = wait_for(
        "the EndpointSlice of the active site",
        Duration::from_secs(20),
        || {
            ns.get_json("endpointslice/gis-ipv4")
                .filter(|s| !s["endpoints"].is_null())
        },
    );
    assert_eq!(
        slice["endpoints"][0]["addresses"],
        json!(["192.0.2.10"]),
        "{slice}"
    );
    assert_eq!(slice["ports"][0]["port"], 6443);
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "sitehapair.io"
    );
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "gis"
    );
    let svc = ns.get_json("service/gis").expect("traffic Service");
    assert!(
        svc["spec"]["selector"].is_null(),
        "the Service must not select pods: {svc}"
    );
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
    let owner = &svc["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "SiteHAPair");
    assert_eq!(owner["controller"], true);

    // A hand edit of the operator's field is put back (server-side apply
    // with force re-asserts what the operator owns).
    ns.kubectl(&[
        "patch",
        "service",
        "gis",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/ports/0/targetPort","value":9999}]"#,
    ]);
    wait_for(
        "the Service to be restored",
        Duration::from_secs(20),
        || {
            ns.get_json("service/gis")
                .filter(|s| s["spec"]["ports"][0]["targetPort"] == 6443)
        },
    );
    // So is a deleted EndpointSlice: the watch of the traffic objects sees
    // it go, though the pair itself did not change.
    ns.kubectl(&["delete", "endpointslice", "gis-ipv4", "--wait=true"]);
    wait_for(
        "the EndpointSlice to be recreated",
        Duration::from_secs(20),
        || {
            ns.get_json("endpointslice/gis-ipv4")
                .filter(|s| s["endpoints"][0]["addresses"][0] == "192.0.2.10")
        },
    );

    ns.kubectl(&["delete", "shp", "gis", "--wait=true", "--timeout=30s"]);
    assert!(ns.get_json("service/gis").is_none(), "Service left behind");
    assert!(
        ns.get_json("endpointslice/gis-ipv4").is_none(),
        "EndpointSlice left behind"
    );
}

#[test]
fn a_traffic_hostname_makes_an_external_name_service() {
    let ns = Namespace::new("extname");
    let _op = Operator::start(&ns.name, "solo", &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let (_east, _west, mut pair) = live_sites(&ns, dir.path(), "portal");
    pair["spec"]["traffic"] = json!({"serviceName": "portal-traffic"});
    let east = pair["spec"]["sites"][0].as_object_mut().expect("site");
    east.remove("trafficAddresses");
    east.insert("trafficHostname".into(), json!("east.gis.example.com"));
    let out = ns.apply(&pair.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let svc = wait_for("the ExternalName Service", Duration::from_secs(20), || {
        ns.get_json("service/portal-traffic")
            .filter(|s| s["spec"]["type"] == "ExternalName")
    });
    assert_eq!(svc["spec"]["type"], "ExternalName");
    assert_eq!(svc["spec"]["externalName"], "east.gis.example.com");
}
