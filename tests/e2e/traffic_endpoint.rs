//! The endpoint for external load balancers (`--traffic-listen`), on the
//! real control plane: 200 for the site the pair's traffic goes to, 503 for
//! the other, 404 for what the replica does not know, the same from a
//! follower replica as from the leader, and following a promotion.

use std::time::Duration;

use crate::support::http::get;
use crate::support::operator::{FAST_LEASE, Operator, free_port};
use crate::support::pair::Pair;
use crate::support::{Namespace, base_pair, stderr, wait_for};

fn endpoint(port: u16, path: &str) -> Option<(u16, String)> {
    get(&format!("127.0.0.1:{port}"), path, Duration::from_secs(2)).map(|a| (a.status, a.body))
}

/// Wait until the endpoint on `port` answers `status` for `path`.
fn wait_answer(port: u16, path: &str, status: u16) -> String {
    wait_for(
        &format!("GET {path} on :{port} to answer {status}"),
        Duration::from_secs(30),
        || {
            endpoint(port, path)
                .filter(|(s, _)| *s == status)
                .map(|(_, b)| b)
        },
    )
}

#[test]
fn the_traffic_endpoint_follows_a_promotion_on_every_replica_and_names_nothing_unknown() {
    let (lead_port, follow_port) = (free_port(), free_port());
    let lead_listen = format!("127.0.0.1:{lead_port}");
    let mut args = vec!["--traffic-listen", lead_listen.as_str()];
    args.extend_from_slice(&FAST_LEASE);
    let p = Pair::start_with("lb", |_| {}, &args);
    // A second replica: it does not lead, and answers from its own watch.
    let follow_listen = format!("127.0.0.1:{follow_port}");
    let mut args = vec!["--traffic-listen", follow_listen.as_str()];
    args.extend_from_slice(&FAST_LEASE);
    let follower = Operator::start(&p.ns.name, "op-follower", &args);
    let ns = p.ns.name.clone();
    let east = format!("/traffic/{ns}/gis/east");
    let west = format!("/traffic/{ns}/gis/west");
    for port in [lead_port, follow_port] {
        let body = wait_answer(port, &east, 200);
        assert_eq!(body, "east: takes traffic\n");
        assert_eq!(wait_answer(port, &west, 503), "west: takes no traffic\n");
    }
    assert_eq!(
        follower.metric("sitehapair_leader"),
        Some(0.0),
        "the follower leads"
    );
    // Unknown pairs and sites: 404, and nothing named.
    for path in [
        format!("/traffic/{ns}/nope/east"),
        format!("/traffic/{ns}/gis/north"),
        "/traffic/default/gis/east".to_string(),
    ] {
        assert_eq!(
            endpoint(follow_port, &path),
            Some((404, "not found\n".to_string())),
            "{path}"
        );
    }
    // A planned promotion: both replicas follow, west takes traffic.
    p.promote("west");
    p.wait_status("west active, promotion finished", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null() && st["trafficSite"] == "west"
    });
    for port in [lead_port, follow_port] {
        wait_answer(port, &west, 200);
        wait_answer(port, &east, 503);
    }
}

/// A pair in another namespace, not in the replica's scope, is unknown to
/// it: 404, never a name.
#[test]
fn the_traffic_endpoint_of_a_namespaced_replica_never_answers_for_another_namespace() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let other = Namespace::new("lb-other");
    let out = other.apply(&base_pair("gis").to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let mine = Namespace::new("lb-mine");
    let _op = Operator::start(&mine.name, "op", &["--traffic-listen", &listen]);
    // The replica has listed its namespace (an unknown pair there is 404
    // from a fresh view, not 503 from none yet).
    wait_answer(port, &format!("/traffic/{}/gis/east", mine.name), 404);
    for site in ["east", "west"] {
        let path = format!("/traffic/{}/gis/{site}", other.name);
        assert_eq!(
            endpoint(port, &path),
            Some((404, "not found\n".to_string())),
            "{path}"
        );
    }
}
