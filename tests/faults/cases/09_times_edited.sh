#!/usr/bin/env bash
# Case 9: the Lease's times and leaseTransitions edited by hand.
# Round 1, under a healthy leader: renewTime alone moved an hour into the past: no false demotion
# (the leader's next renew conflicts, re-reads and renews) and no early acquisition (followers
# time the Lease by their own observation of its last change, never by renewTime). Then
# acquireTime an hour back and leaseTransitions 5 under the leader's name: that is another term
# than the one it began (as another process with its identity would write), so it stops claiming
# at once and never renews it; nobody begins a term before a lease duration after the edit, and
# the next term's fencing token is higher. Round 2, with the leader cut off: renewTime an hour
# back and leaseTransitions decreased: still nobody acquires before a lease duration after the
# edit and after the old claim ended; the next term's fencing token is higher although
# leaseTransitions went backwards.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 09_times_edited

start_election a b c || { fail "no leader"; summary; exit 1; }

# --- round 1: healthy leader
old="$leader"; old_token="$(token_of "$old")"
code="$(lease_patch "{\"spec\":{\"renewTime\":\"$(hour_ago)\"}}")"
log "under $old: renewTime an hour back (HTTP $code); watching for $((2 * LD)) s"
expect_eq "the edit was accepted" "$code" 200
sleep $((2 * LD))
expect_eq "[renewTime] the same leader still leads" "$(leaders_among a b c | tr '\n' ' ')" "$old "
expect_eq "[renewTime] with the same token" "$(token_of "$old")" "$old_token"
expect "[renewTime] it never demoted" [ "$(log_count "$old" '.msg=="stopped leading"')" = 0 ]
expect "[renewTime] nobody else started leading" [ "$(terms_started a b c | wc -l)" = 1 ]
renew_age=$(( $(date +%s) - $(date -d "$(lease_field .spec.renewTime)" +%s) ))
expect "[renewTime] the leader's renews put renewTime back to now (age ${renew_age}s)" [ "$renew_age" -le $((RP + 1)) ]

t="$(now_ms)"
code="$(lease_patch "{\"spec\":{\"acquireTime\":\"$(hour_ago)\",\"leaseTransitions\":5}}")"
log "under $old: acquireTime an hour back, leaseTransitions 5 (HTTP $code)"
expect "[term edited] the leader stops claiming at once: not the term it began" \
  wait_until 5 log_has "$old" '.msg=="stopped leading" and (.reason|test("new term"))'
new="$(wait_leader $((2 * LD + 10)) a b c)" || new=""
started="$(log_ms "$new" '^started leading$' "$t")"
log "next term: $new at +$((started - t)) ms (token $(token_of "$new"), leaseTransitions $(lease_field .spec.leaseTransitions))"
expect "[term edited] a new term began" [ -n "$new" ]
expect "[term edited] not before a lease duration after the edit (+$((started - t)) ms)" [ $((started - t)) -ge "$LD_MS" ]
expect "[term edited] with a higher token" [ "$(token_of "$new")" -gt "$old_token" ]
expect_eq "[term edited] counted on from the edited value" "$(lease_field .spec.leaseTransitions)" 6
old="$new"; old_token="$(token_of "$new")"
wait_acting "$old"

# --- round 2: the leader cut off, then times and leaseTransitions edited
others=(); for n in a b c; do [ "$n" = "$old" ] || others+=("$n"); done
wait_renew "$old" >/dev/null
read -r _ old_until _ <"$work/$old/state"
proxy_down "$old"
t="$(now_ms)"; t_ns="$(now_ns)"
code="$(lease_patch "{\"spec\":{\"renewTime\":\"$(hour_ago)\",\"acquireTime\":\"$(hour_ago)\",\"leaseTransitions\":1}}")"
log "$old cut off; renewTime an hour back, leaseTransitions 5 -> 1 (HTTP $code)"
new="$(wait_leader $((2 * LD + 10)) "${others[@]}")" || new=""
started="$(log_ms "$new" '^started leading$' "$t")"
proxy_up "$old"
log "next term: $new at +$((started - t)) ms (token $(token_of "$new"), leaseTransitions $(lease_field .spec.leaseTransitions))"
expect "[cut off] a follower took over" [ -n "$new" ]
expect "[cut off] not before a lease duration after the edit (+$((started - t)) ms)" [ $((started - t)) -ge "$LD_MS" ]
expect "[cut off] not before the cut-off leader's claim ended" [ "${started:-0}" -ge "$old_until" ]
expect "[cut off] the new token is higher although leaseTransitions went back" [ "$(token_of "$new")" -gt "$old_token" ]
report --fault-at "$t_ns" >/dev/null
fo="$(rj '.failover_ms // 99999 | floor')"
expect "fencing tokens of all terms strictly increase" tokens_increase a b c
report
expect_no_overlap
# shellcheck disable=SC2119 # no extra figures
FAILOVER_MS="$fo" standard_figures
summary
