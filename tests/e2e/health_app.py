#!/usr/bin/env python3
"""A stand-in app whose health a test toggles, for leasehold's app health checking.

    health_app.py --port PORT --mode-file FILE [--host 127.0.0.1]

GET /healthz answers according to the first word of FILE, re-read at every request:
  ok    -> 200 "ok"
  fail  -> 500 "failing"
  hang  -> accepts the request and never answers (a hung app)
Anything else, or no file, counts as ok. A crashed app is the test killing this process
(connection refused). Every request is appended to FILE.requests as "<unix ms> <mode>".
Loopback addresses only.
"""
import argparse
import ipaddress
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--mode-file", required=True)
    args = p.parse_args()
    if not ipaddress.ip_address(args.host).is_loopback:
        raise SystemExit("health_app: loopback addresses only")
    lock = threading.Lock()

    def mode():
        try:
            with open(args.mode_file) as f:
                words = f.read().split()
            return words[0] if words else "ok"
        except OSError:
            return "ok"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            m = mode()
            with lock, open(args.mode_file + ".requests", "a") as f:
                f.write("%d %s\n" % (time.time_ns() // 1000000, m))
            if self.path != "/healthz":
                self.send_error(404)
                return
            if m == "hang":
                # Held open until the prober gives up and closes it; then this thread ends.
                while True:
                    try:
                        if self.rfile.read(1) == b"":
                            return
                    except OSError:
                        return
            body = b"failing\n" if m == "fail" else b"ok\n"
            self.send_response(500 if m == "fail" else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
