#!/usr/bin/env bash
# Case 2: API requests hang (toxiproxy `timeout` toxic: no byte comes back) vs connections reset
# (`reset_peer`). The agents run with a request timeout far above the renew deadline, so only the
# agent's own clamp (a leader's request never outlives renew-deadline / its validity) can end a
# hung renew in time. Checks, for each: the hung renew ends (counted as code="timeout" in
# leasehold_api_requests_total) no later than last-successful-renew + renew-deadline, the leader
# demotes at that moment (not at send + request-timeout), resets are retried every retry period,
# and a follower takes over without overlap.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 02_hang_vs_reset
BIG_RT=$((2 * LD))
TIMINGS+=(--request-timeout "${BIG_RT}s")   # the later flag wins

for n in a b; do agent_start "$n"; done
for n in a b; do wait_until 20 ready "$n"; app_start "$n" http; app_start "$n" file; done
leader="$(wait_leader $((3 * LD + 10)) a b)" || { fail "no leader"; summary; exit 1; }
log "leader: $leader (token $(token_of "$leader")); request timeout ${BIG_RT}s > renew deadline ${RD}s"
wait_acting "$leader"

fo_list=()
for kind in hang reset; do
  old="$leader"; other=a; [ "$old" = a ] && other=b
  timeouts_before="$(api_requests "$old" "" timeout)"
  wait_renew "$old" >/dev/null
  t_renew="$(now_ms)"; t_ns="$(now_ns)"
  if [ "$kind" = hang ]; then
    toxic_add "$old" hang_down timeout downstream '{"timeout":0}'
    toxic_add "$old" hang_up timeout upstream '{"timeout":0}'
  else
    toxic_add "$old" reset reset_peer upstream '{"timeout":0}'
  fi
  log "[$kind] on $old's connection, right after a renew"
  wait_until $((RD + 5)) log_has "$old" '.msg=="stopped leading"' 
  stopped="$(log_ms "$old" '^stopped leading$' "$t_renew")"
  new="$(wait_leader $((LD + 10)) "$other")" || new=""
  started="$(log_ms "$new" '^started leading$' "$t_renew")"
  if [ "$kind" = hang ]; then
    ended="$(jq -R -r 'fromjson? | select(.msg=="lease request failed" and .error=="timeout" and .operation=="renew") | .ts' \
      "$work/$old.log" | while read -r ts; do ms="$(date -d "$ts" +%s%3N)"; [ "$ms" -ge "$t_renew" ] && { echo "$ms"; break; }; done)"
    timeouts=$(( $(api_requests "$old" "" timeout) - timeouts_before ))
    log "[hang] the hung renew ended at +$((ended - t_renew)) ms, demoted at +$((stopped - t_renew)) ms; timeouts counted: $timeouts"
    expect "[hang] a renew timed out (code=\"timeout\" counted)" [ "$timeouts" -ge 1 ]
    expect "[hang] the hung renew ended by last-renew + renew-deadline, not at send + ${BIG_RT}s" \
      [ -n "$ended" -a $((ended - t_renew)) -le $((RD_MS + 150)) ]
    hang_demote=$((stopped - t_renew))
  else
    resets="$(log_count "$old" '.msg=="lease request failed" and .error=="network"')"
    log "[reset] demoted at +$((stopped - t_renew)) ms after $resets failed requests"
    expect "[reset] the resets were retried (>= $((RD / RP - 1)) failures before the deadline)" [ "$resets" -ge $((RD / RP - 1)) ]
    reset_demote=$((stopped - t_renew))
  fi
  expect "[$kind] demoted at renew-deadline after the last renew (+$((stopped - t_renew)) ms)" \
    [ $((stopped - t_renew)) -le $((RD_MS + 150)) -a $((stopped - t_renew)) -ge $((RD_MS - 400)) ]
  expect "[$kind] a follower took over" [ -n "$new" ]
  expect "[$kind] after the old leader stopped" [ "${started:-0}" -gt "$stopped" ]
  expect "[$kind] the old agent is still running" alive "$old"
  report --fault-at "$t_ns" >/dev/null
  fo_list+=("$(rj '.failover_ms // 99999 | floor')")
  if [ "$kind" = hang ]; then toxic_del "$old" hang_down; toxic_del "$old" hang_up; else toxic_del "$old" reset; fi
  leader="$new"
  expect "[$kind] the old leader rejoins as a follower" \
    wait_until $((RP + 10)) sh -c "[ \"\$(curl -s -m 2 127.0.0.1:$(sport "$old")/v1/status | jq -r .leader)\" = '$new' ]"
  wait_acting "$leader"
done

report
expect_no_overlap
FAILOVER_MS="${fo_list[0]}/${fo_list[1]}" standard_figures "demote_after_last_renew_ms_hang=$hang_demote" \
  "demote_after_last_renew_ms_reset=$reset_demote"
summary
