#!/usr/bin/env python3
"""Test app: the main container of one pod, gating a once-only action on leasehold.

    app.py --name NAME --witness HOST:PORT (--agent HOST:PORT | --state-file PATH
           | --shards-agent HOST:PORT | --shards-file PATH)
           [--interval 0.05] [--log FILE] [--wall-offset-file FILE]

Every --interval seconds it asks whether its agent leads and, if so, sends one action with the
fencing token to the witness (POST /action {"candidate", "token", "checked_ns", "mode"}):

* --agent (HTTP mode, the contract's `curl -sf localhost:4040/v1/leader`): GET /v1/leader with a
  1 s timeout; 200 -> act with the Leasehold-Fencing-Token header.
* --state-file (file mode, the contract's documented reader check): read
  `leader <validUntilUnixMs> <token> <rfc3339>`; act only if role is leader and the wall clock
  (ms) is before validUntilUnixMs.

* --shards-agent / --shards-file (a sharded election: the app works every shard it owns): GET
  /v1/shards and act once per item of "owned" with its fencingToken; or read the `shards` file's
  lines `<shard> <validUntilUnixMs> <token> <rfc3339>` and act for each whose validUntil is still
  ahead. Each action carries "shard" (the witness fences each shard on its own).

--wall-offset-file FILE (file mode): the reader's wall clock is shifted by the offset in FILE
(libfaketime syntax "+1h", "-55m", "+0", re-read at every check), as a node clock stepped
together with its agent's (the agent runs under libfaketime with the same file). The times this
app logs and sends stay on the real clock, so the witness can compare candidates.
--log FILE appends one JSON line per check: {"t", "mode", "leader": bool, "code"/"until",
"token", "verdict", "late_ms"} (verdict: the witness's answer code, absent when not leading;
late_ms, HTTP mode: arrival of a 200 minus the validUntil it carried: > 0 means the answer was
already stale when it arrived).
Loopback addresses only.
"""
import argparse
from datetime import datetime
import http.client
import json
import re
import signal
import sys
import time


def loopback(hostport):
    host, _, port = hostport.rpartition(":")
    if not (host.startswith("127.") or host == "localhost"):
        raise SystemExit(f"app: {hostport}: loopback only")
    return host, int(port)


def http_get(agent, path):
    """(status, Leasehold-Fencing-Token header or None, body) of GET path, with a 1 s timeout."""
    conn = http.client.HTTPConnection(*agent, timeout=1.0)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Leasehold-Fencing-Token"), resp.read()
    finally:
        conn.close()


def check_http(agent):
    try:
        status, token, body = http_get(agent, "/v1/leader")
        info = {"code": status}
        if status == 200 and token is not None:
            # How late the answer arrived relative to the claim's end it reported (> 0: the
            # answer was already stale on arrival, e.g. the agent's reply was starved of CPU).
            try:
                until = json.loads(body).get("validUntil")
                if until:
                    until_ms = datetime.fromisoformat(until.replace("Z", "+00:00")).timestamp() * 1000
                    info["late_ms"] = round(time.time_ns() / 1e6 - until_ms, 1)
            except (ValueError, AttributeError):
                pass
            return int(token), info
        return None, info
    except (OSError, http.client.HTTPException, ValueError) as e:
        return None, {"code": 0, "error": type(e).__name__}


UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def wall_offset_ms(path):
    if not path:
        return 0
    try:
        with open(path) as f:
            m = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)([smhd]?)", f.read().strip())
        return int(float(m.group(1)) * UNITS[m.group(2)] * 1000) if m else 0
    except OSError:
        return 0


def check_file(path, offset_file=None):
    try:
        with open(path) as f:
            parts = f.readline().split()
        role, until_ms, token = parts[0], int(parts[1]), int(parts[2])
    except (OSError, IndexError, ValueError):
        return None, {"until": None}
    now_ms = time.time_ns() // 1_000_000 + wall_offset_ms(offset_file)
    if role == "leader" and now_ms < until_ms:
        return token, {"until": until_ms}
    return None, {"until": until_ms, "role": role}


def check_shards_http(agent):
    """[(shard, token)] owned now, per GET /v1/shards."""
    try:
        status, _, body = http_get(agent, "/v1/shards")
        if status != 200:
            return [], {"code": status}
        owned = json.loads(body).get("owned", [])
        return [(int(o["shard"]), int(o["fencingToken"])) for o in owned], {"code": 200}
    except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as e:
        return [], {"code": 0, "error": type(e).__name__}


def check_shards_file(path):
    owned = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return [], {}
    now_ms = time.time_ns() // 1_000_000
    for line in lines:
        try:
            shard, until_ms, token = (int(x) for x in line.split()[:3])
        except ValueError:
            continue
        if now_ms < until_ms:
            owned.append((shard, token))
    return owned, {}


def wait_tick(next_tick, interval):
    """Sleeps until the next check is due (next_tick + interval); returns when that was. A check
    that ran late starts the count again from now, so late checks do not come in a burst."""
    next_tick += interval
    delay = next_tick - time.monotonic()
    if delay > 0:
        time.sleep(delay)
        return next_tick
    return time.monotonic()


def send(witness, body):
    conn = http.client.HTTPConnection(*witness, timeout=2.0)
    try:
        data = json.dumps(body)
        conn.request("POST", "/action", body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--witness", required=True)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--agent")
    mode.add_argument("--state-file")
    mode.add_argument("--shards-agent")
    mode.add_argument("--shards-file")
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--log")
    ap.add_argument("--wall-offset-file")
    args = ap.parse_args()
    witness = loopback(args.witness)
    agent = loopback(args.agent) if args.agent else None
    shards_agent = loopback(args.shards_agent) if args.shards_agent else None
    log = open(args.log, "a", buffering=1) if args.log else None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    mode_name = "http" if agent or shards_agent else "file"
    next_tick = time.monotonic()
    while args.shards_agent or args.shards_file:
        owned, info = check_shards_http(shards_agent) if shards_agent else check_shards_file(args.shards_file)
        checked = time.time_ns()
        verdicts = {}
        for shard, token in owned:
            verdicts[shard] = send(witness, {"candidate": args.name, "token": token, "shard": shard,
                                             "checked_ns": checked, "mode": mode_name})
        if log:
            log.write(json.dumps({"t": checked, "mode": mode_name, "owned": [s for s, _ in owned],
                                  "verdicts": verdicts, **info}, separators=(",", ":")) + "\n")
        next_tick = wait_tick(next_tick, args.interval)
    while True:
        token, info = check_http(agent) if agent else check_file(args.state_file, args.wall_offset_file)
        checked = time.time_ns()
        entry = {"t": checked, "mode": mode_name, "leader": token is not None, **info}
        if token is not None:
            entry["token"] = token
            entry["verdict"] = send(witness, {"candidate": args.name, "token": token,
                                              "checked_ns": checked, "mode": mode_name})
        if log:
            log.write(json.dumps(entry, separators=(",", ":")) + "\n")
        next_tick = wait_tick(next_tick, args.interval)


if __name__ == "__main__":
    main()
