#!/usr/bin/env bash
# Installs what building and testing leasehold needs from Debian's archive (idempotent: only
# missing packages are installed). Needs root when something is missing; `make build` only checks
# (scripts/check-deps.sh). Go comes with the machine (/usr/local/go).
set -euo pipefail

packages=(
  # build
  cmake make g++ pkg-config libcpprest-dev nlohmann-json3-dev libyaml-cpp-dev prometheus-cpp-dev
  doctest-dev libboost-dev libssl-dev zlib1g-dev clang-format
  # tests and tools
  bc curl ca-certificates jq openssl python3 procps iproute2 debootstrap wrk faketime gnuplot-nox
  # make lint
  shellcheck
  # the stacks of a test run that hangs (scripts/sanitize.sh)
  gdb
  # the real single-node cluster (tests/cluster): a private containerd, runc, CNI plugins and
  # what kubelet and kube-proxy call; busybox-static is the default image's /bin/sh (hooks)
  containerd runc containernetworking-plugins conntrack socat ebtables iptables ethtool kmod
  util-linux mount busybox-static python3-yaml
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all installed"
  exit 0
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
