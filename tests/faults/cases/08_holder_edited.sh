#!/usr/bin/env bash
# Case 8: the Lease edited by hand. Round 1: holderIdentity set to another candidate and
# leaseDurationSeconds to 1 in one edit, under a healthy leader: the old leader demotes on its
# first read of the foreign holder (the watch: milliseconds); nobody acquires before a full
# lease duration after the edit (followers wait max(own, the Lease's) duration; the named
# candidate does not treat the edit as its own term). Round 2: only leaseDurationSeconds set to 1
# while the leader is cut off: followers still wait their own lease duration.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 08_holder_edited

start_election a b c || { fail "no leader"; summary; exit 1; }

# --- round 1
old="$leader"; old_token="$(token_of "$old")"
others=(); for n in a b c; do [ "$n" = "$old" ] || others+=("$n"); done
named="${others[0]}"
t="$(now_ms)"; t_ns="$(now_ns)"
code="$(lease_patch "{\"spec\":{\"holderIdentity\":\"$named\",\"leaseDurationSeconds\":1}}")"
t_done="$(now_ms)"
log "Lease edited under $old: holderIdentity=$named, leaseDurationSeconds=1 (HTTP $code, $((t_done - t)) ms)"
expect_eq "the edit was accepted" "$code" 200
expect "the old leader demoted on the foreign holder" \
  wait_until 5 log_has "$old" '.msg=="stopped leading" and (.reason|test("another holder"))'
stopped="$(log_ms "$old" '^stopped leading$' "$t")"
log "$old stopped leading at +$((stopped - t)) ms"
expect "at once (within 300 ms of the edit returning)" [ $((stopped - t_done)) -le 300 ]
new="$(wait_leader $((2 * LD + 10)) a b c)" || new=""
started="$(log_ms "$new" '^started leading$' "$t")"
log "next term: $new at +$((started - t)) ms (token $(token_of "$new"))"
expect "a leader is back" [ -n "$new" ]
expect "nobody acquired before a lease duration after the edit (+$((started - t)) ms >= ${LD_MS})" \
  [ $((started - t)) -ge "$LD_MS" ]
expect "the new token is higher" [ "$(token_of "$new")" -gt "$old_token" ]
expect "the Lease's duration is back to ${LD}s" [ "$(lease_field .spec.leaseDurationSeconds)" = "$LD" ]
report --fault-at "$t_ns" >/dev/null
fo1="$(rj '.failover_ms // 99999 | floor')"
wait_acting "$new"

# --- round 2
old="$new"; old_token="$(token_of "$old")"
others=(); for n in a b c; do [ "$n" = "$old" ] || others+=("$n"); done
wait_renew "$old" >/dev/null
read -r _ old_until _ <"$work/$old/state"
proxy_down "$old"
t="$(now_ms)"; t_ns="$(now_ns)"
code="$(lease_patch '{"spec":{"leaseDurationSeconds":1}}')"
log "$old cut off; leaseDurationSeconds edited to 1 (HTTP $code)"
new="$(wait_leader $((2 * LD + 10)) "${others[@]}")" || new=""
started="$(log_ms "$new" '^started leading$' "$t")"
proxy_up "$old"
log "next term: $new at +$((started - t)) ms"
expect "[cut off] a follower took over" [ -n "$new" ]
expect "[cut off] not before a lease duration after the edit (+$((started - t)) ms)" [ $((started - t)) -ge "$LD_MS" ]
expect "[cut off] not before the cut-off leader's claim ended" [ "${started:-0}" -ge "$old_until" ]
report --fault-at "$t_ns" >/dev/null
fo2="$(rj '.failover_ms // 99999 | floor')"
expect "fencing tokens of all terms strictly increase" tokens_increase a b c
report
expect_no_overlap
FAILOVER_MS="$fo1" standard_figures "failover_cut_off_ms=$fo2"
summary
