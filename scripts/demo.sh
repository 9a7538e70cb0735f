#!/usr/bin/env bash
# The demo: builds and starts the test bed (a real control plane on loopback),
# installs the CRD, runs the operator, applies examples/pair.yaml, waits for
# it to be Ready and shows it. Then it stays up for you to explore until
# Ctrl-C, which tears everything down. SITEHAPAIR_DEMO_EXIT=1 ends at once.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

scripts/setup.sh
dir="$(mktemp -d -t sitehapair-demo.XXXXXX)"
op_pid=""
cleanup() {
  [[ -n "$op_pid" ]] && kill "$op_pid" 2>/dev/null && wait "$op_pid" 2>/dev/null || true
  tests/testbed/testbed down "$dir/cluster"
  rm -rf "$dir"
  echo "demo: torn down"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting a control plane (etcd, kube-apiserver, kube-controller-manager) on loopback"
export KUBECONFIG
KUBECONFIG="$(tests/testbed/testbed up "$dir/cluster" | tail -n 1)"
PATH="$(tests/testbed/testbed bin):$PATH"
kubectl version

step "installing the SiteHAPair CRD"
kubectl apply --server-side -f crds/sitehapair.io_sitehapairs.yaml
kubectl wait --for=condition=Established crd/sitehapairs.sitehapair.io --timeout=60s

step "running the operator (logs: $dir/operator.log)"
"$root/target/debug/sitehapair" run --listen 127.0.0.1:0 >"$dir/operator.log" 2>&1 &
op_pid=$!

step "kubectl apply -f examples/pair.yaml"
kubectl apply -f examples/pair.yaml
kubectl wait --for=jsonpath='{.status.phase}'=Ready shp/gis --timeout=60s

step "kubectl get shp"
kubectl get shp
step "kubectl get shp gis -o yaml (status)"
kubectl get shp gis -o jsonpath='{.status}' | python3 -m json.tool

if [[ "${SITEHAPAIR_DEMO_EXIT:-0}" == 1 ]]; then
  exit 0
fi
cat <<MSG

The demo is running. In another shell:
  export KUBECONFIG=$KUBECONFIG PATH=$(tests/testbed/testbed bin):\$PATH
  kubectl get shp
  kubectl explain shp.spec.promotion
  kubectl describe shp gis
  kubectl get events.events.k8s.io
Press Ctrl-C to tear everything down.
MSG
while kill -0 "$op_pid" 2>/dev/null; do sleep 1; done
echo "demo: the operator stopped; see $dir/operator.log"
