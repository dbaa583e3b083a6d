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
cat >"$work/abuse.py" <<'PY'
#!/usr/bin/env python3
"""Abusive HTTP clients for tests/e2e/abuse_test.sh, against 127.0.0.1 only.

Subcommands (each prints one JSON object on stdout):
  idle PORT COUNT SECONDS       opens COUNT idle connections and holds them until the agent has
                                closed them all (at most SECONDS); reports when it closed them
  slowloris PORT COUNT SECONDS  COUNT clients sending one header byte per second; reports when
                                the agent cut each off (at most SECONDS)
  big-header PORT SIZE          one GET with a SIZE-byte header; reports the status (or closed)
  big-body PORT SIZE MODE       one POST with a SIZE-byte body (MODE length|chunked)
  garbage PORT COUNT SEED       COUNT malformed or random requests, 16 at a time, each on its own
                                connection; reports answers by status, and connections the agent
                                neither answered nor closed within 5 s
  hold PORT COUNT PATH SECONDS  COUNT clients each sending GET PATH (an event stream or a long
                                poll) and keeping the connection; reports the first answer of each
                                within SECONDS (or that it is still waiting), and what GET
                                /v1/leader on a new connection answered meanwhile; then closes all
Every loop here is bounded in count and time.
"""
import json
import random
import resource
import selectors
import socket
import sys
import threading
import time

HOST = "127.0.0.1"


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


def status_of(data):
    """The status code of the first response in data, or None."""
    if not data.startswith(b"HTTP/"):
        return None
    parts = data.split(b"\r\n", 1)[0].split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def read_answer(sock, timeout):
    """Reads until EOF, reset or timeout; returns (bytes, how) with how in eof|reset|timeout."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(data) < (1 << 20):
            chunk = sock.recv(65536)
            if not chunk:
                return data, "eof"
            data += chunk
    except socket.timeout:
        return data, "timeout"
    except OSError:
        return data, "reset"
    return data, "timeout"


def idle(port, count, seconds):
    raise_fd_limit(count + 256)
    sel = selectors.DefaultSelector()
    opened_at = time.monotonic()
    socks = []
    failed = 0
    for _ in range(count):
        s = socket.socket()
        try:
            s.connect((HOST, port))
        except OSError:
            failed += 1
            s.close()
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    open_s = time.monotonic() - opened_at
    closed_times = []
    answered = 0
    end = time.monotonic() + seconds
    while len(closed_times) < len(socks) and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                chunk = s.recv(4096)
            except OSError:
                chunk = b""
            if chunk:
                answered += 1  # the agent never answers a request that was not sent
                continue
            closed_times.append(time.monotonic() - opened_at)
            sel.unregister(s)
    at_once = sum(1 for t in closed_times if t < 2.0)
    later = sorted(t for t in closed_times if t >= 2.0)
    for s in socks:
        s.close()
    return {
        "opened": len(socks),
        "connect_failed": failed,
        "open_seconds": round(open_s, 2),
        "closed_at_once": at_once,
        "closed_later": len(later),
        "closed_later_first_s": round(later[0], 1) if later else None,
        "closed_later_last_s": round(later[-1], 1) if later else None,
        "still_open": len(socks) - len(closed_times),
        "unexpected_bytes": answered,
    }


def slowloris(port, count, seconds):
    raise_fd_limit(count + 256)
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.connect((HOST, port))
        s.sendall(b"GET /v1/leader HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        s.setblocking(False)
        socks.append(s)
    start = time.monotonic()
    cut = {}
    while len(cut) < len(socks) and time.monotonic() - start < seconds:
        for i, s in enumerate(socks):
            if i in cut:
                continue
            try:
                if s.recv(4096) == b"":
                    cut[i] = time.monotonic() - start
                    continue
            except BlockingIOError:
                pass
            except OSError:
                cut[i] = time.monotonic() - start
                continue
            try:
                s.send(b"a")
            except BlockingIOError:
                pass
            except OSError:
                cut[i] = time.monotonic() - start
        time.sleep(1.0)
    for s in socks:
        s.close()
    times = sorted(cut.values())
    return {
        "clients": count,
        "cut_off": len(times),
        "first_cut_s": round(times[0], 1) if times else None,
        "last_cut_s": round(times[-1], 1) if times else None,
        "bytes_sent_each_max": int(seconds),
    }


def big_header(port, size):
    s = socket.create_connection((HOST, port))
    request = b"GET /v1/leader HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
    sent_all = True
    try:
        s.sendall(request)
    except OSError:
        sent_all = False  # the agent may refuse before reading it all
    data, how = read_answer(s, 10)
    s.close()
    return {"status": status_of(data), "ended": how, "sent_all": sent_all}


def big_body(port, size, mode):
    s = socket.create_connection((HOST, port))
    if mode == "chunked":
        head = b"POST /v1/leader HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    else:
        head = b"POST /v1/leader HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % size
    s.sendall(head)
    s.settimeout(5)
    sent = 0
    block = b"b" * 65536
    send_error = None
    start = time.monotonic()
    try:
        while sent < size and time.monotonic() - start < 30:
            if mode == "chunked":
                s.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
            else:
                s.sendall(block)
            sent += len(block)
        if mode == "chunked":
            s.sendall(b"0\r\n\r\n")
    except OSError as e:
        send_error = e.__class__.__name__
    data, how = read_answer(s, 10)
    s.close()
    return {"status": status_of(data), "ended": how, "body_bytes_sent": sent, "send_error": send_error}


METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE", b"CONNECT",
           b"get", b"G\x00T", b"GETT", b"", b"\xff\xfe"]
PATHS = [b"/", b"/v1/leader", b"/v1/status", b"/v1/elections", b"/nope", b"*", b"//", b"/v1/leader/../..",
         b"/%00", b"/v1/leader?x=" + b"y" * 300, b"http://x/v1/leader", b"/\xff", b"", b"/v1/elections/x/status",
         b"/v1/elections/abuse/leader", b"/v1/elections//status"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9.9", b"HTTP/1.1 x", b"HTTX/1.1", b"", b"HTTP/1"]
HEADERS = [b"Host: x", b"Content-Length: 5", b"Content-Length: -1", b"Content-Length: 99999999999999999999",
           b"Content-Length: 3\r\nContent-Length: 4", b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip",
           b"Connection: close", b"Connection: keep-alive", b"Expect: 100-continue", b"X: \x00\x01\x02",
           b": empty-name", b"No-Colon", b" Leading: space", b"X-Long: " + b"z" * 5000, b"Upgrade: websocket"]


def garbage_request(rng):
    kind = rng.randrange(4)
    if kind == 0:  # random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
    if kind == 1:  # random printable noise with line breaks
        alphabet = b"GETPOST /v1leadr?&=%:\r\n HTTP/1.01\t\x00"
        return bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 400)))
    # request-shaped: a request line and headers, some of them broken, maybe a body
    line = rng.choice(METHODS) + b" " + rng.choice(PATHS) + b" " + rng.choice(VERSIONS)
    headers = [rng.choice(HEADERS) for _ in range(rng.randrange(0, 5))]
    body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 50)))
    eol = rng.choice([b"\r\n", b"\r\n", b"\n", b"\r"])
    data = line + eol + eol.join(headers) + eol + eol + body
    if kind == 3:  # then flip some bytes
        data = bytearray(data)
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data)
    return data


def garbage(port, count, seed):
    rng = random.Random(seed)
    requests = []
    while len(requests) < count:
        r = garbage_request(rng)
        # Never ask the agent to resign or ack (legitimate localhost calls), nor open an event
        # stream or a long poll (legitimately open-ended).
        low = r.lower()
        if b"resign" in low or b"ack" in low or b"wait=" in low or b"events" in low:
            continue
        requests.append(r)
    lock = threading.Lock()
    results = {"statuses": {}, "closed_without_answer": 0, "reset": 0, "hung": 0, "connect_failed": 0,
               "hung_requests": []}
    index = [0]

    def worker():
        while True:
            with lock:
                if index[0] >= len(requests):
                    return
                r = requests[index[0]]
                index[0] += 1
            try:
                s = socket.create_connection((HOST, port), timeout=5)
            except OSError:
                with lock:
                    results["connect_failed"] += 1
                continue
            try:
                s.sendall(r)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            data, how = read_answer(s, 5)
            s.close()
            code = status_of(data)
            with lock:
                if how == "timeout":
                    results["hung"] += 1
                    if len(results["hung_requests"]) < 3:
                        results["hung_requests"].append(repr(r[:200]))
                elif code is not None:
                    results["statuses"][str(code)] = results["statuses"].get(str(code), 0) + 1
                elif how == "reset":
                    results["reset"] += 1
                else:
                    results["closed_without_answer"] += 1

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results["requests"] = count
    results["seed"] = seed
    results["seconds"] = round(time.monotonic() - start, 1)
    return results


def hold(port, count, path, seconds):
    raise_fd_limit(count + 256)
    sel = selectors.DefaultSelector()
    socks = []
    connect_failed = 0
    for _ in range(count):
        s = socket.socket()
        try:
            s.connect((HOST, port))
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        except OSError:
            connect_failed += 1
            s.close()
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    statuses = {}
    closed = 0
    pending = len(socks)
    end = time.monotonic() + seconds
    while pending and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                chunk = s.recv(4096)
            except OSError:
                chunk = b""
            code = status_of(chunk)
            if code is None:
                closed += 1
            else:
                statuses[str(code)] = statuses.get(str(code), 0) + 1
            sel.unregister(s)
            pending -= 1
    probe = socket.socket()
    started = time.monotonic()
    try:
        probe.connect((HOST, port))
        probe.sendall(b"GET /v1/leader HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer, _ = read_answer(probe, 2)
        leader = status_of(answer)
    except OSError:
        leader = None
    probe.close()
    leader_ms = int((time.monotonic() - started) * 1000)
    for s in socks:
        s.close()
    return {
        "connect_failed": connect_failed,
        "statuses": statuses,
        "waiting": pending,
        "closed_without_answer": closed,
        "leader_status": leader,
        "leader_ms": leader_ms,
    }


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "idle":
        out = idle(port, int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "slowloris":
        out = slowloris(port, int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "big-header":
        out = big_header(port, int(sys.argv[3]))
    elif cmd == "big-body":
        out = big_body(port, int(sys.argv[3]), sys.argv[4])
    elif cmd == "garbage":
        out = garbage(port, int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "hold":
        out = hold(port, int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
    else:
        sys.exit("unknown subcommand " + cmd)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
PY
abuse() { python3 "$work/abuse.py" "$@"; }
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
  echo "$(elapsed_s "$t0")"
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
refused_metric() { metric abuse-a 'leasehold_http_refused_total\{listener="status",reason="(held|connections)"\}'; }
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
