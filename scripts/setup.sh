#!/usr/bin/env bash
# Installs what the project needs on a fresh machine and builds the test bed
# binaries (cached by version outside the repository). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

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

# The control plane, helm, promtool and pygeoapi (a Python 3.12+ virtual
# environment), each cached by version.
tests/testbed/testbed build
# The node the chart's pods run on (containerd, runc, CNI, kubelet, scheduler).
tests/testbed/node/build
cargo build --locked --features failpoints --all-targets
