#!/usr/bin/env bash
# Builds the test bed's binaries from Go modules into .cache/tools/bin (git-ignored).
# Idempotent: a stamp of the pinned versions and sources lets a second run return at once.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"   # bin, KUBE_VERSION, kube_ldflags, tools_up_to_date

HELM_VERSION=v3.21.4
TOXIPROXY_VERSION=v2.12.0

stamp_input() {
  echo "$KUBE_VERSION $HELM_VERSION $TOXIPROXY_VERSION $(go env GOVERSION) $kube_ldflags"
  cat "$here/go.mod" "$here/go.sum"
  find "$here/reference-elector" -type f -name '*.go' | sort | xargs cat
}
stamp="$(stamp_input | sha256sum | cut -d' ' -f1)"
wanted=(kube-apiserver kubectl etcd helm toxiproxy-server toxiproxy-cli reference-elector)
if tools_up_to_date .stamp "$stamp" "${wanted[@]}"; then
  echo "tools: up to date in $bin"
  exit 0
fi

start=$(date +%s)

cd "$here"
echo "tools: building kube-apiserver $KUBE_VERSION"
go build -trimpath -ldflags "$kube_ldflags" -o "$bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
echo "tools: building kubectl $KUBE_VERSION"
go build -trimpath -ldflags "$kube_ldflags" -o "$bin/kubectl" k8s.io/kubernetes/cmd/kubectl
echo "tools: building etcd $(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3
echo "tools: building reference-elector"
go build -trimpath -ldflags "-s -w" -o "$bin/reference-elector" ./reference-elector

# helm and toxiproxy carry no replace directives: each builds in its own module at a pinned version.
gobin="$(mktemp -d)"
trap 'rm -rf "$gobin"' EXIT
echo "tools: building helm $HELM_VERSION"
GOBIN="$gobin" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
echo "tools: building toxiproxy $TOXIPROXY_VERSION"
GOBIN="$gobin" go install -trimpath -ldflags "-s -w" \
  "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" \
  "github.com/Shopify/toxiproxy/v2/cmd/cli@$TOXIPROXY_VERSION"
mv "$gobin/helm" "$bin/helm"
mv "$gobin/server" "$bin/toxiproxy-server"
mv "$gobin/cli" "$bin/toxiproxy-cli"

echo "$stamp" >"$bin/.stamp"
echo "tools: built in $(($(date +%s) - start))s"
# shellcheck disable=SC2012 # a listing for the log; the names are the tools' own
ls -la "$bin" | awk 'NR>1 && $5>0 {printf "  %-20s %6.1f MB\n", $9, $5/1048576}'
