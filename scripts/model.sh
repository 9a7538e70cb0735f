#!/usr/bin/env bash
# The model-based property test of the failover logic at length
# (src/plan/model_tests.rs): MODEL_CASES random worlds (default 50,000)
# instead of the 3,000 of every test run. Prints the cases run and the time.
# A failure prints the shrunk case and adds its seed to
# proptest-regressions/plan/model_tests.txt: keep it as a named test.
# MODEL_TRACE=1 prints the world after every event of a run (for a named
# regression: cargo test --lib NAME with MODEL_TRACE=1).
#   scripts/model.sh [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-50000}"
[[ "$cases" =~ ^[0-9]+$ ]] || { echo "usage: scripts/model.sh [CASES]" >&2; exit 2; }
cargo test --lib --no-run --quiet
start=$(date +%s.%N)
MODEL_CASES="$cases" cargo test --lib plan::model_tests::one_active_site_holds_under_every_fault -- --exact
end=$(date +%s.%N)
echo "model: $cases cases in $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}') s, every invariant held"
