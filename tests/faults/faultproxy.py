#!/usr/bin/env python3
"""An HTTPS fault proxy in front of the test API server: answers chosen requests itself.

    faultproxy.py --listen PORT --control PORT --upstream https://127.0.0.1:API --ca CA
                  --cert CERT --key KEY --log FILE

toxiproxy works on TCP and cannot fabricate an HTTP answer, so for "429 Too Many Requests with
Retry-After: 30" (and any other status) this proxy terminates TLS with the API server's own
serving certificate and key (tests/controlplane/up writes them under DIR/certs; the certificate
covers 127.0.0.1, so an agent pointed at https://127.0.0.1:PORT verifies it against the same CA),
reads each HTTP/1.1 request, and either answers it itself or forwards it byte for byte over its
own TLS connection to the real API server (responses, including watch streams, are relayed as
they come). Clients do not pipeline, so an injected answer never interleaves with a relayed one.

Control (plain HTTP on 127.0.0.1:--control):
  POST /mode {"status": 429, "retry_after": 30, "verbs": ["GET","PUT"]}   inject (verbs optional)
  POST /mode {"status": 0}                                                 pass everything through
  POST /mode {"status": 0, "hold": "watch=true"}   swallow the answers (from now on, including a
       stream already running) to requests whose path contains the string: a stalled watch
  POST /mode {..., "drop": "watch=true"}   also close, once, the connections whose current
       request's path contains the string: a watch stream broken when the new mode begins
Log: one JSON line per request {"t", "method", "path", "injected": status or 0}.
Loopback addresses only.
"""
import argparse
import json
import socket
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mode = {"status": 0, "retry_after": None, "verbs": None, "hold": None}
mode_lock = threading.Lock()
connections = {}  # client socket -> its state {"path": current request's path}
log_lock = threading.Lock()
log_file = None


def log(entry):
    with log_lock:
        log_file.write(json.dumps(entry, separators=(",", ":")) + "\n")
        log_file.flush()


def read_request(f):
    """Reads one request from a file-like socket; returns (raw bytes, method, path) or None."""
    line = f.readline(65537)
    if not line:
        return None
    raw = [line]
    headers = {}
    while True:
        h = f.readline(65537)
        if not h:
            return None
        raw.append(h)
        if h in (b"\r\n", b"\n"):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    body = b""
    if "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = f.readline()
            body += size_line
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            chunk = f.read(size + 2)
            body += chunk
            if size == 0:
                break
    parts = line.decode("latin-1").split()
    return b"".join(raw) + body, parts[0], parts[1] if len(parts) > 1 else ""


def injected_response(status, retry_after, method, path):
    reason = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
              401: "Unauthorized"}.get(status, "Error")
    body = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": f"injected by faultproxy: {status}", "reason": "TooManyRequests",
                       "details": {"retryAfterSeconds": retry_after or 0}, "code": status}).encode()
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    if retry_after is not None:
        head += f"Retry-After: {retry_after}\r\n"
    return head.encode() + b"\r\n" + body


def serve(client, upstream, up_ctx):
    up = None
    state = {"path": ""}
    with mode_lock:
        connections[client] = state
    try:
        f = client.makefile("rb")
        while True:
            req = read_request(f)
            if req is None:
                return
            raw, method, path = req
            with mode_lock:
                status, retry_after, verbs = mode["status"], mode["retry_after"], mode["verbs"]
            inject = status and (verbs is None or method in verbs)
            state["path"] = path
            log({"t": time.time_ns(), "method": method, "path": path, "injected": status if inject else 0})
            if inject:
                client.sendall(injected_response(status, retry_after, method, path))
                continue
            if up is None:
                s = socket.create_connection((upstream.hostname, upstream.port), timeout=None)
                up = up_ctx.wrap_socket(s, server_hostname=upstream.hostname)
                threading.Thread(target=relay, args=(up, client, state), daemon=True).start()
            up.sendall(raw)
    except (OSError, ValueError, ssl.SSLError):
        pass
    finally:
        with mode_lock:
            connections.pop(client, None)
        for s in (client, up):
            try:
                if s:
                    s.close()
            except OSError:
                pass


def relay(src, dst, state):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            with mode_lock:
                hold = mode["hold"]
            if hold and hold in state["path"]:
                continue  # swallowed: the client waits for bytes that never come
            dst.sendall(data)
    except (OSError, ssl.SSLError):
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Control(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        with mode_lock:
            mode["status"] = int(body.get("status", 0))
            mode["retry_after"] = body.get("retry_after")
            mode["verbs"] = body.get("verbs")
            mode["hold"] = body.get("hold")
            drop = body.get("drop")
            dropped = [c for c, st in connections.items() if drop and drop in st["path"]]
            out = json.dumps(mode).encode()
        for c in dropped:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST


def main():
    global log_file
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--control", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    upstream = urllib.parse.urlparse(args.upstream)
    if not upstream.hostname.startswith("127."):
        raise SystemExit("faultproxy: loopback upstream only")
    log_file = open(args.log, "a")
    srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv_ctx.load_cert_chain(args.cert, args.key)
    up_ctx = ssl.create_default_context(cafile=args.ca)
    ctl = ThreadingHTTPServer(("127.0.0.1", args.control), Control)
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    lsock = socket.create_server(("127.0.0.1", args.listen), reuse_port=False)
    while True:
        conn, _ = lsock.accept()
        try:
            tls = srv_ctx.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()
            continue
        threading.Thread(target=serve, args=(tls, upstream, up_ctx), daemon=True).start()


if __name__ == "__main__":
    main()
