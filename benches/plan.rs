//! Benchmark: the sync plan (diff) for 10,000 services with 1% changed,
//! comparing definitions in full and by digests (computed once per
//! revision and once per listing, so outside the timed plan; their cost is
//! printed apart). Run: cargo bench --bench plan. Prints median and p99
//! over repeated runs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::json;
use sitehapair::plan::diff::{ServiceSet, diff, render_site_diff};
use sitehapair::plan::digest::{diff_by_digest, digests};

fn service(i: usize, version: usize) -> serde_json::Value {
    json!({
        "name": format!("svc-{i:05}"),
        "type": "MapServer",
        "folder": format!("folder-{}", i % 40),
        "description": format!("service number {i}, version {version}"),
        "minInstances": 1, "maxInstances": 4, "maxWaitTime": 60, "maxIdleTime": 1800,
        "properties": {"filePath": format!("/data/{i}.mapx"), "outputDir": "/out", "maxRecordCount": 2000,
                       "enableDynamicLayers": i.is_multiple_of(2), "schemaLockingEnabled": false},
        "extensions": [{"typeName": "WMSServer", "enabled": true}, {"typeName": "FeatureServer", "enabled": i.is_multiple_of(3)}],
        "security": {"allowedRoles": ["viewer", "editor"], "token": "not-a-real-token"}
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn main() {
    const N: usize = 10_000;
    let live: ServiceSet = (0..N)
        .map(|i| (format!("svc-{i:05}"), service(i, 1)))
        .collect();
    // 1% changed: 50 replaced, 25 created, 25 deleted.
    let mut desired = live.clone();
    for i in (0..N).step_by(200) {
        desired.insert(format!("svc-{i:05}"), service(i, 2));
    }
    for i in 0..25 {
        desired.remove(&format!("svc-{:05}", 1 + i * 397));
        desired.insert(format!("new-{i:03}"), service(N + i, 1));
    }
    let d = diff(&desired, &live);
    println!(
        "plan: {} services, {} create, {} replace, {} delete",
        N,
        d.create.len(),
        d.replace.len(),
        d.delete.len()
    );

    let t = Instant::now();
    let (desired_digests, live_digests) = (digests(&desired), digests(&live));
    let digest_time = t.elapsed();
    assert_eq!(
        diff_by_digest(&desired, &desired_digests, &live, &live_digests),
        d
    );

    let runs = 200;
    let mut plan_times = Vec::with_capacity(runs);
    let mut digest_plan_times = Vec::with_capacity(runs);
    let mut render_times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let d = black_box(diff(black_box(&desired), black_box(&live)));
        plan_times.push(t.elapsed());
        let t = Instant::now();
        black_box(diff_by_digest(
            black_box(&desired),
            black_box(&desired_digests),
            black_box(&live),
            black_box(&live_digests),
        ));
        digest_plan_times.push(t.elapsed());
        let t = Instant::now();
        black_box(render_site_diff("east", &d, &live, &desired));
        render_times.push(t.elapsed());
    }
    plan_times.sort();
    digest_plan_times.sort();
    render_times.sort();
    println!(
        "diff of 10,000 services, 1% changed, in full: median {:.2} ms, p99 {:.2} ms ({runs} runs)",
        percentile(&plan_times, 0.5).as_secs_f64() * 1e3,
        percentile(&plan_times, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "diff of 10,000 services, 1% changed, by digests: median {:.2} ms, p99 {:.2} ms ({runs} runs)",
        percentile(&digest_plan_times, 0.5).as_secs_f64() * 1e3,
        percentile(&digest_plan_times, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "digests of both sets (once per revision, once per listing): {:.2} ms",
        digest_time.as_secs_f64() * 1e3
    );
    println!(
        "rendering the masked unified diff of the 100 changed services: median {:.2} ms, p99 {:.2} ms",
        percentile(&render_times, 0.5).as_secs_f64() * 1e3,
        percentile(&render_times, 0.99).as_secs_f64() * 1e3
    );
}
