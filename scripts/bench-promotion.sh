#!/usr/bin/env bash
# Planned promotion latency (patch to traffic switched), p50 and p99 over
# BENCH_PROMOTIONS (default 100) promotions, beside the API round trip of a
# no-op patch in the same run. Starts its own test bed. BENCH_PAUSE_MS=N
# waits N ms before each promotion (the pair's last trip, its Events and the
# trips its own writes woke have ended, as between promotions a team makes);
# 0, the default, runs them back to back.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo test --release --locked --test e2e -- --ignored --nocapture bench_planned_promotion_latency 2>&1 \
  | grep -E "planned promotion|API round trip|ratio|test result"
