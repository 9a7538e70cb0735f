#!/usr/bin/env bash
# Installs what the project needs on a fresh machine and builds the test bed
# binaries (cached by version outside the repository). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in openssl curl git setsid python3; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
if (( ${#need_apt[@]} )); then
  pkgs=()
  for t in "${need_apt[@]}"; do
    case "$t" in
      setsid) pkgs+=(util-linux) ;;
      python3) pkgs+=(python3-minimal) ;;
      *) pkgs+=("$t") ;;
    esac
  done
  echo "setup: installing ${pkgs[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
for tool in go cargo; do
  command -v "$tool" >/dev/null 2>&1 || { echo "setup: $tool is required (Go 1.26+, Rust 1.89+)" >&2; exit 1; }
done

tests/testbed/testbed build
cargo build --locked --all-targets
