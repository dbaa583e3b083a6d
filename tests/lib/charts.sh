# shellcheck shell=bash
# The charts, staged for helm: the test suites (through suite.sh) and manifests/generate.sh render
# copies, so that `helm dependency build` never writes into the work tree.

charts_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# charts_stage DIR: copies charts/leasehold and charts/leasehold-example into DIR/charts, the
# example without its built dependency, and points helm's cache, config and data at DIR/helm.
# The example is then DIR/charts/leasehold-example; `helm dependency build --skip-refresh` it.
charts_stage() {
  export HELM_CACHE_HOME="$1/helm/cache" HELM_CONFIG_HOME="$1/helm/config" HELM_DATA_HOME="$1/helm/data"
  mkdir -p "$1/charts"
  cp -R "$charts_root/charts/leasehold" "$charts_root/charts/leasehold-example" "$1/charts/"
  rm -rf "$1/charts/leasehold-example/charts" "$1/charts/leasehold-example/Chart.lock"
}
