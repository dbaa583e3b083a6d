#!/usr/bin/env bash
# The user's whole path on a real node (tests/cluster/up: kubelet, containerd, kube-proxy, ...):
# `helm install` of charts/leasehold-example (3 replicas, default image, native sidecar) into a
# namespace that enforces Pod Security "restricted", then, checked from the pods, the Lease and a
# Prometheus that discovers the pods (kubernetes_sd_configs, role pod):
#   - pods Running and Ready; the sidecar started before the app; in-cluster auth with the
#     projected token (no kubeconfig anywhere); exactly one leader; hooks from chart values run in
#     the default image; the leader label and a Service that selects only the leader;
#   - Prometheus: sum by (namespace, election) (leasehold_is_leader) == 1, counters and
#     histograms moving;
#   - `kubectl rollout restart`: handover, the time without a leader printed;
#   - `kubectl delete pod` of the leader with handoffTimeout: the app resigns and acknowledges by
#     POST /v1/ack (then, after a `helm upgrade` that also changes the lease timings, by the `ack`
#     file), the sidecar logs the acknowledgement; one leader settles, a greater token; a pod named
#     first that stands down again must have counted failed health checks (why one did, once);
#   - the same upgrade adds a second election (`elections`): under the chart's Role for several
#     elections, exactly one pod leads it, no request is refused, and its Lease is released too;
#   - kill -9 of the leader's sidecar process on the node: the kubelet restarts it, the new term
#     begins no earlier than the old claim's end, the fencing token grows, Prometheus sees no
#     leader meanwhile and the chart's LeaseholdNoLeader alert goes pending or firing;
#   - leadership follows the app's health (the chart's appHealth on the example app's /healthz):
#     the leader's app crash-looping (kill -9 on the node), then hung (SIGSTOP): its sidecar stops
#     leading, a healthy pod takes over, the unhealthy pod never takes the Lease back, and the
#     kubelet restarts the app (the hung one by its livenessProbe), healthy again;
#   - `helm uninstall`: the Lease released, nothing left but what the user made;
#   - sharded ownership (leasehold.shards=12, a second release): scale 3 -> 5 -> 2 -> 3, a rollout,
#     a pod deleted, a sidecar killed: after each, every shard is owned by exactly one pod, the one
#     its Lease names, loads within one (the times printed); the apps work the shards from the
#     `shards` file and report to the witness, which finds no shard worked by two pods at once;
#     the same sidecars also run a further sharded election (the chart's elections[0].shards=4);
#   - API Priority and Fairness (leasehold.flowSchema.enabled, with a priority level and precedence
#     other than the defaults): the pods' Lease requests are dispatched through the chart's
#     FlowSchema at that level, their Events not; the sharded release's FlowSchema, with the
#     defaults, dispatches its pods' Lease requests too;
#   - injection (charts/leasehold-injector: a MutatingAdmissionPolicy and a
#     ValidatingAdmissionPolicy, RBAC per namespace): by server-side dry run, unlabelled pods are
#     untouched, a pod with its own sidecar keeps it alone, annotations become settings and wrong
#     ones are refused with messages naming them; a plain Deployment with only the label gets one
#     leader among its pods (restricted Pod Security), and another pod takes over when its pod
#     is deleted; the injector's values other than their defaults (ports, status dir, log level,
#     the RBAC's ServiceAccount, elections and Events) are seen in the pods;
#   - Events: the rollout's handover is in `kubectl get events` (Elected, ShuttingDown, about the
#     pods); Prometheus also sees client-go's leader_election_master_status; every query of the
#     Grafana dashboard (manifests/leasehold-dashboard.json) returns series over the run;
#   - the witness: every app reports each "leader" answer (HTTP and state file) with its fencing
#     token and time (one node, one clock); tests/faults/overlap.py proves no two pods claimed at
#     the same instant.
# Needs root, docker, the tools of `make tools` (cluster binaries, helm, prometheus), jq, python3.
# The image is built from our Dockerfile as image_test.sh builds it (same tag, so the layer cache
# makes it instant after that suite); CLUSTER_TEST_SKIP_BUILD=1 uses the existing $IMAGE
# (default leasehold:test). CLUSTER_KEEP=1 keeps the work folder and the cluster's logs.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export TOOLS_BIN="${TOOLS_BIN:-$root/.cache/tools/bin}"
# shellcheck source=../faults/lib.sh
. "$root/tests/faults/lib.sh"   # suite.sh, agents.sh, report/rj/figures of the witness
export PATH="$TOOLS_BIN:$PATH"

image="${IMAGE:-leasehold:test}"
app_image=leasehold-test/app:1
ELECTION=leasehold-example
# From the helm upgrade on, each sidecar also runs a second election (the chart's `elections`):
# per-pod figures read the default election's series.
SECOND_ELECTION=leasehold-example-b
OF_ELECTION="election=\"$ELECTION\""
release=lh
LD=4 RD=3 RP=1   # short timings, as the fault cases use
HANDOFF=8s
APP_HEALTH_PORT=8081   # the example app's /healthz, checked by the kubelet and by the sidecar

# Read again by cluster_down at exit: a plain assignment, not one for suite_begin's call alone.
SUITE_KEEP="${SUITE_KEEP:-${CLUSTER_KEEP:-}}"
suite_begin cluster
cdir="$work/cluster"
FAULT_T0="$(now_ms)"
suite_start=$(date +%s)

bail() { fail "$*"; summary; exit 1; }
for b in kubectl helm prometheus promtool kubelet kube-proxy; do
  [ -x "$TOOLS_BIN/$b" ] || bail "missing $TOOLS_BIN/$b (make tools)"
done

# ---- images: the default image from our Dockerfile (cached when image_test.sh built it), the app
echo "== images"
"$root/docker/base-image.sh" >/dev/null || bail "docker/base-image.sh"
t=$(date +%s)
if [ "${CLUSTER_TEST_SKIP_BUILD:-}" = 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "  using the existing $image (CLUSTER_TEST_SKIP_BUILD=1)"
else
  docker build -q --network host -t "$image" "$root" >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; bail "docker build $image"; }
fi
printf 'FROM leasehold-base/debian:bookworm\nRUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl python3 && rm -rf /var/lib/apt/lists/*\n' \
  | docker build -q --network host -t "$app_image" - >"$work/app-build.log" 2>&1 || { tail -20 "$work/app-build.log"; bail "docker build $app_image"; }
pass "images $image and $app_image ($(($(date +%s) - t))s)"

# ---- the cluster
echo "== cluster"
t=$(date +%s)
# At exit, after the tracked processes (witness, Prometheus, log streams): the cluster down. The
# host must be as before: a leftover fails the suite (the checks were already counted).
cluster_start "$cdir" "$image" "$app_image" || { cat "$cdir.log"; bail "tests/cluster/up"; }
pass "tests/cluster/up: node Ready ($(($(date +%s) - t))s)"
k() { kube_kubectl "$@"; }
NS=shop
k create namespace "$NS" >/dev/null
k label namespace "$NS" pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest >/dev/null

# ---- the charts, staged with their dependency (the work tree is not touched)
charts_stage "$work"
helm dependency build --skip-refresh "$work/charts/leasehold-example" >/dev/null || bail "helm dependency build"
chart="$work/charts/leasehold-example"

# ---- the witness, on the node address (pods reach the host there)
WITNESS_PORT=$(free_port)
WITNESS_LOG="$work/witness.log"
python3 "$root/tests/faults/witness.py" --host "$NODE_IP" --link lh-cni0 --port "$WITNESS_PORT" --log "$WITNESS_LOG" &
track_pid $!
wait_until 10 curl -sf "http://$NODE_IP:$WITNESS_PORT/healthz" || bail "witness did not start"

# ---- Prometheus: pods of $NS with a port named leasehold-ops, rules rendered by the chart
prom_port=$(free_port)
echo -n "$ADMIN_TOKEN" >"$work/prom-token"
# shellcheck disable=SC2016 # the hooks' $LEASEHOLD_FENCING_TOKEN is expanded by the hook's shell
values=(
  --set replicaCount=3
  --set app.image.repository="${app_image%:*}" --set-string app.image.tag="${app_image##*:}" --set app.image.pullPolicy=Never
  --set-json app.intervalSeconds=0.2 --set app.ack=http --set app.witnessURL="http://$NODE_IP:$WITNESS_PORT"
  --set app.resources.limits.cpu=500m
  --set leasehold.image.repository="${image%:*}" --set-string leasehold.image.tag="${image##*:}" --set leasehold.image.pullPolicy=Never
  --set "leasehold.leaseDuration=${LD}s" --set "leasehold.renewDeadline=${RD}s" --set "leasehold.retryPeriod=${RP}s"
  --set 'leasehold.extraArgs={--safety-margin=500ms,--request-timeout=1s}'
  --set "leasehold.handoffTimeout=$HANDOFF" --set leasehold.leaderLabel=leasehold.io/leader
  --set "app.healthPort=$APP_HEALTH_PORT" --set "leasehold.appHealth.httpGet.port=$APP_HEALTH_PORT"
  --set leasehold.appHealth.httpGet.path=/healthz --set leasehold.appHealth.periodSeconds=1
  --set leasehold.appHealth.failureThreshold=2
  --set leasehold.flowSchema.enabled=true --set leasehold.flowSchema.priorityLevel=workload-high
  --set leasehold.flowSchema.matchingPrecedence=350
  --set-string 'leasehold.hooks.onStartLeading=echo "start $LEASEHOLD_FENCING_TOKEN" >>/run/leasehold/hooks.log'
  --set-string 'leasehold.hooks.onStopLeading=echo "stop $LEASEHOLD_FENCING_TOKEN" >>/run/leasehold/hooks.log'
  --set leasehold.prometheusRule.noLeaderFor=2s --set leasehold.prometheusRule.twoLeadersFor=5s
  --set-string 'leasehold.prometheusRule.agentSelector=job="leasehold"'
)
helm template "$release" "$chart" -n "$NS" "${values[@]}" \
  --set leasehold.prometheusRule.enabled=true --show-only templates/leasehold-prometheusrule.yaml \
  | python3 -c 'import sys, yaml; print(yaml.safe_dump(yaml.safe_load(sys.stdin)["spec"]))' >"$work/rules.yaml" ||
  bail "the chart's PrometheusRule did not render"
SNS=shards  # the sharded release's namespace (below): scraped too, for the dashboard's shard panels
cat >"$work/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}
rule_files: [$work/rules.yaml]
scrape_configs:
  - job_name: leasehold
    kubernetes_sd_configs:
      - role: pod
        api_server: $APISERVER_URL
        namespaces: {names: [$NS, $SNS]}
        tls_config: {ca_file: $APISERVER_CA}
        authorization: {credentials_file: $work/prom-token}
    relabel_configs:
      - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: leasehold-ops, action: keep}
      - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
      - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
EOF
expect "promtool check config (the chart's rules included)" promtool check config "$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
track_pid $!
wait_until 30 curl -sf "127.0.0.1:$prom_port/-/ready" || bail "prometheus not ready"
prom() { # prom EXPR: the instant query's first value ("" when empty)
  curl -s --max-time 5 "127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // ""'
}
prom_min_since() { # prom_min_since EXPR START_S: the least value of EXPR from START_S to now (1 s steps)
  curl -s --max-time 5 "127.0.0.1:$prom_port/api/v1/query_range" --data-urlencode "query=$1" \
    --data-urlencode "start=$2" --data-urlencode "end=$(date +%s)" --data-urlencode step=1 \
    | jq -r '[.data.result[].values[][1] | tonumber] | min // ""'
}

# ---- helpers on the pods and the Lease
sel="app.kubernetes.io/instance=$release"
deploy="$release-leasehold-example"
holder() { k get lease -n "$NS" "$ELECTION" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
holder_pod() { local h; h="$(holder)"; echo "${h%_*}"; }
pod_ip() { k get pod -n "$NS" "$1" -o jsonpath='{.status.podIP}'; }
pod_metric() { # pod_metric POD REGEX: sum of the matching samples of the pod's sidecar
  curl -s --max-time 2 "http://$(pod_ip "$1"):9090/metrics" | grep -E -- "$2" | awk '{ s += $NF } END { printf "%.0f\n", s + 0 }'
}
live_pods() { k get pods -n "$NS" -l "$sel" -o json | jq -r '.items[] | select(.metadata.deletionTimestamp == null) | .metadata.name'; }
leaders() { local p; for p in $(live_pods); do [ "$(pod_metric "$p" "^leasehold_is_leader\\{$OF_ELECTION")" = 1 ] && echo "$p"; done; return 0; }
# settled: one leader, it is the Lease's holder, and it is not terminating
settled() { local l; l="$(leaders)"; [ "$(echo "$l" | grep -c .)" = 1 ] && [ "$l" = "$(holder_pod)" ]; }
witness_ns_of() { # first claim (ns) of TOKEN in the witness log
  jq -s --argjson t "$1" '[.[] | select(.token == $t and (.probe | not)) | (.checked_ns // .t)] | min // 0' "$WITNESS_LOG"
}
ms_between() { echo $((($2 - $1) / 1000000)); }
# On a failed check: the namespace's Events and the sidecars' last lines, while the pods still
# exist (the namespace is gone when the suite ends). The first three failures only.
failure_dumps=0
show_pods_on_fail() {
  [ "$failure_dumps" -lt 3 ] || return 0
  failure_dumps=$((failure_dumps + 1))
  echo "        --- Events of $NS, the last 15"
  k get events -n "$NS" --sort-by=.lastTimestamp 2>&1 | tail -15 | sed 's/^/        /'
  local p
  for p in $(live_pods); do
    echo "        --- $p: the sidecar's last 10 lines"
    k logs -n "$NS" "$p" -c leasehold --tail=10 2>&1 | sed 's/^/        /'
  done
}
# shellcheck disable=SC2034  # read by fail() (testlib.sh)
TESTLIB_ON_FAIL=show_pods_on_fail
# predicates for wait_until
pod_leads() { [ "$(pod_metric "$1" "^leasehold_is_leader\\{$OF_ELECTION")" = 1 ]; }
holder_is_not() { local h; h="$(holder)"; [ -n "$h" ] && [ "${h%_*}" != "$1" ]; }
pod_gone() { ! k get pod -n "$NS" "$1" >/dev/null 2>&1; }
witness_has_token() { jq -e -s --argjson t "$1" 'any(.[]; .token == $t)' "$WITNESS_LOG" >/dev/null; }
service_addrs() {
  k get endpointslices -n "$NS" -l kubernetes.io/service-name=leader -o json |
    jq -r '[.items[].endpoints[]? | select(.conditions.ready) | .addresses[]] | sort | join(",")'
}
service_is_leader() { local ip; ip="$(pod_ip "$(holder_pod)")"; [ -n "$ip" ] && [ "$(service_addrs)" = "$ip" ]; }
prom_is() { [ "$(prom "$1")" = "$2" ]; }
prom_changed() { [ -n "$(prom "$1")" ] && [ "$(prom "$1")" != "$2" ]; }
hook_ran() { [ "$(pod_metric "$1" '^leasehold_hook_runs_total\{.*hook="start".*outcome="success"')" -ge 1 ]; }
sidecar_restarted() {
  k get pod -n "$NS" "$1" -o json |
    jq -e --argjson n "$2" '.status.initContainerStatuses[] | select(.name == "leasehold") | .restartCount > $n and .ready' >/dev/null
}
app_restarts() { k get pod -n "$NS" "$1" -o jsonpath='{.status.containerStatuses[?(@.name=="app")].restartCount}'; }
app_pid() { # the app container's main process, as the node sees it
  local cid; cid="$(k get pod -n "$NS" "$1" -o jsonpath='{.status.containerStatuses[?(@.name=="app")].containerID}')"
  ctr -a "$CONTAINERD_ADDRESS" -n k8s.io tasks ls | awk -v c="${cid#containerd://}" '$1 == c { print $2 }'
}
app_healthy_again() { # POD RESTARTS0: the kubelet restarted the app and the sidecar finds it healthy
  [ "$(app_restarts "$1")" -gt "$2" ] && [ "$(pod_metric "$1" "^leasehold_app_healthy\\{$OF_ELECTION")" = 1 ]
}
show_election() { # after a failed check: the Lease, the pods, and what each sidecar said last
  k get lease -n "$NS" "$ELECTION" -o json | jq -c '{spec, annotations: .metadata.annotations}' | sed 's/^/        /'
  k get pods -n "$NS" -o wide | sed 's/^/        /'
  local p
  for p in $(k get pods -n "$NS" -o name); do
    echo "        --- $p"
    k logs -n "$NS" "$p" -c leasehold --tail 12 2>&1 | cut -c1-400 | sed 's/^/        /'
  done
}
no_terminating_pods() { [ "$(k get pods -n "$NS" -l "$sel" -o name | wc -l)" = "$(live_pods | wc -l)" ]; }
# rollout_done: the Deployment's rollout completed, and the replaced pods are gone too (rollout
# status does not wait for them; how soon their containers are stopped is the kubelet's doing,
# within the pods' termination grace period), with the time that took as a figure.
rollout_done() {
  expect "rollout completes" k rollout status -n "$NS" deployment/"$deploy" --timeout=180s
  local t; t=$(date +%s%N)
  expect "the replaced pods are gone" wait_until 60 no_terminating_pods
  figures "replaced_pods_gone_after_rollout_ms=$(ms_between "$t" "$(date +%s%N)")"
}
no_pods() { [ -z "$(k get pods -n "$NS" -o name)" ]; }
all_ready() {
  [ "$(k get pods -n "$NS" -l "$sel" -o json | jq '[.items[] | select(.metadata.deletionTimestamp == null and
     ([.status.conditions[]? | select(.type == "Ready" and .status == "True")] | length) == 1)] | length')" = 3 ] &&
  [ "$(k get pods -n "$NS" -l "$sel" -o name | wc -l)" = 3 ]
}

# ============================================================================================
echo "== helm install (3 replicas, Pod Security restricted, default image, native sidecar)"
t=$(date +%s%N)
if helm install "$release" "$chart" -n "$NS" "${values[@]}" --wait --timeout 3m >"$work/helm.log" 2>&1; then
  pass "helm install --wait ($(ms_between "$t" "$(date +%s%N)") ms)"
else
  cat "$work/helm.log"; k get pods -n "$NS" -o wide; k get events -n "$NS" | tail -20; bail "helm install"
fi
expect "all 3 pods Running and Ready" wait_until 60 all_ready
expect "one leader, the Lease's holder" wait_until 30 settled
pods="$(live_pods)"
first_pod="$(echo "$pods" | head -1)"
pod_json="$(k get pod -n "$NS" "$first_pod" -o json)"
expect_eq "the sidecar is a native sidecar (initContainer, restartPolicy Always)" \
  "$(echo "$pod_json" | jq -r '.spec.initContainers[] | select(.name == "leasehold") | .restartPolicy')" Always
sidecar_first="$(k logs -n "$NS" "$first_pod" -c leasehold --timestamps | head -1 | cut -d' ' -f1)"
app_first="$(k logs -n "$NS" "$first_pod" -c app --timestamps | head -1 | cut -d' ' -f1)"
expect "the sidecar started before the app (first log lines: $sidecar_first < $app_first)" \
  python3 -c 'import re, sys
def ns(t):  # RFC 3339 with up to 9 fraction digits, as the kubelet writes them
    m = re.match(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$", t)
    return m.group(1) + "." + (m.group(2) or "").ljust(9, "0")
a, b = sys.argv[1:]
sys.exit(not (a and b and ns(a) < ns(b)))' "$sidecar_first" "$app_first"
expect_eq "no kubeconfig anywhere in the pod (args, env, volumes)" \
  "$(echo "$pod_json" | jq '[.. | strings | select(test("kubeconfig"; "i"))] | length')" 0
expect_eq "the sidecar mounts the projected ServiceAccount token" \
  "$(echo "$pod_json" | jq -r '[.spec.initContainers[] | select(.name == "leasehold") | .volumeMounts[] | select(.mountPath == "/var/run/secrets/kubernetes.io/serviceaccount")] | length')" 1
expect_eq "in-cluster auth works: every sidecar is ready (it read the Lease with the token)" \
  "$(k get pods -n "$NS" -l "$sel" -o json | jq '[.items[].status.initContainerStatuses[] | select(.name == "leasehold" and .ready)] | length')" 3
leader="$(holder_pod)"
log "leader: $leader (fencing token $(pod_metric "$leader" "^leasehold_fencing_token\\{$OF_ELECTION"))"

echo "== API Priority and Fairness: the chart's FlowSchema (leasehold.flowSchema.enabled)"
fs="$release-leasehold-example-leasehold.$NS"   # <fullname>-leasehold.<namespace>
# Values other than the defaults (leader-election, 300), which fault case 24 runs with.
expect_eq "helm installed the FlowSchema with the release's values; its priority level exists" \
  "$(k get flowschema "$fs" -o jsonpath='{.spec.priorityLevelConfiguration.name} {.spec.matchingPrecedence} {.status.conditions[?(@.type=="Dangling")].status}')" \
  "workload-high 350 False"
sa_token="$(k exec -n "$NS" "$(holder_pod)" -c app -- cat /var/run/secrets/kubernetes.io/serviceaccount/token)"
# pf_uid PATH KIND: the X-Kubernetes-PF-<KIND>-UID answer header of a GET with the pods' token.
pf_uid() {
  curl -s -o /dev/null -D - --max-time 10 --cacert "$APISERVER_CA" -H "Authorization: Bearer $sa_token" "$APISERVER_URL$1" |
    tr -d '\r' | awk -F': ' -v h="x-kubernetes-pf-$2-uid" 'tolower($1) == h { print $2 }'
}
lease_path="/apis/coordination.k8s.io/v1/namespaces/$NS/leases/$ELECTION"
expect_eq "the pods' Lease requests go through it" "$(pf_uid "$lease_path" flowschema)" "$(k get flowschema "$fs" -o jsonpath='{.metadata.uid}')"
expect_eq "... at the priority level of the release's value, workload-high" "$(pf_uid "$lease_path" prioritylevel)" \
  "$(k get prioritylevelconfiguration workload-high -o jsonpath='{.metadata.uid}')"
expect_eq "their other requests (Events) do not: the built-in service-accounts" \
  "$(pf_uid "/apis/events.k8s.io/v1/namespaces/$NS/events" flowschema)" "$(k get flowschema service-accounts -o jsonpath='{.metadata.uid}')"
dispatched() { k get --raw /metrics | awk -v fs="flow_schema=\"$fs\"" 'index($0, "apiserver_flowcontrol_dispatched_requests_total{") == 1 && index($0, fs) { s += $NF } END { printf "%d\n", s }'; }
d0="$(dispatched)"; sleep $((3 * RP)); d1="$(dispatched)"
expect "the sidecars' own renewals are dispatched through it ($((d1 - d0)) in $((3 * RP)) s)" [ $((d1 - d0)) -ge 2 ]

echo "== hooks (chart values, default image) and the leader label"
expect "the start hook ran in the default image (busybox sh)" wait_until 10 hook_ran "$leader"
expect_eq "no hook failed" "$(pod_metric "$leader" '^leasehold_hook_runs_total\{.*outcome="(failure|timeout|error)"')" 0
expect_match "the hook wrote its line with the fencing token (shared status dir)" \
  "$(k exec -n "$NS" "$leader" -c app -- cat /run/leasehold/hooks.log 2>&1)" "^start [0-9]+"
k apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: leader}
spec:
  selector: {app.kubernetes.io/instance: $release, leasehold.io/leader: "true"}
  ports: [{port: 9090, targetPort: leasehold-ops}]
EOF
expect_eq "only the leader pod carries leasehold.io/leader=true" \
  "$(k get pods -n "$NS" -l "$sel,leasehold.io/leader=true" -o name | sed 's|pod/||')" "$leader"
expect "the Service 'leader' has exactly the leader's address" wait_until 20 service_is_leader

echo "== Prometheus (kubernetes_sd_configs, role pod)"
expect "it discovers and scrapes the 3 sidecars" wait_until 30 prom_is 'count(up{job="leasehold"} == 1)' 3
leaders_q="sum by (namespace, election) (leasehold_is_leader{namespace=\"$NS\",$OF_ELECTION})"
expect "sum by (namespace, election) (leasehold_is_leader) == 1" wait_until 10 prom_is "$leaders_q" 1
expect "client-go's name too: sum by (namespace, name) (leader_election_master_status) == 1" \
  wait_until 10 prom_is "sum by (namespace, name) (leader_election_master_status{namespace=\"$NS\",name=\"$ELECTION\"})" 1
r0="$(prom 'sum(leasehold_renewals_total{outcome="success"})')"; h0="$(prom 'sum(leasehold_renew_duration_seconds_count)')"
a0="$(prom 'sum(leasehold_api_requests_total)')"
wait_until 15 prom_changed 'sum(leasehold_renew_duration_seconds_count)' "$h0"
expect_match "renewals counter moves ($r0 -> $(prom 'sum(leasehold_renewals_total{outcome="success"})'))" \
  "$(prom "sum(leasehold_renewals_total{outcome=\"success\"}) > $r0")" '^[0-9.e+]+$'
expect_match "renew latency histogram moves ($h0 -> $(prom 'sum(leasehold_renew_duration_seconds_count)'))" \
  "$(prom "sum(leasehold_renew_duration_seconds_count) > $h0")" '^[0-9.e+]+$'
expect "API request counter moves" wait_until 15 prom_changed 'sum(leasehold_api_requests_total)' "$a0"
expect_eq "no alert fires in steady state" "$(curl -s "127.0.0.1:$prom_port/api/v1/alerts" | jq -r '[.data.alerts[] | select(.state == "firing")] | length')" 0

# ============================================================================================
echo "== kubectl rollout restart (handover, no overlap)"
t_roll=$(date +%s%N)
k rollout restart -n "$NS" deployment/"$deploy" >/dev/null
rollout_done
expect "one leader among the new pods" wait_until 30 settled
t_roll_end=$(date +%s%N)
report --from-ns "$t_roll" --to-ns "$t_roll_end" --gap-ms 500 >"$work/roll.txt"; sed 's/^/  /' "$work/roll.txt"
expect_eq "rollout: no overlap between terms (witness)" "$(rj .overlap_ms)" 0
# Events (the chart's default --events and its Role): the handover is in `kubectl get events`.
# pod_events REASON...: how many of leasehold's Events about pods have one of these reasons.
pod_events() {
  local r count=0
  for r in "$@"; do
    count=$((count + $(k get events -n "$NS" --field-selector "involvedObject.kind=Pod,reason=$r" -o json |
      jq -r '[.items[] | select(.reportingComponent == "leasehold.io/leasehold")] | length')))
  done
  echo "$count"
}
has_pod_events() { local want="$1"; shift; [ "$(pod_events "$@")" -ge "$want" ] || { sleep 0.5; return 1; }; }
expect "kubectl get events: Elected about the first leader's pod and the new one's (2 at least)" \
  wait_until 20 has_pod_events 2 Elected
# The example app resigns when told to stop while leading (its acknowledged handoff): Resigned.
expect "kubectl get events: StoppedLeading about the old leader's pod (Resigned or ShuttingDown)" \
  wait_until 20 has_pod_events 1 Resigned ShuttingDown
# The time without a leader at each handover: from the old term's last claim to the next term's
# first claim, as the apps saw them (to within their polling period).
handover_gaps() {
  jq -r --argjson a "$1" '[.terms | sort_by(.first_ns) | .[] | select(.last_ns >= $a)] as $t
    | [range(1; $t | length) | (($t[.].first_ns - $t[. - 1].last_ns) / 1e6 | floor)] | map(tostring) | join(",")' "$work/report.json"
}
figures "rollout_ms=$(ms_between "$t_roll" "$t_roll_end")" "no_leader_gaps_ms=$(handover_gaps "$t_roll")" \
  "terms=$(jq -s --argjson a "$t_roll" '[.[] | select(.t >= $a and (.probe|not)) | .token] | unique | length' "$WITNESS_LOG")"

# ============================================================================================
# delete_leader ACK: graceful delete of the leader; its app resigns, acknowledges by ACK, the
# sidecar releases. Checks the ack in the sidecar's log and at the witness; prints the handover.
# The pod the Lease names next may stand down again at once, as it must when its app fails its
# health checks (checked every second here, 1 s timeout: a machine loaded enough can fail three
# in a row), then hands off like any resign (handoffTimeout). So the next leader is the one that
# leads once settled, and a first holder that stood down must show the failed checks that made it.
failed_checks='^leasehold_app_health_checks_total\{.*outcome="(failure|refused|timeout)"'
# first_claim_after NS POD: the first claim at the witness after NS (ns) by a pod other than POD,
# as "NS TOKEN", or nothing.
first_claim_after() {
  jq -r -s --argjson a "$1" --arg c "$2" '[.[] | select((.probe | not) and .candidate != $c and (.checked_ns // .t) >= $a)]
    | min_by(.checked_ns // .t) // empty | "\(.checked_ns // .t) \(.token)"' "$WITNESS_LOG"
}
# stayed_or_unhealthy FIRST LEAD FAILED0: FIRST leads, or it counted failed health checks since.
stayed_or_unhealthy() { [ "$1" = "$2" ] || [ "$(pod_metric "$1" "$failed_checks")" -gt "$3" ]; }
token_above() { [ -n "$1" ] && [ "$1" -gt "${2:-0}" ]; }
delete_leader() {
  local ack="$1" old tok0 t0 first lead tok1 claim p logf="$work/sidecar-$1.log"
  local -A failed0=()
  wait_until 30 settled || { fail "no settled leader before the delete"; return; }
  old="$(holder_pod)"; tok0="$(pod_metric "$old" "^leasehold_fencing_token\\{$OF_ELECTION")"
  for p in $(live_pods); do failed0[$p]="$(pod_metric "$p" "$failed_checks")"; done
  k logs -f -n "$NS" "$old" -c leasehold >"$logf" 2>&1 &
  track_pid $!
  wait_until 10 test -s "$logf"   # the stream is attached once the earlier lines arrived
  t0=$(date +%s%N)
  k delete pod -n "$NS" "$old" --wait=false >/dev/null
  expect "delete $old ($ack ack): another pod leads" wait_until 40 holder_is_not "$old"
  first="$(holder_pod)"
  expect "one leader settles, the one the Lease names" wait_until 30 settled
  lead="$(holder_pod)"
  if [ "$lead" != "$first" ]; then
    echo "  $first, named first, stood down; $lead leads. Its Events:"
    k get events -n "$NS" --field-selector "involvedObject.name=$first" -o json |
      jq -r '.items[] | "    \(.reason): \(.note // .message)"' | tail -5
  fi
  expect "the pod named first leads, or stood down only after its app failed health checks ($first: ${failed0[$first]:-0} -> $(pod_metric "$first" "$failed_checks") failed)" \
    stayed_or_unhealthy "$first" "$lead" "${failed0[$first]:-0}"
  tok1="$(pod_metric "$lead" "^leasehold_fencing_token\\{$OF_ELECTION")"
  wait_until 30 pod_gone "$old"
  expect "the sidecar of $old logged: the app acknowledged the handoff" grep -q 'the app acknowledged the handoff' "$logf"
  expect_eq "the app's ack by $ack reached the sidecar" \
    "$(jq -r -s --arg c "$old" --arg m "ack-$ack" '[.[] | select(.candidate == $c and .mode == $m) | .result] | last // "none"' "$WITNESS_LOG")" \
    "$([ "$ack" = http ] && echo 202 || echo file)"
  expect "fencing token grows ($tok0 -> $tok1)" [ "${tok1:-0}" -gt "${tok0:-0}" ]
  # The handover: until the first claim by another pod, and that claim's token is a new term's.
  claim="$(first_claim_after "$t0" "$old")"
  expect "the first claim after the delete, by another pod, carries a greater token (${claim#* } > $tok0)" \
    token_above "${claim#* }" "$tok0"
  figures "handover_${ack}_ack_ms=$([ -n "$claim" ] && ms_between "$t0" "${claim%% *}" || echo n/a)" "handoff_timeout=$HANDOFF"
}
echo "== kubectl delete pod of the leader (handoffTimeout $HANDOFF, app acks by POST /v1/ack)"
delete_leader http

echo "== helm upgrade: lease timings 4s/3s/1s -> 5s/3s/1s, app acks by the ack file, a second election"
# The second election names its own leader label (the top-level one is not inherited: two
# elections would set and clear the one label the Service selects by).
LD=5
values+=(--set "leasehold.leaseDuration=${LD}s" --set app.ack=file --set "leasehold.elections[0].name=$SECOND_ELECTION" --set "leasehold.elections[0].leaderLabel=leasehold.io/leader-b")
expect "helm upgrade --wait" helm upgrade "$release" "$chart" -n "$NS" "${values[@]}" --wait --timeout 3m
rollout_done
if wait_until 30 settled; then pass "one leader after the upgrade"; else fail "one leader after the upgrade"; show_election; fi
expect_eq "the Lease carries the new duration" "$(k get lease -n "$NS" "$ELECTION" -o jsonpath='{.spec.leaseDurationSeconds}')" "$LD"
expect_eq "the sidecars run with the new duration" \
  "$(k get pods -n "$NS" -l "$sel" -o json | jq -r '[.items[] | select(.metadata.deletionTimestamp == null) | .spec.initContainers[0].args[] | select(startswith("--lease-duration"))] | unique | join(",")')" "--lease-duration=${LD}s"
# The second election runs under the chart's Role for several elections (its Lease among the
# resourceNames, one watch of the namespace's Leases): exactly one pod leads it, the one its Lease
# names, and no sidecar was refused anything.
second_holder() { local h; h="$(k get lease -n "$NS" "$SECOND_ELECTION" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)"; echo "${h%_*}"; }
second_leaders() {
  local p; for p in $(live_pods); do
    [ "$(pod_metric "$p" "^leasehold_is_leader\\{election=\"$SECOND_ELECTION\"")" = 1 ] && echo "$p"
  done; return 0
}
second_settled() { local l; l="$(second_leaders)"; [ "$(echo "$l" | grep -c .)" = 1 ] && [ "$l" = "$(second_holder)" ]; }
expect "the second election: one leader among the pods, the one its Lease names" wait_until 30 second_settled
labelled_b() { k get pods -n "$NS" -l leasehold.io/leader-b=true -o jsonpath='{.items[*].metadata.name}'; }
second_label_follows() { [ -n "$(second_holder)" ] && [ "$(labelled_b)" = "$(second_holder)" ]; }
expect "its own leader label is on its leader's pod only" wait_until 20 second_label_follows
forbidden=0
for p in $(live_pods); do forbidden=$((forbidden + $(pod_metric "$p" '^leasehold_lease_errors_total\{.*error="forbidden"'))); done
expect_eq "no sidecar was refused by the chart's Role (lease errors forbidden)" "$forbidden" 0
echo "== kubectl delete pod of the leader (app acks by the ack file)"
delete_leader file
expect "the Service follows the new leader" wait_until 20 service_is_leader

# ============================================================================================
echo "== kill -9 of the leader's sidecar process on the node"
wait_until 30 settled
victim="$(holder_pod)"
tok0="$(pod_metric "$victim" "^leasehold_fencing_token\\{$OF_ELECTION")"
restarts0="$(k get pod -n "$NS" "$victim" -o jsonpath='{.status.initContainerStatuses[?(@.name=="leasehold")].restartCount}')"
cid="$(k get pod -n "$NS" "$victim" -o jsonpath='{.status.initContainerStatuses[?(@.name=="leasehold")].containerID}')"
cid="${cid#containerd://}"
pid="$(ctr -a "$CONTAINERD_ADDRESS" -n k8s.io tasks ls | awk -v c="$cid" '$1 == c { print $2 }')"
t_kill_s=$(date +%s); t_kill=$(date +%s%N)
kill -9 "$pid"
lease0="$(k get lease -n "$NS" "$ELECTION" -o json)"
old_end="$(echo "$lease0" | jq -r '.spec.renewTime')"
old_dur="$(echo "$lease0" | jq -r '.spec.leaseDurationSeconds')"
alert_seen=""
new_leader_at=""
deadline=$(($(date +%s) + 40))
while [ "$(date +%s)" -lt "$deadline" ]; do
  [ -z "$alert_seen" ] && alert_seen="$(curl -s "127.0.0.1:$prom_port/api/v1/alerts" | jq -r '[.data.alerts[] | select(.labels.alertname == "LeaseholdNoLeader") | .state] | first // empty')"
  h="$(holder)"; a="$(k get lease -n "$NS" "$ELECTION" -o jsonpath='{.spec.acquireTime}')"
  if [ -z "$new_leader_at" ] && [ -n "$h" ] && [ "$a" != "$(echo "$lease0" | jq -r '.spec.acquireTime')" ]; then
    new_leader_at=$(date +%s%N)
  fi
  [ -n "$new_leader_at" ] && [ -n "$alert_seen" ] && break
  sleep 0.2
done
lease1="$(k get lease -n "$NS" "$ELECTION" -o json)"
new_pod="$(holder_pod)"
expect "a new term began" [ -n "$new_leader_at" ]
expect "the new term began no earlier than the old claim's end (acquireTime $(echo "$lease1" | jq -r .spec.acquireTime) >= renewTime $old_end + ${old_dur}s)" \
  python3 -c 'import sys, datetime as d
p = lambda s: d.datetime.strptime(s.rstrip("Z")[:26], "%Y-%m-%dT%H:%M:%S.%f")
sys.exit(not (p(sys.argv[1]) >= p(sys.argv[2]) + d.timedelta(seconds=int(sys.argv[3]))))' \
  "$(echo "$lease1" | jq -r .spec.acquireTime)" "$old_end" "$old_dur"
wait_until 10 pod_leads "$new_pod"
tok1="$(pod_metric "$new_pod" "^leasehold_fencing_token\\{$OF_ELECTION")"
expect "the fencing token grows ($tok0 -> $tok1)" [ "${tok1:-0}" -gt "${tok0:-0}" ]
expect "the kubelet restarted the sidecar (restartCount $restarts0 -> more, ready again)" \
  wait_until 60 sidecar_restarted "$victim" "$restarts0"
expect_eq "Prometheus saw no leader during the crash failover (min of the sum)" \
  "$(prom_min_since "$leaders_q" "$t_kill_s")" 0
expect_match "the chart's LeaseholdNoLeader alert went pending or firing" "${alert_seen:-none}" '^(pending|firing)$'
figures "crash_failover_ms=$(ms_between "$t_kill" "${new_leader_at:-$t_kill}")" "lease_duration=${old_dur}s" "no_leader_alert=${alert_seen:-none}"
expect "steady again: sum(leasehold_is_leader) == 1 in Prometheus" wait_until 20 prom_is "$leaders_q" 1

# ============================================================================================
# app_fails SIGNAL: the leader's app is crash-looping (KILL: killed on the node each time the
# kubelet restarts it, until its sidecar stops leading; a single quick restart may stay under the
# failure threshold, as it should) or hung (STOP). Its sidecar must stop leading once appHealth's
# threshold is met, a healthy pod must take over (after the handoff's wait for an acknowledgement
# that cannot come), the unhealthy pod must never take the Lease back, and the kubelet restarts
# the app, after which it is healthy again.
app_fails() {
  local sig="$1" victim new tok0 restarts0 pid t0 t_demoted="" t_new="" retook="" deadline h tok1 t1
  wait_until 30 settled || { fail "no settled leader before the app's $sig"; return; }
  victim="$(holder_pod)"; tok0="$(pod_metric "$victim" "^leasehold_fencing_token\\{$OF_ELECTION")"
  restarts0="$(app_restarts "$victim")"; pid="$(app_pid "$victim")"
  local failed0
  failed0="$(pod_metric "$victim" "$failed_checks")"
  [ -n "$pid" ] || { fail "no app process of $victim on the node"; return; }
  t0=$(date +%s%N)
  kill -"$sig" "$pid"
  local kills=1
  deadline=$(($(date +%s) + 90))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    [ -z "$t_demoted" ] && [ "$(pod_metric "$victim" "^leasehold_is_leader\\{$OF_ELECTION")" = 0 ] && t_demoted=$(date +%s%N)
    if [ "$sig" = KILL ] && [ -z "$t_demoted" ]; then
      pid="$(app_pid "$victim")"
      [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && kills=$((kills + 1))
    fi
    h="$(holder)"
    if [ -n "$h" ] && [ "${h%_*}" != "$victim" ]; then
      [ -z "$t_new" ] && t_new=$(date +%s%N)
    elif [ -n "$t_new" ] && [ "${h%_*}" = "$victim" ]; then
      retook=1
    fi
    app_healthy_again "$victim" "$restarts0" && [ -n "$t_new" ] && break
    sleep 0.2
  done
  expect "app $sig of the leader $victim: its sidecar stops leading" [ -n "$t_demoted" ]
  expect "a healthy pod takes the Lease" [ -n "$t_new" ]
  expect "the unhealthy pod does not take it back" [ -z "$retook" ]
  expect "its sidecar counted the failed checks (${failed0:-0} -> $(pod_metric "$victim" "$failed_checks"))" \
    [ "$(pod_metric "$victim" "$failed_checks")" -gt "${failed0:-0}" ]
  expect "the kubelet restarted the app (restartCount $restarts0 -> $(app_restarts "$victim")) and the sidecar finds it healthy again" \
    app_healthy_again "$victim" "$restarts0"
  expect_eq "$victim is a follower after its app came back" "$(pod_metric "$victim" "^leasehold_is_leader\\{$OF_ELECTION")" 0
  wait_until 30 settled   # the pod the Lease names may itself stand down again (see delete_leader)
  new="$(holder_pod)"
  tok1="$(pod_metric "$new" "^leasehold_fencing_token\\{$OF_ELECTION")"
  expect "the fencing token grows ($tok0 -> $tok1)" [ "${tok1:-0}" -gt "${tok0:-0}" ]
  wait_until 10 witness_has_token "${tok1:-0}"; t1="$(witness_ns_of "${tok1:-0}")"
  figures "app_${sig}_to_demotion_ms=$(ms_between "$t0" "${t_demoted:-$t0}")" "kills=$([ "$sig" = KILL ] && echo "$kills" || echo 0)" \
    "app_${sig}_to_new_leader_app_ms=$(ms_between "$t0" "${t1:-$t0}")" "handoff_timeout=$HANDOFF"
}
echo "== the leader's app crash-looping (kill -9 on the node): leadership follows the app's health"
app_fails KILL
echo "== the leader's app hung (SIGSTOP on the node): leadership moves, the livenessProbe restarts it"
app_fails STOP
expect "the kubelet's livenessProbe found the hung app and restarted it (event)" \
  test "$(k get events -n "$NS" -o json | jq '[.items[] | select(.reason == "Killing" and (.message | test("liveness")))] | length')" -ge 1

# ============================================================================================
# helm uninstall deletes the ServiceAccount and the Role with the Deployment, so the terminating
# sidecars lose their API access and cannot release: the Lease would only run out. Scaling to 0
# first lets the last leader release it (docs/packaging.md).
echo "== kubectl scale --replicas=0, then helm uninstall"
# Each pod's last words (app and sidecar), kept for when a Lease is left held.
for p in $(k get pods -n "$NS" -l "$sel" -o name); do
  k logs -f -n "$NS" "$p" --all-containers --prefix --timestamps >"$work/last-words-${p#pod/}.log" 2>&1 &
  track_pid $!
done
k scale -n "$NS" deployment/"$deploy" --replicas=0 >/dev/null
expect "the pods are gone" wait_until 60 no_pods
expect_eq "the Lease is released (no holder)" "$(holder)" ""
expect_eq "the second election's Lease is released too" "$(second_holder)" ""
if [ -n "$(holder)$(second_holder)" ]; then
  k get lease -n "$NS" -o yaml | sed 's/^/      /'
  for f in "$work"/last-words-*.log; do
    echo "      -- $(basename "$f" .log)"
    tail -n 40 "$f" | cut -c1-400 | sed 's/^/        /'
  done
fi
expect "helm uninstall --wait" helm uninstall "$release" -n "$NS" --wait --timeout 2m
expect_fail "the FlowSchema is gone with the release" k get flowschema "$fs"
left="$(k get all,serviceaccounts,roles,rolebindings,configmaps,secrets,endpointslices -n "$NS" -o name 2>/dev/null | sort | tr '\n' ' ')"
expect_eq "nothing left but what the user made (Service leader), the Lease and the namespace's own" \
  "$(echo "$left" | tr ' ' '\n' | grep -v -E '^(service/leader|endpointslice\.discovery\.k8s\.io/leader-.*|serviceaccount/default|configmap/kube-root-ca\.crt)$' | grep -c .)" 0
expect_eq "the two elections' Leases are the only leases" "$(k get leases -n "$NS" -o name | sort | xargs)" \
  "lease.coordination.k8s.io/$ELECTION lease.coordination.k8s.io/$SECOND_ELECTION"

# ============================================================================================
# Sharded ownership (leasehold.shards): a second release in a namespace of its own, 12 shards over
# the replicas as they come and go. Each app works the shards its `shards` file lists (a deadline
# still ahead) and reports every unit of work to the witness with the shard and its fencing token.
SHARDS=12
srelease=lhs
sdeploy="$srelease-leasehold-example"
ssel="app.kubernetes.io/instance=$srelease"
SHARD_PREFIX="$ELECTION-shard-"
s_live_pods() {
  k get pods -n "$SNS" -l "$ssel" -o json |
    jq -r '.items[] | select(.metadata.deletionTimestamp == null and .status.podIP != null) | .metadata.name'
}
s_all_pods() { k get pods -n "$SNS" -l "$ssel" -o name | wc -l; }
# s_claims: "<shard> <pod>" for each shard a live pod's sidecar says it owns now (the shard's
# leasehold_is_leader), one line each.
s_claims() {
  local p ip
  for p in $(s_live_pods); do
    ip="$(k get pod -n "$SNS" "$p" -o jsonpath='{.status.podIP}')"
    curl -s --max-time 2 "http://$ip:9090/metrics" |
      awk -v p="$p" -v pre="leasehold_is_leader{election=\"$SHARD_PREFIX" \
        'index($0, pre) == 1 && $NF == 1 { s = substr($0, length(pre) + 1); sub(/".*/, "", s); print s + 0, p }'
  done | sort -n
}
# s_holders: "<shard> <pod>" for each shard Lease with a holder (the identity without its suffix).
s_holders() {
  k get leases -n "$SNS" -o json | jq -r --arg pre "$SHARD_PREFIX" '.items[] | select(.metadata.name | startswith($pre))
    | select((.spec.holderIdentity // "") != "")
    | "\(.metadata.name | ltrimstr($pre) | tonumber) \(.spec.holderIdentity | sub("_[^_]*$"; ""))"' | sort -n
}
# s_settled N: N pods, none terminating; every shard claimed by exactly one of them, the one its
# Lease names; every pod owns some, and the loads differ by at most one.
s_settled() {
  local c loads
  { [ "$(s_all_pods)" = "$1" ] && [ "$(s_live_pods | wc -l)" = "$1" ]; } || { sleep 0.2; return 1; }
  c="$(s_claims)"
  { [ "$(printf '%s\n' "$c" | grep -c .)" = "$SHARDS" ] && [ "$c" = "$(s_holders)" ] &&
    [ "$(printf '%s\n' "$c" | awk '{ print $1 }' | sort -u | wc -l)" = "$SHARDS" ]; } || { sleep 0.2; return 1; }
  loads="$(printf '%s\n' "$c" | awk '{ n[$2]++ } END { for (p in n) print n[p] }' | sort -n)"
  { [ "$(printf '%s\n' "$loads" | grep -c .)" = "$1" ] &&
    [ $(($(printf '%s\n' "$loads" | tail -1) - $(printf '%s\n' "$loads" | head -1))) -le 1 ]; } || { sleep 0.2; return 1; }
}
# expect_s_settled BOUND WHAT N: waits, and prints how long it took from $s_t0 and the loads.
expect_s_settled() {
  if wait_until "$1" s_settled "$3"; then
    pass "$2: each of the $SHARDS shards owned by exactly one of the $3 pods, the one its Lease names; loads within one"
    echo "  settled $(ms_between "$s_t0" "$(date +%s%N)") ms after the change; loads:" \
      "$(s_claims | awk '{ n[$2]++ } END { for (p in n) printf "%d ", n[p] }')"
    figures "shards_${4:-step}_settled_ms=$(ms_between "$s_t0" "$(date +%s%N)")"
  else
    fail "$2: each of the $SHARDS shards owned by exactly one of the $3 pods, the one its Lease names; loads within one"
    echo "  claims: $(s_claims | tr '\n' ';')"; echo "  holders: $(s_holders | tr '\n' ';')"
  fi
}
echo "== sharded ownership: helm install with leasehold.shards=$SHARDS (3 replicas, Pod Security restricted)"
k create namespace "$SNS" >/dev/null
k label namespace "$SNS" pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest >/dev/null
svalues=(
  --set replicaCount=3
  --set app.image.repository="${app_image%:*}" --set-string app.image.tag="${app_image##*:}" --set app.image.pullPolicy=Never
  --set-json app.intervalSeconds=0.2 --set app.witnessURL="http://$NODE_IP:$WITNESS_PORT"
  --set app.resources.limits.cpu=500m
  --set leasehold.image.repository="${image%:*}" --set-string leasehold.image.tag="${image##*:}" --set leasehold.image.pullPolicy=Never
  --set "leasehold.leaseDuration=${LD}s" --set "leasehold.renewDeadline=${RD}s" --set "leasehold.retryPeriod=${RP}s"
  --set 'leasehold.extraArgs={--safety-margin=500ms,--request-timeout=1s}'
  --set "leasehold.shards=$SHARDS"
  --set 'leasehold.elections[0].name=lhs-more' --set 'leasehold.elections[0].shards=4'
  --set leasehold.flowSchema.enabled=true
)
s_t0=$(date +%s%N)
expect "helm install --wait (shards)" helm install "$srelease" "$chart" -n "$SNS" "${svalues[@]}" --wait --timeout 3m
expect_s_settled 60 "start" 3 start
expect_eq "the shard Leases are ${SHARD_PREFIX}00 .. ${SHARD_PREFIX}11" \
  "$(k get leases -n "$SNS" -o name | grep -c "/${SHARD_PREFIX}[01][0-9]$")" "$SHARDS"
expect_eq "one member record per pod" "$(k get leases -n "$SNS" -o name | grep -c "/$ELECTION-member-")" 3
# This release's FlowSchema has the default values (the first release's has others, above).
sfs="$(k get flowschema -l "app.kubernetes.io/instance=$srelease" -o jsonpath='{.items[0].metadata.name}')"
expect_eq "the FlowSchema with the default values: level leader-election, precedence 300" \
  "$(k get flowschema "$sfs" -o jsonpath='{.spec.priorityLevelConfiguration.name} {.spec.matchingPrecedence} {.status.conditions[?(@.type=="Dangling")].status}')" \
  "leader-election 300 False"
d0="$(fs="$sfs" dispatched)"; sleep $((3 * RP)); d1="$(fs="$sfs" dispatched)"
expect "the sharded sidecars' Lease requests are dispatched through it ($((d1 - d0)) in $((3 * RP)) s)" [ $((d1 - d0)) -ge 2 ]
# The chart's elections[].shards: a further sharded election in the same sidecars.
more_settled() {
  local c
  c="$(SHARD_PREFIX=lhs-more-shard- s_claims)"
  { [ "$(printf '%s\n' "$c" | grep -c .)" = 4 ] && [ "$c" = "$(SHARD_PREFIX=lhs-more-shard- s_holders)" ]; } || { sleep 0.2; return 1; }
}
expect "elections[0].shards=4: each shard of the further election owned by exactly one pod, the one its Lease names" \
  wait_until 60 more_settled
p1="$(s_live_pods | head -1)"
expect_eq "leasehold_shard_members on a pod: 3" \
  "$(curl -s --max-time 2 "http://$(k get pod -n "$SNS" "$p1" -o jsonpath='{.status.podIP}'):9090/metrics" |
     awk -v pre="leasehold_shard_members{election=\"$ELECTION\"}" 'index($0, pre) == 1 { print $NF + 0 }')" 3
expect_eq "no sidecar was refused by the chart's Role (lease errors forbidden)" \
  "$(for p in $(s_live_pods); do curl -s --max-time 2 "http://$(k get pod -n "$SNS" "$p" -o jsonpath='{.status.podIP}'):9090/metrics" |
       grep -E '^leasehold_lease_errors_total\{.*error="forbidden"' | awk '{ s += $NF } END { print s + 0 }'; done | awk '{ s += $1 } END { print s + 0 }')" 0
for step in "5 scale_up" "2 scale_down" "3 scale_back"; do
  read -r n name <<<"$step"
  echo "== sharded: kubectl scale --replicas=$n"
  s_t0=$(date +%s%N)
  k scale -n "$SNS" deployment/"$sdeploy" --replicas="$n" >/dev/null
  expect_s_settled 90 "scaled to $n" "$n" "$name"
done
echo "== sharded: kubectl rollout restart"
s_t0=$(date +%s%N)
k rollout restart -n "$SNS" deployment/"$sdeploy" >/dev/null
expect "rollout completes (shards)" k rollout status -n "$SNS" deployment/"$sdeploy" --timeout=180s
expect_s_settled 90 "after the rollout" 3 rollout
echo "== sharded: kubectl delete pod"
s_t0=$(date +%s%N)
k delete pod -n "$SNS" "$(s_live_pods | head -1)" --wait=false >/dev/null
expect_s_settled 90 "a pod deleted and replaced" 3 delete
echo "== sharded: kill -9 of a sidecar process on the node"
victim="$(s_live_pods | head -1)"
cid="$(k get pod -n "$SNS" "$victim" -o jsonpath='{.status.initContainerStatuses[?(@.name=="leasehold")].containerID}')"
pid="$(ctr -a "$CONTAINERD_ADDRESS" -n k8s.io tasks ls | awk -v c="${cid#containerd://}" '$1 == c { print $2 }')"
s_t0=$(date +%s%N)
if [ -n "$pid" ] && kill -9 "$pid"; then
  expect_s_settled 90 "a sidecar killed (restarted by the kubelet)" 3 kill
else
  fail "no sidecar process of $victim on the node"
fi
s_records_are() { [ "$(k get leases -n "$SNS" -o name | grep -c "/$ELECTION-member-")" = "$1" ] || { sleep 0.5; return 1; }; }
expect "the killed sidecar's old member record is deleted by the others (unchanged for 4 lease durations)" \
  wait_until 60 s_records_are 3
echo "== sharded: scale to 0, helm uninstall"
k scale -n "$SNS" deployment/"$sdeploy" --replicas=0 >/dev/null
s_no_pods() { [ "$(s_all_pods)" = 0 ] || { sleep 0.5; return 1; }; }
expect "the sharded pods are gone" wait_until 60 s_no_pods
expect_eq "every shard Lease is released (no holder)" "$(s_holders | grep -c .)" 0
expect_eq "no member record is left" "$(k get leases -n "$SNS" -o name | grep -c "/$ELECTION-member-")" 0
expect "helm uninstall --wait (shards)" helm uninstall "$srelease" -n "$SNS" --wait --timeout 2m
echo "== sharded: the witness, shard by shard"
python3 "$root/tests/faults/overlap.py" "$WITNESS_LOG" --each-shard --json "$work/shards.json" >"$work/shards.txt"
grep OVERLAP "$work/shards.txt" | sed 's/^/  /'
s_overlap="$(jq -r .overlap_ms "$work/shards.json")"
s_shared="$(jq -r '.shared_tokens | length' "$work/shards.json")"
s_actions="$(jq -r .actions "$work/shards.json")"
echo "  $s_actions units of work reported over $SHARDS shards"
expect "the apps worked every shard (the witness saw work on each)" \
  test "$(jq -r .shards "$work/shards.json")" = "$SHARDS"
expect_eq "no shard was worked by two pods at the same instant (overlap 0 ms, all shards)" "$s_overlap" 0
expect_eq "no shard's fencing token was used by two pods" "$s_shared" 0
figures "shard_units_of_work=$s_actions"

# ============================================================================================
echo "== injection: charts/leasehold-injector (MutatingAdmissionPolicy) and a plain Deployment with only the label"
INS=injected
ELECTION_I=plain-app
k create namespace "$INS" >/dev/null
k label namespace "$INS" pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest >/dev/null
# One release per cluster for the policies, one per namespace for the RBAC (admission cannot
# create RBAC objects). Both with values other than their defaults (ports, status dir, log level;
# a ServiceAccount of its own, the one election allowed, no Events), so that each value is seen
# at work in a pod; the defaults of the ports and the status dir are those of the main chart's
# sidecar, at work in the releases above.
I_STATUS_PORT=4041 I_OPS_PORT=9091 I_STATUS_DIR=/run/lh
expect "helm install of the injector's policies" helm install lh-injector "$root/charts/leasehold-injector" -n "$INS" \
  --set rbac.create=false --set image.repository="${image%:*}" --set-string image.tag="${image##*:}" --set image.pullPolicy=Never \
  --set statusPort="$I_STATUS_PORT" --set opsPort="$I_OPS_PORT" --set statusDir="$I_STATUS_DIR" --set logLevel=debug
k create serviceaccount plain -n "$INS" >/dev/null
expect "helm install of the injected pods' Role and RoleBinding" helm install lh-injected-rbac "$root/charts/leasehold-injector" -n "$INS" \
  --set policy.enabled=false --set rbac.serviceAccount=plain --set "rbac.elections={$ELECTION_I}" --set rbac.events=false
expect_eq "the Role allows the one election, and no Events; it is bound to ServiceAccount plain" \
  "$(k get role -n "$INS" leasehold-injected -o json | jq -c '[.rules[] | (.resourceNames // []) + .resources]')|$(k get rolebinding -n "$INS" leasehold-injected -o jsonpath='{.subjects[0].name}')" \
  "[[\"leases\"],[\"$ELECTION_I\",\"leases\"]]|plain"
# plain_pod NAME [LABEL_VALUE [ANNOTATIONS_JSON [INIT_CONTAINERS_JSON]]]: a pod as a user writes it
# (restricted), with the election label when LABEL_VALUE is given.
plain_pod() {
  jq -n --arg name "$1" --arg election "${2:-}" --argjson ann "${3:-{\}}" --argjson init "${4:-[]}" --arg img "$app_image" '{
    apiVersion: "v1", kind: "Pod",
    metadata: {name: $name, labels: ({app: "plain"} + (if $election == "" then {} else {"leasehold.io/election": $election} end)),
               annotations: $ann},
    spec: {securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: "RuntimeDefault"}},
      containers: [{name: "app", image: $img, imagePullPolicy: "Never", command: ["sleep", "infinity"],
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: ["ALL"]}}}]}}
    | if ($init | length) > 0 then .spec.initContainers = $init else . end'
}
dry_run() { k create --dry-run=server -n "$INS" -o json -f - 2>&1; }
sidecars_in() { jq '[(.spec.initContainers // [])[], .spec.containers[] | select(.name == "leasehold")] | length'; }
# The policies reach the API server's admission a moment after they are created.
injected_now() { [ "$(plain_pod probe "$ELECTION_I" | dry_run | sidecars_in 2>/dev/null)" = 1 ] || { sleep 0.5; return 1; }; }
expect "a labelled pod gets the sidecar (server-side dry run)" wait_until 30 injected_now
out="$(plain_pod unlabelled | dry_run)"
expect_eq "an unlabelled pod is untouched (no init containers, its one container, no added volume or mount)" \
  "$(echo "$out" | jq -c '[(.spec.initContainers // [] | length), (.spec.containers | length),
     ([.spec.volumes[]? | select(.name | startswith("leasehold"))] | length), ([.spec.containers[0].volumeMounts[]? | select(.name | startswith("leasehold"))] | length)]')" \
  "[0,1,0,0]"
own='[{"name":"leasehold","image":"leasehold:mine","restartPolicy":"Always","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]'
out="$(plain_pod has-one "$ELECTION_I" '{}' "$own" | dry_run)"
expect_eq "a pod that already has the sidecar is not given a second (its own kept)" \
  "$(echo "$out" | jq -c '[(.spec.initContainers | length), .spec.initContainers[0].image]' 2>&1 || echo "$out")" '[1,"leasehold:mine"]'
out="$(plain_pod annotated "$ELECTION_I" '{"leasehold.io/lease-duration":"8s","leasehold.io/renew-deadline":"5s"}' | dry_run)"
expect_eq "annotations become the sidecar's settings" \
  "$(echo "$out" | jq -c '[.spec.initContainers[0].env[] | select(.name | test("^LEASEHOLD_")) | "\(.name)=\(.value)"]')" \
  '["LEASEHOLD_LEASE_DURATION=8s","LEASEHOLD_RENEW_DEADLINE=5s"]'
out="$(plain_pod bad "$ELECTION_I" '{"leasehold.io/lease-duration":"15"}' | dry_run)"
expect "a wrong annotation value is refused, the message naming it: ${out:0:200}" \
  grep -q 'annotation leasehold.io/lease-duration: "15" is not a valid value' <<<"$out"
out="$(plain_pod typo "$ELECTION_I" '{"leasehold.io/lease-duraton":"8s"}' | dry_run)"
expect "an unknown leasehold.io/ annotation (a typo) is refused: ${out:0:160}" grep -q 'unknown annotation leasehold.io/lease-duraton' <<<"$out"
out="$(plain_pod short "$ELECTION_I" '{"leasehold.io/lease-duration":"5s"}' | dry_run)"
expect "timings that do not fit together are refused: ${out:0:160}" grep -q 'lease-duration must be greater than leasehold.io/renew-deadline' <<<"$out"
out="$(plain_pod badname "Not_A_Lease" | dry_run)"
expect "an election label that is no Lease name is refused: ${out:0:160}" grep -q 'is not a Lease name' <<<"$out"

# The plain Deployment: nothing of leasehold in it but the label on its pods. Its app ends on
# SIGTERM, as a real one does: the native sidecar is stopped only after the app, so the pod of an
# app that ignores SIGTERM keeps leading through its grace period.
jq -n --arg img "$app_image" --arg e "$ELECTION_I" '{
  apiVersion: "apps/v1", kind: "Deployment", metadata: {name: "plain"},
  spec: {replicas: 2, selector: {matchLabels: {app: "plain"}},
    template: {metadata: {labels: {app: "plain", "leasehold.io/election": $e}, annotations: {"leasehold.io/events": "false"}},
      spec: {serviceAccountName: "plain", securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: "RuntimeDefault"}},
        containers: [{name: "app", image: $img, imagePullPolicy: "Never",
          command: ["sh", "-c", "trap \"exit 0\" TERM; while :; do sleep 1; done"],
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: ["ALL"]}}}]}}}}' >"$work/plain.json"
expect "kubectl apply of the plain Deployment" k apply -n "$INS" -f "$work/plain.json"
expect "its 2 pods become Ready (restricted namespace)" k rollout status -n "$INS" deployment/plain --timeout=120s
i_pods() { k get pods -n "$INS" -l app=plain -o json | jq -r '.items[] | select(.metadata.deletionTimestamp == null) | .metadata.name'; }
i_holder() { local h; h="$(k get lease -n "$INS" "$ELECTION_I" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)"; echo "${h%_*}"; }
# shellcheck disable=SC2016 # expanded in the pod
i_answer() { k exec -n "$INS" "$1" -c app -- sh -c 'curl -s -o /dev/null -w "%{http_code}" "$LEASEHOLD_STATUS_URL/v1/leader"' 2>/dev/null; }
i_leaders() { local p; for p in $(i_pods); do [ "$(i_answer "$p")" = 200 ] && echo "$p"; done; return 0; }
i_settled() { # exactly 2 pods, one answers 200 to its app, and it is the Lease's holder
  local l; l="$(i_leaders)"
  { [ "$(i_pods | grep -c .)" = 2 ] && [ "$(echo "$l" | grep -c .)" = 1 ] && [ "$l" = "$(i_holder)" ]; } || { sleep 0.5; return 1; }
}
expect "one leader among the injected pods, the Lease's holder, told to its app over localhost" wait_until 60 i_settled
i_leader="$(i_holder)"
pod_json="$(k get pod -n "$INS" "$i_leader" -o json)"
expect_eq "one native sidecar in each pod" \
  "$(k get pods -n "$INS" -l app=plain -o json | jq -c '[.items[] | [(.spec.initContainers // [])[], .spec.containers[] | select(.name == "leasehold") | .restartPolicy]] | unique')" \
  '[["Always"]]'
# shellcheck disable=SC2016 # expanded in the pod
expect_eq "the app sees the state file in its read-only status volume" \
  "$(k exec -n "$INS" "$i_leader" -c app -- sh -c 'read -r role _ <"$LEASEHOLD_STATE_FILE"; echo "$role"' 2>&1)" leader
i_metrics="$(curl -s --max-time 2 "http://$(k get pod -n "$INS" "$i_leader" -o jsonpath='{.status.podIP}'):$I_OPS_PORT/metrics")"
expect_eq "the sidecar's own projected token (ServiceAccount plain): no Lease request refused" \
  "$(grep -cE '^leasehold_lease_errors_total\{.*error="forbidden"\} [1-9]' <<<"$i_metrics")" 0
expect_eq "its /metrics on the opsPort value; with the leasehold.io/events annotation false, no Event sent or tried" \
  "$(grep -E '^leasehold_(build_info|events_total)' <<<"$i_metrics" | awk '{ s[$1 ~ /^leasehold_build_info/ ? "up" : "events"] += $NF } END { printf "up=%g events=%g", s["up"], s["events"] }')" \
  "up=1 events=0"
expect_eq "the injector's values in the sidecar's args and the app's environment" \
  "$(echo "$pod_json" | jq -c '[(.spec.initContainers[] | select(.name == "leasehold") | .args[1:]),
     (.spec.containers[0].env | map(select(.name | startswith("LEASEHOLD_"))) | map("\(.name)=\(.value)"))]')" \
  "[[\"--status-address=127.0.0.1:$I_STATUS_PORT\",\"--status-dir=$I_STATUS_DIR\",\"--ops-address=:$I_OPS_PORT\",\"--log-level=debug\"],[\"LEASEHOLD_STATUS_URL=http://127.0.0.1:$I_STATUS_PORT\",\"LEASEHOLD_STATE_FILE=$I_STATUS_DIR/state\"]]"
expect_eq "logLevel debug: the sidecar logs at debug level" \
  "$(k logs -n "$INS" "$i_leader" -c leasehold | jq -R -r 'fromjson? | select(.level == "debug") | .level' | head -1)" debug
expect_eq "probes and the restricted security context on the sidecar" \
  "$(echo "$pod_json" | jq -c '.spec.initContainers[] | select(.name == "leasehold") |
     [.livenessProbe.httpGet.path, .readinessProbe.httpGet.path, .securityContext.readOnlyRootFilesystem, .securityContext.runAsNonRoot]')" \
  '["/healthz","/readyz",true,true]'
t=$(date +%s%N)
k delete pod -n "$INS" "$i_leader" --wait=false >/dev/null
i_moved() { local h; h="$(i_holder)"; [ -n "$h" ] && [ "$h" != "$i_leader" ] && i_settled; }
expect "the leader's pod deleted: another injected pod leads" wait_until 90 i_moved
figures "injected_handover_ms=$(ms_between "$t" "$(date +%s%N)")"
k delete deployment -n "$INS" plain --wait=true >/dev/null
expect "helm uninstall of the injector" helm uninstall lh-injector -n "$INS" --wait --timeout 1m
expect "helm uninstall of the injected pods' RBAC" helm uninstall lh-injected-rbac -n "$INS" --wait --timeout 1m
expect_eq "no admission policy left" \
  "$(k get mutatingadmissionpolicies,validatingadmissionpolicies -o name 2>/dev/null | grep -c leasehold)" 0

# ============================================================================================
echo "== the Grafana dashboard: every panel's query returns series from this run's Prometheus"
# manifests/leasehold-dashboard.json is the chart's dashboard (chart_test.sh diffs them). Each
# query over the whole run, its variables set to all namespaces and a 1m rate window.
dash_empty=0; dash_n=0
while IFS= read -r expr; do
  dash_n=$((dash_n + 1))
  q="${expr//\$__rate_interval/1m}"; q="${q//\$namespace/.+}"
  n="$(curl -s --max-time 10 "127.0.0.1:$prom_port/api/v1/query_range" --data-urlencode "query=$q" \
    --data-urlencode "start=$suite_start" --data-urlencode "end=$(date +%s)" --data-urlencode step=15 |
    jq -r '.data.result | length')"
  [ "${n:-0}" -gt 0 ] || { dash_empty=$((dash_empty + 1)); echo "  no series: $q"; }
done < <(jq -r '.panels[].targets[].expr' "$root/manifests/leasehold-dashboard.json")
expect_eq "all $dash_n queries of the dashboard's panels return series" "$dash_empty" 0
# The check can fail: a metric nobody exports returns nothing through the same query.
expect_eq "(the check can fail: a query of a metric nobody exports returns no series)" \
  "$(curl -s --max-time 10 "127.0.0.1:$prom_port/api/v1/query_range" --data-urlencode "query=leasehold_no_such_metric" \
    --data-urlencode "start=$suite_start" --data-urlencode "end=$(date +%s)" --data-urlencode step=15 | jq -r '.data.result | length')" 0
# The template variables (label_values(METRIC, LABEL)): the label has values on that metric.
while IFS=$'\t' read -r var metric label; do
  vals="$(curl -s --max-time 10 -G "127.0.0.1:$prom_port/api/v1/label/$label/values" --data-urlencode "match[]=$metric" \
    --data-urlencode "start=$suite_start" --data-urlencode "end=$(date +%s)" | jq -r '.data | length')"
  expect "the dashboard's variable \$$var (label_values($metric, $label)) has values (${vals:-0})" [ "${vals:-0}" -gt 0 ]
done < <(jq -r '.templating.list[] | select(.type == "query") | .name as $n
  | (if (.query | type) == "object" then .query.query else .query end)
  | capture("label_values\\((?<m>[^,]+), *(?<l>[^)]+)\\)") | [$n, .m, .l] | @tsv' "$root/manifests/leasehold-dashboard.json")

echo "== the witness: every pod's claims (HTTP and file) over the whole run"
report --gap-ms 500 >"$work/all.txt"; sed 's/^/  /' "$work/all.txt"
expect_eq "no two pods claimed leadership at the same instant (overlap 0 ms)" "$(rj .overlap_ms)" 0
expect_eq "no fencing token claimed by two pods" "$(rj '.shared_tokens|length')" 0
expect "claims by HTTP and by the state file both seen" \
  jq -e -s '(map(select(.mode == "http")) | length > 0) and (map(select(.mode == "file")) | length > 0)' "$WITNESS_LOG"
figures "claims=$(rj .accepted)" "late_reports_rejected=$(rj .rejected)" "terms=$(jq -s '[.[] | select(.probe|not) | .token] | unique | length' "$WITNESS_LOG")" \
  "suite_s=$(($(date +%s) - suite_start))"
echo "  cluster suite took $(($(date +%s) - suite_start))s"
summary
