#!/usr/bin/env bash
# The chaos runs (tests/e2e/chaos.rs): set-up (idempotent), one real control
# plane, then each chaos scenario in turn with CHAOS_ROUNDS rounds:
#
#   leader-kills    leader SIGKILLs and site SIGSTOPs during promotions
#   health-hangs    the old active's health check hangs while its admin API answers
#   answers-500     the old active is blackholed, then answers 500 (after a
#                   forced promotion, or while the promotion waits)
#   leader-paused   the Lease holder SIGSTOPped past its Lease at a role write
#
# Every scenario runs even when one fails; each prints its figures, and the
# summary lines of all are printed again at the end. The control plane is
# torn down on exit, also on failure or Ctrl-C. Exits non-zero when any
# scenario found a violation. CHAOS_SEED=N replays a run; CHAOS_KEEP_LOGS=1
# keeps the logs. An answers-500 round takes about 45 s when forced (the
# operator counts a blackholed site silent only after its 15 s site call
# timeout), the others a few seconds.
#
#   scripts/chaos.sh [ROUNDS] [SCENARIO...]    (default 50 rounds, every scenario)
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-50}"
[[ "$rounds" =~ ^[0-9]+$ ]] || { echo "usage: scripts/chaos.sh [ROUNDS] [SCENARIO...]" >&2; exit 2; }
shift || true

declare -A tests=(
  [leader-kills]=chaos::chaos_leader_kills_and_site_stops_never_make_two_actives
  [health-hangs]=chaos::health_hangs::chaos_health_check_hangs_while_the_admin_api_answers_never_forced
  [answers-500]=chaos::answers_500::chaos_old_active_answering_500_is_never_overtaken_while_it_speaks
  [leader-paused]=chaos::leader_paused::chaos_leader_paused_past_its_lease_during_a_role_write_writes_nothing_late
)
order=(leader-kills health-hangs answers-500 leader-paused)
scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=("${order[@]}")
for s in "${scenarios[@]}"; do
  [[ -n "${tests[$s]:-}" ]] || { echo "unknown scenario $s (one of: ${order[*]})" >&2; exit 2; }
done

scripts/setup.sh
dir="$(mktemp -d -t sitehapair-chaos.XXXXXX)"
trap 'tests/testbed/testbed down "$dir"' EXIT
trap 'exit 130' INT TERM
kubeconfig="$(tests/testbed/testbed up "$dir" | tail -n 1)"
# Built once, before the clock of the first scenario starts.
cargo test --locked --features failpoints --test e2e --no-run

failed=()
for s in "${scenarios[@]}"; do
  log="$dir/chaos-$s.log"
  start=$SECONDS
  set +e
  CHAOS_ROUNDS="$rounds" SITEHAPAIR_TEST_KUBECONFIG="$kubeconfig" \
    cargo test --locked --features failpoints --test e2e -- --exact "${tests[$s]}" --nocapture 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  [[ $rc -eq 0 ]] || failed+=("$s")
  echo "chaos $s: exit $rc after $((SECONDS - start)) s" >>"$dir/summary"
  # The closing figures: `chaos: rounds ...` (leader-kills) or `chaos <scenario>: <n> rounds, ...`.
  grep -E '^chaos( [a-z0-9-]+)?: (rounds [0-9]|[0-9]+ rounds, [0-9]+ moments)' "$log" >>"$dir/summary" || true
done
echo
echo "chaos summary ($rounds rounds each):"
cat "$dir/summary"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "chaos: violations or failures in: ${failed[*]}" >&2
  exit 1
fi
