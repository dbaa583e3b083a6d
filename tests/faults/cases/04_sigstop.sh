#!/usr/bin/env bash
# Case 4: SIGSTOP the leader's agent for 30 s (scaled), then SIGCONT. While it is frozen, its app
# gets no "leader" (HTTP requests hang until the app's timeout; the state file's deadline passes);
# a follower takes over only after the old claim ran out. After SIGCONT the very first answer it
# serves (a request queued during the freeze) is 503, it demotes ("lease validity ran out"),
# rejoins as a follower, and the witness rejects an action carrying its old token (an app that
# checked just before the freeze and acts after it: only fencing can catch that).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 04_sigstop

start_election a b || { fail "no leader"; summary; exit 1; }
old="$leader"; other=a; [ "$old" = a ] && other=b
old_token="$(token_of "$old")"
read -r _ old_until _ <"$work/$old/state"
pause_s="$(scaled 30)"
t="$(now_ms)"; t_ns="$(now_ns)"
agent_signal "$old" STOP
log "SIGSTOP $old (token $old_token, claim valid until +$((old_until - t)) ms) for ${pause_s}s"
new="$(wait_leader $((LD + 10)) "$other")" || new=""
started="$(log_ms "$new" '^started leading$' "$t")"
log "$new started leading at +$((started - t)) ms (token $(token_of "$new"))"
# A request sent to the frozen agent now is answered only after SIGCONT: the first thing it serves.
curl -s -o "$work/queued.body" -w '%{http_code}' --max-time 60 "127.0.0.1:$(sport "$old")/v1/leader" >"$work/queued.code" &
queued=$!
sleep "$(awk -v p="$pause_s" -v e="$(($(now_ms) - t))" 'BEGIN { s = p - e / 1000; print (s > 0 ? s : 0) }')"
agent_signal "$old" CONT
t_cont="$(now_ms)"
wait "$queued"
log "SIGCONT $old after $((t_cont - t)) ms; the queued request got $(cat "$work/queued.code")"
expect "a follower took over during the freeze" [ -n "$new" ]
expect "the new term began after the frozen leader's claim ended" [ "${started:-0}" -ge "$old_until" ]
expect_eq "the first answer after SIGCONT (queued during the freeze) is 503" "$(cat "$work/queued.code")" 503
expect_eq "and its body says isLeader false" "$(jq -r .isLeader "$work/queued.body")" false
expect "the state file fails the reader check" sh -c "! { read -r r u _ <'$work/$old/state'; [ \"\$r\" = leader ] && [ \$(date +%s%3N) -lt \$u ]; }"
expect "it logs that it stopped leading" wait_until 5 log_has "$old" '.msg=="stopped leading"'
expect "it rejoins as a follower naming $new" \
  wait_until $((RP + 5)) sh -c "[ \"\$(curl -s -m 2 127.0.0.1:$(sport "$old")/v1/status | jq -r .leader)\" = '$new' ]"
# Its app never got "leader" after the freeze began + the claim's end.
late="$(jq -s --argjson u "$old_until" '[.[] | select(.leader and .t > ($u * 1000000))] | length' "$work/$old.app.jsonl")"
expect_eq "its apps got no 'leader' after its claim's end" "$late" 0
code="$(witness_post "$old" "$old_token" '"probe":true')"
expect_eq "the witness rejects an action with its old token (409)" "$code" 409
expect "it never led again with the old token" [ "$(log_count "$old" '.msg=="started leading"')" = 1 ]
report --fault-at "$t_ns"
expect_no_overlap
expect "failover <= lease-duration + retry-period" [ "$(rj '.failover_ms // 99999 | floor')" -le $((LD_MS + RP_MS)) ]
standard_figures "pause_s=$pause_s" "stale_probe=$code"
summary
