#!/usr/bin/env bash
# scale_test: many elections in one sidecar, on a real kube-apiserver (the `elections:` list of
# one --config file, docs/features.md). No timing is asserted; every wait is a bound on a hang.
# (a) A sidecar with 1 election and one with 100, each alone in its namespace: once both are
#     ready and lead all their elections, they run the same number of threads (the runtime's
#     threads do not grow with the elections; read from /proc/PID/status).
# (b) 3 sidecars, each listing the same 100 elections: every one of the 100 Leases ends up with
#     exactly one holder, and exactly that one of the three sidecars answers 200 on
#     /v1/elections/<name>/leader (no election with 0 or 2 leaders).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/tests/lib/agents.sh"
agents_suite scale_test

N=100
# The client-side API limit is per election (--api-qps 5, --api-burst 10 by default): the configs
# keep the defaults, so this also checks that they carry 100 elections.

# write_config FILE COUNT: a --config listing elections e-0 .. e-(COUNT-1), default timings.
write_config() {
  local i
  {
    echo "election: e-0"
    [ "$2" -gt 1 ] && echo "elections:"
    for ((i = 1; i < $2; i++)); do echo "  - name: e-$i"; done
  } >"$1"
}
# start NAME NAMESPACE CONFIG: a sidecar with the admin kubeconfig.
start() { agent_spawn "$1" --namespace "$2" --kubeconfig "$KUBECONFIG" --config "$3"; }
# leading NAME: the number of elections the sidecar says it leads (GET /v1/elections).
leading() { curl -s --max-time 5 "$(url "$1" /v1/elections)" | jq '[.elections[] | select(.isLeader)] | length'; }
# leads_all NAME COUNT: it leads COUNT elections (asked twice a second).
leads_all() { [ "$(leading "$1")" = "$2" ] || { sleep 0.5; return 1; }; }
# threads NAME: the sidecar's thread count, the least of 5 readings 0.2 s apart (a thread that
# comes and goes, a hook's or a request's, is not the runtime's).
threads() {
  local i t least=""
  for i in 1 2 3 4 5; do
    t="$(awk '/^Threads:/ { print $2 }' "/proc/$(pid_of "$1")/status" 2>/dev/null)"
    [ -n "$t" ] && { [ -z "$least" ] || [ "$t" -lt "$least" ]; } && least="$t"
    sleep 0.2
  done
  echo "${least:-none}"
}

echo "--- (a) 1 election and $N elections: the same number of threads"
ns1="$(kube_new_namespace scale-one)"
ns100="$(kube_new_namespace scale-many)"
write_config "$work/one.yaml" 1
write_config "$work/many.yaml" "$N"
start one "$ns1" "$work/one.yaml"
start many "$ns100" "$work/many.yaml"
expect "the 1-election sidecar is ready" wait_until 60 ready one
expect "the $N-election sidecar is ready" wait_until 60 ready many
expect "the 1-election sidecar leads its election" wait_until 60 leads_all one 1
expect "the $N-election sidecar leads all $N" wait_until 90 leads_all many "$N"
t1="$(threads one)"; tn="$(threads many)"
echo "  threads: $t1 with 1 election, $tn with $N"
expect_eq "a sidecar with $N elections runs as many threads as one with 1" "$tn" "$t1"
# stop NAMES...: SIGTERM (each releases its Leases), SIGKILL to any still running after 60 s.
stop() {
  local n
  for n in "$@"; do agent_signal "$n" TERM; done
  for n in "$@"; do
    wait_until 60 proc_gone "$(pid_of "$n")" || { echo "  $n still running 60 s after SIGTERM"; agent_signal "$n" KILL; }
    agent_wait "$n"
  done
}
stop one many

echo "--- (b) 3 sidecars x the same $N elections: one leader each"
ns="$(kube_new_namespace scale-three)"
write_config "$work/three.yaml" "$N"
sidecars=(b1 b2 b3)
for s in "${sidecars[@]}"; do start "$s" "$ns" "$work/three.yaml"; done
# lease_holders: "<election> <holder>" per Lease that names one of the three.
lease_holders() {
  kube_api "/apis/coordination.k8s.io/v1/namespaces/$ns/leases" |
    jq -r '.items[] | "\(.metadata.name) \(.spec.holderIdentity // "")"' | grep -E ' b[123]$' | sort
}
# claimed: "<election> <sidecar>" per election each sidecar says it leads.
claimed() {
  local s
  for s in "${sidecars[@]}"; do
    curl -sf --max-time 5 "$(url "$s" /v1/elections)" |
      jq -r --arg id "$s" '.elections[] | select(.isLeader) | "\(.election) \($id)"' || return 1
  done | sort
}
# settled: every election's Lease names one of the three, and exactly that one says it leads.
# Asked once a second (a reading is 4 requests and 4 jq runs; the sidecars need the CPU).
settled() {
  local holders
  holders="$(lease_holders)" && [ "$(printf '%s\n' "$holders" | grep -c .)" = "$N" ] &&
    [ "$(claimed)" = "$holders" ] && return 0
  sleep 1
  return 1
}
# lease_state NAME: "<holder> <leaseTransitions>" of Lease NAME, read now.
lease_state() {
  kube_api "/apis/coordination.k8s.io/v1/namespaces/$ns/leases/$1" |
    jq -r '"\(.spec.holderIdentity // "-") \(.spec.leaseTransitions // 0)"'
}
# ask_election NAME: sets `leaders` to the sidecars answering 200 on its /leader, and `named` to
# the holder of its Lease, read before and after the questions with no change of holder or term in
# between (so every 200 is compared with the Lease as it was when it was given). Tries 3 times;
# `named` is empty if the Lease moved during every try. An answer with no leader is asked again a
# second later (a renewal late on a loaded machine ends a claim before anyone else may take it).
ask_election() {
  local s try before after
  for try in 1 2 3; do
    leaders=()
    named=""
    before="$(lease_state "$1")"
    for s in "${sidecars[@]}"; do
      [ "$(leader_code "$s" "/v1/elections/$1/leader")" = 200 ] && leaders+=("$s")
    done
    after="$(lease_state "$1")"
    if [ -n "$before" ] && [ "$before" = "$after" ]; then
      named="${before%% *}"
      [ "${#leaders[@]}" -gt 0 ] || [ "$try" = 3 ] && return 0
      echo "  $1: no sidecar answers 200 (the Lease names $named); asking again"
      sleep 1
      continue
    fi
    echo "  $1: the Lease moved while asked ($before -> $after)"
  done
}
# explain NAME: what the sidecars logged about election NAME (for a failure).
explain() {
  local s
  for s in "${sidecars[@]}"; do
    grep -E "\b$1\b" "$work/$s.log" 2>/dev/null | tail -n 5 | sed "s/^/    $s: /"
  done
}
if wait_until 120 settled; then
  pass "within 120 s every Lease names one of the sidecars, which alone says it leads"
  holders="$(lease_holders)"
  # Every election asked on every sidecar: /v1/elections/<name>/leader.
  none=0; several=0; other=0
  for ((i = 0; i < N; i++)); do
    ask_election "e-$i"
    [ -n "$named" ] || { other=$((other + 1)); echo "  e-$i: its Lease kept moving"; explain "e-$i"; continue; }
    case "${#leaders[@]}" in
      0) none=$((none + 1)); echo "  e-$i: no sidecar answers 200 (the Lease names $named)"; explain "e-$i" ;;
      1) [ "${leaders[0]}" = "$named" ] ||
           { other=$((other + 1)); echo "  e-$i: ${leaders[0]} answers 200, the Lease names $named"; explain "e-$i"; } ;;
      *) several=$((several + 1)); echo "  e-$i: ${leaders[*]} all answer 200"; explain "e-$i" ;;
    esac
  done
  how="on /v1/elections/<name>/leader"
else
  fail "within 120 s every Lease names one of the sidecars, which alone says it leads"
  # Not settled: the counts from one reading of the sidecars' /v1/elections (300 requests to
  # sidecars this busy would take minutes).
  holders="$(lease_holders)"
  views="$(claimed)"
  none=0; several=0; other=0
  for ((i = 0; i < N; i++)); do
    mapfile -t leaders < <(printf '%s\n' "$views" | awk -v e="e-$i" '$1 == e { print $2 }')
    case "${#leaders[@]}" in
      0) none=$((none + 1)) ;;
      1) printf '%s\n' "$holders" | grep -qx "e-$i ${leaders[0]}" || other=$((other + 1)) ;;
      *) several=$((several + 1)) ;;
    esac
  done
  how="in their /v1/elections"
fi
expect_eq "Leases with a holder among the three" "$(printf '%s\n' "$holders" | grep -c .)" "$N"
expect_eq "elections for which no sidecar says it leads ($how)" "$none" 0
expect_eq "elections for which two or more sidecars say they lead ($how)" "$several" 0
expect_eq "elections whose one leader is not the sidecar the Lease names" "$other" 0
for s in "${sidecars[@]}"; do echo "  $s leads $(leading "$s") of $N"; done

summary
