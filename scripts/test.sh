#!/usr/bin/env bash
# The test command: set-up (idempotent), then one real control plane for the
# whole run, then every test. The control plane is torn down on exit, also on
# failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
dir="$(mktemp -d -t sitehapair-testbed.XXXXXX)"
trap 'tests/testbed/testbed down "$dir"' EXIT
trap 'exit 130' INT TERM
# The audit log lets tests count the operator's own API requests.
kubeconfig="$(TESTBED_AUDIT=1 tests/testbed/testbed up "$dir" | tail -n 1)"
log="$dir/cargo-test.log"
set +e
SITEHAPAIR_TEST_KUBECONFIG="$kubeconfig" cargo test --locked --features failpoints --lib --bins --tests -- --test-threads=4 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# One closing line for the whole run.
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
echo "all tests: $passed passed, $failed failed"
exit "$rc"
