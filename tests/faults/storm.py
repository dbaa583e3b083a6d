#!/usr/bin/env python3
"""Conflict storm: another writer annotating one Lease in a loop.

    storm.py --url https://127.0.0.1:PORT --ca CA --token-env ADMIN_TOKEN --path LEASE_PATH
             --seconds S [--rate N] [--writers W] [--mode patch|update]

--mode patch (default): merge-patches metadata.annotations["faults/storm"] = counter (a patch
needs no resourceVersion, so every one lands and bumps the Lease's resourceVersion).
--mode update: GET then PUT the whole Lease with a new annotation (an optimistic writer that
itself meets conflicts). --rate N: writes per second (0: as fast as one keep-alive connection
goes), per writer; --writers W: W writers in parallel, each on its own connection. Prints "storm: W writes (C conflicts) in S s, R/s". Loopback URLs only.
"""
import argparse
import http.client
import json
import os
import ssl
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--token-env", default="ADMIN_TOKEN")
    ap.add_argument("--path", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--mode", choices=["patch", "update"], default="patch")
    ap.add_argument("--writers", type=int, default=1)
    args = ap.parse_args()
    u = urllib.parse.urlparse(args.url)
    if not u.hostname.startswith("127."):
        raise SystemExit("storm: loopback only")
    totals = [0, 0, 0]
    lock = threading.Lock()
    start = time.monotonic()
    threads = [threading.Thread(target=writer, args=(args, u, w, start, totals, lock)) for w in range(args.writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writes, conflicts, errors = totals
    took = time.monotonic() - start
    print(f"storm: {writes} writes ({conflicts} conflicts, {errors} errors) in {took:.1f} s, {writes / took:.0f}/s")


def writer(args, u, w, start, totals, lock):
    ctx = ssl.create_default_context(cafile=args.ca)
    token = os.environ[args.token_env]
    conn = None
    writes = conflicts = errors = 0
    end = start + args.seconds
    i = 0
    while time.monotonic() < end:
        if conn is None:
            conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=5)
        i += 1
        try:
            h = {"Authorization": f"Bearer {token}"}
            if args.mode == "patch":
                body = json.dumps({"metadata": {"annotations": {f"faults/storm-{w}": str(i)}}})
                conn.request("PATCH", args.path, body=body,
                             headers={**h, "Content-Type": "application/merge-patch+json"})
                r = conn.getresponse(); r.read()
            else:
                conn.request("GET", args.path, headers=h)
                r = conn.getresponse(); obj = json.loads(r.read())
                obj.setdefault("metadata", {}).setdefault("annotations", {})[f"faults/storm-{w}"] = str(i)
                conn.request("PUT", args.path, body=json.dumps(obj),
                             headers={**h, "Content-Type": "application/json"})
                r = conn.getresponse(); r.read()
            if r.status == 200:
                writes += 1
            elif r.status == 409:
                conflicts += 1
            else:
                errors += 1
        except (OSError, http.client.HTTPException, ValueError):
            errors += 1
            conn = None
        if args.rate > 0:
            nxt = start + i / args.rate
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
    with lock:
        totals[0] += writes
        totals[1] += conflicts
        totals[2] += errors


if __name__ == "__main__":
    main()
