#!/usr/bin/env bash
# abuse_test: one leasehold agent, leading, against a real kube-apiserver, while its status
# listener is abused over loopback: 2000 idle connections (over the cap of 512), 520 event streams
# and 300 long polls (over the cap of 256 held requests; the places of those that close must come
# back at once), 100 slowloris clients, a 100 KB header, 10 MB bodies (with Content-Length and
# chunked), 10,000 malformed or random requests. The listener must stay answerable (or come back within a bounded time), cut
# slow clients off within its read timeout, refuse oversized requests, not crash or grow without
# bound, and the agent must keep leading throughout: same fencing token, no "stopped leading".
# Uses the binary ${LEASEHOLD:-build/leasehold} and the control plane of tests/controlplane/up.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/tests/lib/agents.sh"
agents_suite abuse_test

# Short timings, as agent_test.sh uses them: leadership problems would show within seconds.
TIMINGS=(--lease-duration 4s --renew-deadline 3s --retry-period 1s --safety-margin 500ms)
READ_TIMEOUT_S=10  # HttpLimits::read_timeout: a request must arrive whole within this
# Allowed RSS growth over the whole test. An ASan build keeps freed memory in its quarantine
# (256 MB by default), so give it ABUSE_RSS_LIMIT_MB=300 or ASAN_OPTIONS=quarantine_size_mb=16.
rss_limit_mb="${ABUSE_RSS_LIMIT_MB:-50}"

elapsed_s() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

# The abusive clients (python3, sockets on 127.0.0.1 only; every loop bounded in count and time).
abuse() { python3 "$root/tests/e2e/abuse_clients.py" "$@"; }
# field JSON KEY: one field of a JSON object.
field() { printf '%s' "$1" | jq -r ".$2"; }

ns="$(kube_new_namespace abuse)"

agent_spawn abuse-a --election abuse --namespace "$ns" --kubeconfig "$KUBECONFIG" "${TIMINGS[@]}"
agent_pid="$(pid_of abuse-a)"
sp="$(sport abuse-a)"
op="$(oport abuse-a)"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$agent_pid/status" 2>/dev/null; }
token() { status_field abuse-a fencingToken; }
# leader_within SECONDS: /v1/leader answers 200 within SECONDS (polling); prints how long it took.
leader_within() {
  local t0; t0="$(now_ms)"
  wait_until "$1" is_leader abuse-a || return 1
  elapsed_s "$t0"
}

expect "the agent leads (after one lease duration of absence)" wait_until 30 is_leader abuse-a
token_before="$(token)"
expect_match "it has a fencing token" "$token_before" '^[0-9]+$'
sleep 2  # settle: listeners, watch, first renewals
rss_before="$(rss_kb)"
echo "  agent pid $agent_pid, status port $sp, fencing token $token_before, VmRSS ${rss_before} kB"

echo "--- 2000 idle connections (the listener's cap is 512)"
abuse idle "$sp" 2000 30 >"$work/idle.json" &
track_pid "$!"
idle_pid=$!
sleep 1
t0="$(now_ms)"
expect_eq "the ops listener is not affected: /healthz 200 at once" \
  "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "127.0.0.1:$op/healthz")" 200
if took="$(leader_within 15)"; then
  pass "/v1/leader answers 200 again within 15 s while 2000 idle connections are held (after ${took} s)"
else
  fail "/v1/leader did not answer 200 within 15 s while 2000 idle connections are held"
fi
wait "$idle_pid"
idle="$(cat "$work/idle.json")"
echo "  idle clients: $idle"
expect "the agent closed the connections over the cap at once" \
  [ "$(field "$idle" closed_at_once)" -ge 1000 ]
expect "and the idle ones under the cap within the read timeout (+2 s)" \
  awk -v t="$(field "$idle" closed_later_last_s)" -v max="$((READ_TIMEOUT_S + 3))" 'BEGIN { exit !(t != "null" && t <= max) }'
expect "the agent is alive" alive abuse-a

echo "--- 520 event streams, then 300 long polls (held requests are capped at 256 of the 512)"
held_of() { printf '%s' "$1" | jq '(.statuses["200"] // 0) + .waiting'; }
refused_metric() { metric abuse-a 'leasehold_http_refused_total\{election="[^"]*",listener="status",reason="(held|connections)"\}'; }
refused_before="$(refused_metric)"
streams="$(abuse hold "$sp" 520 /v1/events 3)"
echo "  520 streams: $streams"
expect_eq "the leader's own question is answered meanwhile: /v1/leader 200" "$(field "$streams" leader_status)" 200
expect_eq "256 streams are served" "$(field "$streams" 'statuses["200"]')" 256
# Refused: answered 503, or (in the burst, over the 512 connections) closed at once.
refused_of() { printf '%s' "$1" | jq '(.statuses["503"] // 0) + .closed_without_answer'; }
expect_eq "the other 264 are refused at once" "$(refused_of "$streams")" 264
refused_now="$(refused_metric)"
expect "the refusals are counted (leasehold_http_refused_total: $refused_before -> $refused_now)" \
  [ "$((refused_now - refused_before))" -eq 264 ]
sleep 0.5  # the clients have closed: their places must be free now, not after a ping or a wait
again="$(abuse hold "$sp" 256 /v1/events 3)"
echo "  256 streams right after: $again"
expect_eq "the closed streams' places are free at once: 256 new streams served" "$(field "$again" 'statuses["200"]')" 256
rev="$(status_field abuse-a revision)"
polls="$(abuse hold "$sp" 300 "/v1/leader?wait=120s&after=$rev" 3)"
echo "  300 long polls: $polls"
expect_eq "/v1/leader answered meanwhile" "$(field "$polls" leader_status)" 200
expect_eq "256 long polls wait" "$(held_of "$polls")" 256
expect_eq "the other 44 are refused at once" "$(refused_of "$polls")" 44
sleep 0.5
again="$(abuse hold "$sp" 256 "/v1/leader?wait=120s&after=$rev" 3)"
echo "  256 long polls right after: $again"
expect_eq "the closed long polls' places are free at once (not after their 120 s): 256 wait again" \
  "$(held_of "$again")" 256
expect "the agent is alive" alive abuse-a

echo "--- 100 slowloris clients (one header byte per second)"
abuse slowloris "$sp" 100 $((READ_TIMEOUT_S + 10)) >"$work/slow.json" &
slow_pid=$!
track_pid "$slow_pid"
sleep 2
expect "/v1/leader answers 200 at once meanwhile" leader_within 2
wait "$slow_pid"
slow="$(cat "$work/slow.json")"
echo "  slowloris: $slow"
expect_eq "every slowloris client was cut off" "$(field "$slow" cut_off)" 100
expect "within the read timeout (${READ_TIMEOUT_S} s, +2 s)" \
  awk -v t="$(field "$slow" last_cut_s)" -v max="$((READ_TIMEOUT_S + 2))" 'BEGIN { exit !(t != "null" && t <= max) }'

echo "--- oversized requests"
big="$(abuse big-header "$sp" 100000)"
echo "  100 KB header: $big"
expect_eq "a 100 KB header gets 431" "$(field "$big" status)" 431
for mode in length chunked; do
  body="$(abuse big-body "$sp" $((10 * 1024 * 1024)) "$mode")"
  echo "  10 MB body ($mode): $body"
  expect "a 10 MB body ($mode) gets 413 or the connection closed" \
    sh -c "[ '$(field "$body" status)' = 413 ] || [ '$(field "$body" ended)' != timeout ]"
done
expect "/v1/leader still 200" leader_within 2

echo "--- 10,000 malformed and random requests"
seed="${ABUSE_SEED:-$(date +%s)}"
garbage="$(abuse garbage "$sp" 10000 "$seed")"
echo "  garbage: $garbage"
expect "the agent is alive" alive abuse-a
expect_eq "no connection left hanging (neither answered nor closed within 5 s)" "$(field "$garbage" hung)" 0
expect_eq "no answer was a 5xx" "$(printf '%s' "$garbage" | jq '[.statuses | to_entries[] | select(.key | startswith("5")) | .value] | add // 0')" 0
expect "/v1/leader answers 200" leader_within 5

echo "--- afterwards"
sleep 1
rss_after="$(rss_kb)"
echo "  VmRSS before ${rss_before} kB, after ${rss_after} kB (growth $(((rss_after - rss_before) / 1024)) MB)"
expect "RSS grew by less than ${rss_limit_mb} MB" [ "$((rss_after - rss_before))" -lt $((rss_limit_mb * 1024)) ]
expect "the agent is alive" alive abuse-a
expect "it still leads: /v1/leader 200" leader_within 5
expect_eq "with the same fencing token (no new term)" "$(token)" "$token_before"
expect_fail "its log has no \"stopped leading\"" grep -q 'stopped leading' "$work/abuse-a.log"
expect_fail "nor a sanitizer report" grep -qaE 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' "$work/abuse-a.log"

kill -TERM "$agent_pid"
wait "$agent_pid"
expect_eq "SIGTERM: exits 0" "$?" 0
agent_pid=""
summary
