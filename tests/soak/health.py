#!/usr/bin/env python3
"""The apps' health endpoints of the soak (tests/soak/soak.sh), all on one port.

    health.py --port PORT --dir DIR

GET /NAME answers 503 while the file DIR/NAME.down exists, else 200 (the agent of NAME runs with
--app-health-url http://127.0.0.1:PORT/NAME); DIR/NAME.hang makes it answer only after 5 s (longer
than the agents' --app-health-timeout: a hung app). The soak flaps an app's health by creating and
removing those files. GET /healthz answers 200. Loopback only.
"""
import argparse
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    directory = "."

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.strip("/").split("?")[0]
        code = 200
        if name and name != "healthz" and "/" not in name:
            base = os.path.join(self.directory, name)
            if os.path.exists(base + ".hang"):
                time.sleep(5)
            if os.path.exists(base + ".down"):
                code = 503
        body = b"ok\n" if code == 200 else b"down\n"
        try:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the agent cut the check off


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    Handler.directory = args.dir
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
