#!/usr/bin/env bash
# Tests of the container image:
#   - docker/base-image.sh builds (or finds) the base image from Debian's archive;
#   - `docker build --network host` builds the image (compiles and runs the unit tests inside);
#   - the image runs `--version` as user 65532, has the vector ENTRYPOINT, OCI labels, no
#     HEALTHCHECK, a /bin/sh (busybox, for the hooks) that runs a hook-like command with nothing
#     else of busybox on PATH, and is under 40 MB (both variants' sizes are printed);
#   - against a real control plane (tests/controlplane/up): the container, run read-only as 65532
#     with host networking, a kubeconfig for the ServiceAccount of manifests/rbac.yaml (token + CA,
#     mounted read-only) and a tmpfs status dir, becomes the leader (GET /v1/leader -> 200), and on
#     `docker stop` (SIGTERM) releases the Lease and exits 0; then the same in-cluster style: the
#     sidecar's args from manifests/deployment.yaml, KUBERNETES_SERVICE_HOST/PORT, the
#     ServiceAccount's token/ca.crt/namespace mounted where the kubelet puts them, POD_NAME/POD_NAMESPACE.
# Needs docker (and debootstrap, which base-image.sh installs), kubectl/etcd/kube-apiserver in
# .cache/tools/bin, curl, jq and python3. IMAGE_TEST_NO_CLUSTER=1 skips the control-plane part;
# IMAGE_TEST_SKIP_BUILD=1 tests the existing $IMAGE (default leasehold:test) and $IMAGE-debian.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib/suite.sh
source "$root/tests/lib/suite.sh"

export PATH="$TOOLS_BIN:$PATH"
image="${IMAGE:-leasehold:test}"
max_bytes=$((40 * 1000 * 1000))

suite_begin image_test

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }

echo "== base image"
expect "docker/base-image.sh" "$root/docker/base-image.sh"

echo "== build"
start=$(date +%s)
# The images this test tagged last time; removed once the tags move, so rebuilds do not pile up.
old_ids="$(docker image inspect -f '{{.Id}}' "$image" "$image-debian" "$image-build" 2>/dev/null)"
if [ "${IMAGE_TEST_SKIP_BUILD:-}" = 1 ] && docker image inspect "$image" "$image-debian" >/dev/null 2>&1; then
  echo "  using the existing $image and $image-debian (IMAGE_TEST_SKIP_BUILD=1)"
elif docker build --force-rm --network host -t "$image" "$root" >"$work/build.log" 2>&1; then
  pass "docker build --network host -t $image . ($(($(date +%s) - start))s)"
else
  fail "docker build --network host -t $image ."
  grep -v '^ --->' "$work/build.log" | tail -n 30 | sed 's/^/        /'
  summary
  exit
fi
if [ "${IMAGE_TEST_SKIP_BUILD:-}" != 1 ]; then
  expect "docker build --target runtime-debian (the slim Debian variant)" \
    docker build --force-rm --network host --target runtime-debian -t "$image-debian" "$root"
  # Tagging the (cached) build stage lets the next run remove it when it is rebuilt.
  docker build --force-rm --network host --target build -t "$image-build" "$root" >/dev/null 2>&1
fi
for id in $old_ids; do
  docker image inspect -f '{{.RepoTags}}' "$id" 2>/dev/null | grep -q '^\[\]$' && docker rmi "$id" >/dev/null 2>&1
done
cid="$(docker create "$image")"
docker export "$cid" | tar -t >"$work/files"
docker rm "$cid" >/dev/null
echo "  shared objects in the image (ldd's list):"
grep -E '^(usr/)?lib[^/]*/.*\.so' "$work/files" | sort | sed 's/^/        /'
expect_eq "the image holds /leasehold" "$(grep -c -x 'leasehold' "$work/files")" 1

echo "== image"
version="$(docker run --rm "$image" --version 2>&1)"
expect_match "docker run --rm $image --version" "$version" '[0-9]+\.[0-9]+\.[0-9]+'
echo "        $version"
expect "the Debian variant runs --version too" docker run --rm "$image-debian" --version
expect_eq "USER is numeric 65532:65532" "$(docker image inspect -f '{{.Config.User}}' "$image")" "65532:65532"
expect_eq "ENTRYPOINT is [\"/leasehold\"]" "$(docker image inspect -f '{{json .Config.Entrypoint}}' "$image")" '["/leasehold"]'
expect_eq "no HEALTHCHECK" "$(docker image inspect -f '{{json .Config.Healthcheck}}' "$image")" null
labels="$(docker image inspect -f '{{json .Config.Labels}}' "$image")"
for key in source title description licenses version; do
  expect_eq "OCI label org.opencontainers.image.$key" "$(jq -r --arg k "org.opencontainers.image.$key" 'has($k)' <<<"$labels")" true
done
expect_eq "OCI title" "$(jq -r '."org.opencontainers.image.title"' <<<"$labels")" leasehold
# The hooks run `/bin/sh -c COMMAND`: busybox's sh, whose applets (echo, date, wget, ...) run
# without being on PATH.
expect_eq "/bin/sh runs a hook command (busybox applets, no PATH entries)" \
  "$(docker run --rm --entrypoint /bin/sh "$image" -c 'echo "start $0" >/dev/null && date +%Y >/dev/null && echo ok' 2>&1)" ok
expect_eq "/bin/sh is the only program besides /leasehold" \
  "$(grep -E '^(usr/)?s?bin/.' "$work/files" | sort | tr '\n' ' ')" "bin/sh "
expect "--help runs read-only as 65532 with no capabilities" \
  docker run --rm --read-only --user 65532:65532 --cap-drop ALL --security-opt no-new-privileges "$image" --help
size="$(docker image inspect -f '{{.Size}}' "$image")"
size_debian="$(docker image inspect -f '{{.Size}}' "$image-debian" 2>/dev/null || echo 0)"
echo "  size: $image $(mb "$size") (scratch + ldd's libraries), $image-debian $(mb "$size_debian") (Debian + runtime packages)"
if [ "$size" -lt "$max_bytes" ]; then pass "image size $(mb "$size") < 40 MB"; else fail "image size $(mb "$size") >= 40 MB"; fi

if [ "${IMAGE_TEST_NO_CLUSTER:-}" = 1 ]; then
  echo "== control plane part skipped (IMAGE_TEST_NO_CLUSTER=1)"
  summary
  exit
fi

echo "== the image against a real control plane"
if ! controlplane_start "$work/cp"; then
  fail "control plane did not start: $(tail -n 5 "$work/cp.log")"
  summary
  exit
fi
ns="image-test"
kubectl create namespace "$ns" >/dev/null
expect "kubectl apply -n $ns -f manifests/rbac.yaml" kubectl apply -n "$ns" -f "$root/manifests/rbac.yaml"
token="$(kubectl create token leasehold-example -n "$ns" --duration=10m)"

# The agent's kubeconfig: the ServiceAccount's token and the API server's CA, readable by 65532.
kc="$work/kube"
mkdir -p "$kc"
cp "$APISERVER_CA" "$kc/ca.crt"
cat >"$kc/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: $APISERVER_URL
    certificate-authority: /etc/leasehold/ca.crt
contexts:
- name: test
  context: {cluster: test, user: leasehold, namespace: $ns}
current-context: test
users:
- name: leasehold
  user:
    token: $token
EOF
chmod 755 "$work" "$kc"
chmod 644 "$kc/ca.crt" "$kc/kubeconfig"

read -r status_port ops_port < <(free_ports 2)
container="leasehold-image-test-$$"
at_exit docker rm -f "$container"
identity="image-test-$$"
expect "docker run --read-only --user 65532 (kubeconfig and CA mounted read-only, tmpfs status dir)" \
  docker run -d --name "$container" --network host --read-only --user 65532:65532 \
    --cap-drop ALL --security-opt no-new-privileges \
    --tmpfs /run/leasehold:rw,size=1m,uid=65532,gid=65532,mode=0755 \
    -v "$kc:/etc/leasehold:ro" \
    "$image" \
    --election leasehold-example --identity "$identity" \
    --kubeconfig /etc/leasehold/kubeconfig \
    --status-address "127.0.0.1:$status_port" --ops-address "127.0.0.1:$ops_port" \
    --status-dir /run/leasehold
if wait_until 60 leads_at "127.0.0.1:$status_port"; then
  pass "becomes the leader: GET /v1/leader -> 200"
else
  fail "did not become the leader within 60s (GET /v1/leader: $(leader_code_at "127.0.0.1:$status_port"))"
  docker logs --tail 20 "$container" 2>&1 | sed 's/^/        /'
fi
expect_eq "the Lease names the container as holder" \
  "$(kubectl get lease -n "$ns" leasehold-example -o jsonpath='{.spec.holderIdentity}' 2>&1)" "$identity"
expect_eq "GET /v1/status -> 200 JSON" \
  "$(curl -s -o "$work/status.json" -w '%{http_code}' "http://127.0.0.1:$status_port/v1/status"):$(jq -e type "$work/status.json" 2>/dev/null)" '200:"object"'
for path in healthz readyz metrics; do
  expect_eq "ops GET /$path -> 200" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ops_port/$path")" 200
done
start=$(date +%s%N)
docker stop -t 30 "$container" >/dev/null
echo "  docker stop took $(( ($(date +%s%N) - start) / 1000000 )) ms"
expect_eq "exits 0 on SIGTERM (docker stop)" "$(docker inspect -f '{{.State.ExitCode}}' "$container")" 0
expect_eq "the Lease is released on SIGTERM" \
  "$(kubectl get lease -n "$ns" leasehold-example -o jsonpath='{.spec.holderIdentity}' 2>&1)" ""
if [ "$TESTLIB_FAILED" -gt 0 ]; then
  echo "  container log (tail):"
  docker logs --tail 20 "$container" 2>&1 | sed 's/^/        /'
fi
docker rm -f "$container" >/dev/null 2>&1

echo "== in-cluster, as the chart runs it (the sidecar's args from manifests/deployment.yaml)"
# In-cluster configuration: KUBERNETES_SERVICE_HOST/PORT and the ServiceAccount's files at the
# kubelet's path; POD_NAME/POD_NAMESPACE as the downward API sets them; no --kubeconfig.
sa="$work/serviceaccount"
mkdir -p "$sa"
cp "$APISERVER_CA" "$sa/ca.crt"
printf '%s' "$token" >"$sa/token"
printf '%s' "$ns" >"$sa/namespace"
chmod 755 "$sa"; chmod 644 "$sa"/*
mapfile -t chart_args < <(kubectl create --dry-run=client -o json -f "$root/manifests/deployment.yaml" \
  | jq -r '.spec.template.spec.initContainers[] | select(.name == "leasehold") | .args[]' \
  | sed -e "s|^--status-address=.*|--status-address=127.0.0.1:$status_port|" \
        -e "s|^--ops-address=.*|--ops-address=127.0.0.1:$ops_port|")
expect_match "the chart's args name the election" "${chart_args[*]}" '--election=leasehold-example'
api_host="${APISERVER_URL#https://}"
container="leasehold-image-test-incluster-$$"
at_exit docker rm -f "$container"
pod_name="leasehold-example-7d9f-abcde"
expect "docker run in-cluster style (read-only, 65532, ServiceAccount files mounted read-only)" \
  docker run -d --name "$container" --network host --read-only --user 65532:65532 \
    --cap-drop ALL --security-opt no-new-privileges \
    --tmpfs /run/leasehold:rw,size=1m,uid=65532,gid=65532,mode=0755 \
    -v "$sa:/var/run/secrets/kubernetes.io/serviceaccount:ro" \
    -e KUBERNETES_SERVICE_HOST="${api_host%:*}" -e KUBERNETES_SERVICE_PORT="${api_host##*:}" \
    -e POD_NAME="$pod_name" -e POD_NAMESPACE="$ns" \
    "$image" "${chart_args[@]}"
if wait_until 60 leads_at "127.0.0.1:$status_port"; then
  pass "becomes the leader in-cluster: GET /v1/leader -> 200"
else
  fail "did not become the leader in-cluster within 60s"
  docker logs --tail 20 "$container" 2>&1 | sed 's/^/        /'
fi
expect_match "holder identity is \$POD_NAME + _ + a suffix" \
  "$(kubectl get lease -n "$ns" leasehold-example -o jsonpath='{.spec.holderIdentity}' 2>&1)" "^${pod_name}_."
docker stop -t 30 "$container" >/dev/null
expect_eq "exits 0 on SIGTERM (docker stop)" "$(docker inspect -f '{{.State.ExitCode}}' "$container")" 0
expect_eq "the Lease is released on SIGTERM" \
  "$(kubectl get lease -n "$ns" leasehold-example -o jsonpath='{.spec.holderIdentity}' 2>&1)" ""

summary
