#!/usr/bin/env python3
"""Client churn of the soak (tests/soak/soak.sh): status-listener clients that come and vanish.

    clients.py --work DIR --agents l1,l2,c1 --seed N [--workers 8] [--stats OUT.json]

--workers threads, each one client at a time, forever: it picks an agent (its status port from
DIR/NAME.status_port, read afresh each time: a restarted agent keeps its port) and one of

* sse       GET /v1/events, read the stream for 0.2-15 s;
* poll      GET /v1/status?wait=Ns (N 1-30), and again with after=<revision> on the same
            keep-alive connection when an answer comes, until its time is up (0.2-15 s);
* leader    GET /v1/leader?wait=Ns the same way;
* plain     a few GET /v1/status and /v1/leader on one keep-alive connection;
* burst     5-10 connections at once to /v1/events of one agent, held 0.5-3 s;

then vanishes one of four ways: fin (close), rst (SO_LINGER 0: a reset), half (shutdown of its
sending side, then close a little later: the agent sees EOF while the request is held) or mute (it
stops reading, waits 0.5-2 s, then closes). Between two clients a worker rests 0-0.5 s. Every draw
comes from random.Random(seed + worker), so the sequence of kinds, lifetimes and endings replays
(not the timings). A refused or reset connection (an agent restarting) is counted, never fatal.
--stats OUT.json is rewritten every 10 s and at SIGTERM: {"clients": {kind: n}, "endings":
{how: n}, "errors": n, "events": n (SSE events read), "answers": n (long-poll/plain answers)}.
Loopback only.
"""
import argparse
import json
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time

KINDS = ("sse", "poll", "leader", "plain", "burst")
WEIGHTS = (30, 25, 15, 20, 10)
ENDINGS = ("fin", "rst", "half", "mute")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.clients = {k: 0 for k in KINDS}
        self.endings = {e: 0 for e in ENDINGS}
        self.errors = 0
        self.events = 0
        self.answers = 0

    def add(self, **counts):
        with self.lock:
            for k, v in counts.items():
                if k in self.clients:
                    self.clients[k] += v
                elif k in self.endings:
                    self.endings[k] += v
                else:
                    setattr(self, k, getattr(self, k) + v)

    def dump(self, path):
        if not path:
            return
        with self.lock:
            data = {"clients": dict(self.clients), "endings": dict(self.endings), "errors": self.errors,
                    "events": self.events, "answers": self.answers}
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)


def port_of(work, name):
    with open(f"{work}/{name}.status_port") as f:
        return int(f.read().strip())


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.settimeout(0.5)
    return s


def request(s, path):
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: soak\r\nAccept: */*\r\n\r\n".encode())


def vanish(s, how, rng):
    """Ends the client's connection the way drawn."""
    try:
        if how == "rst":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif how == "half":
            s.shutdown(socket.SHUT_WR)
            time.sleep(rng.uniform(0.05, 0.5))
        elif how == "mute":
            time.sleep(rng.uniform(0.5, 2.0))
    except OSError:
        pass
    s.close()


def read_until(s, deadline, on_data):
    """Reads until the deadline or EOF, handing each chunk to on_data (which may return False to
    stop early). True when the connection is still open."""
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        if not data:
            return False
        if on_data(data) is False:
            return True
    return True


def long_polls(s, base, rng, deadline, stats):
    """Long polls on one keep-alive connection until the deadline, each after the last revision."""
    revision = None
    buf = b""
    while time.monotonic() < deadline:
        wait = rng.randint(1, 30)
        request(s, f"{base}?wait={wait}s" + (f"&after={revision}" if revision is not None else ""))
        got = {}

        def on_data(data):
            nonlocal buf
            buf += data
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if not sep:
                return True
            m = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if m and len(rest) >= int(m.group(1)):
                body = rest[:int(m.group(1))]
                buf = rest[int(m.group(1)):]
                r = re.search(rb'"revision":\s*(\d+)', body)
                got["revision"] = int(r.group(1)) if r else None
                return False
            return True

        if not read_until(s, deadline, on_data):
            return
        if "revision" not in got:
            return  # the time is up with a poll held: the client vanishes while held
        stats.add(answers=1)
        revision = got["revision"]


def one_client(work, agents, rng, stats):
    name = rng.choice(agents)
    kind = rng.choices(KINDS, WEIGHTS)[0]
    how = rng.choice(ENDINGS)
    life = rng.uniform(0.2, 15.0)
    stats.add(**{kind: 1, how: 1})
    port = port_of(work, name)
    deadline = time.monotonic() + life
    if kind == "burst":
        socks = []
        try:
            for _ in range(rng.randint(5, 10)):
                s = connect(port)
                socks.append(s)
                request(s, "/v1/events")
            time.sleep(rng.uniform(0.5, 3.0))
        finally:
            for s in socks:
                vanish(s, how if how != "mute" else "fin", rng)
        return
    s = connect(port)
    try:
        if kind == "sse":
            request(s, "/v1/events")
            read_until(s, deadline, lambda d: stats.add(events=d.count(b"\nevent: ")))
        elif kind == "poll":
            long_polls(s, "/v1/status", rng, deadline, stats)
        elif kind == "leader":
            long_polls(s, "/v1/leader", rng, deadline, stats)
        else:
            for _ in range(rng.randint(1, 5)):
                request(s, rng.choice(("/v1/status", "/v1/leader")))
                read_until(s, time.monotonic() + 1.0, lambda d: False)
                stats.add(answers=1)
    finally:
        vanish(s, how, rng)


def worker(work, agents, seed, stats, stop):
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            one_client(work, agents, rng, stats)
        except (OSError, ValueError):
            stats.add(errors=1)
        time.sleep(rng.uniform(0.0, 0.5))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--agents", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--stats")
    args = ap.parse_args()
    agents = [a for a in args.agents.split(",") if a]
    stats, stop = Stats(), threading.Event()

    def on_term(*_):
        stats.dump(args.stats)
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    for i in range(args.workers):
        threading.Thread(target=worker, args=(args.work, agents, args.seed * 1000 + i, stats, stop),
                         daemon=True).start()
    while True:
        time.sleep(10)
        stats.dump(args.stats)


if __name__ == "__main__":
    sys.exit(main())
