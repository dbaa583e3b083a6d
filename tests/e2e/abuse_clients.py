#!/usr/bin/env python3
"""Abusive HTTP clients for abuse_test.sh, against 127.0.0.1 only.

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


def open_connections(port, count, request=b""):
    """Opens COUNT connections, sends REQUEST on each; returns (selector, sockets, connect_failed)."""
    raise_fd_limit(count + 256)
    sel = selectors.DefaultSelector()
    socks = []
    failed = 0
    for _ in range(count):
        s = socket.socket()
        try:
            s.connect((HOST, port))
            if request:
                s.sendall(request)
        except OSError:
            failed += 1
            s.close()
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    return sel, socks, failed


def readable(sel):
    """Yields (socket, bytes read) for each socket readable within 0.2 s; b"" when it closed."""
    for key, _ in sel.select(timeout=0.2):
        try:
            chunk = key.fileobj.recv(4096)
        except OSError:
            chunk = b""
        yield key.fileobj, chunk


def idle(port, count, seconds):
    opened_at = time.monotonic()
    sel, socks, failed = open_connections(port, count)
    open_s = time.monotonic() - opened_at
    closed_times = []
    answered = 0
    end = time.monotonic() + seconds
    while len(closed_times) < len(socks) and time.monotonic() < end:
        for s, chunk in readable(sel):
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
    request = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode()
    sel, socks, connect_failed = open_connections(port, count, request)
    statuses = {}
    closed = 0
    pending = len(socks)
    end = time.monotonic() + seconds
    while pending and time.monotonic() < end:
        for s, chunk in readable(sel):
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
