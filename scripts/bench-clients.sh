#!/usr/bin/env bash
# What a client sees, per scenario, through both data paths in front of a
# pair: HAProxy checking the operator's --traffic-listen endpoint, and the
# pair's Service ClusterIP through kube-proxy on a test-bed node of the
# run's own. Scenarios: a planned promotion; an automatic failover after the
# active's process is killed, with spec.traffic.failover Immediate and
# WaitForPromotion; a planned promotion whose leading operator replica dies
# in the middle. Requests sent, failed, served by a site that was not
# active (must be 0), the longest run of failures, the time until requests
# succeed again, beside each path's floor. Starts its own test beds.
#
# The debug build with failpoints (the test run's own, so no second build):
# the figures are waits on health checks, Leases, the watch and the load
# balancer's checks, not the operator's CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cargo test --locked --features failpoints --test e2e -- --ignored --nocapture --exact \
  bench_clients::bench_clients_through_load_balancers 2>&1 \
  | grep -E -A 12 "client-observed figures|test result" | grep -v "^running\|^test bench_clients"
