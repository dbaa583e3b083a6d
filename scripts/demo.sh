#!/usr/bin/env bash
# make demo: a local real control plane, three leasehold agents with the default timings
# (15s/10s/2s), the leader killed with SIGKILL (a crash: failover by expiry), then the new
# leader stopped with SIGTERM (graceful: it releases and a watcher takes over at once).
# Everything runs on 127.0.0.1 and is cleaned up at the end.
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/tests/lib/agents.sh"

t0=$(date +%s%N)
say() { printf 'demo [%6.1fs] %s\n' "$(echo "($(date +%s%N) - $t0) / 1000000000" | bc -l)" "$*"; }

# The harness of the test suites: the work dir, and at exit the agents stopped, the control
# plane down and the work dir removed (also on failure or ^C).
suite_begin demo

say "starting a local control plane (etcd + kube-apiserver on 127.0.0.1)"
controlplane_start "$work/cp" || { cat "$work/cp.log"; exit 1; }
at_exit_checked say "cleaning up"
ns="$(kube_new_namespace demo)"
kube_apply_rbac "$ns" "$root/manifests/rbac.yaml" >/dev/null
kube_write_kubeconfig "$work/sa.kubeconfig" "$(kube_mint_token "$ns" leasehold-example 1h)" "$ns"
say "namespace $ns; agents use a ServiceAccount token bound to manifests/rbac.yaml's Role"

start() { agent_spawn "$1" --election leasehold-example --kubeconfig "$work/sa.kubeconfig"; }
await_leader() {  # await_leader NAMES...: polls every 5 ms until one answers 200; prints it
  local l
  while :; do l="$(leaders_among "$@")"; [ -n "$l" ] && { echo "$l"; return; }; sleep 0.005; done
}
token() { status_field "$1" fencingToken; }

agents=(pod-a pod-b pod-c)
for a in "${agents[@]}"; do start "$a"; done
say "started ${agents[*]} (lease duration 15s, renew deadline 10s, retry period 2s)"
say "the Lease does not exist yet: an agent creates it only after seeing it absent for one lease duration"
leader="$(await_leader "${agents[@]}")"
say "leader: $leader (fencing token $(token "$leader")); the others answer 503 on /v1/leader"
sleep 3
read -r _ valid_until _ <"$work/$leader/state"

say "kill -9 $leader (a crash: it cannot release the Lease)"
killed_at=$(now_ms)
kill -KILL "$(pid_of "$leader")"; wait "$(pid_of "$leader")" 2>/dev/null
rest=(); for a in "${agents[@]}"; do [ "$a" = "$leader" ] || rest+=("$a"); done
new="$(await_leader "${rest[@]}")"
took=$(($(now_ms) - killed_at))
acquired="$(date -d "$(kube_lease_json "$ns" leasehold-example | jq -r .spec.acquireTime)" +%s%3N)"
say "failover: $new leads $((took))ms after the kill (fencing token $(token "$new"))"
if [ "$acquired" -ge "$valid_until" ]; then overlap="no overlap"; else overlap="OVERLAP: two leaders"; fi
say "  $leader's claim ended at +$((valid_until - killed_at))ms; $new's term began at +$((acquired - killed_at))ms: $overlap"
[ "$overlap" = "no overlap" ] || exit 1

say "SIGTERM $new (graceful: stop claiming, release the Lease, exit 0)"
last=(); for a in "${rest[@]}"; do [ "$a" = "$new" ] || last+=("$a"); done
termed_at=$(now_ms)
kill -TERM "$(pid_of "$new")"
third="$(await_leader "${last[@]}")"
say "handover: $third leads $(($(now_ms) - termed_at))ms after the SIGTERM (it watches the Lease; fencing token $(token "$third"))"
wait "$(pid_of "$new")"
say "$new exited with status $?"
say "done"
