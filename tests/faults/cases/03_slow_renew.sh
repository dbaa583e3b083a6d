#!/usr/bin/env bash
# Case 3: slow but successful renews: the writes land at once, the responses come back late
# (toxiproxy `latency` toxic on the leader's downstream). The agents run with a request timeout
# far above the delays, so nothing but the agent's own rule bounds its claim.
# Round 1 (late success, then traffic dropped): responses delayed 0.75 x (renew-deadline -
# retry-period) (6 s at 15/10/2), short enough that a renew succeeds late; right after the first
# late success all traffic is dropped. The claim must be judged from the SEND time: validUntil =
# send + lease-duration - margin, i.e. (answer time - delay) + ..., not answer time + ... (a
# return-time rule would leave the old leader claiming into the new leader's term).
# Round 2 (responses delayed 8 s scaled, past the renew deadline): every renew's write lands but
# its answer misses the deadline; the leader demotes at renew-deadline after its last answered
# renew although its writes keep landing, and a follower takes over only after the writes stop.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 03_slow_renew
TIMINGS+=(--request-timeout "$((2 * LD))s")

start_election a b || { fail "no leader"; summary; exit 1; }

# --- round 1
old="$leader"; other=a; [ "$old" = a ] && other=b
delay_ms=$(( (RD_MS - RP_MS) * 3 / 4 ))
toxic_add "$old" slow latency downstream "{\"latency\":$delay_ms,\"jitter\":0}"
t_toxic="$(now_ms)"
log "[late success] responses to $old delayed ${delay_ms} ms"
late=""
deadline=$(($(now_ms) + 3 * RD_MS))
prev="$(cat "$work/$old/state")"
while [ "$(now_ms)" -lt "$deadline" ]; do
  cur="$(cat "$work/$old/state" 2>/dev/null)"
  if [ "$cur" != "$prev" ]; then
    seen="$(now_ms)"; prev="$cur"
    read -r role until _ <<<"$cur"
    [ "$role" = leader ] || break
    if [ $((until - seen)) -lt $((LD_MS - MARGIN_MS - delay_ms / 2)) ]; then late=1; break; fi
  fi
  sleep 0.01
done
t="$(now_ms)"; t_ns="$(now_ns)"
toxic_add "$old" drop_down timeout downstream '{"timeout":0}'
toxic_add "$old" drop_up timeout upstream '{"timeout":0}'
expect "[late success] a renew succeeded late" [ -n "$late" ]
if [ -n "$late" ]; then
  log "[late success] answer seen at +$((seen - t_toxic)) ms, validUntil = answer + $((until - seen)) ms (lease-duration - margin = $((LD_MS - MARGIN_MS)) ms); traffic dropped"
  expect "[late success] validUntil is judged from the send time (<= answer - delay + LD - margin + 150 ms)" \
    [ $((until - seen)) -le $((LD_MS - MARGIN_MS - delay_ms + 150)) ]
fi
new="$(wait_leader $((2 * LD + 10)) "$other")" || new=""
started="$(log_ms "${new:-$other}" '^started leading$' "$t")"
log "[late success] $new leads at +$((started - t)) ms after the drop (token $(token_of "${new:-$other}"))"
expect "[late success] a follower took over" [ -n "$new" ]
expect "[late success] after the old leader's claim ended" [ "${started:-0}" -ge "${until:-0}" ]
expect "[late success] the old leader stepped down" log_has "$old" '.msg=="stopped leading"'
report --fault-at "$t_ns" >/dev/null
fo1="$(rj '.failover_ms // 99999 | floor')"
for x in slow drop_down drop_up; do toxic_del "$old" "$x"; done
leader="$new"
wait_acting "$leader"

# --- round 2
old="$leader"; other=a; [ "$old" = a ] && other=b
delay2_ms="$(awk -v s="$(scaled 8)" 'BEGIN { printf "%d", s * 1000 }')"
wait_renew "$old" >/dev/null
read -r _ until2 _ <"$work/$old/state"
t="$(now_ms)"; t_ns="$(now_ns)"
toxic_add "$old" slow latency downstream "{\"latency\":$delay2_ms,\"jitter\":0}"
log "[past the deadline] responses to $old delayed ${delay2_ms} ms (renew deadline ${RD_MS} ms)"
expect "[past the deadline] the leader stepped down" wait_until $((RD + 5)) log_has "$old" '.msg=="stopped leading" and (.reason|test("renew deadline"))'
stopped="$(log_ms "$old" '^stopped leading$' "$t")"
log "[past the deadline] $old stepped down at +$((stopped - t)) ms"
expect "[past the deadline] at renew-deadline after its last answered renew" [ $((stopped - t)) -le $((RD_MS + 200)) ]
landed="$(kube_api "$(lease_path)" | jq -r .spec.holderIdentity)"
expect_eq "[past the deadline] its writes had landed (the Lease still names it)" "$landed" "$old"
new="$(wait_leader $((3 * LD + 10)) "$other")" || new=""
started="$(log_ms "${new:-$other}" '^started leading$' "$t")"
log "[past the deadline] $new leads at +$((started - t)) ms"
expect "[past the deadline] a follower took over" [ -n "$new" ]
expect "[past the deadline] after the old claim ended" [ "${started:-0}" -ge "$until2" ]
report --fault-at "$t_ns" >/dev/null
fo2="$(rj '.failover_ms // 99999 | floor')"
toxic_del "$old" slow
expect "fencing tokens of all terms strictly increase" tokens_increase a b
report
expect_no_overlap
FAILOVER_MS="$fo1/$fo2" standard_figures "delay_late_success_ms=$delay_ms" "delay_past_deadline_ms=$delay2_ms" \
  "validUntil_minus_answer_ms=$((until - seen))"
summary
