#!/usr/bin/env bash
# The demo: builds and starts the test bed (a real control plane on loopback),
# two reference sites and a local git repository of example services; installs
# the CRD, runs the operator, applies examples/pair.yaml and waits for Ready;
# shows `kubectl get shp` and `sitehapair status`; commits a service change and
# shows both sites converge, standby first; promotes the passive site and
# shows the switch. Then it stays up for you to explore until Ctrl-C, which
# tears everything down. SITEHAPAIR_DEMO_EXIT=1 ends after the walk-through.
#
#   scripts/demo.sh --adopt   day one instead: two sites that already publish
#     different services by hand; export the active one into a new
#     repository, check both sites, apply the pair, show the adoption plan
#     the first sync waits on, accept it, and end in sync.
set -euo pipefail
cd "$(dirname "$0")/.."
adopt=""
case "${1:-}" in
  --adopt) adopt=1 ;;
  "") ;;
  *) echo "usage: scripts/demo.sh [--adopt]" >&2; exit 2 ;;
esac

# Only what the demo uses (the control plane, the operator, the reference
# site): each step says what it builds and how long it takes the first time.
scripts/setup.sh --demo
# Where cargo put the binaries (CARGO_TARGET_DIR or the build config may
# move them out of the tree).
bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug"
dir="$(mktemp -d -t sitehapair-demo.XXXXXX)"
# examples/pair.yaml names this repository and the sites' ports.
repo_root_dir=/tmp/sitehapair-demo
op_pid=""
site_pids=()
cleanup() {
  # Every step, whatever failed before: a kill of a site that never started
  # must not end the clean-up before the control plane is down.
  set +e
  [[ -n "$op_pid" ]] && kill "$op_pid" 2>/dev/null && wait "$op_pid" 2>/dev/null
  for p in "${site_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  tests/testbed/testbed down "$dir/cluster"
  rm -rf "$dir" "$repo_root_dir"
  echo "demo: torn down"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# wait_for OBJECT JSONPATH VALUE SECONDS: poll OBJECT until the field reads
# VALUE. Not `kubectl wait`: right after an apply the object may have a
# status without conditions, and `kubectl wait` then gives up at once with
# an accessor error instead of waiting (it failed the demo in CI, on the
# CRD's Established condition and on the pair's InSync reason).
wait_for() {
  local obj=$1 path=$2 want=$3 deadline=$((SECONDS + $4))
  until [[ "$(kubectl get "$obj" -o jsonpath="$path" 2>/dev/null)" == "$want" ]]; do
    if ((SECONDS >= deadline)); then
      echo "demo: $obj $path never read $want in $4 s" >&2
      kubectl get "$obj" -o yaml >&2
      return 1
    fi
    sleep 0.5
  done
  echo "$obj: $path = $want"
}
condition() { echo "{.status.conditions[?(@.type==\"$1\")].$2}"; }

step "starting a control plane (etcd, kube-apiserver, kube-controller-manager) on loopback"
export KUBECONFIG
KUBECONFIG="$(tests/testbed/testbed up "$dir/cluster" | tail -n 1)"
PATH="$(tests/testbed/testbed bin):$PATH"
kubectl version

step "installing the SiteHAPair CRD"
kubectl apply --server-side -f crds/sitehapair.io_sitehapairs.yaml
wait_for crd/sitehapairs.sitehapair.io "$(condition Established status)" True 60

step "starting two reference sites: east on 127.0.0.1:18081, west on 127.0.0.1:18082"
for spec in east:18081:east-demo-token west:18082:west-demo-token; do
  IFS=: read -r name port token <<<"$spec"
  "$bin/examples/reference-site" --listen "127.0.0.1:$port" --name "$name" \
    --token "$token" --state "$dir/$name.state.json" --request-log "$dir/$name.requests.jsonl" \
    >"$dir/$name.log" 2>&1 &
  site_pids+=($!)
  kubectl create secret generic "gis-$name-admin" --from-literal=token="$token"
done

put_service() { # put_service SITE_PORT TOKEN NAME JSON: publish by hand, as an administrator would
  curl -sf -X PUT -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    -d "$4" "http://127.0.0.1:$1/services/$3" >/dev/null
}

services_of() { # services_of SITE_PORT TOKEN: the names a site publishes, sorted
  curl -sf -H "Authorization: Bearer $2" "http://127.0.0.1:$1/services" \
    | python3 -c 'import json,sys; print(", ".join(sorted(json.load(sys.stdin)["services"])))'
}

adopt_demo() {
  step "the sites as they run today, published by hand: east (active) and west differ"
  for port in 18081 18082; do # each site listens before it is written to
    for _ in $(seq 1 300); do
      curl -s -o /dev/null "http://127.0.0.1:$port/health" && break
      sleep 0.1
    done
  done
  put_service 18081 east-demo-token roads '{"type": "MapServer", "title": "Roads", "version": 3}'
  put_service 18081 east-demo-token parcels '{"type": "FeatureServer", "title": "Parcels"}'
  put_service 18081 east-demo-token hydrants '{"type": "FeatureServer", "title": "Hydrants"}'
  put_service 18082 west-demo-token roads '{"type": "MapServer", "title": "Roads", "version": 2}'
  put_service 18082 west-demo-token parcels '{"type": "FeatureServer", "title": "Parcels"}'
  put_service 18082 west-demo-token streetlights '{"type": "MapServer", "title": "Street lights"}'
  curl -sf -X PUT -H 'Authorization: Bearer east-demo-token' -H 'Content-Type: application/json' \
    -d '{"mode": "active", "epoch": 4}' http://127.0.0.1:18081/mode >/dev/null
  for site in 18081:east-demo-token 18082:west-demo-token; do
    IFS=: read -r port token <<<"$site"
    echo "127.0.0.1:$port: $(services_of "$port" "$token")"
  done

  step "sitehapair export --pair examples/pair.yaml --site east --out $repo_root_dir/work/prod"
  rm -rf "$repo_root_dir"; mkdir -p "$repo_root_dir"
  git init --quiet --bare -b main "$repo_root_dir/services.git"
  git init --quiet -b main "$repo_root_dir/work"
  "$bin/sitehapair" export --pair examples/pair.yaml --site east --out "$repo_root_dir/work/prod"
  ls "$repo_root_dir/work/prod"
  gitc() { git -C "$repo_root_dir/work" -c user.name=demo -c user.email=demo@example.com "$@"; }
  "$bin/sitehapair" validate "$repo_root_dir/work" --path prod
  gitc add -A && gitc commit --quiet -m "services exported from east" && gitc push --quiet "$repo_root_dir/services.git" main
  rev="$(gitc rev-parse HEAD)"

  step "sitehapair check --pair examples/pair.yaml --dir $repo_root_dir/work (exit 1: west differs; the first sync will write it)"
  check=0
  "$bin/sitehapair" check --pair examples/pair.yaml --dir "$repo_root_dir/work" || check=$?
  echo "check exited $check"
  [[ $check == 1 ]] || { echo "demo: expected check to name west's differences (exit 1)" >&2; exit 1; }

  step "running the operator (logs: $dir/operator.log)"
  "$bin/sitehapair" run --listen 127.0.0.1:0 --no-leader-election \
    --allow-file-sources --cache-dir "$dir/git-cache" >"$dir/operator.log" 2>&1 &
  op_pid=$!

  step "kubectl apply -f examples/pair.yaml: east is adopted as it is; west's first sync waits for its plan"
  kubectl apply -f examples/pair.yaml
  wait_for shp/gis "$(condition InSync reason)" AwaitingAdoption 90
  kubectl get shp gis -o jsonpath='Prerequisites: {.status.conditions[?(@.type=="Prerequisites")].message}{"\n"}'
  "$bin/sitehapair" status gis

  step "accept the plan: kubectl annotate shp gis sitehapair.io/approve-adoption=$rev"
  kubectl annotate shp gis "sitehapair.io/approve-adoption=$rev"
  wait_for shp/gis "$(condition InSync status)" True 90
  synced="$(kubectl get shp gis -o jsonpath='{.status.sites[*].syncedRevision}')"
  [[ "$synced" == "$rev $rev" ]] || { echo "demo: sites hold $synced, not $rev" >&2; exit 1; }
  echo "both sites hold $rev"
  echo "west now: $(services_of 18082 west-demo-token)"
  echo "service writes east received in all: $(grep '"PUT"' "$dir/east.requests.jsonl" | grep -c '/services/' || true) (the 3 by hand before the export; none from the pair)"
  "$bin/sitehapair" status gis
}

if [[ -n "$adopt" ]]; then
  adopt_demo
else
step "a git repository of example services: $repo_root_dir/services.git (prod/)"
rm -rf "$repo_root_dir"; mkdir -p "$repo_root_dir"
git init --quiet --bare -b main "$repo_root_dir/services.git"
git init --quiet -b main "$repo_root_dir/work"
cp -r examples/services/prod "$repo_root_dir/work/prod"
gitc() { git -C "$repo_root_dir/work" -c user.name=demo -c user.email=demo@example.com "$@"; }
gitc add -A && gitc commit --quiet -m "example services" && gitc push --quiet "$repo_root_dir/services.git" main
"$bin/sitehapair" validate "$repo_root_dir/work" --path prod

step "running the operator (logs: $dir/operator.log)"
"$bin/sitehapair" run --listen 127.0.0.1:0 --no-leader-election \
  --allow-file-sources --cache-dir "$dir/git-cache" >"$dir/operator.log" 2>&1 &
op_pid=$!

step "kubectl apply -f examples/pair.yaml"
kubectl apply -f examples/pair.yaml
wait_for shp/gis '{.status.phase}' Ready 90
wait_for shp/gis "$(condition InSync status)" True 90

step "kubectl get shp"
kubectl get shp
step "sitehapair status gis"
"$bin/sitehapair" status gis

step "a service change through git: roads v2 (then a refresh instead of waiting for the 1m interval)"
sed -i 's/^version: 1$/version: 2/' "$repo_root_dir/work/prod/roads.yaml"
gitc commit --quiet -am "roads v2" && gitc push --quiet "$repo_root_dir/services.git" main
rev="$(gitc rev-parse HEAD)"
kubectl annotate shp gis sitehapair.io/reconcile-requested-at="$(date -u +%FT%T.%NZ)" --overwrite
for _ in $(seq 1 120); do
  synced="$(kubectl get shp gis -o jsonpath='{.status.sites[*].syncedRevision}')"
  [[ "$synced" == "$rev $rev" ]] && break
  sleep 0.5
done
echo "both sites hold $rev"
echo "the service writes each site received, the first sync and then roads v2 (passive west first, then active east):"
cat "$dir/west.requests.jsonl" "$dir/east.requests.jsonl" | grep '"PUT"' | grep '/services/' \
  | python3 -c 'import json,sys; [print("  ", r["time"], r["site"], r["method"], r["path"]) for r in sorted((json.loads(l) for l in sys.stdin), key=lambda r: r["time"])]'

step "promote the passive site: sitehapair promote gis --to west --wait"
kubectl get endpointslice gis-ipv4 -o jsonpath='traffic before: {.endpoints[0].addresses}{"\n"}'
"$bin/sitehapair" promote gis --to west --wait --timeout 2m
kubectl get endpointslice gis-ipv4 -o jsonpath='traffic after: {.endpoints[0].addresses}{"\n"}'
"$bin/sitehapair" status gis

fi

if [[ "${SITEHAPAIR_DEMO_EXIT:-0}" == 1 ]]; then
  exit 0
fi
cat <<MSG

The demo is running. In another shell:
  export KUBECONFIG=$KUBECONFIG PATH=$(tests/testbed/testbed bin):\$PATH
  kubectl get shp
  $bin/sitehapair status gis
  $bin/sitehapair promote gis --to east --wait
  kubectl explain shp.spec.promotion
  kubectl get events.events.k8s.io
  curl -s -H 'Authorization: Bearer west-demo-token' http://127.0.0.1:18082/services | python3 -m json.tool
Services: edit $repo_root_dir/work/prod, commit and push to $repo_root_dir/services.git main.
Press Ctrl-C to tear everything down.
MSG
while kill -0 "$op_pid" 2>/dev/null; do sleep 1; done
echo "demo: the operator stopped; see $dir/operator.log"
