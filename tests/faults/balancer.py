#!/usr/bin/env python3
"""A TCP load balancer in front of several API servers, for the HA fault case (25).

    balancer.py --listen PORT --backend HOST:PORT [--backend HOST:PORT ...] --control PORT
                [--connect-timeout 1.0]

Connection level, like a cloud TCP load balancer or haproxy in `mode tcp`: each new client
connection goes to the next backend in turn (round robin over the backends in use) and stays
there for its whole life; TLS passes through untouched. A backend that refuses or does not answer
the connect within --connect-timeout is skipped for that connection (the next one is tried), so a
killed API server is routed around at once. There is no health check: an API server that still
accepts connections but cannot reach etcd keeps getting its share; the test plays the health
checker with POST /use (toxiproxy, which the other cases use, has no proxy with several upstreams).

Control (HTTP on 127.0.0.1:--control, JSON):
  GET  /stats   {"backends": [{"backend": "HOST:PORT", "in_use": bool, "open": N, "total": N}]}
  POST /use     {"backends": [0, 1]}: the backends (by index) new connections may go to; the
                connections already open stay where they are (a backend marked down)
  POST /reset   {"backend": I} or {}: closes the open connections to backend I (or to all), as a
                balancer's restart would; the clients reconnect through the balancer
"""
import argparse
import asyncio
import json


class Balancer:
    def __init__(self, backends, connect_timeout):
        self.backends = backends
        self.in_use = list(range(len(backends)))
        self.next = 0
        self.connect_timeout = connect_timeout
        self.open = [set() for _ in backends]  # the client-side writers of each backend's connections
        self.total = [0] * len(backends)

    def order(self):
        """The backends in use, starting with the next in turn."""
        n = len(self.in_use)
        if n == 0:
            return []
        start = self.next % n
        self.next += 1
        return self.in_use[start:] + self.in_use[:start]

    async def handle(self, client_r, client_w):
        for i in self.order():
            host, port = self.backends[i]
            try:
                up_r, up_w = await asyncio.wait_for(asyncio.open_connection(host, port), self.connect_timeout)
            except (OSError, asyncio.TimeoutError):
                continue
            self.total[i] += 1
            self.open[i].add(client_w)
            try:
                await self.pipe_both(client_r, client_w, up_r, up_w)
            finally:
                self.open[i].discard(client_w)
            return
        client_w.close()

    @staticmethod
    async def pipe_both(client_r, client_w, up_r, up_w):
        async def pipe(r, w):
            try:
                while True:
                    data = await r.read(65536)
                    if not data:
                        break
                    w.write(data)
                    await w.drain()
            except (OSError, asyncio.CancelledError):
                pass

        tasks = [asyncio.ensure_future(pipe(client_r, up_w)), asyncio.ensure_future(pipe(up_r, client_w))]
        # Either side closing (or a reset) ends both: no half-open connections are kept.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        for w in (client_w, up_w):
            try:
                w.close()
            except OSError:
                pass

    def stats(self):
        return {"backends": [{"backend": f"{h}:{p}", "in_use": i in self.in_use, "open": len(self.open[i]),
                              "total": self.total[i]} for i, (h, p) in enumerate(self.backends)]}

    def reset(self, backend=None):
        closed = 0
        for i, conns in enumerate(self.open):
            if backend is not None and i != backend:
                continue
            for w in list(conns):
                # Abort, not close: no FIN after pending data, the peer sees the connection die.
                w.transport.abort()
                closed += 1
        return closed

    async def control(self, r, w):
        try:
            head = (await r.readuntil(b"\r\n\r\n")).decode("latin-1")
            method, path = head.split(" ", 2)[:2]
            length = 0
            for line in head.split("\r\n")[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            body = json.loads((await r.readexactly(length)) or b"{}") if length else {}
            code, out = 200, None
            if method == "GET" and path == "/stats":
                out = self.stats()
            elif method == "POST" and path == "/use":
                use = [int(i) for i in body["backends"]]
                if any(i < 0 or i >= len(self.backends) for i in use):
                    raise ValueError("no such backend")
                self.in_use = use
                out = self.stats()
            elif method == "POST" and path == "/reset":
                b = body.get("backend")
                out = {"closed": self.reset(None if b is None else int(b))}
            else:
                code, out = 404, {"error": "not found"}
        except (ValueError, KeyError, TypeError, asyncio.IncompleteReadError) as e:
            code, out = 400, {"error": str(e)}
        data = (json.dumps(out) + "\n").encode()
        w.write(f"HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                f"Connection: close\r\n\r\n".encode() + data)
        try:
            await w.drain()
        finally:
            w.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--backend", action="append", required=True, help="HOST:PORT, in order")
    ap.add_argument("--control", type=int, required=True)
    ap.add_argument("--connect-timeout", type=float, default=1.0)
    args = ap.parse_args()
    backends = []
    for b in args.backend:
        host, port = b.rsplit(":", 1)
        backends.append((host, int(port)))
    bal = Balancer(backends, args.connect_timeout)
    front = await asyncio.start_server(bal.handle, "127.0.0.1", args.listen)
    ctl = await asyncio.start_server(bal.control, "127.0.0.1", args.control)
    async with front, ctl:
        await asyncio.gather(front.serve_forever(), ctl.serve_forever())


if __name__ == "__main__":
    asyncio.run(main())
