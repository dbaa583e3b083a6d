#!/usr/bin/env bash
# controlplane_smoke: the real-control-plane test bed works as the e2e suites rely on it.
# Starts its own etcd + kube-apiserver (tests/controlplane/up) in a temp dir and always stops it.
# Checks: tool versions; Lease optimistic concurrency (409 on a stale resourceVersion); a watch
# by name sees MODIFIED; a minted ServiceAccount token bound to a leases-only Role can update the
# Lease and nothing else; two control planes side by side and `down` leaves nothing; two
# client-go reference electors fail over on SIGTERM.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../lib/suite.sh
. "$root/tests/lib/suite.sh"
suite_begin controlplane_smoke
up="$root/tests/controlplane/up"
down="$root/tests/controlplane/down"
cp1="$work/cp1"
cp2="$work/cp2"
# The EXIT trap stops the tracked processes and the control planes (2, then 1), and removes $work.
at_exit "$down" "$cp1"
at_exit "$down" "$cp2"

echo "controlplane_smoke: tools from $TOOLS_BIN"

# --- a. tools are there, run, and report the pinned versions ------------------------------------
missing=""
for b in kube-apiserver kubectl etcd helm toxiproxy-server toxiproxy-cli reference-elector; do
  [ -x "$TOOLS_BIN/$b" ] || missing="$missing $b"
done
if [ -n "$missing" ]; then
  fail "tools missing:$missing (run: make tools)"
  summary
  exit
fi
expect_match "kube-apiserver --version is v1.37.2" "$("$TOOLS_BIN/kube-apiserver" --version 2>&1)" '^Kubernetes v1\.37\.2$'
expect_match "kubectl version --client is v1.37.2" "$("$TOOLS_BIN/kubectl" version --client 2>&1)" 'Client Version: v1\.37\.2'
expect_match "etcd --version runs" "$("$TOOLS_BIN/etcd" --version 2>&1)" 'etcd Version: 3\.[0-9]+\.[0-9]+'
expect_match "helm version runs" "$("$TOOLS_BIN/helm" version --short 2>&1)" '^v3\.[0-9]+\.[0-9]+'
expect_match "toxiproxy-server -version runs" "$("$TOOLS_BIN/toxiproxy-server" -version 2>&1)" '^toxiproxy-server version '
expect_match "toxiproxy-cli --version runs" "$("$TOOLS_BIN/toxiproxy-cli" --version 2>&1)" '^toxiproxy-cli version '
expect_match "reference-elector -h lists its flags" "$("$TOOLS_BIN/reference-elector" -h 2>&1)" '-status-address'

# --- control plane 1 ------------------------------------------------------------------------------
if out="$("$up" "$cp1" 2>&1)"; then
  t="${out##*controlplane: up in }"
  pass "up starts a control plane (ready in ${t%%s at *}s)"
else
  fail "up starts a control plane"
  echo "$out" | tail -n 40 | sed 's/^/        /'
  summary
  exit
fi
# shellcheck disable=SC1091
. "$cp1/env"
expect_eq "readyz over TLS verified with APISERVER_CA" \
  "$(curl -s --max-time 5 --cacert "$APISERVER_CA" "$APISERVER_URL/readyz")" ok
expect "kubectl with DIR/kubeconfig sees namespace default" kube_kubectl get namespace default
expect_fail "a wrong bearer token is refused" \
  curl -sf --max-time 5 --cacert "$APISERVER_CA" -H "Authorization: Bearer nope" "$APISERVER_URL/api/v1/namespaces"

# --- b. Lease create, update, 409 on a stale resourceVersion ---------------------------------------
lease=smoke
leases_path() { echo "/apis/coordination.k8s.io/v1/namespaces/$1/leases"; }
lease_rv() { kube_kubectl get lease -n "$1" "$2" -o 'jsonpath={.metadata.resourceVersion}'; }
lease_holder() { kube_kubectl get lease -n "$1" "$2" -o 'jsonpath={.spec.holderIdentity}'; }
lease_body() { # NAMESPACE NAME RESOURCEVERSION HOLDER
  printf '{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"%s","namespace":"%s","resourceVersion":"%s"},"spec":{"holderIdentity":"%s","leaseDurationSeconds":15}}' \
    "$2" "$1" "$3" "$4"
}
put_lease() { # NAMESPACE NAME RESOURCEVERSION HOLDER [CURL_ARGS...] -> HTTP status
  local ns="$1" name="$2" rv="$3" holder="$4"; shift 4
  curl -s --max-time 10 --cacert "$APISERVER_CA" -o "$work/put.json" -w '%{http_code}' -X PUT \
    -H 'Content-Type: application/json' --data "$(lease_body "$ns" "$name" "$rv" "$holder")" \
    "$@" "$APISERVER_URL$(leases_path "$ns")/$name"
}
admin=(-H "Authorization: Bearer $ADMIN_TOKEN")

ns="$(kube_new_namespace smoke)"
expect_match "kube_new_namespace makes a fresh namespace" "$ns" '^smoke-[0-9a-f]{6}$'
expect "create a coordination.k8s.io/v1 Lease" kube_kubectl create -n "$ns" -f - <<EOF
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: $lease
spec:
  holderIdentity: a
  leaseDurationSeconds: 15
EOF
expect_match "kube_lease_json prints the Lease" "$(kube_lease_json "$ns" "$lease")" '"holderIdentity": "a"'
expect_fail "kube_lease_json fails on an absent Lease" kube_lease_json "$ns" absent
expect_eq "kube_lease_json prints nothing for an absent Lease" "$(kube_lease_json "$ns" absent)" ""
rv1="$(lease_rv "$ns" "$lease")"
expect_eq "PUT with the current resourceVersion: 200" "$(put_lease "$ns" "$lease" "$rv1" b "${admin[@]}")" 200
rv2="$(lease_rv "$ns" "$lease")"
expect "resourceVersion moved on ($rv1 -> $rv2)" test -n "$rv2" -a "$rv1" != "$rv2"
expect_eq "PUT with a stale resourceVersion: 409" "$(put_lease "$ns" "$lease" "$rv1" stale "${admin[@]}")" 409
expect_match "the 409 is a Conflict" "$(cat "$work/put.json")" '"reason": ?"Conflict"'
expect_eq "the stale update changed nothing" "$(lease_holder "$ns" "$lease")" b

# --- c. watch by name sees MODIFIED ----------------------------------------------------------------
rv="$(lease_rv "$ns" "$lease")"
curl -sN --max-time 30 --cacert "$APISERVER_CA" "${admin[@]}" \
  "$APISERVER_URL$(leases_path "$ns")?watch=1&fieldSelector=metadata.name%3D$lease&resourceVersion=$rv&timeoutSeconds=25" \
  >"$work/watch.out" 2>"$work/watch.err" &
watch_pid=$!
track_pid "$watch_pid"
expect "kubectl patch changes the holder" \
  kube_kubectl patch lease -n "$ns" "$lease" --type=merge -p '{"spec":{"holderIdentity":"watched"}}'
watch_saw() { grep -q '"type":"MODIFIED".*"holderIdentity":"watched"' "$work/watch.out"; }
expect "the watch (fieldSelector=metadata.name) sees MODIFIED with the new holder" wait_until 20 watch_saw
expect_eq "the watch saw no other event" "$(grep -c '"type"' "$work/watch.out")" 1
kill "$watch_pid" 2>/dev/null
wait "$watch_pid" 2>/dev/null
forget_pid "$watch_pid"

# --- d. a minted ServiceAccount token with a leases-only Role -------------------------------------
cat >"$work/rbac.yaml" <<'EOF'
apiVersion: v1
kind: ServiceAccount
metadata:
  name: elector
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: leases-only
rules:
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: leases-only
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: leases-only
subjects:
- kind: ServiceAccount
  name: elector
  namespace: ${NAMESPACE}
EOF
expect "kube_apply_rbac applies SA, Role, RoleBinding" kube_apply_rbac "$ns" "$work/rbac.yaml"
expect_eq "the RoleBinding names the SA in the namespace" \
  "$(kube_kubectl get rolebinding -n "$ns" leases-only -o 'jsonpath={.subjects[0].namespace}')" "$ns"
expect "kube_create_sa creates a second ServiceAccount" kube_create_sa "$ns" bystander
token="$(kube_mint_token "$ns" elector 10m)"
expect_match "kube_mint_token returns a JWT" "$token" '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$'
other_token="$(kube_mint_token "$ns" bystander 10m)"
sa=(-H "Authorization: Bearer $token")
sa_get() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$APISERVER_CA" "${sa[@]}" "$APISERVER_URL$(leases_path "$ns")/$lease")" = 200 ]; }
expect "SA token: GET the Lease is 200 (RBAC in effect)" wait_until 15 sa_get
rv="$(lease_rv "$ns" "$lease")"
expect_eq "SA token: update the Lease is 200" "$(put_lease "$ns" "$lease" "$rv" sa "${sa[@]}")" 200
expect_eq "the SA's update landed" "$(lease_holder "$ns" "$lease")" sa
sa_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$APISERVER_CA" "${sa[@]}" "$@"; }
expect_eq "SA token: create a Lease is 201" \
  "$(sa_status -X POST -H 'Content-Type: application/json' --data "$(lease_body "$ns" second "" x | sed 's/,"resourceVersion":""//')" "$APISERVER_URL$(leases_path "$ns")")" 201
expect_eq "SA token: list pods is 403" "$(sa_status "$APISERVER_URL/api/v1/namespaces/$ns/pods")" 403
expect_eq "SA token: list leases (verb not granted) is 403" "$(sa_status "$APISERVER_URL$(leases_path "$ns")")" 403
expect_eq "SA token: delete the Lease (verb not granted) is 403" "$(sa_status -X DELETE "$APISERVER_URL$(leases_path "$ns")/$lease")" 403
expect_eq "SA token: leases in namespace default are 403" "$(sa_status "$APISERVER_URL$(leases_path default)/$lease")" 403
rv="$(lease_rv "$ns" "$lease")"
expect_eq "unbound SA token: update the Lease is 403" \
  "$(put_lease "$ns" "$lease" "$rv" bystander -H "Authorization: Bearer $other_token")" 403
kube_write_kubeconfig "$work/sa.kubeconfig" "$token" "$ns"
expect "kube_write_kubeconfig: kubectl gets the Lease with the SA kubeconfig" \
  "$TOOLS_BIN/kubectl" --kubeconfig "$work/sa.kubeconfig" get lease "$lease"
expect_fail "kube_write_kubeconfig: the same kubeconfig cannot list pods" \
  "$TOOLS_BIN/kubectl" --kubeconfig "$work/sa.kubeconfig" get pods

# --- e. a second control plane side by side; down leaves nothing ----------------------------------
if out2="$("$up" "$cp2" 2>&1)"; then pass "a second control plane starts alongside"; else
  fail "a second control plane starts alongside"; echo "$out2" | tail -n 20 | sed 's/^/        /'; fi
# shellcheck source=/dev/null # written by tests/controlplane/up
url2="$( . "$cp2/env" 2>/dev/null && echo "$APISERVER_URL")"
# shellcheck source=/dev/null
ca2="$( . "$cp2/env" 2>/dev/null && echo "$APISERVER_CA")"
expect "the two apiservers use different ports" test -n "$url2" -a "$url2" != "$APISERVER_URL"
expect_eq "control plane 1 readyz ok" "$(curl -s --max-time 5 --cacert "$APISERVER_CA" "$APISERVER_URL/readyz")" ok
expect_eq "control plane 2 readyz ok" "$(curl -s --max-time 5 --cacert "$ca2" "$url2/readyz")" ok
expect_fail "control plane 2 does not know control plane 1's namespace" \
  "$TOOLS_BIN/kubectl" --kubeconfig "$cp2/kubeconfig" get namespace "$ns"
pids2="$(cat "$cp2/pids" 2>/dev/null)"
expect_eq "control plane 2 recorded 2 pids" "$(echo "$pids2" | grep -c '^[0-9][0-9]*$')" 2
expect "down stops control plane 2" "$down" "$cp2"
alive_any() { local p; for p in "$@"; do proc_gone "$p" || return 0; done; return 1; }
# shellcheck disable=SC2086
expect_fail "no process of control plane 2 is left" alive_any $pids2
expect "down removed control plane 2's dir" test ! -e "$cp2"
expect "down again is a no-op" "$down" "$cp2"
expect_eq "control plane 1 still readyz ok" "$(curl -s --max-time 5 --cacert "$APISERVER_CA" "$APISERVER_URL/readyz")" ok

# --- f. client-go reference electors fail over ---------------------------------------------------
ens="$(kube_new_namespace elect)"
read -r port1 port2 < <(free_ports 2)
start_elector() { # IDENTITY PORT
  "$TOOLS_BIN/reference-elector" --namespace "$ens" --election smoke --identity "$1" \
    --lease-duration 4s --renew-deadline 3s --retry-period 1s \
    --kubeconfig "$KUBECONFIG" --status-address "127.0.0.1:$2" >"$work/$1.log" 2>&1 &
  track_pid $!
}
start_elector e1 "$port1"; pid_e1=$!
start_elector e2 "$port2"; pid_e2=$!
one_leader() {
  local s; s="$(leader_code_at "127.0.0.1:$port1")$(leader_code_at "127.0.0.1:$port2")"
  [ "$s" = 200503 ] || [ "$s" = 503200 ]
}
expect "exactly one elector answers 200, the other 503" wait_until 30 one_leader
if leads_at "127.0.0.1:$port1"; then
  leader=e1 lpid=$pid_e1 other=e2 oport=$port2
else
  leader=e2 lpid=$pid_e2 other=e1 oport=$port1
fi
expect_eq "the Lease names the leader ($leader)" "$(lease_holder "$ens" smoke)" "$leader"
kill -TERM "$lpid"
expect "the leader exits on SIGTERM" wait_until 10 proc_gone "$lpid"
wait "$lpid" 2>/dev/null
forget_pid "$lpid"
expect "the other elector ($other) answers 200 afterwards" wait_until 20 leads_at "127.0.0.1:$oport"
expect_eq "the Lease names $other" "$(lease_holder "$ens" smoke)" "$other"
expect_match "the old leader released the lease on the way out" "$(cat "$work/$leader.log")" 'released and exiting'

# --- teardown as an assertion (the EXIT trap is the safety net) ----------------------------------
for p in "${tracked_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${tracked_pids[@]}"; do wait "$p" 2>/dev/null; done
tracked_pids=()
pids1="$(cat "$cp1/pids" 2>/dev/null)"
expect "down stops control plane 1" "$down" "$cp1"
# shellcheck disable=SC2086
expect_fail "no process of control plane 1 is left" alive_any $pids1
expect "down removed control plane 1's dir" test ! -e "$cp1"

summary
