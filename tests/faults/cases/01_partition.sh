#!/usr/bin/env bash
# Case 1: the leader is cut off from the API server for 20 s (scaled): first its proxy is
# disabled (connections refused/closed), then, on the next leader, a `timeout` toxic makes every
# request hang. Each time: the old leader reports not-leader before any follower acquires; the
# failover takes at most lease-duration + retry-period; the old leader re-enters as a follower.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 01_partition

for n in a b c; do agent_start "$n"; done
wait_until 20 ready a && wait_until 20 ready b && wait_until 20 ready c
for n in a b c; do app_start "$n" http; app_start "$n" file; done
leader="$(wait_leader $((3 * LD + 10)) a b c)" || { fail "no leader"; summary; exit 1; }
log "leader: $leader (token $(token_of "$leader"))"
wait_acting "$leader"

cut_off_s="$(scaled 20)"
faults=(down hang)
worst_failover=0
for round in 0 1; do
  kind="${faults[$round]}"
  old="$leader"
  others=(); for n in a b c; do [ "$n" = "$old" ] || others+=("$n"); done
  old_token="$(token_of "$old")"
  wait_renew "$old" >/dev/null
  read -r _ old_until _ <"$work/$old/state"
  t_fault="$(now_ms)"; t_fault_ns="$(now_ns)"
  if [ "$kind" = down ]; then
    proxy_down "$old"
    log "$old (token $old_token) cut off: proxy disabled for ${cut_off_s}s"
  else
    toxic_add "$old" hang timeout downstream '{"timeout":0}'
    toxic_add "$old" hangup timeout upstream '{"timeout":0}'
    log "$old (token $old_token) cut off: every request hangs (timeout toxic) for ${cut_off_s}s"
  fi
  new="$(wait_leader $((LD + RD + 10)) "${others[@]}")" || new=""
  sleep "$(awk -v c="$cut_off_s" -v e="$(($(now_ms) - t_fault))" 'BEGIN { s = c - e / 1000; print (s > 0 ? s : 0) }')"
  if [ "$kind" = down ]; then proxy_up "$old"; else toxic_del "$old" hang; toxic_del "$old" hangup; fi
  log "$old reconnected; new leader: ${new:-none}"
  expect "[$kind] a follower took over" [ -n "$new" ]
  [ -n "$new" ] || break
  stopped="$(log_ms "$old" '^stopped leading$' "$t_fault")"
  started="$(log_ms "$new" '^started leading$' "$t_fault")"
  log "$old stopped leading at +$((stopped - t_fault)) ms (claim was valid until +$((old_until - t_fault)) ms); $new started at +$((started - t_fault)) ms"
  expect "[$kind] the old leader said not-leader before the new one acquired" [ "$stopped" -lt "$started" ]
  expect "[$kind] the old leader's last claim ended before the new term began" [ "$old_until" -le "$started" ]
  expect "[$kind] with the safety margin to spare (claim end + ${MARGIN_MS} ms <= new term)" \
    [ $((old_until + MARGIN_MS - 20)) -le "$started" ]
  expect "[$kind] the old leader demoted within renew-deadline of the cut" [ $((stopped - t_fault)) -le $((RD_MS + 200)) ]
  expect "[$kind] the demotion reason is the renew deadline" \
    log_has "$old" '.msg=="stopped leading" and (.reason|test("renew deadline|validity"))'
  report --fault-at "$t_fault_ns" >/dev/null
  fo="$(rj '.failover_ms // 99999 | floor')"
  log "failover seen by the witness: ${fo} ms (old term's last action +$(rj '.old_last_ms // -1 | floor') ms)"
  expect "[$kind] failover <= lease-duration + retry-period" [ "$fo" -le $((LD_MS + RP_MS)) ]
  expect "[$kind] the new term's token is higher" [ "$(rj '.new_token // 0')" -gt "$old_token" ]
  [ "$fo" -gt "$worst_failover" ] && worst_failover="$fo"
  expect "[$kind] the old leader rejoins as a follower naming $new" \
    wait_until $((RP + 10)) sh -c "[ \"\$(curl -s -m 2 127.0.0.1:$(sport "$old")/v1/status | jq -r .leader)\" = '$new' ]"
  expect "[$kind] the old agent is still running" alive "$old"
  expect "[$kind] and answers 503" not_leader "$old"
  leader="$new"
  wait_acting "$leader"
done

report
expect_no_overlap
FAILOVER_MS="$worst_failover" standard_figures "failover_of=worst_of_2_rounds"
summary
