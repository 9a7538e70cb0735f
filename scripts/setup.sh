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
    "about 9 min" tests/testbed/testbed build-core
  run_step "the operator and the reference site (cargo)" "about 3 min" \
    cargo build --locked --features failpoints --bin sitehapair --example reference-site
else
  # Two lanes side by side, so that one builds while the other waits on the
  # network or links a single binary: Kubernetes (the control plane, then the
  # node's kubelet, scheduler and proxy, which reuse its Go build cache), and
  # everything else. Each lane's lines are prefixed with its name.
  lane_times="$(mktemp)"
  lane() { # lane NAME STEP...: run steps (WHAT|FIRST|CMD) in turn, timing each
    local name="$1"; shift
    local step what first cmd start
    for step in "$@"; do
      IFS='|' read -r what first cmd <<<"$step"
      start=$SECONDS
      echo "setup[$name]: $what (first run on two cores: $first; cached after)" >&2
      if ! eval "$cmd" 2>&1 | sed -u "s/^/setup[$name]: /" >&2; then
        echo "setup[$name]: FAILED: $what" >&2
        return 1
      fi
      printf '%5d s  %s\n' $((SECONDS - start)) "$what" >>"$lane_times"
    done
  }
  # The Kubernetes lane runs in a process group of its own, stopped with
  # everything it started if this script ends first (Ctrl-C, a failure).
  set -m
  lane kubernetes \
    "control plane: etcd, kube-apiserver, kube-controller-manager, kubectl|about 9 min|tests/testbed/testbed build-core" \
    "the node's kubelet, kube-scheduler, kube-proxy|under a minute|tests/testbed/node/build build-kube" &
  k8s_lane=$!
  set +m
  trap 'kill -TERM -- "-$k8s_lane" 2>/dev/null || true' EXIT
  trap 'exit 130' INT TERM
  other_ok=0
  lane other \
    "pygeoapi, gunicorn, jsonpatch (a Python 3.12+ virtual environment)|about 30 s|tests/testbed/testbed build-pygeoapi" \
    "the node's containerd, runc, CNI plugins, pause|about 2 min|tests/testbed/node/build build-runtime" \
    "helm|about 2 min|tests/testbed/testbed build-helm" \
    "promtool (no service discovery plugins)|about 2.5 min|tests/testbed/testbed build-promtool" \
    "the crate, its tests and examples (cargo)|about 4.5 min beside the control plane|cargo build --locked --features failpoints --all-targets" \
    || other_ok=$?
  k8s_ok=0
  wait "$k8s_lane" || k8s_ok=$?
  trap - EXIT INT TERM
  while IFS= read -r line; do timings+=("$line"); done <"$lane_times"
  rm -f "$lane_times"
  if (( k8s_ok || other_ok )); then
    echo "setup: a step failed (see FAILED above)" >&2
    exit 1
  fi
fi
echo "setup: steps and their times this run (two lanes side by side; $SECONDS s in all):" >&2
printf '  %s\n' "${timings[@]}" >&2
