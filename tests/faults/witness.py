#!/usr/bin/env python3
"""Witness: a stand-in for the payment API that leasehold's apps act on.

    witness.py --port PORT --log FILE [--host 127.0.0.1]

POST /action with a JSON body {"candidate": NAME, "token": INT, ...} is one gated action (a
"charge"). The witness appends one JSON line to FILE per action:

    {"t": ARRIVAL_NS, "candidate": NAME, "token": INT, "accepted": BOOL, "highest": INT, ...}

and answers 200 {"accepted": true} if token >= the highest token seen so far (fencing), else
409 {"accepted": false} (a stale leader's action, rejected and logged as such). Any other keys of
the body (e.g. "checked_ns", "mode", "probe") are copied into the line. Arrival times are
time.time_ns() on the witness, taken under the same lock as the verdict, so the log is in arrival
order. An action with a "shard" key is fenced against that shard's highest token only (each shard
of a sharded election is a Lease with tokens of its own). GET /highest answers {"highest": INT}
(of the actions without a shard); GET /healthz answers "ok".
Only loopback addresses are accepted for --host, or with --link NAME an address of the link NAME
(a link the test made itself, e.g. the bridge of tests/cluster/up that pods reach the host on).
"""
import argparse
import ipaddress
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Witness:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.highest = -1
        self.highest_by_shard = {}
        self.out = open(path, "a", buffering=1)

    def act(self, body):
        token = int(body["token"])
        candidate = str(body["candidate"])
        shard = body.get("shard")
        with self.lock:
            t = time.time_ns()
            highest = self.highest if shard is None else self.highest_by_shard.get(shard, -1)
            accepted = token >= highest
            if accepted:
                highest = token
                if shard is None:
                    self.highest = token
                else:
                    self.highest_by_shard[shard] = token
            line = dict(body)
            line.update(t=t, candidate=candidate, token=token, accepted=accepted, highest=highest)
            self.out.write(json.dumps(line, separators=(",", ":")) + "\n")
        return accepted


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    witness = None

    def log_message(self, *args):
        pass

    def reply(self, code, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            self.reply(200, "ok")
        elif self.path == "/highest":
            self.reply(200, {"highest": self.witness.highest})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/action":
            self.reply(404, {"error": "not found"})
            return
        try:
            n = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(n) or b"{}")
            if not isinstance(body, dict) or "candidate" not in body or "token" not in body:
                raise ValueError("need candidate and token")
            int(body["token"])
        except (ValueError, TypeError) as e:
            self.reply(400, {"error": str(e)})
            return
        accepted = self.witness.act(body)
        self.reply(200 if accepted else 409, {"accepted": accepted, "highest": self.witness.highest})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--link", help="a link of the test's own that holds --host")
    args = ap.parse_args()
    if args.link:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", args.link],
                             capture_output=True, text=True).stdout.split()
        if f"{args.host}/" not in " ".join(out) and not any(w.startswith(args.host + "/") for w in out):
            raise SystemExit(f"witness: {args.host} is not an address of {args.link}")
    elif not ipaddress.ip_address(args.host).is_loopback:
        raise SystemExit("witness: --host must be a loopback address (or one of --link)")
    Handler.witness = Witness(args.log)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
