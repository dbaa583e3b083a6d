#!/usr/bin/env python3
"""Side-by-side benchmarks of leasehold and client-go's elector (reference-elector).

Runs against a control plane started by tests/controlplane/up (its env sourced: KUBECONFIG,
APISERVER_URL, APISERVER_CA, ADMIN_TOKEN). Everything it talks to is on 127.0.0.1. Every process
it starts is killed when it exits, however it exits. Writes the raw numbers as JSON (--out);
bench/report.py turns them into docs/benchmarks.md and the plots.

Usage: bench.py --out FILE [--phases steady,start,handover,...] (settings from the environment,
see Settings below).
"""
import argparse
import ctypes
import http.client
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ALL_PHASES = ["steady", "start", "handover", "wrk", "lease_to_file", "failover", "app_health", "scale", "elections",
              "candidates", "shards", "image"]


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


class Settings:
    def __init__(self):
        tools = os.environ.get("TOOLS_BIN", os.path.join(ROOT, ".cache/tools/bin"))
        self.bins = {
            "leasehold": os.environ.get("LEASEHOLD", os.path.join(ROOT, "build/leasehold")),
            "reference": os.environ.get("REFERENCE", os.path.join(tools, "reference-elector")),
        }
        # Timings shared by both kinds: lease duration (whole seconds), renew deadline, retry period.
        self.ld = env_float("BENCH_LEASE_DURATION", 15)
        self.rd = env_float("BENCH_RENEW_DEADLINE", 10)
        self.rp = env_float("BENCH_RETRY_PERIOD", 2)
        # leasehold only (its default is 2s; short timings need a smaller one to stay valid).
        self.safety_margin = os.environ.get("BENCH_SAFETY_MARGIN", "")
        self.reps_handover = env_int("REPS_HANDOVER", env_int("REPS", 20))
        self.reps_failover = env_int("REPS_FAILOVER", 6)
        self.reps_app_health = env_int("REPS_APP_HEALTH", 10)
        # The app health check of phase app_health: period, timeout (seconds), failure threshold.
        self.app_health = (env_float("APP_HEALTH_PERIOD", 1), env_float("APP_HEALTH_TIMEOUT", 0.5),
                           env_int("APP_HEALTH_FAILURES", 3))
        self.reps_start = env_int("REPS_START", 10)
        self.reps_lease_to_file = env_int("REPS_LEASE_TO_FILE", 20)
        self.reps_wrk = env_int("REPS_WRK", 2)
        self.wrk_seconds = env_int("WRK_SECONDS", 10)
        self.wrk_conns = [int(c) for c in os.environ.get("WRK_CONNECTIONS", "1,64").split(",")]
        self.steady_window = env_float("STEADY_WINDOW", 60)
        self.steady_settle = env_float("STEADY_SETTLE", 10)
        self.scale_elections = [int(x) for x in os.environ.get("SCALE_ELECTIONS", "100,30").split(",") if x]
        self.scale_ref_elections = [int(x) for x in os.environ.get("SCALE_REF_ELECTIONS", "30").split(",") if x]
        self.scale_window = env_float("SCALE_WINDOW", 30)
        self.scale_start_interval = env_float("SCALE_START_INTERVAL", 0.1)
        # Phase elections: 3 sidecars, each with one --config of N elections (the same N Leases).
        self.elections_per_sidecar = [int(x) for x in os.environ.get("ELECTIONS_PER_SIDECAR", "1,10,100,300").split(",") if x]
        self.elections_window = env_float("ELECTIONS_WINDOW", 30)
        self.elections_settle = env_float("ELECTIONS_SETTLE", 10)
        self.reps_elections_handover = env_int("REPS_ELECTIONS_HANDOVER", 10)
        self.elections_hold_timeout = env_float("ELECTIONS_HOLD_TIMEOUT", 180)
        # The client-side API limit (--api-qps, --api-burst; 5 and 10 by default) is per election in
        # leasehold (the sidecar's is N times it): "sidecar" (the default) keeps leasehold's defaults;
        # "per-election" also writes N times them into the config, for binaries whose limit was the
        # whole sidecar's (the renewals of 100 elections alone are 50 requests/s).
        self.elections_api_limits = os.environ.get("ELECTIONS_API_LIMITS", "sidecar")
        if self.elections_api_limits not in ("per-election", "sidecar"):
            sys.exit("bench: ELECTIONS_API_LIMITS is per-election or sidecar")
        # Further top-level keys of the sidecars' --config, ";" between them (e.g. "api-qps: 50; api-burst: 100").
        self.elections_extra_config = os.environ.get("ELECTIONS_EXTRA_CONFIG", "")
        # Phase candidates: N candidates of ONE election per kind, alternating, on one control plane.
        self.candidates = [int(x) for x in os.environ.get("CANDIDATES", "3,30,100,300").split(",") if x]
        self.candidates_window = env_float("CANDIDATES_WINDOW", 30)
        self.candidates_settle = env_float("CANDIDATES_SETTLE", 10)
        self.candidates_start_interval = env_float("CANDIDATES_START_INTERVAL", 0.1)
        self.reps_candidates_handover = env_int("REPS_CANDIDATES_HANDOVER", 3)
        self.reps_candidates_failover = env_int("REPS_CANDIDATES_FAILOVER", 1)
        # Phase shards: one sharded election of SHARDS shards over SHARD_MEMBERS members, default timings.
        self.shards = env_int("SHARDS", 64)
        self.shard_members = env_int("SHARD_MEMBERS", 5)
        self.reps_shards = env_int("REPS_SHARDS", 3)
        self.shards_window = env_float("SHARDS_WINDOW", 30)
        self.image = os.environ.get("BENCH_IMAGE", "leasehold:test")
        self.poll = env_float("BENCH_POLL_SECONDS", 0.005)
        self.work_dir = os.environ.get("BENCH_WORK_DIR") or ("/dev/shm" if os.path.isdir("/dev/shm") else None)

    def timing_args(self, kind):
        def dur(s):
            return f"{int(s * 1000)}ms" if s != int(s) else f"{int(s)}s"
        args = ["--lease-duration", dur(self.ld), "--renew-deadline", dur(self.rd), "--retry-period", dur(self.rp)]
        if kind == "leasehold" and self.safety_margin:
            args += ["--safety-margin", self.safety_margin]
        return args

    def as_dict(self):
        d = {k: v for k, v in self.__dict__.items() if k != "bins"}
        d["binaries"] = {k: repo_relative(v) for k, v in self.bins.items()}
        return d


def repo_relative(path):
    """A path inside the repository is recorded relative to it: results say nothing of the machine."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.abspath(path)
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else os.path.basename(path)


def log(msg):
    print(f"bench [{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


T0 = time.monotonic()
mono = time.monotonic


# ---------------------------------------------------------------- the API server (admin, keep-alive)

class Api:
    def __init__(self):
        u = urllib.parse.urlparse(os.environ["APISERVER_URL"])
        self.host, self.port = u.hostname, u.port
        assert self.host in ("127.0.0.1", "localhost", "::1"), "loopback control planes only"
        self.ctx = ssl.create_default_context(cafile=os.environ["APISERVER_CA"])
        self.token = os.environ["ADMIN_TOKEN"]
        self.conn = None

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.2)

    def json(self, method, path, body=None, ok=(200, 201)):
        st, data = self.request(method, path, body)
        if st not in ok:
            raise RuntimeError(f"{method} {path}: {st} {data[:200]!r}")
        return json.loads(data)

    def new_namespace(self, prefix):
        name = f"{prefix}-{os.urandom(3).hex()}"
        self.json("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    @staticmethod
    def lease_path(ns, name=""):
        p = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
        return f"{p}/{name}" if name else p

    def lease_metrics(self):
        """apiserver_request_total{resource="leases"} summed by verb, and open lease watches."""
        st, data = self.request("GET", "/metrics")
        if st != 200:
            raise RuntimeError(f"/metrics: {st}")
        by_verb, by_code, watches = {}, {}, 0.0
        for line in data.decode().splitlines():
            if line.startswith("apiserver_request_total{") or line.startswith("apiserver_longrunning_requests{"):
                m = re.match(r'^(\w+)\{(.*)\} (\S+)$', line)
                if not m:
                    continue
                labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
                if labels.get("resource") != "leases":
                    continue
                v = float(m.group(3))
                if m.group(1) == "apiserver_request_total":
                    by_verb[labels.get("verb", "?")] = by_verb.get(labels.get("verb", "?"), 0) + v
                    key = f"{labels.get('verb', '?')} {labels.get('code', '?')}"
                    by_code[key] = by_code.get(key, 0) + v
                elif labels.get("verb") == "WATCH":
                    watches += v
        return {"by_verb": by_verb, "by_verb_code": by_code, "open_watches": watches}


# ---------------------------------------------------------------- agents

USED_PORTS = set()


def free_port():
    while True:
        p = random.randint(20000, 32000)
        if p in USED_PORTS:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        USED_PORTS.add(p)
        return p


LIVE = []  # every Popen we started, killed at exit


def kill_all():
    for p in LIVE:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in LIVE:
        try:
            p.wait(timeout=5)
        except Exception:
            pass


class Agent:
    def __init__(self, cfg, kind, ns, election, identity, work):
        self.cfg, self.kind, self.ns, self.election, self.identity = cfg, kind, ns, election, identity
        self.port = free_port()
        self.ops_port = free_port() if kind == "leasehold" else None
        self.dir = os.path.join(work, identity)
        os.makedirs(self.dir, exist_ok=True)
        kc = os.environ["KUBECONFIG"]
        if kind == "leasehold":
            self.argv = [cfg.bins["leasehold"], "--election", election, "--namespace", ns, "--identity", identity,
                         "--kubeconfig", kc, "--status-address", f"127.0.0.1:{self.port}",
                         "--ops-address", f"127.0.0.1:{self.ops_port}", "--status-dir", self.dir]
        else:
            self.argv = [cfg.bins["reference"], "--namespace", ns, "--election", election, "--identity", identity,
                         "--kubeconfig", kc, "--status-address", f"127.0.0.1:{self.port}"]
        self.argv += cfg.timing_args(kind)
        self.proc = None
        self.conn = None
        self.t_exec = None

    def start(self):
        logf = open(os.path.join(self.dir, "agent.log"), "ab")
        self.t_exec = mono()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        logf.close()
        LIVE.append(self.proc)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def get(self, path, timeout=0.5):
        """GET on the status listener over a kept-alive connection: the HTTP status, or None."""
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
        return None

    def get_json(self, path, timeout):
        """GET on the status listener on a connection of its own: the JSON body of a 200, or None."""
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            c.close()
            return json.loads(body) if r.status == 200 else None
        except (OSError, http.client.HTTPException, ValueError):
            return None

    def is_leader(self):
        return self.get("/v1/leader") == 200

    def ready(self):
        """leasehold: /readyz on the ops port (the Lease has been observed); reference: it answers."""
        if self.kind == "leasehold":
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.ops_port, timeout=0.5)
                c.request("GET", "/readyz")
                st = c.getresponse().status
                c.close()
                return st == 200
            except (OSError, http.client.HTTPException):
                return False
        return self.get("/v1/leader") in (200, 503)

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, grace=10):
        if self.proc is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            if self.conn:
                self.conn.close()
                self.conn = None

    # /proc readings
    def cpu_ticks(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)

    def cpu_ns_by_thread(self):
        """{tid: ns on CPU} from /proc/PID/task/*/schedstat: exact, but only for threads alive now."""
        out = {}
        try:
            tids = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            return out
        for tid in tids:
            try:
                with open(f"/proc/{self.pid}/task/{tid}/schedstat") as f:
                    out[tid] = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return out

    def memory_kb(self):
        out = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "RssAnon:", "RssFile:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0])
        try:
            with open(f"/proc/{self.pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        out["Pss"] = int(line.split()[1])
        except OSError:
            pass
        return out


class Sidecar(Agent):
    """A leasehold sidecar running several elections: one --config listing them (the first is its
    default election, the others under `elections:`); the timings of the other phases (flags)."""

    def __init__(self, cfg, ns, names, identity, work, extra_config=""):
        super().__init__(cfg, "leasehold", ns, names[0], identity, work)
        self.names = list(names)
        self.config = os.path.join(self.dir, "config.yaml")
        lines = [f"election: {names[0]}"]
        lines += [line.strip() for line in extra_config.replace(";", "\n").splitlines() if line.strip()]
        lines.append("elections:" if len(names) > 1 else "")
        lines += [f"  - name: {n}" for n in names[1:]]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        i = self.argv.index("--election")
        del self.argv[i:i + 2]
        self.argv[1:1] = ["--config", self.config]

    def elections(self):
        """{election: isLeader} from GET /v1/elections, or None without an answer."""
        body = self.get_json("/v1/elections", 5)
        return None if body is None else {e.get("election"): bool(e.get("isLeader")) for e in body.get("elections", [])}

    def resign(self, name):
        """POST /v1/elections/<name>/resign: the HTTP status, or None."""
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            c.request("POST", f"/v1/elections/{name}/resign")
            st = c.getresponse().status
            c.close()
            return st
        except (OSError, http.client.HTTPException):
            return None

    def own_metrics(self):
        """From its /metrics: API requests (leasehold_api_requests_total, every verb and code) and
        successful renewals (leasehold_renewals_total{outcome="success"}, every election)."""
        out = {"api_requests": 0.0, "renewals": 0.0}
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.ops_port, timeout=10)
            c.request("GET", "/metrics")
            body = c.getresponse().read().decode()
            c.close()
        except (OSError, http.client.HTTPException):
            return None
        for line in body.splitlines():
            m = re.match(r'^(leasehold_api_requests_total|leasehold_renewals_total)\{(.*)\} (\S+)$', line)
            if not m:
                continue
            if m.group(1) == "leasehold_api_requests_total":
                out["api_requests"] += float(m.group(3))
            elif 'outcome="success"' in m.group(2):
                out["renewals"] += float(m.group(3))
        return out

    def log_tail(self, lines=5):
        """The last lines of its log (stdout and stderr), for a sidecar that exited."""
        try:
            with open(os.path.join(self.dir, "agent.log"), errors="replace") as f:
                return "\n".join(f.read().splitlines()[-lines:])[-2000:]
        except OSError:
            return ""

    def threads(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
        return None

    def connections_to(self, port):
        """Established TCP connections of this process to `port` (any address): its socket inodes
        (/proc/PID/fd) matched against /proc/PID/net/tcp and tcp6."""
        inodes = set()
        fd_dir = f"/proc/{self.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                link = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
        n = 0
        for table in ("tcp", "tcp6"):
            try:
                with open(f"/proc/{self.pid}/net/{table}") as f:
                    next(f)
                    for line in f:
                        cols = line.split()
                        # sl local_address rem_address st ... inode (the 10th column)
                        if len(cols) > 9 and cols[3] == "01" and int(cols[2].rsplit(":", 1)[1], 16) == port \
                                and cols[9] in inodes:
                            n += 1
            except OSError:
                pass
        return n


def wait_until(pred, timeout, interval=0.05):
    end = mono() + timeout
    while mono() < end:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def wait_leader(agents, timeout, interval=None, cfg=None):
    """Polls /v1/leader of each agent every `interval` s (keep-alive); returns (agent, time of the 200)."""
    return wait_leader_at(agents, "/v1/leader", timeout, interval if interval is not None else (cfg.poll if cfg else 0.005))


def wait_leader_at(agents, path, timeout, interval):
    """Polls GET `path` of each agent every `interval` s (keep-alive); returns (agent, time of the 200)."""
    end = mono() + timeout
    while True:
        tick = mono()
        for a in agents:
            if a.get(path) == 200:
                return a, mono()
        if tick > end:
            return None, None
        rest = interval - (mono() - tick)
        if rest > 0:
            time.sleep(rest)


def leaders(agents):
    return [a for a in agents if a.is_leader()]


# ---------------------------------------------------------------- statistics

def pct(xs, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(xs)
    if not s:
        return None
    k = max(1, int(-(-p * len(s) // 100)))
    return s[min(k, len(s)) - 1]


def summary(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"n": 0}
    out = {"min": min(xs), "p50": statistics.median(xs), "p99": pct(xs, 99), "max": max(xs),
           "mean": statistics.fmean(xs)}
    return {"n": len(xs), **{k: round(v, 3) for k, v in out.items()}}


# ---------------------------------------------------------------- phase elections: derived numbers and goals
API_QPS, API_BURST = 5, 10  # leasehold's defaults of --api-qps and --api-burst (README "Flags")
API_LIMIT_MAX = 1000  # the most either accepts
# Shared with bench/report.py. Goals of a sidecar that runs many elections (3 sidecars, N elections each).
ELECTION_GOALS = {"anon_kib_per_election": 50, "cpu_mc_per_led_election": 0.1, "held_slack_s": 2, "cpu_ms_per_renewal": 0.3}


def elections_derived(run, first):
    """Numbers of one run relative to the run with the fewest elections (`first`, normally N=1)."""
    out = {}
    n, n0 = run.get("elections"), first.get("elections")
    a, a0 = run.get("rssanon_kb_median"), first.get("rssanon_kb_median")
    if n and n0 and n > n0 and a is not None and a0 is not None:
        out["rssanon_kib_per_added_election"] = round((a - a0) / (n - n0), 1)
    t, t0 = run.get("threads_max"), first.get("threads_max")
    if n and n0 and n > n0 and t is not None and t0 is not None:
        out["threads_per_added_election"] = round((t - t0) / (n - n0), 3)
    return out


def elections_line(run, first):
    """One line of numbers per N (the bench's log; the report's table has the same)."""
    n = run["elections"]
    if "per_sidecar" not in run:
        return f"N={n}: not measured ({'sidecars exited' if run.get('exited_early') else 'no window'}; " \
               f"held {run.get('held_at_end_of_wait')}/{n})"
    d = elections_derived(run, first)
    ho = run.get("handover", {}).get("summary", {})
    held = run.get("all_held_after_s")

    def f(x, digits, unit=""):
        return "n/a" if x is None else f"{x:,.{digits}f}{unit}"
    mib = {k: None if run.get(k) is None else run[k] / 1024 for k in ("vmrss_kb_median", "rssanon_kb_median")}
    return (f"N={n}: threads {run['threads_median']:g} (max {run['threads_max']}"
            + (f", {d['threads_per_added_election']:+.2f} per added election"
               if "threads_per_added_election" in d else "")
            + f"), VmRSS {f(mib['vmrss_kb_median'], 1, ' MiB')}, RssAnon {f(mib['rssanon_kb_median'], 1, ' MiB')}"
            + (f" ({d['rssanon_kib_per_added_election']:+,.1f} KiB per added election)"
               if "rssanon_kib_per_added_election" in d else "")
            + f", idle CPU {f(run.get('cpu_millicores_leading'), 2, ' mcores')} the leading sidecar "
            f"({run.get('leading_sidecar_leads')} elections) / {f(run.get('cpu_millicores_others_median'), 2, ' mcores')} "
            f"the others ({f(run.get('cpu_millicores_per_led_election'), 3, ' mcores')} per led election, all three), "
            f"{f(run.get('apiserver_connections_median'), 0)} connections to the API server per sidecar, "
            f"API requests/min per sidecar {f(run.get('api_requests_per_min_mean'), 1)} (own count, mean of 3; "
            f"API server: {f(run.get('apiserver_lease_requests_per_min_per_sidecar'), 1)}), "
            f"all held after {f(held, 2, ' s') if held is not None else 'NEVER'}, "
            f"handover p50 {f(ho.get('p50'), 1, ' ms')} (n={ho.get('n', 0)}), "
            f"CPU per renewal {f(run.get('cpu_ms_per_renewal'), 3, ' ms')} "
            f"(the leading sidecar: {f(run.get('leading_sidecar_renewals'), 0)} renewals), "
            f"CPU per watch event of another's renewal {f(run.get('cpu_ms_per_followed_renewal'), 3, ' ms')} "
            f"(the others)")


def elections_verdicts(runs, ld):
    """[{goal, measured, verdict (PASS, MISS or n/a)}]: a verdict is reported, never a failure."""
    g = ELECTION_GOALS
    ok_runs = [r for r in runs if "per_sidecar" in r]
    out = []

    def add(goal, measured, ok):
        out.append({"goal": goal, "measured": measured, "verdict": "n/a" if ok is None else ("PASS" if ok else "MISS")})
    if not runs:
        return out
    first = min(ok_runs, key=lambda r: r["elections"]) if ok_runs else None

    def at_largest(key):
        """(N, value) of the largest N with a value (a run whose elections were never led has none)."""
        xs = [(r["elections"], r[key]) for r in ok_runs if r.get(key) is not None]
        return max(xs) if xs else (None, None)
    th = [(r["elections"], r["threads_max"]) for r in ok_runs]
    add("threads constant across N", ", ".join(f"N={n}: {t}" for n, t in th) or "not measured",
        None if len(th) < 2 else len({t for _, t in th}) == 1)
    anon = [(r["elections"], elections_derived(r, first).get("rssanon_kib_per_added_election")) for r in ok_runs if r is not first]
    anon = [(n, a) for n, a in anon if a is not None]
    # Judged at the largest N, as the CPU is: a small N also pays fixed costs that N=1 does not
    # reach (the kept-alive connections grow from 2 to the pool's 5 by N=10, then no more).
    add(f"anonymous memory <= {g['anon_kib_per_election']} KiB per added election (RssAnon, relative to "
        f"N={first['elections'] if first else '?'}; judged at the largest N: N={max(anon)[0] if anon else '?'})",
        ", ".join(f"N={n}: {a:+,.1f} KiB" for n, a in anon) or "not measured",
        None if not anon else max(anon)[1] <= g["anon_kib_per_election"])
    cpu = [(r["elections"], r.get("cpu_millicores_per_led_election")) for r in ok_runs]
    n_big, big = at_largest("cpu_millicores_per_led_election")
    add(f"idle CPU per led election <= {g['cpu_mc_per_led_election']} mcores (the 3 sidecars' CPU / elections led; "
        f"judged at the largest N that led, where the fixed cost of a process is shared out: N={n_big})",
        ", ".join(f"N={n}: " + ("n/a" if c is None else f"{c:.3f} mcores") for n, c in cpu) or "not measured",
        None if big is None else big <= g["cpu_mc_per_led_election"])
    lim = ld + g["held_slack_s"]
    held = [(r["elections"], r.get("all_held_after_s")) for r in runs]
    add(f"all elections held (exactly one leader each) within lease duration + {g['held_slack_s']} s = {lim:g} s of the start",
        ", ".join(f"N={n}: {'never' if h is None else f'{h:.2f} s'}" for n, h in held),
        all(h is not None and h <= lim for _, h in held))
    ren = [(r["elections"], r.get("cpu_ms_per_renewal")) for r in ok_runs]
    n_big, big = at_largest("cpu_ms_per_renewal")
    add(f"CPU per renewal <= {g['cpu_ms_per_renewal']} ms (the leading sidecar's CPU / its successful renewals; "
        f"judged at the largest N that renewed: N={n_big})",
        ", ".join(f"N={n}: " + ("n/a" if c is None else f"{c:.3f} ms") for n, c in ren) or "not measured",
        None if big is None else big <= g["cpu_ms_per_renewal"])
    return out


# Goals of one election with many candidates (shared with bench/report.py): leasehold's requests and
# the API server's CPU stay flat as followers are added; at the most candidates, the API server's CPU
# attributable to the election is at most this fraction of client-go's.
CANDIDATE_GOALS = {"requests_growth": 1.1, "apiserver_cpu_growth": 1.5, "apiserver_cpu_vs_client_go": 0.2}


def candidates_verdicts(runs):
    """[{goal, measured, verdict (PASS, MISS or n/a)}] of phase candidates."""
    g = CANDIDATE_GOALS
    out = []

    def add(goal, measured, ok):
        out.append({"goal": goal, "measured": measured, "verdict": "n/a" if ok is None else ("PASS" if ok else "MISS")})

    def series(kind, key):
        return sorted((r["candidates"], r[key]) for r in runs if r["kind"] == kind and r.get(key) is not None)
    req = series("leasehold", "lease_requests_per_s_net")
    ok = None
    if len(req) >= 2:
        ok = req[-1][1] <= req[0][1] * g["requests_growth"] + 0.05
    add(f"leasehold's Lease requests/s do not grow with followers (the most candidates <= {g['requests_growth']}x the "
        "fewest, +0.05/s)", ", ".join(f"{n}: {x:.2f}/s" for n, x in req) or "not measured", ok)
    cpu = series("leasehold", "apiserver_cpu_millicores_net")
    ok = None
    if len(cpu) >= 2:
        ok = cpu[-1][1] <= max(cpu[0][1], 1.0) * g["apiserver_cpu_growth"]
    add(f"the API server's CPU for leasehold's election does not grow with followers (the most candidates <= "
        f"{g['apiserver_cpu_growth']}x the fewest, the fewest counted as at least 1 mcore)",
        ", ".join(f"{n}: {x:.1f} mcores" for n, x in cpu) or "not measured", ok)
    ref = dict(series("reference", "apiserver_cpu_millicores_net"))
    both = [(n, x, ref[n]) for n, x in cpu if n in ref]
    ok = None
    if both:
        n, x, y = both[-1]
        ok = y > 0 and x <= g["apiserver_cpu_vs_client_go"] * y
    add(f"at the most candidates, the API server's CPU for the election <= {g['apiserver_cpu_vs_client_go']}x client-go's",
        (lambda t: f"{t[0]} candidates: leasehold {t[1]:.1f} mcores, client-go {t[2]:.1f} mcores "
                   f"({t[1] / t[2]:.2f}x)" if t[2] > 0 else "client-go 0")(both[-1]) if both else "not measured", ok)
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


# ---------------------------------------------------------------- inotify (ctypes, no inotify-tools needed)

class Inotify:
    IN_CLOSE_WRITE, IN_MOVED_TO = 0x8, 0x80

    def __init__(self):
        self.libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self.fd = self.libc.inotify_init1(0o4000 | 0o2000000)  # IN_NONBLOCK | IN_CLOEXEC
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.wds = {}

    def watch(self, path):
        wd = self.libc.inotify_add_watch(self.fd, path.encode(), self.IN_MOVED_TO | self.IN_CLOSE_WRITE)
        if wd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
        self.wds[wd] = path

    def events(self, timeout):
        """[(directory, name, time read)] of the events available within timeout."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return []
        now = mono()
        try:
            buf = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        out, i = [], 0
        while i + 16 <= len(buf):
            wd, mask, cookie, ln = struct.unpack_from("iIII", buf, i)
            name = buf[i + 16:i + 16 + ln].rstrip(b"\0").decode()
            out.append((self.wds.get(wd), name, now))
            i += 16 + ln
        return out

    def drain(self):
        while self.events(0):
            pass

    def close(self):
        os.close(self.fd)


# ---------------------------------------------------------------- phases

class ShardMember(Agent):
    """A leasehold agent of a sharded election (--shards)."""

    def __init__(self, cfg, ns, election, shards, identity, work):
        super().__init__(cfg, "leasehold", ns, election, identity, work)
        self.argv += ["--shards", str(shards)]

    def owned(self):
        """[shard] GET /v1/shards says this member owns now, or None without an answer."""
        body = self.get_json("/v1/shards", 2)
        return None if body is None else [o.get("shard") for o in body.get("owned", [])]


def shard_owners(members, shards):
    """{shard: identity} if every shard is claimed by exactly one of `members`, else None."""
    owners = {}
    for m in members:
        owned = m.owned()
        if owned is None:
            return None
        for s in owned:
            if s in owners:
                return None
            owners[s] = m.identity
    return owners if len(owners) == shards else None


def balanced(owners, members):
    loads = [sum(1 for o in owners.values() if o == m.identity) for m in members]
    return max(loads) - min(loads) <= 1


class Bench:
    def __init__(self, cfg, out):
        self.cfg, self.out = cfg, out
        self.api = Api()
        # The agents' status dirs on tmpfs, where the chart puts them by default (statusDir.medium:
        # Memory); BENCH_WORK_DIR elsewhere (a disk: every renewal's two file replacements then
        # cost the sidecar about as much CPU as the rest of the renewal).
        self.work = tempfile.mkdtemp(prefix="leasehold-bench.", dir=cfg.work_dir)
        self.results = {"settings": cfg.as_dict(), "phases": {}}
        self.baseline = None
        self.seq = 0

    def ident(self, kind):
        self.seq += 1
        return f"{'lh' if kind == 'leasehold' else 'ref'}-{self.seq}"

    def save(self):
        tmp = self.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.results, f, indent=1, sort_keys=True)
        os.replace(tmp, self.out)

    def group(self, kind, ns, election, n=3):
        return [Agent(self.cfg, kind, ns, election, self.ident(kind), self.work).start() for _ in range(n)]

    def stop_all(self, agents):
        for a in agents:
            a.signal(signal.SIGTERM)
        for a in agents:
            a.stop()

    # -- 3 + 4: API requests, idle RSS and CPU, each kind alone
    def lease_window(self, seconds, agents=()):
        m0 = self.api.lease_metrics()
        c0 = {a.pid: a.cpu_ticks() for a in agents}
        n0 = {a.pid: a.cpu_ns_by_thread() for a in agents}
        t0 = mono()
        time.sleep(seconds)
        m1 = self.api.lease_metrics()
        c1 = {a.pid: a.cpu_ticks() for a in agents}
        n1 = {a.pid: a.cpu_ns_by_thread() for a in agents}
        dt = mono() - t0
        self.last_schedstat = {pid: sum(v - n0[pid].get(tid, 0) for tid, v in n1[pid].items()) / 1e9 / dt * 1000
                               for pid in n1}
        verbs = set(m0["by_verb"]) | set(m1["by_verb"])
        per_min = {v: (m1["by_verb"].get(v, 0) - m0["by_verb"].get(v, 0)) * 60 / dt for v in verbs}
        codes = {k: round((m1["by_verb_code"][k] - m0["by_verb_code"].get(k, 0)) * 60 / dt, 2)
                 for k in m1["by_verb_code"] if m1["by_verb_code"][k] != m0["by_verb_code"].get(k, 0)}
        hz = os.sysconf("SC_CLK_TCK")
        cpu = {pid: (c1[pid] - c0[pid]) / hz / dt * 1000 for pid in c0}  # millicores
        return {"seconds": dt, "per_min": per_min, "per_min_by_code": codes, "open_watches": m1["open_watches"]}, cpu

    def phase_steady(self):
        cfg = self.cfg
        log(f"steady: baseline window ({cfg.steady_window:.0f}s, no agents)")
        base, _ = self.lease_window(cfg.steady_window)
        self.baseline = base
        res = {"baseline": base}
        for kind in ("leasehold", "reference"):
            ns = self.api.new_namespace(f"steady-{kind[:3]}")
            agents = self.group(kind, ns, "bench")
            a, _ = wait_leader(agents, cfg.ld * 3 + 30, interval=0.1)
            if a is None:
                log(f"steady: {kind}: no leader")
                res[kind] = {"error": "no leader"}
                self.stop_all(agents)
                continue
            log(f"steady: {kind}: {a.identity} leads; settling {cfg.steady_settle:.0f}s, then a {cfg.steady_window:.0f}s window")
            time.sleep(cfg.steady_settle)
            self_reported0 = self.self_reported(agents) if kind == "leasehold" else None
            w, cpu = self.lease_window(cfg.steady_window, agents)
            self_reported1 = self.self_reported(agents) if kind == "leasehold" else None
            net = {v: w["per_min"].get(v, 0) - base["per_min"].get(v, 0) for v in set(w["per_min"]) | set(base["per_min"])}
            net = {v: round(x, 2) for v, x in net.items() if abs(x) >= 0.05 or w["per_min"].get(v)}
            lead = leaders(agents)
            per_agent = []
            for ag in agents:
                per_agent.append({"identity": ag.identity, "role": "leader" if ag in lead else "follower",
                                  "cpu_millicores": round(cpu[ag.pid], 3),
                                  "cpu_millicores_schedstat": round(self.last_schedstat.get(ag.pid, 0), 3),
                                  **{k.lower() + "_kb": v for k, v in ag.memory_kb().items()}})
            res[kind] = {
                "window": w, "net_per_min": net, "net_total_per_min": round(sum(net.values()), 2),
                "open_watches_net": w["open_watches"] - base["open_watches"],
                "leaders_after_window": len(lead), "agents": per_agent,
            }
            if self_reported0 and self_reported1:
                res[kind]["self_reported_per_min"] = {
                    k: round((self_reported1.get(k, 0) - self_reported0.get(k, 0)) * 60 / w["seconds"], 2)
                    for k in set(self_reported1)}
            log(f"steady: {kind}: {res[kind]['net_total_per_min']} lease requests/min {net}; "
                + ", ".join(f"{p['role']} {p.get('vmrss_kb', 0) / 1024:.1f} MiB {p['cpu_millicores']:.2f} mcores" for p in per_agent))
            self.stop_all(agents)
        self.results["phases"]["steady"] = res

    def self_reported(self, agents):
        """Sum over leasehold agents of leasehold_api_requests_total by verb (their own count)."""
        tot = {}
        for a in agents:
            try:
                c = http.client.HTTPConnection("127.0.0.1", a.ops_port, timeout=2)
                c.request("GET", "/metrics")
                body = c.getresponse().read().decode()
                c.close()
            except (OSError, http.client.HTTPException):
                continue
            for line in body.splitlines():
                m = re.match(r'^leasehold_api_requests_total\{(.*)\} (\S+)$', line)
                if m:
                    verb = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))).get("verb", "?")
                    tot[verb] = tot.get(verb, 0) + float(m.group(2))
        return tot

    # -- 7: process start -> first status answer
    def phase_start(self):
        cfg = self.cfg
        ns = self.api.new_namespace("start")
        res = {k: {"served_ms": [], "ready_ms": []} for k in ("leasehold", "reference")}
        for i in range(cfg.reps_start):
            for kind in ("leasehold", "reference"):
                a = Agent(cfg, kind, ns, f"start-{i}", self.ident(kind), self.work)
                path = "/v1/status" if kind == "leasehold" else "/v1/leader"
                a.start()
                t0 = a.t_exec
                served = None
                end = t0 + 10
                while mono() < end:
                    try:
                        c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=1)
                        c.request("GET", path)
                        c.getresponse().read()
                        served = mono()
                        c.close()
                        break
                    except (OSError, http.client.HTTPException):
                        time.sleep(0.0005)
                res[kind]["served_ms"].append(round((served - t0) * 1000, 3) if served else None)
                if kind == "leasehold":
                    ok = wait_until(a.ready, 10, interval=0.001)
                    res[kind]["ready_ms"].append(round((mono() - t0) * 1000, 3) if ok else None)
                a.stop()
                time.sleep(0.3)
        for kind in res:
            res[kind]["served"] = summary(res[kind]["served_ms"])
            if res[kind]["ready_ms"]:
                res[kind]["ready"] = summary(res[kind]["ready_ms"])
            log(f"start: {kind}: first answer p50 {res[kind]['served'].get('p50', float('nan')):.1f} ms")
        self.results["phases"]["start"] = res

    # -- groups for handover / failover / wrk / lease_to_file
    def ensure_groups(self):
        if getattr(self, "groups", None):
            return
        self.groups = {}
        for kind in ("leasehold", "reference"):
            ns = self.api.new_namespace(f"ho-{kind[:3]}")
            self.groups[kind] = {"ns": ns, "agents": self.group(kind, ns, "bench")}
        for kind, g in self.groups.items():
            a, _ = wait_leader(g["agents"], self.cfg.ld * 3 + 30, interval=0.1)
            if a is None:
                raise RuntimeError(f"{kind}: no leader among the first three candidates")
            log(f"groups: {kind} leader {a.identity} in {g['ns']}")
        self.settle_groups()

    def settle_groups(self):
        for g in self.groups.values():
            for a in g["agents"]:
                wait_until(a.ready, 30)
        time.sleep(1)

    def take_over_trial(self, kind, sig, timeout):
        g = self.groups[kind]
        agents = g["agents"]
        lead, _ = wait_leader(agents, self.cfg.ld * 3 + 10, interval=0.05)
        if lead is None:
            return None, "no leader before the trial"
        others = [a for a in agents if a is not lead]
        for a in others:
            wait_until(a.ready, 30)
        # A random phase against the leader's renewals and the followers' retries.
        time.sleep(0.5 + random.uniform(0, self.cfg.rp))
        for a in others:
            a.get("/v1/leader")  # warm the keep-alive connections
        t0 = mono()
        lead.proc.send_signal(sig)
        new, t1 = wait_leader(others, timeout, cfg=self.cfg)
        note = None
        rc = None
        try:
            rc = lead.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            lead.proc.kill()
            lead.proc.wait()
            note = "did not exit within 15 s of the signal"
        if lead.conn:
            lead.conn.close()
        # Replace the stopped candidate with a new process (a new identity, as a restarted pod).
        agents.remove(lead)
        agents.append(Agent(self.cfg, kind, g["ns"], "bench", self.ident(kind), self.work).start())
        if new is None:
            return None, f"no new leader within {timeout:.0f}s"
        if sig == signal.SIGTERM and rc != 0:
            note = f"exit status {rc} after SIGTERM"
        return (t1 - t0) * 1000, note

    def phase_takeover(self, name, sig, reps, timeout):
        self.ensure_groups()
        res = {k: {"ms": [], "failures": [], "notes": []} for k in ("leasehold", "reference")}
        for i in range(reps):
            for kind in ("leasehold", "reference"):
                ms, note = self.take_over_trial(kind, sig, timeout)
                if ms is None:
                    res[kind]["failures"].append(note)
                else:
                    res[kind]["ms"].append(round(ms, 2))
                if note and ms is not None:
                    res[kind]["notes"].append(note)
                log(f"{name} {i + 1}/{reps}: {kind}: " + (f"{ms:.1f} ms" if ms is not None else note))
        for kind in res:
            res[kind]["summary"] = summary(res[kind]["ms"])
        self.results["phases"][name] = res

    def phase_handover(self):
        self.phase_takeover("handover", signal.SIGTERM, self.cfg.reps_handover, self.cfg.ld * 2 + 10)

    def phase_failover(self):
        self.phase_takeover("failover", signal.SIGKILL, self.cfg.reps_failover, self.cfg.ld * 2 + 10)

    # -- the leader's app fails its health check
    def phase_app_health(self):
        """leasehold only (client-go's elector does not look at the app). One election of 3
        candidates, each checking its own stand-in app (tests/e2e/health_app.py) with an HTTP check
        every APP_HEALTH_PERIOD, cut off after APP_HEALTH_TIMEOUT, APP_HEALTH_FAILURES failures in a
        row making it unhealthy. Per trial the leader's app starts answering 500; timed from the
        moment its app answered the last failing check (the APP_HEALTH_FAILURES-th 500, from the
        app's own request log) to the first 200 of GET /v1/leader of another candidate (polled
        every 5 ms), and from its first failing check. Then the app is made healthy again, and the
        next trial waits one lease duration: a candidate that resigned stands back that long, and
        the figure is meant for a healthy follower that may take over (not one standing back)."""
        period, timeout, failures = self.cfg.app_health
        ns = self.api.new_namespace("health")
        script = os.path.join(ROOT, "tests/e2e/health_app.py")
        agents = []
        for _ in range(3):
            ident = self.ident("leasehold")
            port = free_port()
            mode = os.path.join(self.work, ident + ".mode")
            with open(mode, "w") as f:
                f.write("ok\n")
            LIVE.append(subprocess.Popen([sys.executable, script, "--port", str(port), "--mode-file", mode],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True))
            a = Agent(self.cfg, "leasehold", ns, "bench", ident, self.work)
            a.argv += ["--app-health-url", f"http://127.0.0.1:{port}/healthz",
                       "--app-health-period", f"{int(period * 1000)}ms", "--app-health-timeout",
                       f"{int(timeout * 1000)}ms", "--app-health-failure-threshold", str(failures)]
            a.mode = mode
            agents.append(a.start())

        def app_state(a):
            try:
                c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=0.5)
                c.request("GET", "/v1/status")
                state = json.loads(c.getresponse().read()).get("appHealth") or {}
                c.close()
                return state.get("state")
            except (OSError, http.client.HTTPException, ValueError):
                return None

        def failing_checks(a, since_ms):
            try:
                with open(a.mode + ".requests") as f:
                    rows = [line.split() for line in f]
            except OSError:
                return []
            return [int(r[0]) for r in rows if len(r) == 2 and r[1] == "fail" and int(r[0]) >= since_ms]

        res = {"settings": {"period_s": period, "timeout_s": timeout, "failure_threshold": failures},
               "from_last_check_ms": [], "from_first_failure_ms": [], "failures": []}
        for i in range(self.cfg.reps_app_health):
            for a in agents:
                wait_until(lambda: app_state(a) == "healthy", 30)
            lead, _ = wait_leader(agents, self.cfg.ld * 3 + 10, interval=0.05)
            if lead is None:
                res["failures"].append("no leader before the trial")
                continue
            others = [a for a in agents if a is not lead]
            time.sleep(0.5 + random.uniform(0, period))
            for a in others:
                a.get("/v1/leader")
            since_ms = time.time_ns() // 1000000
            with open(lead.mode, "w") as f:
                f.write("fail\n")
            new, t1 = wait_leader(others, failures * period + timeout + self.cfg.ld * 2 + 10, cfg=self.cfg)
            t1_ms = (time.time_ns() - (mono() - t1) * 1e9) / 1e6 if new else None
            with open(lead.mode, "w") as f:
                f.write("ok\n")
            resigned = mono()
            fails = failing_checks(lead, since_ms)
            if new is None or len(fails) < failures:
                res["failures"].append("no new leader in time" if new is None else f"only {len(fails)} failed checks")
                log(f"app_health {i + 1}: {res['failures'][-1]}")
                continue
            res["from_last_check_ms"].append(round(t1_ms - fails[failures - 1], 2))
            res["from_first_failure_ms"].append(round(t1_ms - fails[0], 2))
            log(f"app_health {i + 1}/{self.cfg.reps_app_health}: last failing check -> {new.identity} told leader in "
                f"{res['from_last_check_ms'][-1]:.1f} ms ({res['from_first_failure_ms'][-1]:.0f} ms from the first)")
            time.sleep(max(0.0, self.cfg.ld + 0.5 - (mono() - resigned)))
        res["summary"] = summary(res["from_last_check_ms"])
        res["summary_from_first"] = summary(res["from_first_failure_ms"])
        self.stop_all(agents)
        self.results["phases"]["app_health"] = res

    # -- 5: status endpoint under wrk
    def phase_wrk(self):
        self.ensure_groups()
        res = {k: {f"c{c}": [] for c in self.cfg.wrk_conns} for k in ("leasehold", "reference")}
        for i in range(self.cfg.reps_wrk):
            for conns in self.cfg.wrk_conns:
                for kind in ("leasehold", "reference"):
                    lead, _ = wait_leader(self.groups[kind]["agents"], self.cfg.ld * 3 + 10, interval=0.05)
                    if lead is None:
                        res[kind][f"c{conns}"].append({"error": "no leader"})
                        continue
                    r = run_wrk(f"http://127.0.0.1:{lead.port}/v1/leader", conns, self.cfg.wrk_seconds)
                    r["still_leader"] = lead.is_leader()
                    res[kind][f"c{conns}"].append(r)
                    log(f"wrk {i + 1}/{self.cfg.reps_wrk} c{conns}: {kind}: {r.get('rps', 0):.0f} req/s, "
                        f"p50 {r.get('p50_ms', float('nan')):.3f} ms p99 {r.get('p99_ms', float('nan')):.3f} ms, "
                        f"non-2xx {r.get('non_2xx', 0)}")
        for kind in res:
            for key, runs in list(res[kind].items()):
                ok = [r for r in runs if "rps" in r]
                if ok:
                    res[kind][key + "_median"] = {m: statistics.median([r[m] for r in ok]) for m in ("rps", "p50_ms", "p99_ms")}
        self.results["phases"]["wrk"] = res

    # -- 6: a Lease change -> leasehold's status files
    def phase_lease_to_file(self):
        """Another holder is written into the Lease (a CAS update, as a take-over by someone else);
        timed until the leader's `state` file says follower and a follower's status.json names
        the new holder (inotify, read in a thread while the write is under way). The instant of
        the change is taken three ways: when the PUT was sent, when its answer came back, and when
        a watch of our own on the Lease delivered the event (the moment any watcher can know)."""
        self.ensure_groups()
        g = self.groups["leasehold"]
        ns, path = g["ns"], Api.lease_path(g["ns"], "bench")
        keys = ("state_from_watch_ms", "state_from_send_ms", "state_from_answer_ms", "status_json_from_watch_ms",
                "status_json_from_send_ms", "put_ms", "watch_from_send_ms")
        res = {k: [] for k in keys}
        res["failures"] = []
        for i in range(self.cfg.reps_lease_to_file):
            lead, _ = wait_leader(g["agents"], self.cfg.ld * 3 + 10, interval=0.05)
            if lead is None:
                res["failures"].append("no leader")
                continue
            follower = next(a for a in g["agents"] if a is not lead)
            time.sleep(0.3 + random.uniform(0, self.cfg.rp))
            intruder = f"bench-intruder-{i}"
            lease = self.api.json("GET", path)
            seen = {}
            ino = Inotify()
            ino.watch(lead.dir)
            ino.watch(follower.dir)
            ino.drain()
            stop = threading.Event()
            watch_ready = threading.Event()

            def files():
                while not stop.is_set() and ("state" not in seen or "status" not in seen):
                    for d, name, t in ino.events(0.05):
                        try:
                            if d == lead.dir and name == "state" and "state" not in seen:
                                with open(os.path.join(d, name)) as f:
                                    if f.read().startswith("follower"):
                                        seen["state"] = t
                            if d == follower.dir and name == "status.json" and "status" not in seen:
                                with open(os.path.join(d, name)) as f:
                                    if json.load(f).get("leader") == intruder:
                                        seen["status"] = t
                        except (OSError, ValueError):
                            pass

            def watch():
                api = Api()
                q = (f"{Api.lease_path(ns)}?watch=1&fieldSelector=metadata.name%3Dbench"
                     f"&resourceVersion={lease['metadata']['resourceVersion']}&timeoutSeconds=10")
                conn = http.client.HTTPSConnection(api.host, api.port, context=api.ctx, timeout=10)
                try:
                    conn.request("GET", q, headers={"Authorization": f"Bearer {api.token}"})
                    r = conn.getresponse()
                    watch_ready.set()
                    while not stop.is_set():
                        line = r.readline()
                        if not line:
                            break
                        ev = json.loads(line)
                        if ev.get("object", {}).get("spec", {}).get("holderIdentity") == intruder:
                            seen["watch"] = mono()
                            break
                except (OSError, ValueError, http.client.HTTPException):
                    pass
                finally:
                    watch_ready.set()
                    conn.close()

            threads = [threading.Thread(target=files, daemon=True), threading.Thread(target=watch, daemon=True)]
            for t in threads:
                t.start()
            watch_ready.wait(5)
            time.sleep(0.05)
            t_send = t_resp = None
            for attempt in range(5):
                lease["spec"]["holderIdentity"] = intruder
                lease["spec"]["leaseTransitions"] = lease["spec"].get("leaseTransitions", 0) + 1
                now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
                lease["spec"]["acquireTime"] = lease["spec"]["renewTime"] = now
                t_send = mono()
                st, _ = self.api.request("PUT", path, lease)
                t_resp = mono()
                if st == 200:
                    break
                t_send = None
                lease = self.api.json("GET", path)
            deadline = mono() + 5
            while mono() < deadline and len(seen) < 3:
                time.sleep(0.01)
            stop.set()
            for t in threads:
                t.join(12)
            ino.close()
            if t_send is None:
                res["failures"].append("could not write the Lease")
                continue

            def ms(a, b):
                return round((seen[a] - b) * 1000, 3) if a in seen and b is not None else None
            tw = seen.get("watch")
            res["put_ms"].append(round((t_resp - t_send) * 1000, 3))
            res["watch_from_send_ms"].append(ms("watch", t_send))
            res["state_from_send_ms"].append(ms("state", t_send))
            res["state_from_answer_ms"].append(ms("state", t_resp))
            res["state_from_watch_ms"].append(ms("state", tw))
            res["status_json_from_send_ms"].append(ms("status", t_send))
            res["status_json_from_watch_ms"].append(ms("status", tw))
            if "state" not in seen or "status" not in seen:
                res["failures"].append(f"rep {i + 1}: file not updated within 5 s ({sorted(seen)})")
            log(f"lease_to_file {i + 1}/{self.cfg.reps_lease_to_file}: PUT answered in {res['put_ms'][-1]} ms, "
                f"our watch saw it at +{res['watch_from_send_ms'][-1]} ms; leader's state +{res['state_from_send_ms'][-1]} ms, "
                f"follower's status.json +{res['status_json_from_send_ms'][-1]} ms (from the send)")
            # Release the intruder's hold (as a graceful leader would): the watchers take over at once.
            for attempt in range(5):
                lease = self.api.json("GET", path)
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["leaseDurationSeconds"] = 1
                st, _ = self.api.request("PUT", path, lease)
                if st == 200:
                    break
        for k in keys:
            res[k.replace("_ms", "") + "_summary"] = summary(res[k])
        self.results["phases"]["lease_to_file"] = res

    # -- 9: many elections on one API server
    def scale_run(self, kind, n):
        cfg = self.cfg
        ns = self.api.new_namespace(f"scale-{kind[:3]}")
        log(f"scale: {kind}: starting {n} elections x 3 = {3 * n} processes")
        agents = []
        t_start = mono()
        # Started at a steady pace (SCALE_START_INTERVAL), as a rollout would, not all in one instant.
        for e in range(n):
            for _ in range(3):
                agents.append(Agent(cfg, kind, ns, f"e{e}", self.ident(kind), self.work).start())
                time.sleep(cfg.scale_start_interval)
        t_started = mono() - t_start
        held = 0
        end = mono() + cfg.ld * 3 + 120
        while mono() < end:
            try:
                items = self.api.json("GET", Api.lease_path(ns))["items"]
                held = sum(1 for it in items if it.get("spec", {}).get("holderIdentity"))
            except (OSError, RuntimeError, http.client.HTTPException):
                pass
            if held >= n:
                break
            time.sleep(2)
        t_all = mono() - t_start
        dead = sum(1 for a in agents if not a.alive())
        log(f"scale: {kind}: {held}/{n} elections held after {t_all:.1f}s ({dead} processes exited); settling")
        time.sleep(cfg.steady_settle)
        w, cpu = self.lease_window(cfg.scale_window, [a for a in agents if a.alive()])
        base = self.baseline["per_min"] if self.baseline else {}
        net = {v: round(w["per_min"].get(v, 0) - base.get(v, 0), 1) for v in set(w["per_min"]) | set(base)}
        rss = [a.memory_kb().get("VmRSS", 0) for a in agents if a.alive()]
        pss = [a.memory_kb().get("Pss", 0) for a in agents if a.alive()]
        by_election = {}
        for a in agents:
            if a.alive() and a.is_leader():
                by_election[a.election] = by_election.get(a.election, 0) + 1
        r = {"elections": n, "processes": 3 * n, "all_held_after_s": round(t_all, 1), "held": held,
             "start_interval_s": cfg.scale_start_interval, "all_started_after_s": round(t_started, 1),
             "exited_early": dead, "window": w, "net_per_min": net,
             "net_per_s": round(sum(net.values()) / 60, 2),
             "rss_kb_median": statistics.median(rss) if rss else None, "pss_kb_median": statistics.median(pss) if pss else None,
             "rss_kb_sum": sum(rss), "cpu_millicores_median": statistics.median(cpu.values()) if cpu else None,
             "cpu_millicores_sum": sum(cpu.values()),
             "cpu_millicores_schedstat_median": round(statistics.median(self.last_schedstat.values()), 3) if cpu else None,
             "elections_with_one_leader": sum(1 for v in by_election.values() if v == 1),
             "elections_with_two_leaders": sum(1 for v in by_election.values() if v > 1),
             "loadavg": loadavg()}
        log(f"scale: {kind} {n}x3: {r['net_per_s']} lease requests/s, RSS median {r['rss_kb_median'] / 1024:.1f} MiB, "
            f"CPU median {r['cpu_millicores_median']:.2f} mcores, {r['elections_with_one_leader']} elections with one leader")
        for a in agents:
            a.signal(signal.SIGTERM)
        for a in agents:
            a.stop(grace=15)
        return r

    def phase_scale(self):
        self.close()  # the handover groups would add their own requests to the counts
        if self.baseline is None:
            log(f"scale: baseline window ({self.cfg.scale_window:.0f}s, no agents)")
            self.baseline, _ = self.lease_window(self.cfg.scale_window)
        res = {"leasehold": [], "reference": []}
        for n in self.cfg.scale_elections:
            res["leasehold"].append(self.scale_run("leasehold", n))
            self.save_partial("scale", res)
        for n in self.cfg.scale_ref_elections:
            res["reference"].append(self.scale_run("reference", n))
            self.save_partial("scale", res)
        self.results["phases"]["scale"] = res

    # -- 10: many elections in one sidecar
    def lease_holders(self, ns):
        """{Lease name: holderIdentity ("" if none)} of the namespace, or None on an error."""
        try:
            items = self.api.json("GET", Api.lease_path(ns))["items"]
        except (OSError, RuntimeError, ValueError, http.client.HTTPException):
            return None
        return {it["metadata"]["name"]: it.get("spec", {}).get("holderIdentity") or "" for it in items}

    def election_leaders(self, sidecars, names):
        """{election: [identities of the sidecars saying isLeader]} from each one's /v1/elections
        (None when a sidecar does not answer)."""
        out = {n: [] for n in names}
        for sc in sidecars:
            view = sc.elections()
            if view is None:
                return None
            for n in names:
                if view.get(n):
                    out[n].append(sc.identity)
        return out

    def all_held_once(self, ns, sidecars, names):
        """Every election's Lease names one of the sidecars, and exactly that one says it leads."""
        holders = self.lease_holders(ns)
        if holders is None or any(not holders.get(n) for n in names):
            return False, holders
        led = self.election_leaders(sidecars, names)
        if led is None:
            return False, holders
        return all(led[n] == [holders[n]] for n in names), holders

    def elections_handover(self, sidecars, names):
        """POST /v1/elections/<name>/resign on the holder, timed until another sidecar's
        /v1/elections/<name>/leader answers 200. Rep i resigns election i mod N; a sidecar that
        resigned an election stands back from it for one lease duration, so with few elections a
        rep may wait until one of the others may take over."""
        cfg = self.cfg
        res = {"ms": [], "failures": [], "elections": []}
        standing = {}  # (election, identity) -> until (monotonic)
        for i in range(cfg.reps_elections_handover):
            if i >= 3 and not res["ms"]:
                res["failures"].append(f"gave up after {i} reps without a handover")
                break
            name = names[i % len(names)]
            path = f"/v1/elections/{name}/leader"
            holder = None
            end = mono() + cfg.ld * 3 + 10
            while mono() < end and holder is None:
                lead = [sc for sc in sidecars if sc.get(path) == 200]
                if len(lead) == 1:
                    holder = lead[0]
                else:
                    time.sleep(0.1)
            if holder is None:
                res["failures"].append(f"rep {i + 1}: {name} has no single leader")
                continue
            others = [sc for sc in sidecars if sc is not holder]
            free_at = min(standing.get((name, sc.identity), 0) for sc in others)
            if free_at > mono():
                time.sleep(free_at - mono() + 0.2)
            time.sleep(0.2 + random.uniform(0, cfg.rp))  # a random phase against renewals
            for sc in others:
                sc.get(path)  # warm the keep-alive connections
            t0 = mono()
            st = holder.resign(name)
            if st != 202:
                res["failures"].append(f"rep {i + 1}: resign of {name} answered {st}")
                continue
            standing[(name, holder.identity)] = mono() + cfg.ld
            new, t1 = wait_leader_at(others, path, cfg.ld * 2 + 10, cfg.poll)
            if new is None:
                res["failures"].append(f"rep {i + 1}: no other sidecar led {name} within {cfg.ld * 2 + 10:.0f}s")
                continue
            res["ms"].append(round((t1 - t0) * 1000, 2))
            res["elections"].append(name)
            log(f"elections: handover {i + 1}/{cfg.reps_elections_handover} of {name}: {res['ms'][-1]} ms")
        res["summary"] = summary(res["ms"])
        return res

    def elections_run(self, n):
        cfg = self.cfg
        ns = self.api.new_namespace(f"elections-{n}")
        names = [f"election-{i}" for i in range(n)]
        log(f"elections: 3 sidecars x {n} elections in {ns}")
        extra = cfg.elections_extra_config
        if cfg.elections_api_limits == "per-election":
            extra = f"api-qps: {min(API_LIMIT_MAX, API_QPS * n):g}; api-burst: {min(API_LIMIT_MAX, API_BURST * n)}; {extra}"
        sidecars = [Sidecar(cfg, ns, names, self.ident("leasehold"), self.work, extra) for _ in range(3)]
        # The first sidecar starts alone and takes every Lease; the other two start once it holds
        # them all. The idle window then tells leading (the first: its renewals and their echoes)
        # from following (the others: every renewal's watch event), which a three-way split of the
        # leaderships would mix in each sidecar's CPU.
        t_start = mono()
        sidecars[0].start()
        # Polled every 0.2 s: the Leases (one list), then, once all name a holder, every sidecar's view.
        held_after, holders = None, None
        end = t_start + cfg.elections_hold_timeout
        while mono() < end:
            ok, holders = self.all_held_once(ns, sidecars[:1], names)
            if ok:
                held_after = mono() - t_start
                break
            if not sidecars[0].alive():
                break
            time.sleep(0.2)
        if held_after is not None:
            for sc in sidecars[1:]:
                sc.start()
            agreed = False
            while mono() < end and not agreed and all(sc.alive() for sc in sidecars):
                agreed, holders = self.all_held_once(ns, sidecars, names)
                time.sleep(0 if agreed else 0.2)
            if not agreed:
                held_after = None
        held = sum(1 for nm in names if holders and holders.get(nm))
        r = {"elections": n, "sidecars": 3, "config_extra": extra.strip("; "),
             "all_held_after_s": round(held_after, 2) if held_after is not None else None,
             "held_at_end_of_wait": held, "loadavg_start": loadavg()}
        log(f"elections: N={n}: " + (f"every election has exactly one leader after {held_after:.2f}s" if held_after is not None
                                     else f"not all held within {cfg.elections_hold_timeout:.0f}s ({held}/{n} Leases have a holder)"))
        dead = [sc for sc in sidecars if not sc.alive()]
        if dead:
            r["exited_early"] = {sc.identity: {"status": sc.proc.returncode, "log_tail": sc.log_tail()} for sc in dead}
            log(f"elections: N={n}: sidecars exited: " + "; ".join(
                f"{sc.identity} (status {sc.proc.returncode}): {sc.log_tail(1)}" for sc in dead))
            self.stop_sidecars(sidecars)
            return r
        time.sleep(cfg.elections_settle)
        try:
            self.elections_window(r, sidecars, names)
        except (OSError, TypeError, ValueError, RuntimeError, http.client.HTTPException) as e:  # a sidecar gone, say
            r["error"] = f"{type(e).__name__}: {e}"[:300]
            log(f"elections: N={n}: no window: {r['error']}")
            r.pop("per_sidecar", None)
            self.stop_sidecars(sidecars)
            return r
        if held_after is not None:
            r["handover"] = self.elections_handover(sidecars, names)
        else:
            r["handover"] = {"ms": [], "failures": ["not measured: the elections were not all held"], "summary": {"n": 0}}
        r["loadavg_end"] = loadavg()
        self.stop_sidecars(sidecars)
        return r

    def elections_window(self, r, sidecars, names):
        """The idle window of phase elections: fills `r` with the numbers per sidecar and their summary."""
        cfg = self.cfg
        # Nothing of ours asks the API server about Leases meanwhile.
        m0 = self.api.lease_metrics()
        own0 = {sc.pid: sc.own_metrics() for sc in sidecars}
        c0 = {sc.pid: sc.cpu_ticks() for sc in sidecars}
        s0 = {sc.pid: sc.cpu_ns_by_thread() for sc in sidecars}
        t0 = mono()
        time.sleep(cfg.elections_window)
        c1 = {sc.pid: sc.cpu_ticks() for sc in sidecars}
        s1 = {sc.pid: sc.cpu_ns_by_thread() for sc in sidecars}
        dt = mono() - t0
        own1 = {sc.pid: sc.own_metrics() for sc in sidecars}
        m1 = self.api.lease_metrics()
        hz = os.sysconf("SC_CLK_TCK")
        led = self.election_leaders(sidecars, names) or {}
        base = self.baseline["per_min"] if self.baseline else {}
        apiserver_per_min = sum((m1["by_verb"].get(v, 0) - m0["by_verb"].get(v, 0)) for v in set(m1["by_verb"])) * 60 / dt
        apiserver_net = apiserver_per_min - sum(base.values())
        per = []
        for sc in sidecars:
            mem = sc.memory_kb()
            o0, o1 = own0[sc.pid], own1[sc.pid]
            cpu_s = (c1[sc.pid] - c0[sc.pid]) / hz
            renewals = (o1["renewals"] - o0["renewals"]) if o0 and o1 else None
            per.append({
                "identity": sc.identity,
                "leads": sum(1 for nm in names if sc.identity in led.get(nm, [])),
                "threads": sc.threads(),
                "vmrss_kb": mem.get("VmRSS"), "rssanon_kb": mem.get("RssAnon"), "pss_kb": mem.get("Pss"),
                "cpu_millicores": round(cpu_s / dt * 1000, 3),
                "cpu_millicores_schedstat": round(sum(v - s0[sc.pid].get(tid, 0) for tid, v in s1[sc.pid].items())
                                                  / 1e9 / dt * 1000, 3),
                "apiserver_connections": sc.connections_to(self.api.port),
                "api_requests_per_min": round((o1["api_requests"] - o0["api_requests"]) * 60 / dt, 1) if o0 and o1 else None,
                "renewals": renewals,
                "cpu_ms_per_renewal": round(cpu_s * 1000 / renewals, 3) if renewals else None,
            })
        lead_sc = max(per, key=lambda p: p["renewals"] or 0)
        total_cpu = sum(p["cpu_millicores"] for p in per)
        total_led = sum(p["leads"] for p in per)

        def med(key):
            xs = [p[key] for p in per if p.get(key) is not None]
            return statistics.median(xs) if xs else None
        r.update({
            "window_s": round(dt, 1), "per_sidecar": per,
            "threads_median": med("threads"), "threads_max": max(p["threads"] or 0 for p in per),
            "vmrss_kb_median": med("vmrss_kb"), "rssanon_kb_median": med("rssanon_kb"),
            "cpu_millicores_median": med("cpu_millicores"), "cpu_millicores_sum": round(total_cpu, 3),
            "cpu_millicores_leading": lead_sc["cpu_millicores"],
            "cpu_millicores_others_median": statistics.median([p["cpu_millicores"] for p in per if p is not lead_sc]),
            "elections_led": total_led,
            "cpu_millicores_per_led_election": round(total_cpu / total_led, 4) if total_led else None,
            "apiserver_connections_median": med("apiserver_connections"),
            "api_requests_per_min_median": med("api_requests_per_min"),
            # The followers of every election only watch: the mean of the three, as the API server's count / 3.
            "api_requests_per_min_mean": round(sum(p["api_requests_per_min"] or 0 for p in per) / 3, 1),
            "apiserver_lease_requests_per_min_per_sidecar": round(apiserver_net / 3, 1),
            "apiserver_lease_requests_per_min_by_verb": {
                v: round((m1["by_verb"].get(v, 0) - m0["by_verb"].get(v, 0)) * 60 / dt - base.get(v, 0), 1)
                for v in set(m1["by_verb"]) | set(base)},
            "apiserver_open_lease_watches": m1["open_watches"],
            "leading_sidecar": lead_sc["identity"], "leading_sidecar_leads": lead_sc["leads"],
            "leading_sidecar_renewals": lead_sc["renewals"],
            "cpu_ms_per_renewal": lead_sc["cpu_ms_per_renewal"],
            # A follower's CPU per watch event of another's renewal: the others' median CPU over the
            # leading sidecar's renewal rate (each renewal is one event to every follower).
            "cpu_ms_per_followed_renewal": (
                round(statistics.median([p["cpu_millicores"] for p in per if p is not lead_sc])
                      / (lead_sc["renewals"] / dt), 3) if lead_sc["renewals"] else None),
            "elections_with_one_leader": sum(1 for nm in names if len(led.get(nm, [])) == 1),
            "elections_with_two_leaders": sum(1 for nm in names if len(led.get(nm, [])) > 1),
        })

    def stop_sidecars(self, sidecars):
        """SIGTERM to all; each releases its Leases one after another (today, with many elections that
        cannot reach the API server, that took 30 s), so a longer grace than stop_all's."""
        t = mono()
        for sc in sidecars:
            sc.signal(signal.SIGTERM)
        for sc in sidecars:
            sc.stop(grace=max(1.0, 60 - (mono() - t)))
        log(f"elections: sidecars stopped in {mono() - t:.1f}s")

    def phase_elections(self):
        cfg = self.cfg
        self.close()  # the handover groups would add their own requests to the counts
        if self.baseline is None:
            log(f"elections: baseline window ({cfg.elections_window:.0f}s, no agents)")
            self.baseline, _ = self.lease_window(cfg.elections_window)
        res = {"runs": [], "settings": {"window_s": cfg.elections_window, "settle_s": cfg.elections_settle,
                                        "api_limits": cfg.elections_api_limits,
                                        "extra_config": cfg.elections_extra_config}}
        for n in cfg.elections_per_sidecar:
            run = self.elections_run(n)
            res["runs"].append(run)
            measured = [x for x in res["runs"] if "per_sidecar" in x] or res["runs"]
            log("elections: " + elections_line(run, min(measured, key=lambda x: x["elections"])))
            self.save_partial("elections", res)
        res["verdicts"] = elections_verdicts(res["runs"], cfg.ld)
        for v in res["verdicts"]:
            log(f"elections: {v['verdict']}: {v['goal']}: {v['measured']}")
        self.results["phases"]["elections"] = res

    # -- 11: many candidates in one election
    def controlplane_pids(self):
        """{"etcd": pid, "kube-apiserver": pid} from the control plane's pids file (etcd first)."""
        try:
            with open(os.path.join(os.environ["CONTROLPLANE_DIR"], "pids")) as f:
                pids = [int(x) for x in f.read().split()]
        except (KeyError, OSError, ValueError):
            return {}
        return dict(zip(("etcd", "kube-apiserver"), pids))

    @staticmethod
    def proc_cpu_s(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def proc_rss_kb(pid):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def etcd_counters(self):
        """etcd's own counts of writes (puts, deletes, txns) from its /metrics (None without an answer)."""
        url = os.environ.get("ETCD_URL")
        if not url:
            return None
        u = urllib.parse.urlparse(url)
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            c.request("GET", "/metrics")
            body = c.getresponse().read().decode()
            c.close()
        except (OSError, http.client.HTTPException):
            return None
        out = {}
        for line in body.splitlines():
            m = re.match(r'^(etcd_mvcc_put_total|etcd_mvcc_delete_total|etcd_mvcc_txn_total|etcd_mvcc_range_total)(?:\{.*\})? (\S+)$', line)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))
        return out

    def controlplane_window(self, seconds, agents=()):
        """One idle window: Lease requests to the API server (by verb, per s), the API server's and
        etcd's CPU (millicores) and RSS, etcd's writes (per s) and the agents' CPU (millicores)."""
        cp = self.controlplane_pids()
        m0, e0 = self.api.lease_metrics(), self.etcd_counters()
        p0 = {k: self.proc_cpu_s(p) for k, p in cp.items()}
        a0 = {a.pid: a.cpu_ticks() for a in agents}
        t0 = mono()
        time.sleep(seconds)
        dt = mono() - t0
        m1, e1 = self.api.lease_metrics(), self.etcd_counters()
        p1 = {k: self.proc_cpu_s(p) for k, p in cp.items()}
        a1 = {a.pid: a.cpu_ticks() for a in agents}
        hz = os.sysconf("SC_CLK_TCK")
        by_verb = {v: round((m1["by_verb"].get(v, 0) - m0["by_verb"].get(v, 0)) / dt, 3) for v in m1["by_verb"]}
        by_verb = {v: x for v, x in by_verb.items() if x}
        w = {"seconds": round(dt, 1), "lease_requests_per_s_by_verb": by_verb,
             "lease_requests_per_s": round(sum(by_verb.values()), 3), "open_lease_watches": m1["open_watches"],
             "agents_cpu_millicores_sum": round(sum((a1[p] - a0[p]) / hz for p in a0) / dt * 1000, 2)}
        for k in cp:
            w[f"{k}_cpu_millicores"] = round((p1[k] - p0[k]) / dt * 1000, 2)
            w[f"{k}_rss_kb"] = self.proc_rss_kb(cp[k])
        if e0 and e1:
            w["etcd_writes_per_s"] = round((e1.get("etcd_mvcc_put_total", 0) - e0.get("etcd_mvcc_put_total", 0)
                                            + e1.get("etcd_mvcc_delete_total", 0) - e0.get("etcd_mvcc_delete_total", 0)) / dt, 3)
            w["etcd_reads_per_s"] = round((e1.get("etcd_mvcc_range_total", 0) - e0.get("etcd_mvcc_range_total", 0)) / dt, 3)
        return w

    def holder_of(self, ns, name):
        try:
            return (self.api.json("GET", Api.lease_path(ns, name)).get("spec") or {}).get("holderIdentity") or ""
        except (OSError, RuntimeError, ValueError, http.client.HTTPException):
            return None

    def candidates_takeover(self, kind, ns, agents, sig, timeout):
        """Signals the leader of the election; the ms until the candidate the Lease names next says it
        leads (the Lease polled, then that candidate's /v1/leader every BENCH_POLL_SECONDS), or a failure."""
        by_id = {a.identity: a for a in agents}
        holder = None
        end = mono() + self.cfg.ld * 3 + 10
        while mono() < end:
            h = self.holder_of(ns, "bench")
            if h in by_id and by_id[h].is_leader():
                holder = by_id[h]
                break
            time.sleep(0.2)
        if holder is None:
            return None, "no leader before the trial"
        time.sleep(0.5 + random.uniform(0, self.cfg.rp))  # a random phase against renewals and polls
        t0 = mono()
        holder.proc.send_signal(sig)
        new, t1 = None, None
        end = t0 + timeout
        while mono() < end and new is None:
            h = self.holder_of(ns, "bench")
            if h and h != holder.identity and h in by_id:
                cand = by_id[h]
                while mono() < end:
                    if cand.get("/v1/leader") == 200:
                        new, t1 = cand, mono()
                        break
                    if self.holder_of(ns, "bench") != h:
                        break
                    time.sleep(self.cfg.poll)
            else:
                time.sleep(self.cfg.poll)
        try:
            holder.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            holder.proc.kill()
            holder.proc.wait()
        agents.remove(holder)
        agents.append(Agent(self.cfg, kind, ns, "bench", self.ident(kind), self.work).start())
        if new is None:
            return None, f"no new leader within {timeout:.0f}s"
        return (t1 - t0) * 1000, None

    def candidates_run(self, kind, n):
        cfg = self.cfg
        ns = self.api.new_namespace(f"cand-{kind[:3]}-{n}")
        log(f"candidates: {kind}: {n} candidates of one election in {ns}")
        agents = []
        t_start = mono()
        for _ in range(n):
            agents.append(Agent(cfg, kind, ns, "bench", self.ident(kind), self.work).start())
            time.sleep(cfg.candidates_start_interval)
        r = {"kind": kind, "candidates": n, "all_started_after_s": round(mono() - t_start, 1)}
        lead = None
        end = mono() + cfg.ld * 3 + 60
        while mono() < end:
            h = self.holder_of(ns, "bench")
            lead = next((a for a in agents if a.identity == h), None)
            if lead is not None and lead.is_leader():
                break
            lead = None
            time.sleep(0.5)
        # Every candidate up and answering (leasehold: ready, it has seen the Lease) before measuring.
        ready = sum(1 for a in agents if wait_until(a.ready, 30, interval=0.2))
        r["ready"] = ready
        r["exited_early"] = sum(1 for a in agents if not a.alive())
        if lead is None:
            r["error"] = "no leader"
            log(f"candidates: {kind} {n}: no leader")
            self.stop_all_fast(agents)
            return r
        time.sleep(cfg.candidates_settle)
        w = self.controlplane_window(cfg.candidates_window, [a for a in agents if a.alive()])
        base = self.cp_baseline
        r["window"] = w
        r["leaders_after_window"] = sum(1 for a in agents if a.is_leader())
        r["lease_requests_per_s_net"] = round(w["lease_requests_per_s"] - base["lease_requests_per_s"], 3)
        r["apiserver_cpu_millicores_net"] = round(w.get("kube-apiserver_cpu_millicores", 0)
                                                  - base.get("kube-apiserver_cpu_millicores", 0), 2)
        r["etcd_cpu_millicores_net"] = round(w.get("etcd_cpu_millicores", 0) - base.get("etcd_cpu_millicores", 0), 2)
        r["apiserver_rss_kb"] = w.get("kube-apiserver_rss_kb")
        if "etcd_writes_per_s" in w and "etcd_writes_per_s" in base:
            r["etcd_writes_per_s_net"] = round(w["etcd_writes_per_s"] - base["etcd_writes_per_s"], 3)
            r["etcd_reads_per_s_net"] = round(w["etcd_reads_per_s"] - base["etcd_reads_per_s"], 3)
        rss = [a.memory_kb() for a in agents if a.alive()]
        r["candidate_rss_kb_median"] = statistics.median([m.get("VmRSS", 0) for m in rss]) if rss else None
        r["candidate_rssanon_kb_median"] = statistics.median([m.get("RssAnon", 0) for m in rss]) if rss else None
        r["candidates_cpu_millicores_sum"] = w["agents_cpu_millicores_sum"]
        log(f"candidates: {kind} {n}: {r['lease_requests_per_s_net']} Lease requests/s, API server "
            f"{r['apiserver_cpu_millicores_net']} mcores (net) RSS {(r['apiserver_rss_kb'] or 0) / 1024:.0f} MiB, etcd "
            f"{r.get('etcd_writes_per_s_net')} writes/s {r.get('etcd_reads_per_s_net')} reads/s, candidates "
            f"{r['candidates_cpu_millicores_sum']} mcores in all, {r['leaders_after_window']} leader(s)")
        for name, sig, reps in (("handover", signal.SIGTERM, cfg.reps_candidates_handover),
                                ("failover", signal.SIGKILL, cfg.reps_candidates_failover)):
            out = {"ms": [], "failures": []}
            for i in range(reps):
                ms, note = self.candidates_takeover(kind, ns, agents, sig, cfg.ld * 2 + 10)
                if ms is None:
                    out["failures"].append(note)
                else:
                    out["ms"].append(round(ms, 2))
                log(f"candidates: {kind} {n}: {name} {i + 1}/{reps}: " + (f"{ms:.1f} ms" if ms is not None else note))
            out["summary"] = summary(out["ms"])
            r[name] = out
        r["loadavg_end"] = loadavg()
        self.stop_all_fast(agents)
        return r

    def stop_all_fast(self, agents):
        t = mono()
        for a in agents:
            a.signal(signal.SIGTERM)
        for a in agents:
            a.stop(grace=max(1.0, 30 - (mono() - t)))

    def phase_candidates(self):
        cfg = self.cfg
        self.close()
        log(f"candidates: baseline window ({cfg.candidates_window:.0f}s, no agents)")
        self.cp_baseline = self.controlplane_window(cfg.candidates_window)
        res = {"baseline": self.cp_baseline, "runs": [],
               "settings": {"window_s": cfg.candidates_window, "settle_s": cfg.candidates_settle,
                            "start_interval_s": cfg.candidates_start_interval}}
        # Alternating which kind goes first, so neither always meets the API server fresher.
        for i, n in enumerate(cfg.candidates):
            for kind in (("leasehold", "reference") if i % 2 == 0 else ("reference", "leasehold")):
                res["runs"].append(self.candidates_run(kind, n))
                self.save_partial("candidates", res)
        res["verdicts"] = candidates_verdicts(res["runs"])
        for v in res["verdicts"]:
            log(f"candidates: {v['verdict']}: {v['goal']}: {v['measured']}")
        self.results["phases"]["candidates"] = res

    # -- 12: sharded ownership
    def shards_settled(self, members, timeout):
        """Waits until every shard has exactly one owner among `members` and the loads are within
        one; returns (owners, seconds) or (None, timeout)."""
        t0 = mono()
        while mono() - t0 < timeout:
            owners = shard_owners(members, self.cfg.shards)
            if owners is not None and balanced(owners, members):
                return owners, mono() - t0
            time.sleep(0.02)
        return None, timeout

    def phase_shards(self):
        cfg = self.cfg
        self.close()
        ns = self.api.new_namespace("bench-shards")
        n, m = cfg.shards, cfg.shard_members
        res = {"shards": n, "members": m, "changes": []}
        members = [ShardMember(cfg, ns, "work", n, self.ident("leasehold"), self.work).start() for _ in range(m)]
        owners, took = self.shards_settled(members, 3 * cfg.ld + 60)
        res["start_to_balanced_s"] = round(took, 2) if owners else None
        if owners is None:
            log("shards: never settled at the start")
            self.stop_all(members)
            self.results["phases"]["shards"] = res
            return
        time.sleep(cfg.steady_settle)
        window, cpu = self.lease_window(cfg.shards_window, members)
        per_min = sum(window["per_min"].values())
        mem = [a.memory_kb() for a in members]
        res["idle"] = {
            "lease_requests_per_min": round(per_min, 1),
            "per_min_by_verb": {k: round(v, 1) for k, v in window["per_min"].items()},
            "requests_per_min_per_shard": round(per_min / n, 2),
            "requests_per_min_per_member": round(per_min / m, 1),
            "member_cpu_mcores": sorted(round(c, 2) for c in cpu.values()),
            "member_rss_kb": sorted(x.get("VmRSS", 0) for x in mem),
            "member_rss_anon_kb": sorted(x.get("RssAnon", 0) for x in mem),
            "open_watches": window["open_watches"],
        }
        log(f"shards: idle: {per_min:.0f} Lease requests/min ({per_min / n:.2f} per shard, {per_min / m:.1f} per member); "
            f"member CPU {res['idle']['member_cpu_mcores']} mcores, RssAnon {res['idle']['member_rss_anon_kb']} KiB")
        for rep in range(cfg.reps_shards):
            for change in ("join", "leave"):
                before = owners
                if change == "join":
                    new = ShardMember(cfg, ns, "work", n, self.ident("leasehold"), self.work)
                    t0 = mono()
                    new.start()
                    members.append(new)
                    least = n // len(members)
                else:
                    gone = members.pop()
                    least = sum(1 for o in before.values() if o == gone.identity)
                    t0 = mono()
                    gone.signal(signal.SIGTERM)
                owners, _ = self.shards_settled(members, 2 * cfg.ld + 30)
                took = mono() - t0
                if change == "leave":
                    gone.stop()
                moved = None if owners is None else sum(1 for s in range(n) if before.get(s) != owners.get(s))
                row = {"change": change, "members_after": len(members), "balanced_after_s": round(took, 3) if owners else None,
                       "moved": moved, "least_possible": least}
                res["changes"].append(row)
                log(f"shards: {change} -> {len(members)} members: balanced after {row['balanced_after_s']} s; "
                    f"{moved} shards moved (the fewest possible: {least})")
                if owners is None:
                    owners = before
                time.sleep(2)
        self.stop_all(members)
        joins = [c["balanced_after_s"] for c in res["changes"] if c["change"] == "join" and c["balanced_after_s"] is not None]
        leaves = [c["balanced_after_s"] for c in res["changes"] if c["change"] == "leave" and c["balanced_after_s"] is not None]
        res["join_balanced_ms"] = summary([x * 1000 for x in joins])
        res["leave_balanced_ms"] = summary([x * 1000 for x in leaves])
        self.results["phases"]["shards"] = res

    def save_partial(self, name, res):
        self.results["phases"][name] = res
        self.save()

    # -- 8: image size
    def phase_image(self):
        r = {"image": self.cfg.image}
        try:
            out = subprocess.run(["docker", "image", "inspect", self.cfg.image, "--format", "{{.Size}}"],
                                 capture_output=True, text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip().isdigit():
                r["bytes"] = int(out.stdout.strip())
            else:
                r["error"] = (out.stderr.strip() or "no such image")[:200]
        except (OSError, subprocess.TimeoutExpired) as e:
            r["error"] = str(e)[:200]
        for kind, b in self.cfg.bins.items():
            r[f"{kind}_binary_bytes"] = os.path.getsize(b)
        r["leasehold_shared_libraries"] = shared_libs(self.cfg.bins["leasehold"])
        self.results["phases"]["image"] = r
        log(f"image: {r.get('bytes', r.get('error'))}")

    def close(self):
        for g in getattr(self, "groups", {}).values():
            self.stop_all(g["agents"])
        self.groups = {}


def shared_libs(binary):
    """Number and total size of the shared libraries a dynamically linked binary loads."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    paths = set(re.findall(r"=> (/\S+)", out))
    total = 0
    for p in paths:
        try:
            total += os.path.getsize(os.path.realpath(p))
        except OSError:
            pass
    return {"count": len(paths), "bytes": total}


UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url, conns, seconds):
    threads = 1 if conns == 1 else 2
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", url]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        return {"error": "wrk timed out"}
    out = p.stdout
    r = {"threads": threads, "connections": conns, "seconds": seconds}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        return {"error": (p.stderr or out)[-300:]}
    r["rps"] = float(m.group(1))
    for q, key in (("50", "p50_ms"), ("75", "p75_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            r[key] = float(m.group(1)) * UNIT[m.group(2)]
    m = re.search(r"Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s)", out)
    if m:
        r["max_ms"] = float(m.group(1)) * UNIT[m.group(2)]
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    r["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else None
    return r


def machine():
    def first(path, key):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(key):
                        return re.split(r"[:=]", line, 1)[1].strip().strip('"')
        except OSError:
            return None
    return {"nproc": os.cpu_count(), "cpu": first("/proc/cpuinfo", "model name"),
            "mem_total": first("/proc/meminfo", "MemTotal"), "kernel": os.uname().release,
            "os": first("/etc/os-release", "PRETTY_NAME=") or "", "loadavg_at_start": loadavg()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--phases", default=",".join(ALL_PHASES))
    args = ap.parse_args()
    phases = [p for p in args.phases.split(",") if p]
    for p in phases:
        if p not in ALL_PHASES:
            sys.exit(f"unknown phase {p}; phases: {','.join(ALL_PHASES)}")

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    cfg = Settings()
    for kind, b in cfg.bins.items():
        if not os.access(b, os.X_OK):
            sys.exit(f"bench: no {kind} binary at {b}")
    b = Bench(cfg, args.out)
    b.results["machine"] = machine()
    b.results["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    b.results["versions"] = {
        "leasehold": subprocess.run([cfg.bins["leasehold"], "--version"], capture_output=True, text=True).stdout.strip()}
    try:
        for p in phases:
            b.results.setdefault("phase_loadavg", {})[p] = loadavg()
            log(f"phase {p} (load average {' '.join(map(str, loadavg()))})")
            t = mono()
            {"steady": b.phase_steady, "start": b.phase_start, "handover": b.phase_handover, "wrk": b.phase_wrk,
             "lease_to_file": b.phase_lease_to_file, "failover": b.phase_failover,
             "app_health": b.phase_app_health, "scale": b.phase_scale, "elections": b.phase_elections,
             "candidates": b.phase_candidates, "shards": b.phase_shards, "image": b.phase_image}[p]()
            b.results.setdefault("phase_seconds", {})[p] = round(mono() - t, 1)
            b.save()
    finally:
        b.close()
        kill_all()
        b.results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        b.results["seconds"] = round(mono() - T0, 1)
        b.results["machine"]["loadavg_at_end"] = loadavg()
        b.save()
        subprocess.run(["rm", "-rf", b.work])
    log(f"done in {mono() - T0:.0f}s; raw results in {args.out}")


if __name__ == "__main__":
    main()
