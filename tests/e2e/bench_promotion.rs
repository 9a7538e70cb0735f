//! Load command, not a test (ignored by default): planned promotion latency
//! from the spec patch to traffic switched, p50 and p99 over 100
//! promotions, beside the API round trip of a no-op patch measured in the
//! same run. Run: scripts/bench-promotion.sh

use std::time::{Duration, Instant};

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use sitehapair::api::SiteHAPair;

use crate::support::pair::Pair;
use crate::support::{kube_client, percentile};

#[test]
#[ignore = "a benchmark: run with scripts/bench-promotion.sh"]
fn bench_planned_promotion_latency() {
    let runs: usize = std::env::var("BENCH_PROMOTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let pause: u64 = std::env::var("BENCH_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let p = Pair::start_with("bench-promo", |_| {}, &[]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (promotions, round_trips) = rt.block_on(async {
        let client = kube_client().await;
        let pairs: Api<SiteHAPair> = Api::namespaced(client.clone(), &p.ns.name);
        let slices: Api<EndpointSlice> = Api::namespaced(client, &p.ns.name);
        let pp = PatchParams::default();
        let mut promotions = Vec::new();
        let mut round_trips = Vec::new();
        let mut active = "east";
        for _ in 0..runs {
            let (to, addr) = if active == "east" {
                ("west", "192.0.2.20")
            } else {
                ("east", "192.0.2.10")
            };
            // BENCH_PAUSE_MS: let the pair's last trip (its Events, the
            // trips its own writes woke) end first, as between promotions
            // a team makes; 0 (the default) runs them back to back.
            if pause > 0 {
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            // The API round trip: a patch that changes nothing.
            let same = json!({"spec": {"activeSite": active}});
            let t = Instant::now();
            pairs
                .patch("gis", &pp, &Patch::Merge(&same))
                .await
                .expect("no-op patch");
            round_trips.push(t.elapsed().as_secs_f64() * 1000.0);

            let patch = json!({"spec": {"activeSite": to}});
            let t = Instant::now();
            pairs
                .patch("gis", &pp, &Patch::Merge(&patch))
                .await
                .expect("patch");
            loop {
                let s = slices.get("gis-ipv4").await.expect("slice");
                let on = s
                    .endpoints
                    .as_ref()
                    .and_then(|e| e.first())
                    .is_some_and(|e| e.addresses == [addr.to_string()]);
                if on {
                    break;
                }
                assert!(
                    t.elapsed() < Duration::from_secs(30),
                    "promotion to {to} did not switch traffic"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            promotions.push(t.elapsed().as_secs_f64() * 1000.0);
            active = to;
            // Let the promotion record itself before the next one.
            loop {
                let o = pairs.get("gis").await.expect("pair");
                if o.status
                    .as_ref()
                    .is_some_and(|s| s.promotion.is_none() && s.active_site.as_deref() == Some(to))
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        (promotions, round_trips)
    });
    let mut a = promotions.clone();
    let mut b = round_trips.clone();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&a, 0.5), percentile(&a, 0.99));
    let (r50, r99) = (percentile(&b, 0.5), percentile(&b, 0.99));
    println!(
        "planned promotion, patch to traffic switched, {runs} promotions ({pause} ms apart): p50 {p50:.1} ms, p99 {p99:.1} ms"
    );
    println!("API round trip (no-op patch), {runs} patches: p50 {r50:.1} ms, p99 {r99:.1} ms");
    println!("ratio p50 {:.1}x, p99 {:.1}x", p50 / r50, p99 / r99);
}
