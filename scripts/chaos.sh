#!/usr/bin/env bash
# The chaos run for leader failover (tests/e2e/chaos.rs): set-up (idempotent),
# one real control plane, then only the chaos test with CHAOS_ROUNDS rounds of
# leader SIGKILLs and site SIGSTOPs during promotions. The control plane is
# torn down on exit, also on failure or Ctrl-C. Exits non-zero on any
# violation. CHAOS_SEED=N replays a run; CHAOS_KEEP_LOGS=1 keeps the logs.
#
#   scripts/chaos.sh [ROUNDS]    (default 50)
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-50}"
[[ "$rounds" =~ ^[0-9]+$ ]] || { echo "usage: scripts/chaos.sh [ROUNDS]" >&2; exit 2; }

scripts/setup.sh
dir="$(mktemp -d -t sitehapair-chaos.XXXXXX)"
trap 'tests/testbed/testbed down "$dir"' EXIT
trap 'exit 130' INT TERM
kubeconfig="$(tests/testbed/testbed up "$dir" | tail -n 1)"
CHAOS_ROUNDS="$rounds" SITEHAPAIR_TEST_KUBECONFIG="$kubeconfig" \
  cargo test --locked --features failpoints --test e2e -- --exact \
  chaos::chaos_leader_kills_and_site_stops_never_make_two_actives --nocapture
