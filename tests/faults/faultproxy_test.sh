#!/usr/bin/env bash
# faultproxy_test: the fault proxy the fault cases rely on (tests/faults/faultproxy.py) does what
# its control port says, and survives many streams broken under it.
# - Requests pass through to the upstream; an injected status answers only the chosen verbs, with
#   Retry-After; every request is logged with what it got.
# - "drop" ends a running stream; "hold" swallows it from then on.
# - 100 rounds of four streams dropped while bytes flow and other requests go through: the proxy
#   answers every round. (The earlier proxy, which read and wrote one TLS connection from two
#   threads, failed this in 3 runs of 3, by SIGSEGV or a hang; it had died once in a fault case.)
# The upstream is tests/faults/stream_upstream.py, with a certificate made here for 127.0.0.1.
#   FAULTPROXY=path ...   the proxy script under test (default tests/faults/faultproxy.py)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FAULTPROXY="${FAULTPROXY:-$root/tests/faults/faultproxy.py}"
. "$root/tests/lib/suite.sh"
suite_begin faultproxy_test
ROUNDS="${FAULTPROXY_ROUNDS:-100}"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null || { fail "certificate"; summary; exit 1; }
read -r up_port port ctl < <(free_ports 3 | tr '\n' ' ')
python3 "$root/tests/faults/stream_upstream.py" --port "$up_port" --cert "$work/cert.pem" --key "$work/key.pem" \
  >"$work/upstream.out" 2>&1 &
track_pid $!
python3 "$FAULTPROXY" --listen "$port" --control "$ctl" --upstream "https://127.0.0.1:$up_port" \
  --ca "$work/cert.pem" --cert "$work/cert.pem" --key "$work/key.pem" --log "$work/fp.jsonl" >"$work/fp.out" 2>&1 &
proxy=$!
track_pid $proxy

mode() { curl -sf -m 5 -o /dev/null -XPOST "127.0.0.1:$ctl/mode" -d "$1"; }
through() { curl -s -m 5 --cacert "$work/cert.pem" "$@"; }
# stream FILE SECONDS: a watch through the proxy in the background, its lines in FILE and curl's
# exit code in FILE.rc when it ends.
stream_pids=()
stream() {
  (through -N -m "$2" "https://127.0.0.1:$port/lease?watch=true" >"$1"; echo $? >"$1.rc") &
  stream_pids+=($!)
}
lines() { wc -l <"$1"; }

wait_until 10 mode '{"status":0}' || fail "the control port answers"
wait_until 10 through -o /dev/null "https://127.0.0.1:$port/ready" || fail "the proxy port answers"

echo "--- pass through and injected answers"
expect_match "GET passes through" "$(through "https://127.0.0.1:$port/a?x=1")" '"path": "/a\?x=1", "method": "GET"'
expect "429 for PUT only" mode '{"status":429,"retry_after":30,"verbs":["PUT"]}'
put="$(through -i -XPUT -d '{"k":1}' "https://127.0.0.1:$port/b")"
expect_match "PUT answered 429 by the proxy" "$put" '^HTTP/1.1 429 Too Many Requests'
expect_match "with Retry-After: 30" "$put" 'Retry-After: 30'
expect_match "and a Status body" "$put" '"code": 429'
expect_match "GET still passes" "$(through "https://127.0.0.1:$port/c")" '"path": "/c"'
expect "pass everything again" mode '{"status":0}'
expect_match "PUT passes" "$(through -XPUT -d '{"k":1}' "https://127.0.0.1:$port/d")" '"method": "PUT"'
expect_eq "the log has each request with what it got" \
  "$(jq -c -s '[.[] | select(.path == "/b" or .path == "/c" or .path == "/d") | [.method, .path, .injected]]' "$work/fp.jsonl")" \
  '[["PUT","/b",429],["GET","/c",0],["PUT","/d",0]]'

echo "--- drop and hold"
stream "$work/dropped" 5
wait_until 5 test -s "$work/dropped" || fail "a stream flows through the proxy"
expect "drop" mode '{"status":0,"drop":"watch=true"}'
wait_until 10 test -s "$work/dropped.rc" || fail "the dropped stream ended"
rc="$(cat "$work/dropped.rc" 2>/dev/null)"
expect_match "the dropped stream was cut (curl $rc: not its own 5 s limit, not a clean end)" "$rc" '^(18|56|52|35)$'
stream "$work/held" 2
wait_until 5 test -s "$work/held" || fail "another stream flows"
expect "hold" mode '{"status":0,"hold":"watch=true"}'
at_hold="$(lines "$work/held")"
wait_until 10 test -s "$work/held.rc" || fail "the held stream's client gave up"
after="$(lines "$work/held")"
# Without the hold the stream brings 50 lines a second; the few that were in flight may arrive.
expect "the held stream brought nothing new ($at_hold lines at the hold, $after at the end)" test $((after - at_hold)) -le 5
expect_eq "its client gave up at its own limit (curl 28)" "$(cat "$work/held.rc")" 28
expect "release the hold" mode '{"status":0}'

echo "--- $ROUNDS rounds of streams dropped under traffic"
survived=0
for round in $(seq "$ROUNDS"); do
  for n in 1 2 3 4; do rm -f "$work/s$n"; stream "$work/s$n" 3; done
  # Dropped while bytes flow: the relay writes to the client as its connection is cut.
  for n in 1 2 3 4; do wait_until 5 test -s "$work/s$n" || break 2; done
  through -o /dev/null -o /dev/null "https://127.0.0.1:$port/e" "https://127.0.0.1:$port/f" || break
  mode '{"status":0,"drop":"watch=true"}' || break
  proc_gone "$proxy" && break
  survived=$round
done
expect_eq "the proxy answered every round" "$survived" "$ROUNDS"
expect "and is running" kill -0 "$proxy"
wait "${stream_pids[@]}"  # each ends by its own time limit
summary
