#!/usr/bin/env bash
# Installs what the project needs on a fresh machine and builds the test bed
# binaries (cached by version outside the repository). Idempotent.
#   scripts/setup.sh          everything the tests need
#   scripts/setup.sh --demo   only what the demo uses: the control plane,
#                             the operator and the reference site (no node,
#                             helm, promtool or pygeoapi)
# Each step says what it does and how long it took the first time on a
# two-core machine; the steps' times are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=""
[[ "${1:-}" == --demo ]] && demo=1
timings=()
run_step() {
  local what="$1" first="$2"; shift 2
  local start=$SECONDS
  echo "setup: $what (first run on two cores: $first; cached after)" >&2
  "$@"
  timings+=("$(printf '%5d s  %s' $((SECONDS - start)) "$what")")
}

# Debian packages: tools the scripts and tests call, and the C libraries
# git2 builds against (libssl-dev, pkg-config); sshd serves git over ssh in tests;
# haproxy is the load balancer the client-path tests put in front of the sites.
need_apt=()
for tool in openssl curl git setsid python3 pkg-config make strip; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
[[ -x /usr/sbin/sshd ]] || need_apt+=(sshd)
command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || need_apt+=(haproxy)
dpkg -s libssl-dev >/dev/null 2>&1 || need_apt+=(libssl-dev)
if (( ${#need_apt[@]} )); then
  pkgs=()
  for t in "${need_apt[@]}"; do
    case "$t" in
      setsid) pkgs+=(util-linux) ;;
      python3) pkgs+=(python3-minimal) ;;
      sshd) pkgs+=(openssh-server) ;;
      strip) pkgs+=(binutils) ;;
      *) pkgs+=("$t") ;;
    esac
  done
  echo "setup: installing ${pkgs[*]}" >&2
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
for tool in go cargo; do
  command -v "$tool" >/dev/null 2>&1 || { echo "setup: $tool is required (Go 1.26+, Rust 1.89+)" >&2; exit 1; }
done

if [[ -n "$demo" ]]; then
  run_step "control plane: etcd, kube-apiserver, kube-controller-manager, kubectl from Go modules" \
    "about 12 min" tests/testbed/testbed build-core
  run_step "the operator and the reference site (cargo)" "about 5 min" \
    cargo build --locked --features failpoints --bin sitehapair --example reference-site
else
  # The control plane, helm, promtool and pygeoapi (a Python 3.12+ virtual
  # environment), each cached by version.
  run_step "control plane, helm, promtool, pygeoapi" "about 20 min" tests/testbed/testbed build
  # The node the chart's pods run on (containerd, runc, CNI, kubelet, scheduler).
  run_step "the node: containerd, runc, CNI, kubelet, kube-scheduler, kube-proxy" "about 6 min" \
    tests/testbed/node/build
  run_step "the crate, its tests and examples (cargo)" "about 6 min" \
    cargo build --locked --features failpoints --all-targets
fi
echo "setup: steps and their times this run:" >&2
printf '  %s\n' "${timings[@]}" >&2
