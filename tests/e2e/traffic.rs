//! The traffic Service and EndpointSlice follow status.trafficSite (the
//! active site), are owned by the pair, and go away with it. Real reference
//! sites: nothing is activated, and no traffic placed, before they answer.
//! Every traffic write is conditioned on the version it was planned on, and
//! a dual-stack switch never sends the two families to two sites.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;
use sitehapair::api::SiteHAPair;
use sitehapair::traffic::objects::build;
use sitehapair::traffic::{Known, Seen, TrafficError, apply_guarded};

use crate::support::operator::Operator;
use crate::support::pair::Pair;
use crate::support::syncbed::live_sites;
use crate::support::{Namespace, base_pair, kube_client, stderr, wait_for};

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

/// The addresses of a slice's endpoints.
fn addresses(slice: &EndpointSlice) -> Vec<String> {
    slice
        .endpoints
        .iter()
        .flatten()
        .flat_map(|e| e.addresses.clone())
        .collect()
}

#[test]
fn a_traffic_write_planned_on_a_moved_slice_is_refused() {
    // No operator: this test is the operator's traffic write, called as it
    // calls it, planned on versions another writer has since overtaken.
    let ns = Namespace::new("moved");
    let out = ns.apply(&base_pair("gis").to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = kube_client().await;
        let pair = Api::<SiteHAPair>::namespaced(client.clone(), &ns.name)
            .get("gis")
            .await
            .expect("pair");
        let owner = pair.controller_owner_ref(&()).expect("owner reference");
        let to_east = build("gis", &ns.name, &pair.spec, Some(&pair.spec.sites[0]), owner);
        let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &ns.name);

        // This replica's write creates the objects; the versions it got
        // back are what its next write is planned on.
        let first = apply_guarded(&client, &ns.name, "gis", &to_east, &Known::new())
            .await
            .expect("a first write lands");
        let planned_on: Known = first
            .iter()
            .map(|a| {
                let seen = Seen {
                    hash: None,
                    ..Seen::of_applied(a)
                };
                ((a.kind, a.name.clone()), seen)
            })
            .collect();
        let written = slices.get("gis-ipv4").await.expect("slice");
        assert_eq!(addresses(&written), ["192.0.2.10"]);

        // Another writer (a new leader) moves the slice to west.
        ns.kubectl(&[
            "patch",
            "endpointslice",
            "gis-ipv4",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"sitehapair.io/active-site":"west"}},"endpoints":[{"addresses":["192.0.2.20"]}]}"#,
        ]);
        let moved = slices.get("gis-ipv4").await.expect("slice");
        assert_ne!(moved.resource_version(), written.resource_version());

        // The write planned on the old version lands late: refused.
        let err = apply_guarded(&client, &ns.name, "gis", &to_east, &planned_on)
            .await
            .expect_err("a write planned on a moved slice must be refused");
        assert!(
            matches!(&err, TrafficError::Moved { kind: "EndpointSlice", name, resource_version, .. }
                if name == "gis-ipv4" && Some(resource_version) == written.resource_version().as_ref()),
            "{err}"
        );
        assert!(err.to_string().contains("moved since it was read"), "{err}");
        let now = slices.get("gis-ipv4").await.expect("slice");
        assert_eq!(addresses(&now), ["192.0.2.20"], "the late write landed");
        assert_eq!(now.resource_version(), moved.resource_version());

        // The other writer deletes the slice (its site has no IPv4, say):
        // the late write does not bring it back.
        ns.kubectl(&["delete", "endpointslice", "gis-ipv4", "--wait=true"]);
        let err = apply_guarded(&client, &ns.name, "gis", &to_east, &planned_on)
            .await
            .expect_err("a write planned on a deleted slice must be refused");
        assert!(matches!(&err, TrafficError::Moved { name, .. } if name == "gis-ipv4"), "{err}");
        assert!(
            slices.get_opt("gis-ipv4").await.expect("get").is_none(),
            "the late write brought the deleted slice back"
        );

        // Planned on what the cluster holds now, the same write lands.
        let listed = slices
            .list_metadata(&ListParams::default().labels("sitehapair.io/pair=gis"))
            .await
            .expect("list");
        assert!(listed.items.is_empty());
        apply_guarded(&client, &ns.name, "gis", &to_east, &Known::new())
            .await
            .expect("a write planned on the current state lands");
        let back = slices.get("gis-ipv4").await.expect("slice");
        assert_eq!(addresses(&back), ["192.0.2.10"]);
    });
}

/// East and west each with an IPv4 and an IPv6 traffic address.
fn dual_stack(pair: &mut serde_json::Value) {
    pair["spec"]["sites"][0]["trafficAddresses"] = json!(["192.0.2.10", "2001:db8::10"]);
    pair["spec"]["sites"][1]["trafficAddresses"] = json!(["192.0.2.20", "2001:db8::20"]);
    pair["spec"]["traffic"] =
        json!({"ports": [{"name": "https", "port": 443, "targetPort": 6443}]});
}

/// The site an address belongs to.
fn site_of(address: &str) -> &'static str {
    match address {
        "192.0.2.10" | "2001:db8::10" => "east",
        "192.0.2.20" | "2001:db8::20" => "west",
        other => panic!("an address of no site: {other}"),
    }
}

/// One moment of the pair's slices: per slice, the site its endpoints
/// point at ("-" for none).
type Moment = BTreeMap<String, String>;

fn moment_of(slices: &BTreeMap<String, Vec<String>>) -> Moment {
    slices
        .iter()
        .map(|(name, addrs)| {
            let mut sites: Vec<&str> = addrs.iter().map(|a| site_of(a)).collect();
            sites.dedup();
            let site = match sites.as_slice() {
                [] => "-".to_string(),
                [one] => (*one).to_string(),
                many => panic!("slice {name} points at {many:?}"),
            };
            (name.clone(), site)
        })
        .collect()
}

fn two_sites(m: &Moment) -> bool {
    let mut sites = m.values().filter(|s| *s != "-");
    sites.next().is_some_and(|first| sites.any(|s| s != first))
}

#[test]
fn a_dual_stack_switch_never_points_both_families_at_two_sites() {
    let p = Pair::start("dualstack", dual_stack);
    let slice_sites = || {
        let list = p.ns.get_json("endpointslices")?;
        let mut m = BTreeMap::new();
        for s in list["items"].as_array()? {
            let addrs: Vec<String> = s["endpoints"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|e| e["addresses"].as_array().cloned().unwrap_or_default())
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect();
            m.insert(s["metadata"]["name"].as_str()?.to_string(), addrs);
        }
        Some(moment_of(&m))
    };
    let both_on = |site: &str| {
        let want = both_on_moment(site);
        move |m: &Moment| *m == want
    };
    wait_for("both families on east", Duration::from_secs(30), || {
        slice_sites().filter(both_on("east"))
    });

    // Every version of the pair's slices from here on, as the API server
    // hands them to a watch, in order.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let moments: Arc<Mutex<Vec<Moment>>> = Arc::default();
    let writes: Arc<Mutex<Vec<String>>> = Arc::default();
    let (stream, mut held) = rt.block_on(async {
        let client = kube_client().await;
        let api: Api<EndpointSlice> = Api::namespaced(client, &p.ns.name);
        let selector = "sitehapair.io/pair=gis";
        let list = api
            .list(&ListParams::default().labels(selector))
            .await
            .expect("list slices");
        let held: BTreeMap<String, Vec<String>> = list
            .items
            .iter()
            .map(|s| (s.name_any(), addresses(s)))
            .collect();
        let from = list.metadata.resource_version.expect("list version");
        let stream = api
            .watch(&WatchParams::default().labels(selector), &from)
            .await
            .expect("watch slices");
        (stream.boxed(), held)
    });
    moments.lock().expect("moments").push(moment_of(&held));
    let watch = rt.spawn({
        let (moments, writes) = (moments.clone(), writes.clone());
        async move {
            let mut stream = stream;
            while let Ok(Some(event)) = stream.try_next().await {
                let what = match event {
                    WatchEvent::Added(s) | WatchEvent::Modified(s) => {
                        let what = format!("{} -> {:?}", s.name_any(), addresses(&s));
                        held.insert(s.name_any(), addresses(&s));
                        what
                    }
                    WatchEvent::Deleted(s) => {
                        held.remove(&s.name_any());
                        format!("{} deleted", s.name_any())
                    }
                    WatchEvent::Bookmark(_) => continue,
                    WatchEvent::Error(e) => {
                        // The moments stop here: the wait below says so.
                        writes
                            .lock()
                            .expect("writes")
                            .push(format!("watch error: {e:?}"));
                        return;
                    }
                };
                writes.lock().expect("writes").push(what);
                moments.lock().expect("moments").push(moment_of(&held));
            }
        }
    });

    p.promote("west");
    p.wait_status("west active", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null()
    });
    let last = || moments.lock().expect("moments").last().cloned();
    wait_for(
        "the watch to see both families on west",
        Duration::from_secs(30),
        || {
            let w = writes.lock().expect("writes").clone();
            assert!(
                !w.last().is_some_and(|x| x.starts_with("watch error")),
                "{w:#?}"
            );
            last().filter(both_on("west"))
        },
    );
    // Anything written after the switch would show up by now.
    std::thread::sleep(Duration::from_secs(2));
    watch.abort();
    let moments = moments.lock().expect("moments").clone();
    let writes = writes.lock().expect("writes").clone();
    eprintln!(
        "slice writes during the switch ({}): {writes:#?}",
        writes.len()
    );
    eprintln!("moments: {moments:?}");
    for m in &moments {
        assert!(
            !two_sites(m),
            "IPv4 and IPv6 clients sent to two sites at once: {m:?}\nmoments: {moments:?}\nwrites: {writes:#?}"
        );
    }
    assert_eq!(moments.first().cloned(), Some(both_on_moment("east")));
    assert_eq!(moments.last().cloned(), Some(both_on_moment("west")));
    // The drain costs two writes: one empty write of each family.
    assert!(
        writes.len() <= 4,
        "more slice writes than a drained switch needs: {writes:#?}"
    );
}

fn both_on_moment(site: &str) -> Moment {
    [("gis-ipv4", site), ("gis-ipv6", site)]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}
