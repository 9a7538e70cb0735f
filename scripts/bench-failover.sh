#!/usr/bin/env bash
# Automatic failover with spec.traffic.failover Immediate: time from the
# active site's death to traffic on the passive, p50 and max over
# BENCH_FAILOVERS (default 10) rounds, beside failureThreshold x interval.
# Starts its own test bed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo test --release --locked --test e2e -- --ignored --nocapture bench_failover_traffic_latency 2>&1 \
  | grep -E "automatic failover|test result"
