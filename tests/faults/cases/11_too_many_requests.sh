#!/usr/bin/env bash
# Case 11: 429 Too Many Requests with Retry-After: 30. toxiproxy cannot fabricate HTTP answers,
# so each agent talks to the API server through faultproxy.py (TLS terminated with the API
# server's own certificate; it answers chosen requests itself). Round 1: every request of the
# leader gets 429 + Retry-After: 30: its renew gives up, it demotes at renew-deadline after its
# last renew (Retry-After never holds leadership past it), a follower takes over, and its request
# rate stays bounded (it honours Retry-After: no hammering); once the 429s stop it follows the
# new leader. Round 2: every agent gets 429s for 2 lease durations (an overloaded API server):
# the leader demotes, nobody leads meanwhile, every agent honours Retry-After (followers' polls,
# claims and watch reconnects too, each up to its own bound), and a leader is back within
# lease-duration + retry-period + 1 s of the end.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 11_too_many_requests
TOO_MANY='{"status":429,"retry_after":30}'
# The same, and every watch stream running through the proxy broken as it begins.
TOO_MANY_WATCH_BROKEN='{"status":429,"retry_after":30,"drop":"watch=true"}'
WATCH='(.path | test("watch=true"))'

for n in a b c; do faultproxy_start "$n" || fail "faultproxy $n"; agent_start "$n"; done
for n in a b c; do wait_until 20 ready "$n"; app_start "$n" http; app_start "$n" file; done
leader="$(wait_leader $((3 * LD + 10)) a b c)" || { fail "no leader"; summary; exit 1; }
wait_acting "$leader"

# --- round 1: the leader alone
old="$leader"
others=(); for n in a b c; do [ "$n" = "$old" ] || others+=("$n"); done
wait_renew "$old" >/dev/null
read -r _ old_until _ <"$work/$old/state"
t="$(now_ms)"; t_ns="$(now_ns)"
faultproxy_mode "$old" "$TOO_MANY"
log "[leader] every request of $old answered 429, Retry-After: 30"
expect "[leader] it demoted" wait_until $((RD + 5)) log_has "$old" '.msg=="stopped leading"'
stopped="$(log_ms "$old" '^stopped leading$' "$t")"
new="$(wait_leader $((LD + 10)) "${others[@]}")" || new=""
started="$(log_ms "${new:-a}" '^started leading$' "$t")"
window_s=$((2 * LD))
sleep "$(awk -v w="$window_s" -v e="$(($(now_ms) - t))" 'BEGIN { s = w - e / 1000; print (s > 0 ? s : 0) }')"
n_req="$(fp_requests "$old" "$t_ns" "$(now_ns)")"
n_429="$(log_count "$old" '.error=="too_many_requests"')"
faultproxy_mode "$old" '{"status":0}'
t_clear="$(now_ms)"
log "[leader] demoted at +$((stopped - t)) ms (reason: $(jq -R -r 'fromjson? | select(.msg=="stopped leading") | .reason' "$work/$old.log" | tail -1)); $new leads at +$((started - t)) ms; $old sent $n_req requests in ${window_s}s"
expect "[leader] within renew-deadline of its last renew (+$((stopped - t)) ms)" [ $((stopped - t)) -le $((RD_MS + 200)) ]
expect "[leader] the 429s were seen (logged as too_many_requests)" [ "$n_429" -ge 1 ]
expect "[leader] its request rate stayed bounded (<= 1 per retry period: $n_req in ${window_s}s)" [ "$n_req" -le $((window_s / RP)) ]
expect "[leader] a follower took over" [ -n "$new" ]
expect "[leader] after the old claim ended" [ "${started:-0}" -ge "$old_until" ]
expect "[leader] once the 429s stop it follows $new (re-enters as a follower)" \
  wait_until $((LD + 10)) sh -c "[ \"\$(curl -s -m 2 127.0.0.1:$(sport "$old")/v1/status | jq -r .leader)\" = '$new' ]"
log "[leader] $old names $new $(($(now_ms) - t_clear)) ms after the 429s stopped"
report --fault-at "$t_ns" >/dev/null
fo1="$(rj '.failover_ms // 99999 | floor')"
leader="$new"; wait_acting "$leader"

# --- round 2: everyone
old="$leader"
wait_renew "$old" >/dev/null
t="$(now_ms)"; t_ns="$(now_ns)"
# The watch streams break as the overload begins, so every agent has to poll and to reconnect its
# watch while the 429s last (a stream may break at any time; here it always does).
for n in a b c; do faultproxy_mode "$n" "$TOO_MANY_WATCH_BROKEN"; done
log "[all] every request of every agent answered 429, Retry-After: 30, for $((2 * LD)) s; watch streams broken"
expect "[all] the leader demoted" wait_until $((RD + 5)) log_has "$old" '.msg=="stopped leading" and (.reason|test("renew deadline"))'
sleep "$(awk -v w="$((2 * LD))" -v e="$(($(now_ms) - t))" 'BEGIN { s = w - e / 1000; print (s > 0 ? s : 0) }')"
expect_eq "[all] nobody leads during the overload" "$(leaders_among a b c | wc -l)" 0
t_end_ns="$(now_ns)"
for n in a b c; do faultproxy_mode "$n" '{"status":0}'; done
t_clear="$(now_ms)"
for n in a b c; do
  expect "[all] agent $n's watch reconnected and met a 429" \
    [ "$(fp_count "$n" "$WATCH and .injected == 429" "$t_ns" "$t_end_ns")" -ge 1 ]
done
# Retry-After: 30 is honoured by the follower's polls and claims up to one lease duration, and by
# watch reconnects up to the watch's 10 s backoff cap; the leader's renew waits for it outright.
# Per window of W s: polls and claims <= ceil(W / LD) + 1 (+1 for the leader's renew in
# flight), watch requests <= ceil(W / 10) + 1. Polling every retry period would exceed both.
window=$((2 * LD))
max_rest=$(((window + LD - 1) / LD + 2)); max_watch=$(((window + 9) / 10 + 1))
rates=""
for n in a b c; do
  r="$(fp_requests "$n" "$t_ns" "$t_end_ns")"; rates="$rates$n:$r "
  w="$(fp_count "$n" "$WATCH" "$t_ns" "$t_end_ns")"
  expect "[all] agent $n honoured Retry-After: $((r - w)) polls/claims/renewals in $window s (<= $max_rest)" \
    [ $((r - w)) -le "$max_rest" ]
  expect "[all] agent $n honoured Retry-After: $w watch requests in $window s (<= $max_watch)" [ "$w" -le "$max_watch" ]
done
log "[all] requests during the overload: $rates"
new="$(wait_leader $((LD + RP + 10)) a b c)" || new=""
back=$(($(now_ms) - t_clear))
log "[all] leader again: ${new:-none}, $back ms after the 429s stopped"
expect "[all] a leader within lease-duration + retry-period + 1 s after the overload ($back ms)" \
  [ -n "$new" -a "$back" -le $((LD_MS + RP_MS + 1000)) ]
# Retry-After: 30 delays a watch reconnect by at most the 10 s backoff cap (+ 50% jitter): each
# agent's watch is back within 15 s (+1 s) of its last refused watch request, not 30 s.
at_most() { [ "$1" != none ] && [ "$1" -le "$2" ]; }
watch_back() { [ -n "$(fp_times "$1" "$WATCH and .injected == 0" "$t_end_ns")" ]; }
for n in a b c; do
  wait_until 20 watch_back "$n"
  refused="$(fp_times "$n" "$WATCH and .injected == 429" "$t_ns" | tail -1)"
  back_ns="$(fp_times "$n" "$WATCH and .injected == 0" "$t_end_ns" | head -1)"
  gap_ms=none; [ -n "$refused" ] && [ -n "$back_ns" ] && gap_ms=$(((back_ns - refused) / 1000000))
  expect "[all] agent $n's watch reconnected $gap_ms ms after its last 429 (<= 16000)" \
    at_most "$gap_ms" 16000
done
expect "fencing tokens of all terms strictly increase" tokens_increase a b c
report
expect_no_overlap
FAILOVER_MS="$fo1" standard_figures "leader_again_after_overload_ms=$back" "requests_during_overload=${rates// /,}"
summary
