#!/usr/bin/env bash
# The API calls one reconcile of an idle pair makes, counted in the API
# server's audit log, by verb and resource. Starts its own test bed with
# auditing on; BENCH_IDLE_SECONDS (default 30) is the idle window.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
unset SITEHAPAIR_TEST_KUBECONFIG
export TESTBED_AUDIT=1
cargo test --locked --features failpoints --test e2e -- --ignored --nocapture bench_api_calls_per_idle_reconcile 2>&1 \
  | grep -E "^  |idle pair|API calls per|test result|panicked"
