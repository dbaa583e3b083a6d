#!/usr/bin/env bash
# Case 7: `kubectl delete lease` under a healthy leader. The leader sees the deletion on its watch
# and demotes at once; as the last holder it re-creates the Lease at once: a new term with a
# higher fencing token (resourceVersion, not leaseTransitions, which restarts at 0). Second
# round: the Lease deleted while the leader is cut off: the cut-off leader cannot see it and
# keeps its claim until renew-deadline; the others must not re-create the Lease before the old
# claim ran out (a Lease seen absent by a non-holder waits out a lease duration).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 07_lease_deleted

start_election a b c || { fail "no leader"; summary; exit 1; }

# --- round 1: healthy leader
old="$leader"; old_token="$(token_of "$old")"
t="$(now_ms)"; t_ns="$(now_ns)"
code="$(kube_kubectl -n "$NS" delete lease "$ELECTION" -o name >/dev/null 2>&1 && echo ok)"
t_done="$(now_ms)"
log "kubectl delete lease under $old (token $old_token): ${code:-failed} in $((t_done - t)) ms"
expect "the Lease was deleted" [ "$code" = ok ]
expect "the old leader logged the deletion" wait_until 5 log_has "$old" '.msg=="stopped leading" and (.reason|test("deleted"))'
stopped="$(log_ms "$old" '^stopped leading$' "$t")"
log "$old stopped leading at +$((stopped - t)) ms (kubectl returned at +$((t_done - t)) ms)"
expect "it demoted at once (within 500 ms of the delete call returning)" [ $((stopped - t_done)) -le 500 ]
new="$(wait_leader $((LD + 10)) a b c)" || new=""
expect "a leader is back" [ -n "$new" ]
new_token="$(token_of "$new")"
log "leader after the deletion: $new (token $new_token), leaseTransitions $(lease_field .spec.leaseTransitions)"
expect_eq "the last holder re-created it at once" "$new" "$old"
expect "the new token is higher than before the deletion" [ "${new_token:-0}" -gt "$old_token" ]
report --fault-at "$t_ns" >/dev/null
fo1="$(rj '.failover_ms // 99999 | floor')"
expect "back within a retry period (last holder re-creates at once): $fo1 ms" [ "$fo1" -le $((RP_MS + 500)) ]
wait_acting "$new"

# --- round 2: the leader cut off, then the Lease deleted
old="$new"; old_token="$new_token"
wait_renew "$old" >/dev/null
read -r _ old_until _ <"$work/$old/state"
proxy_down "$old"
t="$(now_ms)"; t_ns="$(now_ns)"
lease_delete >/dev/null
log "$old cut off, Lease deleted (its claim valid until +$((old_until - t)) ms)"
others=(); for n in a b c; do [ "$n" = "$old" ] || others+=("$n"); done
new="$(wait_leader $((2 * LD + 10)) "${others[@]}")" || new=""
started="$(log_ms "$new" '^started leading$' "$t")"
log "$new created the Lease and leads at +$((started - t)) ms (token $(token_of "$new"))"
proxy_up "$old"
expect "[cut off] a follower took over" [ -n "$new" ]
expect "[cut off] not before the cut-off leader's claim ended" [ "${started:-0}" -ge "$old_until" ]
expect "[cut off] and not before a lease duration after its last renew (claim end + margin)" \
  [ "${started:-0}" -ge $((old_until + MARGIN_MS - 20)) ]
expect "[cut off] the new token is higher" [ "$(token_of "$new")" -gt "$old_token" ]
report --fault-at "$t_ns" >/dev/null
fo2="$(rj '.failover_ms // 99999 | floor')"
expect "[cut off] the old leader rejoins as a follower" \
  wait_until $((RP + 10)) sh -c "[ \"\$(curl -s -m 2 127.0.0.1:$(sport "$old")/v1/status | jq -r .leader)\" = '$new' ]"
expect "fencing tokens of all terms strictly increase across delete/re-create" tokens_increase a b c
log "terms: $(terms_started a b c | awk '{ printf "%s:%s ", $3, $2 }')"
report
expect_no_overlap
FAILOVER_MS="$fo1" standard_figures "failover_cut_off_ms=$fo2"
summary
