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
  POST /mode {"status": 500, "path": "-member-"}   inject only where the path contains the string
  POST /mode {"status": 0}                                                 pass everything through
  POST /mode {"status": 0, "hold": "watch=true"}   swallow the answers (from now on, including a
       stream already running) to requests whose path contains the string: a stalled watch
  POST /mode {..., "drop": "watch=true"}   also close, once, the connections whose current
       request's path contains the string: a watch stream broken when the new mode begins
Log: one JSON line per request {"t", "method", "path", "injected": status or 0}.
Loopback addresses only.
"""
import argparse
import asyncio
import json
import ssl
import time
import urllib.parse

# One thread: asyncio's TLS keeps each connection's OpenSSL state in memory buffers that only the
# event loop touches. A thread per direction would read and write one SSL object from two threads
# at once, which OpenSSL does not allow (a threaded version of this proxy died by SIGSEGV).
mode = {"status": 0, "retry_after": None, "verbs": None, "hold": None, "path": None}
connections = {}  # client stream writer -> its state {"path": current request's path}
log_file = None
LINE_LIMIT = 1 << 20


def log(entry):
    log_file.write(json.dumps(entry, separators=(",", ":")) + "\n")
    log_file.flush()


async def read_request(reader):
    """Reads one request; returns (head bytes, method, path, body bytes) or None at end of stream."""
    line = await reader.readline()
    if not line:
        return None
    raw = [line]
    headers = {}
    while True:
        h = await reader.readline()
        if not h:
            return None
        raw.append(h)
        if h in (b"\r\n", b"\n"):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = await reader.readline()
            body += size_line
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            body += await reader.readexactly(size + 2)
            if size == 0:
                break
    parts = line.decode("latin-1").split()
    return b"".join(raw), parts[0], parts[1] if len(parts) > 1 else "", body


def injected_response(status, retry_after):
    reason = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
              401: "Unauthorized"}.get(status, "Error")
    body = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": f"injected by faultproxy: {status}", "reason": "TooManyRequests",
                       "details": {"retryAfterSeconds": retry_after or 0}, "code": status}).encode()
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    if retry_after is not None:
        head += f"Retry-After: {retry_after}\r\n"
    return head.encode() + b"\r\n" + body


# ValueError: a line over LINE_LIMIT, or a bad number; IncompleteReadError: the peer left mid-body.
BROKEN = (OSError, ValueError, ssl.SSLError, asyncio.IncompleteReadError)


async def relay(up_reader, client_writer, state):
    try:
        while True:
            data = await up_reader.read(65536)
            if not data:
                break
            hold = mode["hold"]
            if hold and hold in state["path"]:
                continue  # swallowed: the client waits for bytes that never come
            client_writer.write(data)
            await client_writer.drain()
    except BROKEN:
        pass
    finally:
        client_writer.transport.abort()  # the upstream ended: so does the client's connection


async def serve(reader, writer, upstream, up_ctx):
    state = {"path": ""}
    connections[writer] = state
    up_writer = None
    relay_task = None
    try:
        while True:
            req = await read_request(reader)
            if req is None:
                return
            head, method, path, body = req
            inject = (mode["status"] and (mode["verbs"] is None or method in mode["verbs"])
                      and (mode["path"] is None or mode["path"] in path))
            state["path"] = path
            log({"t": time.time_ns(), "method": method, "path": path,
                 "injected": mode["status"] if inject else 0})
            if inject:
                writer.write(injected_response(mode["status"], mode["retry_after"]))
                await writer.drain()
                continue
            if up_writer is None:
                up_reader, up_writer = await asyncio.open_connection(
                    upstream.hostname, upstream.port, ssl=up_ctx, limit=LINE_LIMIT)
                relay_task = asyncio.create_task(relay(up_reader, writer, state))
            up_writer.write(head + body)
            await up_writer.drain()
    except BROKEN:
        pass
    finally:
        connections.pop(writer, None)
        if relay_task:
            relay_task.cancel()
        for w in (writer, up_writer):
            if w:
                w.transport.abort()


async def control(reader, writer):
    try:
        req = await read_request(reader)
        if req is None:
            return
        body = json.loads(req[3] or b"{}")
        mode["status"] = int(body.get("status", 0))
        mode["retry_after"] = body.get("retry_after")
        mode["verbs"] = body.get("verbs")
        mode["hold"] = body.get("hold")
        mode["path"] = body.get("path")
        drop = body.get("drop")
        for w in [w for w, st in connections.items() if drop and drop in st["path"]]:
            w.transport.abort()
        out = json.dumps(mode).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     + f"Content-Length: {len(out)}\r\n\r\n".encode() + out)
        await writer.drain()
    except BROKEN:
        pass
    finally:
        writer.close()


async def main():
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
    # The proxy listens before the control port answers: the test's readiness check is the latter.
    proxy = await asyncio.start_server(lambda r, w: serve(r, w, upstream, up_ctx), "127.0.0.1",
                                       args.listen, ssl=srv_ctx, limit=LINE_LIMIT)
    ctl = await asyncio.start_server(control, "127.0.0.1", args.control, limit=LINE_LIMIT)
    async with ctl, proxy:
        await asyncio.gather(ctl.serve_forever(), proxy.serve_forever())


if __name__ == "__main__":
    asyncio.run(main())
