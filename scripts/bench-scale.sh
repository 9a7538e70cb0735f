#!/usr/bin/env bash
# The scale benchmark of issue 12: PAIRS pairs of two sites with 100
# services each, following one git repository served over smart HTTP, every
# site a virtual site of one reference-site process, the release operator,
# on a test bed of its own with its audit log on. Prints apply-to-converged
# time, operator RSS and CPU, API requests by verb (operator's, from the
# audit log; all, from apiserver_request_total minus a baseline with no
# operator), status writes at rest, site calls by kind, git connections and
# fetches, and push-to-every-site latency, each beside the API server's
# /healthz round trip. Driver: scripts/bench_scale/driver.py (Python 3,
# standard library only).
#
#   scripts/bench-scale.sh PAIRS
#
# Environment: BENCH_SOAK_SECONDS (1800), BENCH_SOAK_PUSHES (3),
# BENCH_REST_SECONDS (120), BENCH_BASELINE_SECONDS (30),
# BENCH_SETTLE_SECONDS (30), BENCH_SERVICES (100), BENCH_CONVERGE_TIMEOUT
# (300 + 2 PAIRS), BENCH_SKIP_SETUP=1 (do not run scripts/setup.sh),
# BENCH_KEEP=1 (keep the working folder: logs, results.json),
# BENCH_OPERATOR_WRAPPER (run the operator under a command, e.g. heaptrack),
# BENCH_OPERATOR_ARGS (more operator flags, e.g. --max-concurrent-reconciles 64),
# BENCH_NO_ETAG=1 (virtual sites that send no ETag and ignore If-None-Match,
# as ArcGIS Server's and pygeoapi's admin APIs: every listing whole),
# BENCH_APPLY_WORKERS (8: pairs applied that many at a time; 1 applies them
# one by one, as kubectl apply -f does), BENCH_BIN_DIR (measure the binaries
# of another build, e.g. another commit's or one with frame pointers for
# perf; nothing is built then), BENCH_WORKER_THREADS (1: the operator's
# runtime workers, as the chart's CPU limit of one core gives it; tokio
# sizes its pool by the cgroup's quota, and this machine has none),
# BENCH_SITE_ADDRESSES (distinct: each virtual site at a loopback address
# of its own, 127.1.x.y, as real sites are separate hosts, so the operator
# holds a connection per site; shared: every site at 127.0.0.1, where a few
# pooled connections serve them all, the bench before 2026-12-07).
set -euo pipefail
cd "$(dirname "$0")/.."
pairs="${1:-}"
[[ "$pairs" =~ ^[0-9]+$ && "$pairs" -ge 1 ]] || { echo "usage: scripts/bench-scale.sh PAIRS" >&2; exit 2; }

[[ "${BENCH_SKIP_SETUP:-}" == 1 ]] || scripts/setup.sh >/dev/null
# The measured binaries: the release operator as it ships (the Dockerfile's
# features apart from vendored OpenSSL; no failpoints) and the reference site.
if [[ -n "${BENCH_BIN_DIR:-}" ]]; then
  bin_dir="$BENCH_BIN_DIR"
else
  cargo build --quiet --locked --release --bin sitehapair --example reference-site
  target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  bin_dir="$target/release"
fi

# Every site keeps a connection from the operator open: 2 PAIRS sockets on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

dir="$(mktemp -d -t sitehapair-bench-scale.XXXXXX)"
driver=""
cleanup() {
  if [[ -n "$driver" ]] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true
    wait "$driver" 2>/dev/null || true
  fi
  tests/testbed/testbed down "$dir/testbed" || true
  if [[ "${BENCH_KEEP:-}" == 1 ]]; then
    echo "bench-scale: kept $dir" >&2
  else
    rm -rf "$dir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

kubeconfig="$(TESTBED_AUDIT=1 tests/testbed/testbed up "$dir/testbed" | tail -n 1)"
python3 -B scripts/bench_scale/driver.py --pairs "$pairs" --kubeconfig "$kubeconfig" \
  --testbed-dir "$dir/testbed" --bin-dir "$bin_dir" \
  --kubectl "$(tests/testbed/testbed bin)/kubectl" --repo-root "$PWD" --dir "$dir" &
driver=$!
wait "$driver"
