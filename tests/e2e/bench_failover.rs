//! Load command, not a test (ignored by default): with automatic failover
//! and spec.traffic.failover Immediate, the time from the active site's
//! death (SIGSTOP) to traffic on the passive, beside failureThreshold ×
//! healthCheck.interval, over BENCH_FAILOVERS rounds (default 10). Each
//! round the stopped site comes back, is fenced, and the promotion
//! completes before the next. Run: scripts/bench-failover.sh

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::pair::Pair;
use crate::support::status::WAIT;
use crate::support::{percentile, wait_for};

const THRESHOLD: u64 = 3;
const INTERVAL_S: u64 = 1;

#[test]
#[ignore = "a benchmark: run with scripts/bench-failover.sh"]
fn bench_failover_traffic_latency() {
    let runs: usize = std::env::var("BENCH_FAILOVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let p = Pair::start_with(
        "bench-failover",
        |pair| {
            pair["spec"]["promotion"] = json!({
                "contactTimeout": "30m",
                "automatic": {"enabled": true, "failureThreshold": THRESHOLD, "minInterval": "1s"}
            });
            pair["spec"]["healthCheck"] =
                json!({"interval": format!("{INTERVAL_S}s"), "timeout": "1s"});
            pair["spec"]["traffic"] = json!({"failover": "Immediate"});
        },
        &[],
    );
    let mut took = Vec::new();
    let mut active = "east";
    for _ in 0..runs {
        let (dead, to, addr) = if active == "east" {
            (&p.east, "west", "192.0.2.20")
        } else {
            (&p.west, "east", "192.0.2.10")
        };
        dead.signal("STOP");
        let t = Instant::now();
        wait_for("traffic on the passive", WAIT, || {
            (p.slice_addresses() == json!([addr])).then_some(())
        });
        took.push(t.elapsed().as_secs_f64());
        dead.signal("CONT");
        p.wait_status("the promotion to complete", |st: &Value| {
            st["activeSite"] == to && st["promotion"].is_null()
        });
        active = to;
        // Let the anti-flap interval (1 s) pass before the next death.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let mut s = took.clone();
    s.sort_by(f64::total_cmp);
    println!(
        "automatic failover, Immediate traffic: active death to traffic on the passive, {runs} rounds: \
         p50 {:.1} s, max {:.1} s; failureThreshold x interval = {} s",
        percentile(&s, 0.5),
        s.last().copied().unwrap_or(0.0),
        THRESHOLD * INTERVAL_S
    );
}
