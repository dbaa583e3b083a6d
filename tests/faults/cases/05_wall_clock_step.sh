#!/usr/bin/env bash
# Case 5: the wall clock stepped on one node (libfaketime with DONT_FAKE_MONOTONIC=1: only
# CLOCK_REALTIME moves; the offset is re-read from a file, so the step happens while the agent
# runs). The app of that "pod" reads the state file against the same stepped clock (they share
# the node's clock); the HTTP app is unaffected by construction.
#  1. two followers stepped, one +1h, one back (-1h, or as far back as the API server's
#     certificate allows: it is valid from control-plane start - 1h, and a clock before that
#     fails TLS): no spurious failover over two lease durations;
#  2. the leader stepped +1h, then back to the real time (a -1h step): it keeps leading, same
#     term, its file-reading app keeps acting throughout;
#  3. the stepped leader cut off: a (stepped) follower takes over after about a lease duration,
#     neither early nor late.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 05_wall_clock_step
[ -n "$FAKETIME_LIB" ] || { fail "libfaketime not installed (apt-get install faketime)"; summary; exit 1; }
not_before="$(date -d "$(openssl x509 -in "$APISERVER_CA" -noout -startdate | cut -d= -f2)" +%s)"
back_s=$(( $(date +%s) - not_before - 120 )); [ "$back_s" -gt 3600 ] && back_s=3600
BACK="-${back_s}s"

for n in a b c; do faketime_agent_start "$n"; done
for n in a b c; do wait_until 20 ready "$n"; app_start "$n" http; app_start "$n" file; done
leader="$(wait_leader $((3 * LD + 10)) a b c)" || { fail "no leader"; summary; exit 1; }
wait_acting "$leader"
token="$(token_of "$leader")"
f=(); for n in a b c; do [ "$n" = "$leader" ] || f+=("$n"); done

# --- 1. followers stepped
t_ns="$(now_ns)"
clock_step "${f[0]}" +1h; clock_step "${f[1]}" "$BACK"
log "[followers] ${f[0]}'s wall clock +1h, ${f[1]}'s ${BACK}; leader $leader (token $token)"
sleep $((2 * LD))
expect_eq "[followers] the same leader leads" "$(leaders_among a b c | tr '\n' ' ')" "$leader "
expect_eq "[followers] in the same term" "$(token_of "$leader")" "$token"
expect "[followers] nobody else started a term" [ "$(log_count "${f[0]}" '.msg=="started leading"')$(log_count "${f[1]}" '.msg=="started leading"')" = 00 ]
report --from-ns "$t_ns" >/dev/null
expect "[followers] the leader's apps acted throughout (longest gap $(rj '.longest_gap_ms|floor') ms)" [ "$(rj '.longest_gap_ms|floor')" -lt 500 ]

# --- 2. the leader stepped forward, then back
t_ns="$(now_ns)"
clock_step "$leader" +1h
log "[leader] $leader's wall clock +1h"
sleep "$LD"
read -r _ until_fwd _ <"$work/$leader/state"
clock_step "$leader" +0
log "[leader] $leader's wall clock back to real time (a -1h step); its state file said validUntil $(date -u -d "@$((until_fwd / 1000))" +%H:%M:%S) (real now $(date -u +%H:%M:%S))"
sleep "$LD"
expect_eq "[leader] it still leads" "$(leaders_among a b c | tr '\n' ' ')" "$leader "
expect_eq "[leader] in the same term" "$(token_of "$leader")" "$token"
expect "[leader] it never demoted" [ "$(log_count "$leader" '.msg=="stopped leading"')" = 0 ]
report --from-ns "$t_ns" >/dev/null
file_acts="$(jq -s --argjson a "$t_ns" --arg c "$leader" '[.[] | select(.t >= $a and .candidate == $c and .mode == "file" and .accepted)] | length' "$WITNESS_LOG")"
expect "[leader] its file-reading app kept acting ($file_acts actions; longest gap $(rj '.longest_gap_ms|floor') ms)" \
  [ "$file_acts" -ge $((2 * LD * 10)) -a "$(rj '.longest_gap_ms|floor')" -lt 500 ]
clock_step "$leader" +1h
log "[leader] $leader's wall clock +1h again"

# --- 3. the stepped leader cut off
wait_renew "$leader" >/dev/null
t_ns="$(now_ns)"
proxy_down "$leader"
log "[cut off] $leader cut off"
new="$(wait_leader $((2 * LD + 10)) "${f[@]}")" || new=""
report --fault-at "$t_ns" >/dev/null
fo="$(rj '.failover_ms // 99999 | floor')"
log "[cut off] $new leads, failover $fo ms (old term's last claim at +$(rj '.old_last_ms // -1 | floor') ms)"
proxy_up "$leader"
expect "[cut off] a stepped follower took over" [ -n "$new" ]
expect "[cut off] not early: failover >= lease-duration - retry-period ($fo ms)" [ "$fo" -ge $((LD_MS - RP_MS - 100)) ]
expect "[cut off] not late: failover <= lease-duration + retry-period" [ "$fo" -le $((LD_MS + RP_MS)) ]
expect "[cut off] the old term's last claim came before the new term's first" \
  [ "$(rj '.old_last_ms // 0 | floor')" -lt "$fo" ]
report
expect_no_overlap
FAILOVER_MS="$fo" standard_figures "back_step_s=$back_s"
summary
