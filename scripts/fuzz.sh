#!/usr/bin/env bash
# Fuzzing of every parser that takes outside input (issue 10): builds the
# cargo-fuzz targets of fuzz/ (libFuzzer, AddressSanitizer, nightly) and runs
# each for RUNS iterations (default 100000) from its committed seeds in
# fuzz/corpus/<target>, with a time limit per input and a memory limit.
# Fails (exit 1) on any crash, failed check, hang, leak or memory blow-up;
# the input is then in fuzz/artifacts/<target>/ and the log is shown.
#
#   scripts/fuzz.sh            # 100000 runs per target
#   scripts/fuzz.sh 2000       # the short pass, for CI
#
# Settings (environment): FUZZ_TIMEOUT seconds per input (10), FUZZ_RSS_MB
# memory limit (2048, also the largest single allocation), FUZZ_MAX_LEN
# largest input in bytes (8192), FUZZ_JOBS cargo build jobs (1).
# cargo-fuzz is installed once, pinned, under the project's cache
# ($SITEHAPAIR_CACHE, default ~/.cache/sitehapair). Inputs the fuzzer finds
# go to fuzz/target/corpus/<target> (not committed); the seeds stay as they are.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-100000}"
if ! [[ "$runs" =~ ^[0-9]+$ ]] || (( runs < 1 )); then
  echo "usage: scripts/fuzz.sh [RUNS]" >&2
  exit 2
fi
CARGO_FUZZ_VERSION=0.13.2
toolchain=nightly
timeout_s="${FUZZ_TIMEOUT:-10}"
rss_mb="${FUZZ_RSS_MB:-2048}"
max_len="${FUZZ_MAX_LEN:-8192}"
cache="${SITEHAPAIR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sitehapair}"
tools="$cache/tools/cargo-fuzz-$CARGO_FUZZ_VERSION"
target_dir="fuzz/target"
unset CARGO_TARGET_DIR

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# libFuzzer and the sanitizer flags need a nightly toolchain.
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  echo "fuzz: installing the $toolchain toolchain" >&2
  rustup toolchain install "$toolchain" --profile minimal || {
    echo "fuzz: the $toolchain Rust toolchain is needed and could not be installed" >&2
    exit 1
  }
fi
if [[ ! -x "$tools/bin/cargo-fuzz" ]]; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools" >&2
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked \
    --root "$tools" -j "${FUZZ_JOBS:-1}"
fi
export PATH="$tools/bin:$PATH"

started=$(now)
echo "fuzz: building the targets (cargo +$toolchain fuzz build)"
CARGO_BUILD_JOBS="${FUZZ_JOBS:-1}" cargo "+$toolchain" fuzz build \
  --fuzz-dir fuzz --target-dir "$target_dir" -O
triple="$(rustup run "$toolchain" rustc -vV | sed -n 's/^host: //p')"
bin_dir="$target_dir/$triple/release"
echo "fuzz: build took $(since "$started") s"

mapfile -t targets < <(cargo "+$toolchain" fuzz list --fuzz-dir fuzz)
passed=0
failed=0
total_runs=0
summary=()
for t in "${targets[@]}"; do
  seeds="fuzz/corpus/$t"
  work="$target_dir/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  log="$target_dir/logs/$t.log"
  mkdir -p "$seeds" "$work" "$artifacts" "$(dirname "$log")"
  t0=$(now)
  set +e
  # The first corpus folder gets what the fuzzer finds; seeds are only read.
  "$bin_dir/$t" "$work" "$seeds" \
    -runs="$runs" -timeout="$timeout_s" -rss_limit_mb="$rss_mb" \
    -malloc_limit_mb="$rss_mb" -max_len="$max_len" \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  wall=$(since "$t0")
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
  execs=$(stat number_of_executed_units)
  total_runs=$((total_runs + ${execs:-0}))
  rate=$(awk -v n="${execs:-0}" -v w="$wall" 'BEGIN { printf "%d", (w > 0 ? n / w : 0) }')
  line=$(printf '%-14s %8s runs in %7s s (%s/s), peak RSS %s MB, corpus %s' \
    "$t" "${execs:-?}" "$wall" "$rate" \
    "$(stat peak_rss_mb)" "$(find "$work" -type f | wc -l)")
  if (( rc == 0 )); then
    passed=$((passed + 1))
    echo "fuzz: $line"
  else
    failed=$((failed + 1))
    echo "fuzz: $line: FAILED (exit $rc); log $log" >&2
    grep -E 'panicked at|ERROR: |SUMMARY: |Test unit written to|Base64:' "$log" | head -n 20 >&2 || true
    line="$line: FAILED"
  fi
  summary+=("$line")
done

echo "fuzz: ${#targets[@]} targets, $total_runs runs, $(since "$started") s in all (build included)"
for l in "${summary[@]}"; do echo "  $l"; done
echo "fuzz: $passed passed, $failed failed"
(( failed == 0 ))
