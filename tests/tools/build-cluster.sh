#!/usr/bin/env bash
# Builds the binaries of the real single-node cluster (tests/cluster/up) and of Prometheus from Go
# modules into .cache/tools/bin (or $TOOLS_BIN), beside those of tests/tools/build.sh:
#   kubelet, kube-controller-manager, kube-scheduler, kube-proxy   k8s.io/kubernetes cmds, built in
#       the module tests/tools/cluster (the same replace block as tests/tools/go.mod, same version
#       stamps as kube-apiserver)
#   prometheus, promtool   github.com/prometheus/prometheus cmds at a pinned version, each in its own
#       module (go install), with only the Kubernetes service discovery compiled in
# A module of its own, with a stamp of its own, so that adding these does not rebuild the others.
# Idempotent: returns at once when the stamp of the pinned versions and sources matches.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"   # bin, KUBE_VERSION, kube_ldflags, tools_up_to_date

PROMETHEUS_VERSION=v0.316.0    # github.com/prometheus/prometheus module version of ...
PROMETHEUS_APP_VERSION=3.16.0  # ... Prometheus 3.16.0
PROMETHEUS_TAGS=remove_all_sd,enable_kubernetes_sd

stamp_input() {
  echo "$KUBE_VERSION $PROMETHEUS_VERSION $PROMETHEUS_TAGS $(go env GOVERSION) $kube_ldflags"
  cat "$here/cluster/go.mod" "$here/cluster/go.sum"
}
stamp="$(stamp_input | sha256sum | cut -d' ' -f1)"
kube_cmds=(kubelet kube-controller-manager kube-scheduler kube-proxy)
wanted=("${kube_cmds[@]}" prometheus promtool)
if tools_up_to_date .stamp-cluster "$stamp" "${wanted[@]}"; then
  echo "tools (cluster): up to date in $bin"
  exit 0
fi

start=$(date +%s)

cd "$here/cluster"
for c in "${kube_cmds[@]}"; do
  t=$(date +%s)
  go build -trimpath -ldflags "$kube_ldflags" -o "$bin/$c" "k8s.io/kubernetes/cmd/$c"
  echo "tools: built $c $KUBE_VERSION in $(($(date +%s) - t))s"
done

# Prometheus carries no replace directives: go install at the pinned version. The build tags keep
# only the Kubernetes service discovery (the others pull in every cloud's SDK).
gobin="$(mktemp -d)"
trap 'rm -rf "$gobin"' EXIT
t=$(date +%s)
GOBIN="$gobin" go install -trimpath -tags "$PROMETHEUS_TAGS" \
  -ldflags "-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_APP_VERSION" \
  "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION"
mv "$gobin/prometheus" "$gobin/promtool" "$bin/"
echo "tools: built prometheus and promtool $PROMETHEUS_VERSION in $(($(date +%s) - t))s"

echo "$stamp" >"$bin/.stamp-cluster"
echo "tools (cluster): built in $(($(date +%s) - start))s"
for b in "${wanted[@]}"; do ls -la "$bin/$b"; done | awk '{printf "  %-24s %6.1f MB\n", $9, $5/1048576}' | sed "s|$bin/||"
