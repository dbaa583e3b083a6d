#!/usr/bin/env bash
# config_test: bad configuration exits 2 with a message that starts with the name of the setting at
# fault, and the first problem reported is the first in the order a user fixes them (--election
# first, the namespace the credentials name last), all before anything touches the network: the
# kubeconfig here points at a port nothing listens on and names no namespace.
# Uses the binary ${LEASEHOLD:-build/leasehold}; needs no control plane.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LEASEHOLD="${LEASEHOLD:-$root/build/leasehold}"
TESTLIB_SUITE=config_test
. "$root/tests/lib/testlib.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/kubeconfig" <<'EOF'
apiVersion: v1
kind: Config
current-context: dev
contexts:
  - name: dev
    context: {cluster: dev, user: dev}
clusters:
  - name: dev
    cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
  - name: dev
    user: {token: not-a-real-token}
EOF

# run [VAR=VALUE...] -- FLAGS...: runs leasehold with a clean environment (plus the variables);
# prints "<exit code> <first line of stderr>". It must exit at once: 10 s bound a hang.
run() {
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  local err code
  err="$(env -i PATH="$PATH" "${vars[@]}" timeout 10 "$LEASEHOLD" "$@" 2>&1 >/dev/null)"
  code=$?
  printf '%s %s\n' "$code" "$(printf '%s\n' "$err" | head -1)"
}
kc=(--kubeconfig "$work/kubeconfig")

# check DESCRIPTION EXPECTED_SETTING [VAR=VALUE...] -- FLAGS...
check() {
  local what="$1" setting="$2"; shift 2
  local out
  out="$(run "$@")"
  expect_match "$what: exits 2 naming $setting" "$out" "^2 leasehold: ${setting}: "
}

check "no arguments at all" "--election" --
check "no --election, with a kubeconfig" "--election" -- "${kc[@]}"
check "--status-address without a port" "--status-address" -- --election e "${kc[@]}" --status-address nohost
check "--status-address with a port out of range" "--status-address" -- \
  --election e "${kc[@]}" --status-address 127.0.0.1:99999
check "--ops-address without a port" "--ops-address" -- --election e "${kc[@]}" --ops-address nohost
check "--leader-label that is no label key" "--leader-label" POD_NAME=web-0 -- \
  --election e "${kc[@]}" --leader-label 'bad label!'
check "a bad --election, the kubeconfig naming no namespace" "--election" -- --election Bad_Name "${kc[@]}"
check "a bad --retry-period, the kubeconfig naming no namespace" "--retry-period" -- \
  --election e "${kc[@]}" --retry-period 0s
check "a bad --lease-duration, the kubeconfig naming no namespace" "--lease-duration" -- \
  --election e "${kc[@]}" --lease-duration 1500ms
check "--context the kubeconfig lacks" "--context" -- --election e "${kc[@]}" --context nope --namespace ns
check "a mistyped LEASEHOLD_ variable" "LEASEHOLD_ELECTOIN" LEASEHOLD_ELECTOIN=e -- --election e "${kc[@]}"
check "an unknown key in the config file" "--config" -- --election e "${kc[@]}" \
  --config <(printf 'electoin: e\n')
check "a --lease-duration written well but too large" "--lease-duration" -- \
  --election e "${kc[@]}" --lease-duration 600000h
expect_match "  ... is called too large, not \"not a duration\"" \
  "$(run -- --election e "${kc[@]}" --lease-duration 600000h)" "too large"
# A listener that cannot bind (here both on one port) exits 1, naming its setting.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
expect_match "both listeners on one port: exits 1 naming --ops-address" \
  "$(run -- --election e "${kc[@]}" --namespace ns --status-address "127.0.0.1:$port" --ops-address "127.0.0.1:$port")" \
  '^1 .*"--ops-address: cannot listen on 127\.0\.0\.1:'"$port"
# Only when everything else is right: the namespace nobody named.
check "all else valid, no namespace anywhere" "--namespace" -- --election e "${kc[@]}"
# Kubernetes' service links for a Service named leasehold are not settings, and pass.
out="$(run LEASEHOLD_SERVICE_HOST=10.0.0.1 LEASEHOLD_PORT_4040_TCP=tcp://10.0.0.1:4040 -- --election e "${kc[@]}")"
expect_match "service-link variables are let through (the next problem is the namespace)" "$out" \
  '^2 leasehold: --namespace: '
summary
