#!/usr/bin/env python3
"""An app flooding the API server under its ServiceAccount (fault case 24), loopback only.

    flood.py seed --url https://127.0.0.1:PORT --ca CA --token-env ADMIN_TOKEN --namespace NS
                  --count N --size BYTES
    flood.py list --url https://127.0.0.1:PORT --ca CA --token-env SA_TOKEN --namespace NS
                  --seconds S --connections C [--json OUT]

seed: creates ConfigMaps flood-0 .. flood-(N-1) in NS, each with BYTES of data (8 at a time).
list: C threads, each on its own kept-alive TLS connection, LIST the ConfigMaps of NS back to
back for S seconds (reading every answer whole), so that the token's priority level is busy and
its queues full: what an app's informers relisting, or a script gone wrong, do. Bounded by C
connections and S seconds. Prints "flood: N lists in S s (R/s), 429: K, other errors: E,
latency p50/p99/max ..." and, with --json, writes the same figures.
"""
import argparse
import http.client
import json
import os
import ssl
import threading
import time
import urllib.parse


def connect(u, ctx):
    return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)


def seed(args, u, ctx, token):
    names = [f"flood-{i}" for i in range(args.count)]
    payload = "x" * args.size
    failed = []

    def worker(mine):
        conn = connect(u, ctx)
        for name in mine:
            body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": name}, "data": {"blob": payload}})
            conn.request("POST", f"/api/v1/namespaces/{args.namespace}/configmaps", body=body,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status not in (201, 409):
                failed.append((name, r.status))
        conn.close()

    threads = [threading.Thread(target=worker, args=(names[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise SystemExit(f"flood: seeding failed: {failed[:3]}")
    print(f"flood: {args.count} ConfigMaps of {args.size} bytes in {args.namespace}")


def flood(args, u, ctx, token):
    path = f"/api/v1/namespaces/{args.namespace}/configmaps"
    lock = threading.Lock()
    codes = {}
    latencies = []
    errors = []
    start = time.monotonic()
    end = start + args.seconds

    def worker():
        conn = None
        while time.monotonic() < end:
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = connect(u, ctx)
                conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
                r = conn.getresponse()
                r.read()
                code = r.status
                if r.getheader("Retry-After") is not None and code == 429:
                    # Back off as asked, but no longer than the flood lasts.
                    time.sleep(min(float(r.getheader("Retry-After")), max(0.0, end - time.monotonic()), 1.0))
            except (OSError, http.client.HTTPException) as e:
                code = "error"
                with lock:
                    errors.append(type(e).__name__)
                if conn is not None:
                    conn.close()
                conn = None
            took = time.monotonic() - t0
            with lock:
                codes[code] = codes.get(code, 0) + 1
                if code == 200:
                    latencies.append(took)
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    latencies.sort()

    def pct(p):
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))]) if latencies else 0

    ok = codes.get(200, 0)
    figures = {
        "seconds": round(took, 1), "connections": args.connections, "lists": ok,
        "rate": round(ok / took, 1), "429": codes.get(429, 0),
        "other_errors": sum(n for c, n in codes.items() if c not in (200, 429)),
        "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": round(1000 * latencies[-1]) if latencies else 0,
    }
    print(f"flood: {ok} lists in {took:.1f} s ({figures['rate']}/s) on {args.connections} connections, "
          f"429: {figures['429']}, other errors: {figures['other_errors']}"
          f"{' ' + str(sorted(set(errors))) if errors else ''}, "
          f"latency p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["seed", "list"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--token-env", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--json")
    args = ap.parse_args()
    u = urllib.parse.urlparse(args.url)
    if not (u.hostname or "").startswith("127."):
        raise SystemExit("flood: loopback only")
    if not 1 <= args.connections <= 64 or not 0 < args.seconds <= 120:
        raise SystemExit("flood: 1-64 connections, at most 120 s")
    ctx = ssl.create_default_context(cafile=args.ca)
    token = os.environ[args.token_env]
    if args.mode == "seed":
        seed(args, u, ctx, token)
    else:
        flood(args, u, ctx, token)


if __name__ == "__main__":
    main()
