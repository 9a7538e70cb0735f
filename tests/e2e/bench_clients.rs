//! Load command, not a test (ignored by default): what a client sees
//! through a load balancer, scenario by scenario. A client GETs through
//! HAProxy (tests/e2e/support/haproxy.rs) every 20 ms during each of: a
//! planned promotion; an automatic failover after the active's process is
//! killed, with spec.traffic.failover Immediate, then WaitForPromotion; a
//! planned promotion whose leading operator replica dies in the middle
//! (after the old active is demoted, before the target is activated; the
//! other replica leads once the Lease runs out). For each: requests sent,
//! failed (no answer or 5xx), served by a site that was not active at that
//! moment (see support/clients.rs), the longest run of failures, and the
//! time from the trigger until requests succeed again, beside the floor of
//! the path. Run: scripts/bench-clients.sh
//!
//! The table has a column for the path; the kube-proxy ClusterIP path (the
//! test-bed node's Service in front of the same sites) is another change's,
//! and its rows say so until it lands.

use std::time::{Duration, Instant};

use crate::load_balancer::{
    CONTACT_S, EVERY, INTERVAL_S, THRESHOLD, automatic, haproxy_for, start,
};
use crate::support::haproxy::{CHECK_INTER_MS, FALL, HaProxy, RISE};
use crate::support::lb_clients::{Clients, Figures};
use crate::support::operator::{FAST_LEASE, Operator, free_port};
use crate::support::pair::Pair;
use crate::support::status::WAIT;
use crate::support::wait_for;

/// A scenario: its name, its floor, and how to run it (None: not here).
type Scenario = (&'static str, String, Box<dyn Fn() -> Option<Figures>>);

struct Row {
    scenario: &'static str,
    path: &'static str,
    figures: Option<Figures>,
    floor: String,
}

/// Run the client through `hx` while `trigger` acts, until `settled` says
/// the pair is done and HAProxy sends to `to` only; the figures.
fn measure(hx: &HaProxy, to: &str, trigger: impl FnOnce(), settled: impl FnOnce()) -> Figures {
    let clients = Clients::start(&hx.addr, EVERY);
    clients.wait_served(20, WAIT);
    let t = Instant::now();
    trigger();
    settled();
    hx.wait_only_up(to, Duration::from_secs(60));
    clients.wait_served(20, WAIT);
    clients.finish().figures(t)
}

fn done_on<'a>(p: &'a Pair, to: &'static str) -> impl FnOnce() + 'a {
    move || {
        p.wait_status(&format!("{to} active, promotion done"), |st| {
            st["activeSite"] == to && st["promotion"].is_null() && st["trafficSite"] == to
        });
    }
}

fn planned() -> Figures {
    let (p, hx, _) = start("bench-lb-planned", |_| {}, &[]);
    measure(&hx, "west", || p.promote("west"), done_on(&p, "west"))
}

fn failover(traffic: &str) -> Figures {
    let (mut p, hx, _) = start("bench-lb-failover", |pair| automatic(pair, traffic), &[]);
    let clients = Clients::start(&hx.addr, EVERY);
    clients.wait_served(20, WAIT);
    let t = Instant::now();
    p.east.kill();
    done_on(&p, "west")();
    hx.wait_only_up("west", Duration::from_secs(60));
    clients.wait_served(20, WAIT);
    clients.finish().figures(t)
}

/// The leader exits (as SIGKILL would) right after writing the phase
/// Promoting, before activating west: east is already passive.
fn planned_leader_killed() -> Option<Figures> {
    if !cfg!(feature = "failpoints") {
        return None;
    }
    let mut p = Pair::start_with_clients("bench-lb-kill", |_| {}, &FAST_LEASE);
    p.op = None;
    let (a, b) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
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
    let hx = haproxy_for(&p, &[a, b]);
    let f = measure(
        &hx,
        "west",
        || p.promote("west"),
        || {
            doomed
                .wait_exit(WAIT)
                .expect("the leader to exit at Promoting");
            done_on(&p, "west")();
        },
    );
    Some(f)
}

fn cell(v: Option<u64>) -> String {
    v.map_or("never".into(), |ms| format!("{:.2} s", ms as f64 / 1000.0))
}

fn print(rows: &[Row]) {
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
    for r in rows {
        match r.figures {
            Some(f) => println!(
                "{:<38} {:<20} {:>5} {:>6} {:>14} {:>22} {:>13}  {}",
                r.scenario,
                r.path,
                f.sent,
                f.failed,
                f.stale_served,
                format!("{} ({} ms)", f.longest_run, f.longest_run_ms),
                cell(f.served_again_ms),
                r.floor
            ),
            None => println!(
                "{:<38} {:<20} {:>5} {:>6} {:>14} {:>22} {:>13}  {}",
                r.scenario, r.path, "-", "-", "-", "-", "-", r.floor
            ),
        }
    }
}

#[test]
#[ignore = "a benchmark: run with scripts/bench-clients.sh"]
fn bench_clients_through_load_balancers() {
    let lb_floor = format!("check {CHECK_INTER_MS} ms x rise {RISE}");
    let failover_floor =
        format!("health {INTERVAL_S} s x {THRESHOLD} + contactTimeout {CONTACT_S} s + {lb_floor}");
    let kill_floor = format!("--lease-duration {} s + {lb_floor}", FAST_LEASE[1]);
    let scenarios: [Scenario; 4] = [
        (
            "planned promotion",
            lb_floor.clone(),
            Box::new(|| Some(planned())),
        ),
        (
            "failover (kill), Immediate",
            failover_floor.clone(),
            Box::new(|| Some(failover("Immediate"))),
        ),
        (
            "failover (kill), WaitForPromotion",
            failover_floor.clone(),
            Box::new(|| Some(failover("WaitForPromotion"))),
        ),
        (
            "planned, leader killed mid-promotion",
            kill_floor,
            Box::new(planned_leader_killed),
        ),
    ];
    let mut rows = Vec::new();
    for (scenario, floor, run) in scenarios {
        let figures = run();
        rows.push(Row {
            scenario,
            path: "haproxy",
            figures,
            floor: if figures.is_none() {
                "needs --features failpoints".into()
            } else {
                floor.clone()
            },
        });
        rows.push(Row {
            scenario,
            path: "kube-proxy ClusterIP",
            figures: None,
            floor: "not measured here (the test-bed node's path)".into(),
        });
    }
    print(&rows);
}
