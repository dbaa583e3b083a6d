#!/usr/bin/env bash
# Case 12: the API server unreachable for every agent (all toxiproxy proxies disabled).
# Short outage, started right after a renew, lasting renew-deadline - 1.5 x retry-period (7 s at
# 15/10/2; the safety notes' "8 s" is exactly renew-deadline - retry-period, where the first
# retry after the outage lands on the deadline itself: see docs/reliability.md): leadership is
# kept, same term, no demotion. Long outage (40 s scaled): the leader steps down at its renew
# deadline, nobody leads while the API server is away, and after it is back the agents re-enter
# the election and one leads again (a new term, a higher token) within a lease duration + retry
# period; every agent keeps running. Last round: the kube-apiserver process itself is stopped
# (SIGTERM) and started again with the same flags: same expectations as a long outage.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 12_apiserver_down

start_election a b c || { fail "no leader"; summary; exit 1; }
t0_ns="$(now_ns)"

# --- short outage
short_ms=$((RD_MS - 3 * RP_MS / 2))
token="$(token_of "$leader")"
wait_renew "$leader" >/dev/null
t="$(now_ms)"
proxies_all false
log "API server unreachable until ${short_ms} ms after the leader's last renew (leader $leader, token $token)"
sleep "$(awk -v s="$short_ms" -v e="$(($(now_ms) - t))" 'BEGIN { print (s - e) / 1000 }')"
proxies_all true
log "API server reachable again"
sleep $((2 * RP))
expect_eq "[short] the same leader leads" "$(leaders_among a b c | tr '\n' ' ')" "$leader "
expect_eq "[short] in the same term" "$(token_of "$leader")" "$token"
expect "[short] it never demoted" [ "$(log_count "$leader" '.msg=="stopped leading"')" = 0 ]
report --from-ns "$t0_ns" >/dev/null
short_gap="$(rj '.longest_gap_ms|floor')"
expect "[short] its app kept acting (longest gap ${short_gap} ms)" [ "$short_gap" -lt 500 ]

# --- long outage and the API server process restarted
long_s="$(scaled 40)"
fo_list=(); back_list=()
for kind in long restart; do
  old="$leader"; old_token="$(token_of "$old")"
  wait_renew "$old" >/dev/null
  read -r _ old_until _ <"$work/$old/state"
  t="$(now_ms)"; t_ns="$(now_ns)"
  if [ "$kind" = long ]; then
    proxies_all false
    log "[long] API server unreachable for ${long_s}s (leader $old, token $old_token)"
    sleep "$long_s"
    proxies_all true
  else
    apiserver_stop
    log "[restart] kube-apiserver stopped after $(($(now_ms) - t)) ms; starting it again"
    apiserver_start || fail "[restart] kube-apiserver did not come back"
  fi
  t_back="$(now_ms)"
  log "[$kind] API server back after $((t_back - t)) ms"
  stopped="$(log_ms "$old" '^stopped leading$' "$t")"
  expect "[$kind] the leader stepped down" [ -n "$stopped" ]
  if [ -n "$stopped" ] && [ $((t_back - t)) -gt "$RD_MS" ]; then
    expect "[$kind] at its renew deadline (+$((stopped - t)) ms)" [ $((stopped - t)) -le $((RD_MS + 200)) ]
  fi
  new="$(wait_leader $((LD + RP + 10)) a b c)" || new=""
  back=$(($(now_ms) - t_back))
  started="$(log_ms "${new:-a}" '^started leading$' "$t")"
  log "[$kind] leader again: ${new:-none} $back ms after the API server was back (token $(token_of "${new:-a}"))"
  expect "[$kind] a leader again after the outage" [ -n "$new" ]
  expect "[$kind] within lease-duration + retry-period + 1 s of the API server being back" [ "$back" -le $((LD_MS + RP_MS + 1000)) ]
  expect "[$kind] the new term began after the old claim ended" [ "${started:-0}" -ge "$old_until" ]
  expect "[$kind] with a higher token" [ "$(token_of "${new:-a}")" -gt "$old_token" ]
  for n in a b c; do expect "[$kind] agent $n still running" alive "$n"; done
  report --fault-at "$t_ns" >/dev/null
  fo_list+=("$(rj '.failover_ms // 99999 | floor')"); back_list+=("$back")
  leader="$new"; [ -n "$leader" ] || break
  wait_acting "$leader"
done
report --from-ns "$t0_ns"
expect_no_overlap
FAILOVER_MS="$(IFS=/; echo "${fo_list[*]}")" standard_figures "short_outage_ms=$short_ms" \
  "short_outage_longest_gap_ms=$short_gap" "long_outage_s=$long_s" \
  "leader_again_after_back_ms=$(IFS=/; echo "${back_list[*]}")"
summary
