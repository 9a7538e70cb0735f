//! A real load balancer (HAProxy, tests/e2e/support/haproxy.rs) in front of
//! two reference sites' client paths, its health checks asking the
//! operator's endpoint (`--traffic-listen`), and a client sending requests
//! through it all along: HAProxy follows the endpoint through a planned
//! promotion without losing a request, and through an automatic failover
//! after the active's process is killed, and no client is ever served by a
//! site that was not active.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::clients::Clients;
use crate::support::haproxy::{Backend, HaProxy};
use crate::support::operator::free_port;
use crate::support::pair::Pair;
use crate::support::status::WAIT;

/// The client's pause between requests.
pub const EVERY: Duration = Duration::from_millis(20);
/// Automatic failover in these tests: failureThreshold × interval.
pub const THRESHOLD: u64 = 3;
pub const INTERVAL_S: u64 = 1;
/// spec.promotion.contactTimeout (its least): a killed old active is
/// silent, so the target is activated only once this window has run out.
pub const CONTACT_S: u64 = 1;

/// The pair (east active) with its sites' client paths, an operator with
/// the endpoint on, `extra` operator flags, and HAProxy in front of the
/// sites checking that endpoint; and the endpoint's address.
pub fn start(
    prefix: &str,
    tweak: impl FnOnce(&mut Value),
    extra: &[&str],
) -> (Pair, HaProxy, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["--traffic-listen", listen.as_str()];
    args.extend_from_slice(extra);
    let p = Pair::start_with_clients(prefix, tweak, &args);
    let hx = haproxy_for(&p, std::slice::from_ref(&listen));
    (p, hx, listen)
}

/// HAProxy in front of `p`'s sites, checking the endpoints `endpoints`;
/// waited for until it sends traffic to east only.
pub fn haproxy_for(p: &Pair, endpoints: &[String]) -> HaProxy {
    let east = p.east.client.clone().expect("east's client path");
    let west = p.west.client.clone().expect("west's client path");
    let hx = HaProxy::start(
        &p.ns.name,
        "gis",
        &[
            Backend {
                site: "east",
                client_addr: &east,
            },
            Backend {
                site: "west",
                client_addr: &west,
            },
        ],
        endpoints,
    );
    hx.wait_only_up("east", WAIT);
    hx
}

/// Automatic failover after THRESHOLD checks INTERVAL_S apart, the
/// contact window CONTACT_S, traffic during it as `traffic`.
pub fn automatic(pair: &mut Value, traffic: &str) {
    pair["spec"]["promotion"] = json!({
        "contactTimeout": format!("{CONTACT_S}s"),
        "automatic": {"enabled": true, "failureThreshold": THRESHOLD, "minInterval": "1s"}
    });
    pair["spec"]["healthCheck"] = json!({"interval": format!("{INTERVAL_S}s"), "timeout": "1s"});
    pair["spec"]["traffic"] = json!({"failover": traffic});
}

/// The configuration the runbook gives users (examples/haproxy) is one
/// HAProxy accepts, with the hold the tests run.
#[test]
fn the_example_haproxy_configuration_is_valid() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = std::fs::read_to_string(format!("{root}/examples/haproxy/haproxy.cfg"))
        .expect("examples/haproxy/haproxy.cfg");
    assert!(cfg.contains("lua-load /etc/haproxy/hold.lua"), "{cfg}");
    let cfg = cfg.replace(
        "/etc/haproxy/hold.lua",
        &format!("{root}/examples/haproxy/hold.lua"),
    );
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, cfg).expect("write the configuration");
    let out = std::process::Command::new(crate::support::haproxy::haproxy_bin())
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output()
        .expect("run haproxy -c (scripts/setup.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "haproxy -c refused the example: {text}"
    );
    assert!(text.contains("Configuration file is valid"), "{text}");
}

#[test]
fn haproxy_follows_the_operators_endpoint_through_a_planned_promotion_without_losing_a_request() {
    let (p, hx, _) = start("lb-planned", |_| {}, &[]);
    let start = Instant::now();
    let clients = Clients::start(&hx.addr, EVERY);
    clients.wait_served(10, WAIT);
    p.promote("west");
    p.wait_status("west active, traffic on west", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null() && st["trafficSite"] == "west"
    });
    hx.wait_only_up("west", WAIT);
    let settled = Instant::now();
    clients.wait_served(10, WAIT);
    let rec = clients.finish();
    eprintln!(
        "planned promotion through haproxy: {:?}",
        rec.figures(start)
    );
    assert_eq!(
        rec.failed(),
        0,
        "failed requests: {}\n{}",
        rec.failures(start),
        hx.logs()
    );
    assert!(
        rec.stale_served().is_empty(),
        "served by a site that was not active: {:?}",
        rec.stale_served()
    );
    assert_eq!(rec.served_by_after(settled), ["west"]);
    assert_eq!(rec.last_served(), Some(("west".to_string(), 2)));
}

#[test]
fn haproxy_follows_an_automatic_failover_after_the_active_is_killed() {
    let (mut p, hx, _) = start("lb-failover", |pair| automatic(pair, "Immediate"), &[]);
    let start = Instant::now();
    let clients = Clients::start(&hx.addr, EVERY);
    clients.wait_served(10, WAIT);
    let trigger = Instant::now();
    p.east.kill();
    p.wait_status("automatic failover to west, complete", |st| {
        st["activeSite"] == "west" && st["promotion"].is_null() && st["trafficSite"] == "west"
    });
    hx.wait_only_up("west", WAIT);
    let settled = Instant::now();
    clients.wait_served(10, WAIT);
    let rec = clients.finish();
    eprintln!("failover through haproxy: {:?}", rec.figures(trigger));
    assert!(
        rec.stale_served().is_empty(),
        "served by a site that was not active: {:?}",
        rec.stale_served()
    );
    assert_eq!(rec.served_by_after(settled), ["west"]);
    assert_eq!(rec.last_served(), Some(("west".to_string(), 2)));
    // The floor: the death is seen after THRESHOLD failed checks (the first
    // within one interval of it, so at most THRESHOLD × INTERVAL_S); the
    // killed old active is silent, so west is activated once the contact
    // window has run out, looked at on the pair's next trip (at most one
    // interval more); HAProxy then sees the endpoint flip within one check.
    // The margin: one second for the API writes, the watch, the check and
    // a loaded machine.
    let bound = Duration::from_secs(THRESHOLD * INTERVAL_S + CONTACT_S + INTERVAL_S + 1);
    let again = rec
        .served_again_after(trigger)
        .expect("served again after the failover");
    assert!(
        again <= bound,
        "served again {again:?} after the kill, more than {bound:?}; failures: {}",
        rec.failures(start)
    );
}
