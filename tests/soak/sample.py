#!/usr/bin/env python3
"""Sampler of the soak (tests/soak/soak.sh): the resources of each measured agent, every INTERVAL s.

    sample.py --work DIR --agents l1,l2,l3 --out samples.csv [--interval 10]

Every --interval seconds (on the monotonic clock, so a late sample does not shift the next ones),
for each agent NAME it reads the process id from DIR/NAME.pid (written by tests/lib/agents.sh at
each start, so a restarted agent is a new process with a new pid) and appends one CSV line:

    t_s,agent,pid,rss_kib,anon_kib,fds,threads,sockets,series

* t_s: seconds since the sampler started (monotonic), 3 decimals;
* rss_kib, anon_kib, threads: VmRSS, RssAnon and Threads of /proc/PID/status;
* fds: entries of /proc/PID/fd; sockets: those that are sockets (their link reads "socket:[..]");
* series: the non-comment, non-empty lines of GET /metrics on the agent's ops port (DIR/NAME.ops_port),
  i.e. the Prometheus series it exports (-1 when /metrics did not answer within 5 s).
A process gone between two reads is skipped for that round. Runs until killed (SIGTERM/SIGKILL);
each line is flushed as written, so the file is complete up to the last round.
"""
import argparse
import os
import signal
import sys
import time
import urllib.request

FIELDS = ("t_s", "agent", "pid", "rss_kib", "anon_kib", "fds", "threads", "sockets", "series")


def read_text(path):
    with open(path) as f:
        return f.read()


def status_fields(pid):
    """VmRSS and RssAnon (KiB) and Threads of /proc/PID/status."""
    out = {}
    for line in read_text(f"/proc/{pid}/status").splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "Threads"):
            out[key] = int(value.split()[0])
    return out


def fd_counts(pid):
    """(open descriptors, of them sockets) of PID."""
    fds = sockets = 0
    base = f"/proc/{pid}/fd"
    for name in os.listdir(base):
        try:
            target = os.readlink(f"{base}/{name}")
        except OSError:
            continue  # closed meanwhile
        fds += 1
        if target.startswith("socket:"):
            sockets += 1
    return fds, sockets


def series_count(port):
    """Non-comment lines of /metrics (one per series), -1 when it did not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return -1
    return sum(1 for line in body.splitlines() if line.strip() and not line.startswith("#"))


def sample(work, name, t):
    """One CSV line for agent NAME, or None when it is not running."""
    try:
        pid = int(read_text(f"{work}/{name}.pid").strip())
        port = int(read_text(f"{work}/{name}.ops_port").strip())
        st = status_fields(pid)
        fds, sockets = fd_counts(pid)
    except (OSError, ValueError):
        return None
    series = series_count(port)
    return (f"{t:.3f}", name, pid, st.get("VmRSS", -1), st.get("RssAnon", -1), fds, st.get("Threads", -1),
            sockets, series)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--agents", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=10.0)
    args = ap.parse_args()
    names = [n for n in args.agents.split(",") if n]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    new = not os.path.exists(args.out) or os.path.getsize(args.out) == 0
    with open(args.out, "a", buffering=1) as out:
        if new:
            out.write(",".join(FIELDS) + "\n")
        t0 = time.monotonic()
        due = t0
        while True:
            t = time.monotonic() - t0
            for name in names:
                row = sample(args.work, name, t)
                if row:
                    out.write(",".join(str(x) for x in row) + "\n")
            due += args.interval
            time.sleep(max(0.0, due - time.monotonic()))


if __name__ == "__main__":
    main()
