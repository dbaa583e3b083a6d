#!/usr/bin/env bash
# agent_test: the leasehold agent against a real kube-apiserver, with the credentials a pod would
# have (a ServiceAccount token bound only to the Role in manifests/rbac.yaml).
# Three agents: exactly one leads; /v1/leader, status files, metrics and the Lease agree; kill -9
# the leader: another leads after about a lease duration and never before the old claim ended;
# SIGTERM the leader: it releases and another leads at once; a Lease deleted under a leader;
# client-go's elector and leasehold on one Lease never lead together; a token without update
# rights gives a clear error and no claim; a client-certificate kubeconfig works; bad
# configuration exits 2 naming the setting.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/tests/lib/agents.sh"
agents_suite agent_test

# Short timings keep the suite quick; the rules they obey are the same as the defaults'.
TIMINGS=(--lease-duration 4s --renew-deadline 3s --retry-period 1s --safety-margin 500ms)
LD_MS=4000

ns="$(kube_new_namespace agent)"
kube_apply_rbac "$ns" "$root/manifests/rbac.yaml" >/dev/null
election=leasehold-example  # the Lease name the manifests' Role is restricted to
token="$(kube_mint_token "$ns" leasehold-example 1h)"
kube_write_kubeconfig "$work/agent.kubeconfig" "$token" "$ns"

# start_agent NAME [FLAGS...]: an agent of $ELECTION (default the manifests' election) with the
# ServiceAccount's kubeconfig (or $KUBECONFIG_FOR).
start_agent() {
  local name="$1"; shift
  agent_spawn "$name" --election "${ELECTION:-$election}" \
    --kubeconfig "${KUBECONFIG_FOR:-$work/agent.kubeconfig}" "${TIMINGS[@]}" "$@"
}

tokens=()

echo "--- three agents on one Lease"
for n in a b c; do start_agent "$n"; done
expect "exactly one of three agents leads (waits out one lease duration of absence first)" \
  wait_until 30 one_leader_among a b c
leader="$(leaders_among a b c | head -1)"
followers=(); for n in a b c; do [ "$n" = "$leader" ] || followers+=("$n"); done
echo "  leader: $leader"
expect_eq "the Lease names the leader" "$(kube_lease_json "$ns" "$election" | jq -r .spec.holderIdentity)" "$leader"
expect_eq "the leader's /v1/status says isLeader" "$(status_field "$leader" isLeader)" true
for f in "${followers[@]}"; do
  expect_eq "follower $f names the leader in /v1/status" "$(status_field "$f" leader)" "$leader"
  expect_eq "follower $f answers 503" "$(leader_code "$f")" 503
  expect_fail "follower $f's state file does not pass the reader check" file_says_leader "$f"
  expect_match "follower $f's metrics say is_leader 0" "$(curl -s -m 2 "127.0.0.1:$(oport "$f")/metrics")" \
    "leasehold_is_leader\\{election=\"$election\"\\} 0"
done
expect "the leader's state file passes the reader check" file_says_leader "$leader"
token_header="$(curl -s -m 2 -D - -o /dev/null "127.0.0.1:$(sport "$leader")/v1/leader" | tr -d '\r' |
  awk -F': ' 'tolower($1)=="leasehold-fencing-token"{print $2}')"
token_status="$(status_field "$leader" fencingToken)"
read -r _ _ token_file _ <"$work/$leader/state"
expect_match "the fencing token is a number" "$token_status" '^[0-9]+$'
expect_eq "fencing token: header = /v1/status" "$token_header" "$token_status"
expect_eq "fencing token: state file = /v1/status" "$token_file" "$token_status"
tokens+=("$token_status")
expect_match "the leader's metrics say is_leader 1" "$(curl -s -m 2 "127.0.0.1:$(oport "$leader")/metrics")" \
  "leasehold_is_leader\\{election=\"$election\"\\} 1"
# One election: the watch asks for its Lease by name, which the Role's resourceNames allow.
for n in a b c; do
  expect_match "agent $n watches the Lease with the restricted Role" "$(curl -s -m 2 "127.0.0.1:$(oport "$n")/metrics")" \
    "leasehold_watch_connected\\{election=\"$election\"\\} 1"
done
expect_eq "GET / answers the contrib leader-elector's {\"name\": leader}" \
  "$(curl -s -m 2 "127.0.0.1:$(sport "${followers[0]}")/" | jq -r .name)" "$leader"
expect_eq "/healthz is 200" "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "127.0.0.1:$(oport "$leader")/healthz")" 200
expect_eq "/readyz is 200" "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "127.0.0.1:$(oport "$leader")/readyz")" 200
expect_eq "unknown path is 404" "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "127.0.0.1:$(sport "$leader")/nope")" 404
expect_eq "POST /v1/leader is 405" \
  "$(curl -s -m 2 -o /dev/null -w '%{http_code}' -X POST "127.0.0.1:$(sport "$leader")/v1/leader")" 405
# The API server names a write's field manager after the client's User-Agent.
expect_match "writes carry User-Agent leasehold/<version>" \
  "$(kube_kubectl -n "$ns" get lease "$election" -o json --show-managed-fields | jq -r '.metadata.managedFields[].manager')" \
  '^leasehold$'

echo "--- kill -9 the leader"
old="$leader"
read -r _ old_valid_until_ms _ <"$work/$old/state"
killed_at="$(now_ms)"
kill -KILL "$(pid_of "$old")"; wait "$(pid_of "$old")" 2>/dev/null
remaining=("${followers[@]}")
expect "another agent leads after the kill" wait_until 30 one_leader_among "${remaining[@]}"
took=$(($(now_ms) - killed_at))
leader="$(leaders_among "${remaining[@]}" | head -1)"
echo "  failover after SIGKILL: ${took} ms (lease duration ${LD_MS} ms); new leader $leader"
acquired_ms="$(date -d "$(kube_lease_json "$ns" "$election" | jq -r .spec.acquireTime)" +%s%3N)"
expect "the new term began after the killed leader's claim had ended" [ "$acquired_ms" -ge "$old_valid_until_ms" ]
expect_fail "the killed agent's state file fails the reader check by itself" file_says_leader "$old"
expect "failover took at least a lease duration after the last renew" [ "$took" -ge $((LD_MS - 1000)) ]
tokens+=("$(status_field "$leader" fencingToken)")

echo "--- SIGTERM the leader"
old="$leader"
start_agent d
remaining=(); for n in b c d a; do [ -d "/proc/$(pid_of "$n")" ] && [ "$n" != "$old" ] && remaining+=("$n"); done
expect "the new agent d has observed the Lease" wait_until 15 sh -c "curl -sf 127.0.0.1:$(oport d)/readyz"
transitions_before="$(kube_lease_json "$ns" "$election" | jq -r .spec.leaseTransitions)"
termed_at="$(now_ms)"
kill -TERM "$(pid_of "$old")"
expect "another agent leads after SIGTERM" wait_until 10 one_leader_among "${remaining[@]}"
took=$(($(now_ms) - termed_at))
leader="$(leaders_among "${remaining[@]}" | head -1)"
echo "  handover after SIGTERM: ${took} ms; new leader $leader"
wait "$(pid_of "$old")"; rc=$?
expect_eq "the terminated agent exited 0" "$rc" 0
expect "it released the Lease (log)" grep -q '"released the lease"' "$work/$old.log"
expect "handover came from the release, well before a lease duration" [ "$took" -lt "$LD_MS" ]
expect_fail "its state file fails the reader check" file_says_leader "$old"
expect_eq "leaseTransitions went up by one" "$(kube_lease_json "$ns" "$election" | jq -r .spec.leaseTransitions)" \
  "$((transitions_before + 1))"
tokens+=("$(status_field "$leader" fencingToken)")

echo "--- the Lease deleted under a healthy leader"
kube_kubectl -n "$ns" delete lease "$election" >/dev/null
expect "a leader is back after the deletion" wait_until 30 one_leader_among "${remaining[@]}"
leader="$(leaders_among "${remaining[@]}" | head -1)"
expect "the old leader logged the deletion" grep -q 'the lease was deleted' "$work"/*.log
tokens+=("$(status_field "$leader" fencingToken)")

echo "  fencing tokens of successive terms: ${tokens[*]}"
increasing=1
for ((i = 1; i < ${#tokens[@]}; i++)); do [ "${tokens[$i]}" -gt "${tokens[$((i - 1))]}" ] || increasing=0; done
expect_eq "fencing tokens strictly increase across terms and delete/re-create" "$increasing" 1
followers=(); for n in "${remaining[@]}"; do [ "$n" != "$leader" ] && followers+=("$n"); done
for n in "${followers[@]}"; do kill -TERM "$(pid_of "$n")" 2>/dev/null; done
for n in "${followers[@]}"; do wait "$(pid_of "$n")" 2>/dev/null; done
for n in "${followers[@]}"; do
  expect_fail "follower $n, stopped by SIGTERM, does not say it released the lease" \
    grep -q '"released the lease"' "$work/$n.log"
done
kill -TERM "$(pid_of "$leader")" 2>/dev/null
wait "$(pid_of "$leader")" 2>/dev/null

echo "--- client-go's elector and two leasehold agents on one Lease"
ELECTION=mixed KUBECONFIG_FOR="$KUBECONFIG" start_agent m1
ELECTION=mixed KUBECONFIG_FOR="$KUBECONFIG" start_agent m2
ref_port="$(free_port)"
"$TOOLS_BIN/reference-elector" --namespace default --election mixed --identity ref --kubeconfig "$KUBECONFIG" \
  --lease-duration 4s --renew-deadline 3s --retry-period 1s --status-address "127.0.0.1:$ref_port" \
  >"$work/ref.log" 2>&1 &
ref_pid=$!; track_pid "$ref_pid"
echo "$ref_port" >"$work/ref.status_port"
both=0; samples=0; led=0
sample_mixed() {
  local end=$(($(now_ms) + $1)) c
  while [ "$(now_ms)" -lt "$end" ]; do
    c="$(leaders_among m1 m2 ref | wc -l)"
    samples=$((samples + 1)); [ "$c" -gt 1 ] && both=$((both + 1)); [ "$c" -ge 1 ] && led=$((led + 1))
    sleep 0.02
  done
}
sample_mixed 8000
for round in 1 2 3; do
  current="$(leaders_among m1 m2 ref | head -1)"
  [ -n "$current" ] || { sample_mixed 3000; continue; }
  if [ "$current" = ref ]; then kill -TERM "$ref_pid"; wait "$ref_pid" 2>/dev/null
    "$TOOLS_BIN/reference-elector" --namespace default --election mixed --identity "ref-$round" \
      --kubeconfig "$KUBECONFIG" --lease-duration 4s --renew-deadline 3s --retry-period 1s \
      --status-address "127.0.0.1:$ref_port" >>"$work/ref.log" 2>&1 &
    ref_pid=$!; track_pid "$ref_pid"
  else
    kill -TERM "$(pid_of "$current")"; wait "$(pid_of "$current")" 2>/dev/null
    ELECTION=mixed KUBECONFIG_FOR="$KUBECONFIG" start_agent "$current"
  fi
  sample_mixed 7000
done
echo "  samples: $samples, with a leader: $led, with two leaders: $both"
expect_eq "never two leaders among client-go and leasehold electors" "$both" 0
expect "someone led most of the time" [ "$led" -gt $((samples / 2)) ]

echo "--- a token that may not update the Lease"
ns2="$(kube_new_namespace noupdate)"
cat <<YAML | kube_kubectl apply -n "$ns2" -f - >/dev/null
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: lease-reader}
rules:
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: lease-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: lease-reader}
subjects: [{kind: ServiceAccount, name: reader}]
YAML
kube_write_kubeconfig "$work/reader.kubeconfig" "$(kube_mint_token "$ns2" reader 1h)" "$ns2"
KUBECONFIG_FOR="$work/reader.kubeconfig" start_agent r
expect "it logs a clear forbidden error" wait_until 20 grep -q '"error":"forbidden"' "$work/r.log"
expect_eq "and never claims leadership" "$(leader_code r)" 503
expect_match "the failure is counted in a metric" "$(curl -s -m 2 "127.0.0.1:$(oport r)/metrics")" \
  'leasehold_lease_errors_total\{election="[a-z-]+",error="forbidden",operation="create"\} [1-9]'
expect_fail "the log never shows the token" grep -qF "$(kube_mint_token "$ns2" reader 1h | cut -c1-20)" "$work/r.log"

echo "--- a kubeconfig that authenticates by client certificate (no token)"
kube_write_cert_kubeconfig "$work/cert.kubeconfig" leasehold-cert system:masters "$ns2"
ELECTION=by-certificate KUBECONFIG_FOR="$work/cert.kubeconfig" start_agent k
expect "the agent leads over TLS with its client certificate" wait_until 20 is_leader k
expect_eq "the Lease names it" "$(kube_lease_json "$ns2" by-certificate | jq -r .spec.holderIdentity)" k

echo "--- configuration errors"
out="$("$LEASEHOLD" --election x --lease-duration fifteen 2>&1)"; rc=$?
expect_eq "bad duration exits 2" "$rc" 2
expect_match "and names --lease-duration" "$out" '--lease-duration'
out="$("$LEASEHOLD" --election Bad_Name --kubeconfig "$KUBECONFIG" --namespace default 2>&1)"; rc=$?
expect_eq "bad election name exits 2" "$rc" 2
expect_match "and names --election" "$out" '--election'
out="$("$LEASEHOLD" --election x --kubeconfig /nonexistent 2>&1)"; rc=$?
expect_eq "unreadable kubeconfig exits 2" "$rc" 2
expect_match "and names --kubeconfig" "$out" '--kubeconfig'
expect_match "--version prints the version" "$("$LEASEHOLD" --version)" '^leasehold [0-9]+\.[0-9]+\.[0-9]+$'

summary
