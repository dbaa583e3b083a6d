#!/usr/bin/env bash
# Case 14: SIGTERM. The leader stops claiming on every channel first (HTTP 503, state file
# "follower", log "stopping"), then releases the Lease (empty holder, leaseDurationSeconds 1) and
# exits 0; a watching follower acquires within milliseconds. Second round: SIGTERM while the
# leader is cut off from the API server: it still stops claiming at once, gives up the release
# at --release-timeout, exits 0, and the follower takes over when the old term has run out.
# leasehold has no app-acknowledgement hook before the release (none is documented); the ordering
# "stop claiming, then release" is what is checked.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 14_sigterm
RELEASE=(--release-timeout 2s)

for n in a b c; do agent_start "$n" "${RELEASE[@]}"; done
for n in a b c; do wait_until 20 ready "$n"; app_start "$n" http; app_start "$n" file; done
leader="$(wait_leader $((3 * LD + 10)) a b c)" || { fail "no leader"; summary; exit 1; }
log "leader: $leader (token $(token_of "$leader"))"
wait_acting "$leader"

# --- round 1: graceful handover
old="$leader"; others=(); for n in a b c; do [ "$n" = "$old" ] || others+=("$n"); done
old_token="$(token_of "$old")"
transitions="$(lease_field .spec.leaseTransitions)"
t_ns="$(now_ns)"; t="$(now_ms)"
agent_signal "$old" TERM
# Right after the signal: the answer must already be "not leader" (or the process is gone).
first_code="$(leader_code "$old")"
log "SIGTERM $old; its first answer after the signal: $first_code"
new="$(wait_leader 10 "${others[@]}")" || new=""
agent_wait "$old"; rc=$?
expect "a follower took over" [ -n "$new" ]
expect_eq "the terminated agent exited 0" "$rc" 0
expect "its first answer after SIGTERM was not 200" [ "$first_code" != 200 ]
stop_ms="$(log_ms "$old" '^stopping: no longer claiming')"
rel_ms="$(log_ms "$old" '^released the lease$')"
started_ms="$(log_ms "$new" '^started leading$' "$t")"
log "stopping +$((stop_ms - t)) ms, $new started leading +$((started_ms - t)) ms, 'released the lease' logged +$((rel_ms - t)) ms"
expect "it stopped claiming before it released" [ "$stop_ms" -le "$rel_ms" ]
expect "it stopped claiming before the new leader started" [ "$stop_ms" -le "$started_ms" ]
expect "it logged the release" [ -n "$rel_ms" ]
expect_eq "its state file says follower" "$(cut -d' ' -f1 "$work/$old/state")" follower
expect_eq "leaseTransitions went up by one" "$(lease_field .spec.leaseTransitions)" "$((transitions + 1))"
report --fault-at "$t_ns" >/dev/null
fo1="$(rj '.failover_ms // 99999 | floor')"
old_last="$(rj '.old_last_ms // -1 | floor')"
log "handover seen by the witness: $fo1 ms after SIGTERM (old term's last action: $old_last ms)"
expect "the old term's last action came before the new term's first" [ "$old_last" -lt "$fo1" ]
expect "handover within 1000 ms of SIGTERM (watching follower, no lease-duration wait)" [ "$fo1" -lt 1000 ]
expect "the new token is higher" [ "$(rj '.new_token // 0')" -gt "$old_token" ]

# --- round 2: SIGTERM while cut off: no release possible
leader="$new"; wait_acting "$leader"
old="$leader"; others=(); for n in a b c; do [ "$n" = "$old" ] && continue; alive "$n" && others+=("$n"); done
wait_renew "$old" >/dev/null
read -r _ old_until _ <"$work/$old/state"
proxy_down "$old"
t_ns="$(now_ns)"; t="$(now_ms)"
agent_signal "$old" TERM
first_code="$(leader_code "$old")"
log "$old cut off, then SIGTERM; its first answer: $first_code"
agent_wait "$old"; rc=$?
exited=$(($(now_ms) - t))
new="$(wait_leader $((LD + 10)) "${others[@]}")" || new=""
expect "[cut off] its first answer after SIGTERM was not 200" [ "$first_code" != 200 ]
expect_eq "[cut off] it exited 0" "$rc" 0
expect "[cut off] it exited within --release-timeout (2 s): ${exited} ms" [ "$exited" -lt 2500 ]
expect "[cut off] it logged that it could not release" log_has "$old" '.msg|test("could not release")'
expect "[cut off] a follower took over" [ -n "$new" ]
started_ms="$(log_ms "$new" '^started leading$' "$t")"
expect "[cut off] the new term began after the old claim ended" [ "$old_until" -le "$started_ms" ]
report --fault-at "$t_ns" >/dev/null
fo2="$(rj '.failover_ms // 99999 | floor')"
log "failover after an unreleased SIGTERM: $fo2 ms (old claim valid until +$((old_until - t)) ms)"
expect "[cut off] failover <= lease-duration + retry-period" [ "$fo2" -le $((LD_MS + RP_MS)) ]

report
expect_no_overlap
FAILOVER_MS="$fo1" standard_figures "failover_unreleased_ms=$fo2"
summary
