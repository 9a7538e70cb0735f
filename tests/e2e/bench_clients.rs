//! Load command, not a test (ignored by default): what a client sees,
//! scenario by scenario, through both data paths in front of a pair's two
//! reference sites: HAProxy on loopback checking the operator's endpoint
//! (tests/e2e/support/haproxy.rs), and the pair's Service ClusterIP on a
//! test-bed node of the run's own, routed by kube-proxy to the
//! EndpointSlice the operator writes (support::node; the scenarios run
//! inside the node's namespaces, the operator as processes there).
//!
//! A client GETs through the path every 20 ms during each of: a planned
//! promotion; an automatic failover after the active's process is killed,
//! with spec.traffic.failover Immediate, then WaitForPromotion; a planned
//! promotion whose leading operator replica dies in the middle (after the
//! old active is demoted, before the target is activated; the other replica
//! leads once the Lease runs out). For each: requests sent, failed (no
//! answer or 5xx), served by a site that was not active at that moment (see
//! support/client_record.rs), the longest run of failures, and the time
//! from the trigger until requests succeed again, beside the floor of the
//! path. Run: scripts/bench-clients.sh

use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::load_balancer::{CONTACT_S, EVERY, INTERVAL_S, THRESHOLD, automatic, haproxy_for};
use crate::support::client_record::Figures;
use crate::support::clients::Clients;
use crate::support::haproxy::{CHECK_INTER_MS, FALL, HaProxy, RISE};
use crate::support::node::{Node, add_bridge_address};
use crate::support::operator::{FAST_LEASE, Operator, free_port};
use crate::support::pair::Pair;
use crate::support::status::WAIT;
use crate::support::wait_for;

/// The inner bench, run inside the node's namespaces by the outer one.
const INNER: &str = "bench_clients::bench_clients_inside_the_node";
/// Where east and west serve clients on the node (on its bridge).
const NODE_CLIENTS: [&str; 2] = ["10.88.0.31", "10.88.0.32"];
/// Each scenario's sites serve clients on a port of their own on the node.
static NEXT_PORT: AtomicU16 = AtomicU16::new(18100);

/// How clients reach the pair.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// HAProxy on loopback, checking the operators' endpoints.
    HaProxy,
    /// The pair's Service ClusterIP, through kube-proxy (inside a node).
    ClusterIp,
}

/// A pair up for one scenario: the address clients ask, and HAProxy when
/// that is the path.
struct Bed {
    p: Pair,
    target: String,
    _hx: Option<HaProxy>,
}

/// Start the pair `gis` (east active) for `path`, edited by `tweak`, with
/// one operator (`op_args` besides; with the endpoint on for HAProxy).
fn bed(path: Path, prefix: &str, tweak: impl FnOnce(&mut Value), op_args: &[&str]) -> Bed {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut args = op_args.to_vec();
    if path == Path::HaProxy {
        args.extend_from_slice(&["--traffic-listen", &listen]);
    }
    let p = start_pair(path, prefix, tweak, &args);
    front(path, p, &[listen])
}

fn start_pair(path: Path, prefix: &str, tweak: impl FnOnce(&mut Value), args: &[&str]) -> Pair {
    match path {
        Path::HaProxy => Pair::start_with_clients(prefix, tweak, args),
        Path::ClusterIp => {
            let port = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
            Pair::start_on_node(prefix, tweak, args, NODE_CLIENTS, port)
        }
    }
}

/// The path in front of `p`: HAProxy checking `endpoints`, or the pair's
/// ClusterIP.
fn front(path: Path, p: Pair, endpoints: &[String]) -> Bed {
    match path {
        Path::HaProxy => {
            let hx = haproxy_for(&p, endpoints);
            Bed {
                target: hx.addr.clone(),
                _hx: Some(hx),
                p,
            }
        }
        Path::ClusterIp => Bed {
            target: p.cluster_ip(),
            _hx: None,
            p,
        },
    }
}

/// Run the client against `target` while `trigger` acts, until `settled`
/// says the pair is done and the client has been served by `to` 20 times
/// in a row; the figures.
fn measure(
    path: Path,
    target: &str,
    to: &str,
    trigger: impl FnOnce(),
    settled: impl FnOnce(),
) -> Figures {
    let clients = Clients::start(target, EVERY);
    clients.wait_served_by("east", 10, WAIT);
    kube_proxy_quiet(path);
    let t = Instant::now();
    trigger();
    settled();
    clients.wait_served_by(to, 20, Duration::from_secs(60));
    clients.finish().since(t).figures(t)
}

/// On the node, wait until kube-proxy's last sync of its rules is a
/// minSyncPeriod (1 s) old, so that the scenario's change is applied when
/// it comes rather than held back by the pair's own start (a cluster with
/// other changes in the last second pays up to that second too: the
/// floor column says so).
fn kube_proxy_quiet(path: Path) {
    if path != Path::ClusterIp {
        return;
    }
    wait_for("kube-proxy's last sync a second old", WAIT, || {
        let m = crate::support::http::get("127.0.0.1:10249", "/metrics", Duration::from_secs(2))?;
        // One gauge per IP family ({ip_family="IPv4"} ...): the latest.
        let last = m
            .body
            .lines()
            .filter(|l| l.starts_with("kubeproxy_sync_proxy_rules_last_timestamp_seconds"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .reduce(f64::max)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        (now - last >= 1.1).then_some(())
    });
}

fn done_on<'a>(p: &'a Pair, to: &'static str) -> impl FnOnce() + 'a {
    move || {
        p.wait_status(&format!("{to} active, promotion done"), |st| {
            st["activeSite"] == to && st["promotion"].is_null() && st["trafficSite"] == to
        });
    }
}

fn planned(path: Path) -> Figures {
    let b = bed(path, "bench-cl-planned", |_| {}, &[]);
    measure(
        path,
        &b.target,
        "west",
        || b.p.promote("west"),
        done_on(&b.p, "west"),
    )
}

fn failover(path: Path, traffic: &str) -> Figures {
    let mut b = bed(
        path,
        "bench-cl-failover",
        |pair| automatic(pair, traffic),
        &[],
    );
    let clients = Clients::start(&b.target, EVERY);
    clients.wait_served_by("east", 10, WAIT);
    kube_proxy_quiet(path);
    let t = Instant::now();
    b.p.east.kill();
    done_on(&b.p, "west")();
    clients.wait_served_by("west", 20, Duration::from_secs(60));
    clients.finish().since(t).figures(t)
}

/// The leader exits (as SIGKILL would) right after writing the phase
/// Promoting, before activating west: east is already passive.
fn planned_leader_killed(path: Path) -> Option<Figures> {
    if !cfg!(feature = "failpoints") {
        return None;
    }
    let (a, b) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let mut p = start_pair(path, "bench-cl-kill", |_| {}, &FAST_LEASE);
    p.op = None;
    let mut args = vec!["--traffic-listen", a.as_str()];
    args.extend_from_slice(&FAST_LEASE);
    let mut doomed = Operator::start_env(
        &p.ns.name,
        "doomed",
        &args,
        &[("SITEHAPAIR_FAILPOINT_EXIT_AT_PHASE", "Promoting")],
    );
    wait_for("the doomed replica to lead", WAIT, || {
        (doomed.metric("sitehapair_leader") == Some(1.0)).then_some(())
    });
    let mut args = vec!["--traffic-listen", b.as_str()];
    args.extend_from_slice(&FAST_LEASE);
    let _heir = Operator::start(&p.ns.name, "heir", &args);
    let bd = front(path, p, &[a, b]);
    let f = measure(
        path,
        &bd.target,
        "west",
        || bd.p.promote("west"),
        || {
            doomed
                .wait_exit(WAIT)
                .expect("the leader to exit at Promoting");
            done_on(&bd.p, "west")();
        },
    );
    Some(f)
}

const SCENARIOS: [&str; 4] = [
    "planned promotion",
    "failover (kill), Immediate",
    "failover (kill), WaitForPromotion",
    "planned, leader killed mid-promotion",
];

/// Every scenario through `path`, in SCENARIOS' order.
fn run_all(path: Path) -> Vec<Option<Figures>> {
    vec![
        Some(planned(path)),
        Some(failover(path, "Immediate")),
        Some(failover(path, "WaitForPromotion")),
        planned_leader_killed(path),
    ]
}

/// Each path's floor for each scenario.
fn floors(path: Path) -> [String; 4] {
    let switch = match path {
        Path::HaProxy => format!("check {CHECK_INTER_MS} ms x rise {RISE}"),
        // kube-proxy's iptables minSyncPeriod (1 s by default): a change
        // is applied at once unless one was in the last second.
        Path::ClusterIp => "kube-proxy's sync, up to minSyncPeriod 1 s".to_string(),
    };
    let failover =
        format!("health {INTERVAL_S} s x {THRESHOLD} + contactTimeout {CONTACT_S} s + {switch}");
    let kill = format!("--lease-duration {} s + {switch}", FAST_LEASE[1]);
    [switch, failover.clone(), failover, kill]
}

/// One row of the inner bench's output, for the outer one to read.
fn row_line(scenario: &str, f: &Option<Figures>) -> String {
    match f {
        Some(f) => format!(
            "ROW\t{scenario}\t{}\t{}\t{}\t{}\t{}\t{}",
            f.sent,
            f.failed,
            f.stale_served,
            f.longest_run,
            f.longest_run_ms,
            f.served_again_ms.map_or("-".into(), |v| v.to_string())
        ),
        None => format!("ROW\t{scenario}\t-"),
    }
}

fn parse_row(line: &str) -> Option<(String, Option<Figures>)> {
    // The first row may share its line with the test harness's "test …".
    let f: Vec<&str> = line[line.find("ROW\t")? + 4..].split('\t').collect();
    let figures = (f.len() == 7).then(|| Figures {
        sent: f[1].parse().unwrap_or_default(),
        failed: f[2].parse().unwrap_or_default(),
        stale_served: f[3].parse().unwrap_or_default(),
        longest_run: f[4].parse().unwrap_or_default(),
        longest_run_ms: f[5].parse().unwrap_or_default(),
        served_again_ms: f[6].parse().ok(),
    });
    Some((f[0].to_string(), figures))
}

fn cell(v: Option<u64>) -> String {
    v.map_or("never".into(), |ms| format!("{:.2} s", ms as f64 / 1000.0))
}

fn print(rows: &[(&str, &str, Option<Figures>, String)]) {
    println!(
        "client-observed figures, a GET every {} ms; HAProxy checks the operator's endpoint every {CHECK_INTER_MS} ms, rise {RISE}, fall {FALL}",
        EVERY.as_millis()
    );
    println!(
        "{:<38} {:<20} {:>5} {:>6} {:>14} {:>22} {:>13}  floor",
        "scenario",
        "path",
        "sent",
        "failed",
        "passive served",
        "longest failure run",
        "served again"
    );
    for (scenario, path, figures, floor) in rows {
        match figures {
            Some(f) => println!(
                "{:<38} {:<20} {:>5} {:>6} {:>14} {:>22} {:>13}  {}",
                scenario,
                path,
                f.sent,
                f.failed,
                f.stale_served,
                format!("{} ({} ms)", f.longest_run, f.longest_run_ms),
                cell(f.served_again_ms),
                floor
            ),
            None => println!(
                "{:<38} {:<20} {:>5} {:>6} {:>14} {:>22} {:>13}  needs --features failpoints",
                scenario, path, "-", "-", "-", "-", "-"
            ),
        }
    }
}

#[test]
#[ignore = "a benchmark: run with scripts/bench-clients.sh"]
fn bench_clients_through_load_balancers() {
    let haproxy = run_all(Path::HaProxy);
    let node = Node::up(
        PathBuf::from(format!("/tmp/shb-{}", std::process::id())),
        None,
    );
    let text = node.run_inside(INNER, &[]);
    drop(node);
    let inside: Vec<(String, Option<Figures>)> = text.lines().filter_map(parse_row).collect();
    assert_eq!(
        inside.len(),
        SCENARIOS.len(),
        "the inner bench's rows:\n{text}"
    );
    let (hf, cf) = (floors(Path::HaProxy), floors(Path::ClusterIp));
    let mut rows = Vec::new();
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        rows.push((*scenario, "haproxy", haproxy[i], hf[i].clone()));
        rows.push((
            *scenario,
            "kube-proxy ClusterIP",
            inside[i].1,
            cf[i].clone(),
        ));
    }
    print(&rows);
}

#[test]
#[ignore = "run inside the node's namespaces by bench_clients_through_load_balancers"]
fn bench_clients_inside_the_node() {
    for addr in NODE_CLIENTS {
        add_bridge_address(addr);
    }
    for (scenario, f) in SCENARIOS.iter().zip(run_all(Path::ClusterIp)) {
        println!("{}", row_line(scenario, &f));
    }
}
