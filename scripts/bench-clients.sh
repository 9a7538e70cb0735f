#!/usr/bin/env bash
# What a client sees through a load balancer (HAProxy checking the
# operator's --traffic-listen endpoint), per scenario: a planned promotion;
# an automatic failover after the active's process is killed, with
# spec.traffic.failover Immediate and WaitForPromotion; a planned promotion
# whose leading operator replica dies in the middle. Requests sent, failed,
# served by a site that was not active (must be 0), the longest run of
# failures, the time until requests succeed again, beside each path's floor.
# Starts its own test bed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo test --release --locked --features failpoints --test e2e -- --ignored --nocapture bench_clients_through_load_balancers 2>&1 \
  | grep -E -A 12 "client-observed figures|test result" | grep -v "^running\|^test bench_clients"
