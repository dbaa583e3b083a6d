# shellcheck shell=bash
# Shared by tests/tools/build.sh and tests/tools/build-cluster.sh: where the tools go, the pinned
# Kubernetes version and its link flags, and the stamp that lets a second run return at once.
# Sourced, not run; the sourcing script sets `set -euo pipefail`.

tools_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools_root="$(cd "$tools_here/../.." && pwd)"
bin="${TOOLS_BIN:-$tools_root/.cache/tools/bin}"
mkdir -p "$bin"
export CGO_ENABLED=0

KUBE_VERSION=v1.37.2   # k8s.io/kubernetes; its staging modules are served as v0.37.2
kube_minor="${KUBE_VERSION#v1.}"; kube_minor="${kube_minor%%.*}"
# The version the binaries report (kubectl version, the API server's /version), as a release has it.
# shellcheck disable=SC2034 # used by build.sh and build-cluster.sh
kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$kube_minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$kube_minor"

# tools_up_to_date STAMP_FILE STAMP BINARY...: every binary is there and was built from STAMP.
tools_up_to_date() {
  local file="$1" stamp="$2" b
  shift 2
  for b in "$@"; do [ -x "$bin/$b" ] || return 1; done
  [ "$(cat "$bin/$file" 2>/dev/null)" = "$stamp" ]
}
