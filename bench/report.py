#!/usr/bin/env python3
"""Turns bench/results/<date>.json (bench/bench.py) into docs/benchmarks.md and gnuplot PNGs.

Usage: report.py RESULTS.json DOC.md   (PNGs go beside DOC: benchmarks-handover.png, ...-failover.png)
bench/analysis.md, written by hand after profiling, is appended as the doc's last section.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KINDS = ("leasehold", "reference")
PHASE_ORDER = ["steady", "start", "handover", "wrk", "lease_to_file", "failover", "app_health", "scale", "elections",
               "candidates", "shards", "image", "footprint"]
sys.path.insert(0, HERE)
from bench import elections_derived, elections_verdicts  # noqa: E402


def table(headers, rows):
    """A Markdown table: header, separator and one line per row."""
    return ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)] + ["| " + " | ".join(r) + " |" for r in rows]


def in_order(d):
    return sorted(d.items(), key=lambda kv: PHASE_ORDER.index(kv[0]) if kv[0] in PHASE_ORDER else 99)


def get(d, *path, default=None):
    for p in path:
        if isinstance(d, dict) and p in d:
            d = d[p]
        elif isinstance(d, list) and isinstance(p, int) and -len(d) <= p < len(d):
            d = d[p]
        else:
            return default
    return d


def fmt(x, digits=1, unit=""):
    if x is None:
        return "n/a"
    if isinstance(x, float) and digits == 0:
        return f"{x:,.0f}{unit}"
    return f"{x:,.{digits}f}{unit}"


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.{digits}f}x"


def verdict(ok):
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def agent(steady, kind, role):
    xs = [a for a in get(steady, kind, "agents", default=[]) if a.get("role") == role]
    if not xs:
        return {}
    # The median over the agents of that role (two followers).
    keys = set().union(*xs)
    return {k: statistics.median([a[k] for a in xs if isinstance(a.get(k), (int, float))])
            for k in keys if all(isinstance(a.get(k), (int, float)) for a in xs)}


def run_gnuplot(script):
    """Runs a gnuplot script (it writes the PNG it names); False, said on stderr, when it fails."""
    p = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if p.returncode != 0:
        print(f"report: gnuplot failed: {p.stderr}", file=sys.stderr)
        return False
    return True


def plot(samples, title, xlabel, out, logx, scale=1.0, marks=()):
    """Empirical CDFs of both kinds' samples (ms), one step line each."""
    with tempfile.TemporaryDirectory() as tmp:
        cmds = []
        for kind in KINDS:
            xs = sorted(x * scale for x in samples.get(kind, []) if x is not None)
            path = os.path.join(tmp, f"{kind}.dat")
            with open(path, "w") as f:
                n = len(xs)
                for i, x in enumerate(xs):
                    f.write(f"{x} {i / n}\n{x} {(i + 1) / n}\n")
            if xs:
                label = "leasehold" if kind == "leasehold" else "client-go (reference-elector)"
                cmds.append(f"'{path}' using 1:2 with lines lw 2 title '{label} (n={len(xs)})'")
        if not cmds:
            return False
        script = "\n".join([
            "set terminal pngcairo size 900,480 font 'sans,11'",
            f"set output '{out}'",
            f"set title '{title}'",
            f"set xlabel '{xlabel}'",
            "set ylabel 'fraction of trials at or below'",
            "set yrange [0:1.02]",
            "set grid",
            "set key bottom right",
            "set logscale x" if logx else "",
            *[f"set arrow from {x}, graph 0 to {x}, graph 1 nohead dt 2 lc rgb 'gray40'\n"
              f"set label '{text}' at {x}, graph 0.5 rotate by 90 offset -0.8,0 tc rgb 'gray40'" for x, text in marks],
            "plot " + ", ".join(cmds),
        ])
        return run_gnuplot(script)


def plot_elections(runs, out):
    """Threads (left axis) and anonymous RSS (right axis) of a sidecar against its number of elections."""
    pts = [(r["elections"], r.get("threads_max"), r.get("rssanon_kb_median")) for r in runs
           if r.get("threads_max") is not None and r.get("rssanon_kb_median") is not None]
    if not pts:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "elections.dat")
        with open(path, "w") as f:
            for n, t, a in sorted(pts):
                f.write(f"{n} {t} {a / 1024}\n")
        script = "\n".join([
            "set terminal pngcairo size 900,480 font 'sans,11'",
            f"set output '{out}'",
            "set title 'One sidecar, N elections (3 sidecars, median; threads: the most of the three)'",
            "set xlabel 'elections per sidecar (N, log scale)'",
            "set ylabel 'threads'",
            "set y2label 'anonymous RSS (RssAnon), MiB'",
            "set logscale x",
            "set xtics (" + ", ".join(f"'{n}' {n}" for n, _, _ in sorted(pts)) + ")",
            "set ytics nomirror",
            "set y2tics",
            "set yrange [0:*]",
            "set y2range [0:*]",
            "set grid",
            "set key top left",
            f"plot '{path}' using 1:2 with linespoints lw 2 pt 7 title 'threads', "
            f"'{path}' using 1:3 axes x1y2 with linespoints lw 2 pt 5 title 'RssAnon (MiB)'",
        ])
        return run_gnuplot(script)


def elections_section(el, ld, rd, rp, doc_dir):
    """The section "Elections per sidecar" (lines), its goals [(goal, measured, verdict, note)] and its plot."""
    runs = el.get("runs", [])
    measured = [r for r in runs if "per_sidecar" in r]
    first = min(measured, key=lambda r: r["elections"]) if measured else None
    st = el.get("settings", {})
    L = ["## Elections per sidecar", ""]
    L.append("3 leasehold sidecars, each with one `--config` listing the same N elections (N Leases in one fresh "
             f"namespace per N), the timings of the other phases ({ld:g}s/{rd:g}s/{rp:g}s), "
             + ("the client-side API limit raised to leasehold's default per election (`api-qps: 5N`, "
                "`api-burst: 10N`, at most 1000; the defaults, 5 and 10, hold for the whole sidecar, and the "
                "renewals of 100 elections alone are 50 requests/s)" if st.get("api_limits", "per-election") == "per-election"
                else "leasehold's default client-side API limit for the whole sidecar (5 requests/s, burst 10)")
             + (f", further settings `{st['extra_config']}`" if st.get("extra_config") else "")
             + ". Started together; *all held after*: from the first start until every Lease names one of them and "
             "exactly that sidecar says it leads (`GET /v1/elections`, polled every 0.2 s). After "
             f"{fmt(st.get('settle_s'), 0)} s of settling, a {fmt(st.get('window_s'), 0)} s window: CPU (utime+stime "
             "from `/proc/PID/stat`), the sidecar's own `leasehold_api_requests_total` and "
             "`leasehold_renewals_total{outcome=\"success\"}`, and the API server's "
             "`apiserver_request_total{resource=\"leases\"}` (minus the idle baseline, divided by 3); at its end "
             "`Threads`, `VmRSS`, `RssAnon` (`/proc/PID/status`) and the established TCP connections to the API "
             "server's port (socket inodes of `/proc/PID/fd` in `/proc/PID/net/tcp`). Per sidecar: the median of "
             "the three (threads: the most; API requests: the mean, as followers only watch); CPU: the sidecar "
             "that made the most renewals (the *leading* one) and the median of the other two, and per led "
             "election the three's CPU / N; CPU per renewal: the leading sidecar's CPU / its renewals. Then the handover of one election while the others run: `POST "
             "/v1/elections/<name>/resign` on its holder, timed until another sidecar's "
             "`/v1/elections/<name>/leader` answers 200 (polled every 5 ms), one election after another.")
    L.append("")
    rows = []
    for r in runs:
        n = r["elections"]
        if "per_sidecar" not in r:
            rows.append([str(n)] + ["n/a"] * 6 + [f"never ({r.get('held_at_end_of_wait')}/{n} held)"
                                                  if r.get("all_held_after_s") is None else f"{r['all_held_after_s']:.2f} s"]
                        + ["n/a", "n/a"])
            continue
        d = elections_derived(r, first) if first else {}
        ho = get(r, "handover", "summary", default={})
        held = r.get("all_held_after_s")
        anon = fmt((r.get("rssanon_kb_median") or 0) / 1024, 1, " MiB")
        if "rssanon_kib_per_added_election" in d:
            anon += f" ({d['rssanon_kib_per_added_election']:+,.1f} KiB per added election)"
        threads = f"{r['threads_max']}"
        if "threads_per_added_election" in d:
            threads += f" ({d['threads_per_added_election']:+.2f} per added election)"
        rows.append([
            str(n), threads, fmt((r.get("vmrss_kb_median") or 0) / 1024, 1, " MiB"), anon,
            f"{fmt(r.get('cpu_millicores_leading'), 2)} / {fmt(r.get('cpu_millicores_others_median'), 2)} mcores "
            f"({fmt(r.get('cpu_millicores_per_led_election'), 3)} per led election)",
            fmt(r.get("apiserver_connections_median"), 0),
            f"{fmt(r.get('api_requests_per_min_mean'), 1)} (API server: {fmt(r.get('apiserver_lease_requests_per_min_per_sidecar'), 1)})",
            "never" if held is None else f"{held:.2f} s",
            f"{fmt(ho.get('p50'), 1, ' ms')} (n={ho.get('n', 0)})",
            f"{fmt(r.get('cpu_ms_per_renewal'), 3, ' ms')} ({fmt(r.get('leading_sidecar_renewals'), 0)} renewals)",
        ])
    L += table(["N", "threads", "VmRSS", "RssAnon", "idle CPU: leading sidecar / the others",
                "connections to the API server", "API requests/min per sidecar", "all held after", "handover p50",
                "CPU per renewal"], rows)
    L.append("")
    verdicts = elections_verdicts(runs, ld)
    goals = []
    for v in verdicts:
        L.append(f"* **{v['verdict']}**: {v['goal']}: {v['measured']}")
        goals.append((v["goal"], v["measured"], verdict(None if v["verdict"] == "n/a" else v["verdict"] == "PASS"),
                      "see Elections per sidecar"))
    L.append("")
    out = os.path.join(doc_dir, "benchmarks-elections.png")
    if plot_elections(measured, out):
        L.append(f"![Threads and anonymous RSS against elections per sidecar]({os.path.basename(out)})")
        L.append("")
        plot = ("Elections per sidecar", os.path.basename(out))
    else:
        plot = None
    return L, goals, plot


def plot_series(series, title, xlabel, ylabel, out):
    """Lines of (x, y) points, one per kind, x on a log scale (gnuplot)."""
    series = {k: sorted(v) for k, v in series.items() if v}
    if not series:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        plots = []
        xs = sorted({x for v in series.values() for x, _ in v})
        for i, (name, pts) in enumerate(series.items()):
            path = os.path.join(tmp, f"s{i}.dat")
            with open(path, "w") as f:
                f.writelines(f"{x} {y}\n" for x, y in pts)
            plots.append(f"'{path}' using 1:2 with linespoints lw 2 pt {7 - 2 * i} title '{name}'")
        script = "\n".join([
            "set terminal pngcairo size 900,480 font 'sans,11'",
            f"set output '{out}'",
            f"set title '{title}'",
            f"set xlabel '{xlabel}'",
            f"set ylabel '{ylabel}'",
            "set logscale x",
            "set xtics (" + ", ".join(f"'{x}' {x}" for x in xs) + ")",
            "set yrange [0:*]",
            "set grid",
            "set key top left",
            "plot " + ", ".join(plots),
        ])
        return run_gnuplot(script)


def candidates_section(ca, ld, rd, rp, doc_dir):
    """The section "Candidates per election" (lines), its goals and its plots [(title, file)]."""
    runs = ca.get("runs", [])
    st = ca.get("settings", {})
    base = ca.get("baseline", {})
    L = ["## Candidates per election: what the API server pays", ""]
    L.append(f"N candidates of ONE election (one Lease, one fresh namespace per run), leasehold and client-go "
             f"alternately on the same control plane, the timings of the other phases ({ld:g}s/{rd:g}s/{rp:g}s). "
             f"The processes are started one every {fmt(st.get('start_interval_s'), 2)} s; once one leads and every "
             f"candidate answers (leasehold: ready, it has seen the Lease), {fmt(st.get('settle_s'), 0)} s of settling, "
             f"then a {fmt(st.get('window_s'), 0)} s window: the API server's `apiserver_request_total{{resource=\"leases\"}}` "
             "delta, the kube-apiserver's and etcd's CPU (utime+stime of `/proc/PID/stat`), etcd's writes "
             "(`etcd_mvcc_put_total` + `etcd_mvcc_delete_total`) and reads (`etcd_mvcc_range_total`), each minus the "
             "same window with no candidates at all (the control plane's own work: "
             f"{fmt(base.get('lease_requests_per_s'), 2)} Lease requests/s, kube-apiserver "
             f"{fmt(base.get('kube-apiserver_cpu_millicores'), 1)} mcores, etcd {fmt(base.get('etcd_cpu_millicores'), 1)} mcores); "
             "at its end the kube-apiserver's VmRSS. Then the leader is stopped: SIGTERM (handover; both release "
             "the Lease) and SIGKILL (failover), timed until the candidate the Lease names next answers 200 on "
             "`/v1/leader` (the Lease polled, then that candidate every 5 ms); the stopped one is replaced.")
    L.append("")
    rows = []
    for r in sorted(runs, key=lambda r: (r["candidates"], r["kind"] != "leasehold")):
        kind = "leasehold" if r["kind"] == "leasehold" else "client-go"
        if "window" not in r:
            rows.append([kind, str(r["candidates"]), r.get("error", "not measured")] + [""] * 7)
            continue
        ho, fo = get(r, "handover", "summary", default={}), get(r, "failover", "summary", default={})
        rows.append([
            kind, str(r["candidates"]),
            fmt(r.get("lease_requests_per_s_net"), 2),
            fmt(r.get("apiserver_cpu_millicores_net"), 1, " mcores"),
            fmt((r.get("apiserver_rss_kb") or 0) / 1024, 0, " MiB"),
            f"{fmt(r.get('etcd_writes_per_s_net'), 2)} / {fmt(r.get('etcd_reads_per_s_net'), 1)}",
            fmt(r.get("etcd_cpu_millicores_net"), 1, " mcores"),
            f"{fmt(r.get('candidates_cpu_millicores_sum'), 0, ' mcores')} ({fmt((r.get('candidate_rss_kb_median') or 0) / 1024, 1, ' MiB')} RSS each)",
            f"{fmt(ho.get('p50'), 1, ' ms')} (n={ho.get('n', 0)})",
            f"{fmt((fo.get('p50') or 0) / 1000, 2, ' s') if fo.get('n') else 'n/a'} (n={fo.get('n', 0)})",
            str(r.get("leaders_after_window")),
        ])
    L += table(["kind", "candidates", "Lease requests/s", "kube-apiserver CPU", "kube-apiserver RSS",
                "etcd writes / reads per s", "etcd CPU", "candidates' CPU, all together", "handover p50",
                "failover p50", "leaders after the window"], rows)
    L.append("")
    goals = []
    for v in ca.get("verdicts", []):
        L.append(f"* **{v['verdict']}**: {v['goal']}: {v['measured']}")
        goals.append((v["goal"], v["measured"], verdict(None if v["verdict"] == "n/a" else v["verdict"] == "PASS"),
                      "see Candidates per election"))
    L.append("")
    plots = []

    def pts(kind, key):
        return [(r["candidates"], r[key]) for r in runs if r["kind"] == kind and r.get(key) is not None]
    for key, name, title, ylabel, alt in (
            ("apiserver_cpu_millicores_net", "apiserver",
             "kube-apiserver CPU for one election against its candidates (minus the idle baseline)", "millicores",
             "kube-apiserver CPU against candidates"),
            ("lease_requests_per_s_net", "requests",
             "Lease requests/s to the API server for one election against its candidates", "requests/s",
             "Lease requests/s against candidates")):
        out = os.path.join(doc_dir, f"benchmarks-candidates-{name}.png")
        if plot_series({"leasehold": pts("leasehold", key), "client-go": pts("reference", key)}, title,
                       "candidates of the election (log scale)", ylabel, out):
            plots.append((alt, os.path.basename(out)))
    for title, f in plots:
        L.append(f"![{title}]({f})")
        L.append("")
    return L, goals, plots


FOOTPRINT_GOAL = 0.5  # the sidecar's working set, leasehold / client-go


def footprint_section(fp):
    """Lines and goals of phase footprint (bench/footprint.sh): the sidecar's memory in a pod."""
    kinds = fp.get("kinds", {})

    def mib(x):
        return fmt(None if x is None else x / 1048576, 1, " MiB")
    rows = []
    for kind, label in (("leasehold", "leasehold"), ("reference", "client-go (reference-elector)")):
        k = kinds.get(kind, {})
        rows.append([label, mib(k.get("working_set_median")), mib(k.get("working_set_leader_median")),
                     mib(k.get("rss_median")), mib(k.get("usage_median")),
                     fmt(None if k.get("cpu_nano_cores_median") is None else k["cpu_nano_cores_median"] / 1e6, 2, " mcores"),
                     fmt(get(fp, "image_bytes", kind, default=0) / 1e6, 1, " MB"), str(k.get("samples", 0))])
    r = fp.get("working_set_ratio")
    lines = ["### The sidecar's footprint where it is paid: a pod on a real node", "",
             "Phase `footprint` (`bench/footprint.sh`): a real single-node cluster (`tests/cluster/up`), two "
             "Deployments of the same shape (3 replicas, an idle main container, the elector as a native sidecar "
             "with its status dir on an emptyDir in memory, one Role), one with leasehold's default image and one "
             "with client-go's elector (`reference-elector`) packaged as ours is (FROM scratch). Default timings. "
             "The kubelet's figures (`/stats/summary`) for each sidecar container, sampled after the Leases had "
             "holders and a settling time; medians over the 3 pods and the samples.", "",
             *table(["elector", "working set", "the leader's", "RSS", "memory usage", "CPU", "image", "samples"], rows), ""]
    ok = None if r is None else r <= FOOTPRINT_GOAL
    goals = [(f"the sidecar's working set in a pod <= {FOOTPRINT_GOAL}x client-go's",
              f"{fmt(r, 2)}x ({mib(get(kinds, 'leasehold', 'working_set_median'))} vs "
              f"{mib(get(kinds, 'reference', 'working_set_median'))})", verdict(ok), "kubelet `/stats/summary`")]
    return lines, goals


SHARD_MOVE_GOAL_S = 1.0  # a graceful scale-up or -down: balanced again within this
SHARD_MOVES_GOAL = 1.5  # shards moved by a membership change, against the fewest a balanced result allows


def shards_section(sh):
    """Lines and goals of phase shards: one sharded election over several members."""
    n, m = sh.get("shards"), sh.get("members")
    idle = sh.get("idle", {})
    lines = [f"### Sharded ownership: {n} shards over {m} members", "",
             f"Phase `shards`: {m} leasehold members of one sharded election (`--shards {n}`, default timings) on "
             "the local control plane; once every shard had exactly one owner and the loads were within one, an "
             "idle window, then members joining and leaving gracefully (SIGTERM) in turn. \"Balanced\" is read "
             "from the members' own `GET /v1/shards` (every shard claimed by exactly one member, loads within one), "
             "polled every 20 ms; \"moved\" counts the shards whose owner changed, against the fewest a balanced "
             "result allows (the new member's share, or the leaving member's shards).", ""]
    rows = [["idle: Lease requests/min (all members)", fmt(idle.get("lease_requests_per_min"), 1)],
            ["idle: per shard", fmt(idle.get("requests_per_min_per_shard"), 2)],
            ["idle: per member", fmt(idle.get("requests_per_min_per_member"), 1)],
            ["idle: by verb", ", ".join(f"{k} {v:g}" for k, v in sorted(idle.get("per_min_by_verb", {}).items()) if v)],
            ["idle: member CPU (each)", ", ".join(fmt(x, 2) for x in idle.get("member_cpu_mcores", [])) + " mcores"],
            ["idle: member anonymous RSS (each)", ", ".join(fmt(x / 1024, 1) for x in idle.get("member_rss_anon_kb", [])) + " MiB"],
            ["start: all balanced after", fmt(sh.get("start_to_balanced_s"), 1, " s")]]
    lines += table(["measurement", "value"], rows) + [""]
    lines += table(["change", "members after", "balanced after", "shards moved", "fewest possible"],
                   [[c["change"], str(c["members_after"]), fmt(None if c["balanced_after_s"] is None else c["balanced_after_s"] * 1000, 0, " ms"),
                     str(c["moved"]), str(c["least_possible"])] for c in sh.get("changes", [])]) + [""]
    goals = []
    for kind, key in (("scale-up", "join_balanced_ms"), ("scale-down", "leave_balanced_ms")):
        worst = get(sh, key, "max")
        ok = None if worst is None else worst <= SHARD_MOVE_GOAL_S * 1000
        goals.append((f"a graceful {kind} balanced again within {SHARD_MOVE_GOAL_S:g} s",
                      f"p50 {fmt(get(sh, key, 'p50'), 0, ' ms')}, max {fmt(worst, 0, ' ms')} (n={get(sh, key, 'n', default=0)})",
                      verdict(ok), "from the signal (or the start) to balanced, as the members answer"))
    changes = [c for c in sh.get("changes", []) if c.get("moved") is not None]
    extra = sum(c["moved"] - c["least_possible"] for c in changes)
    least = sum(c["least_possible"] for c in changes)
    goals.append((f"shards moved per membership change <= {SHARD_MOVES_GOAL:g}x the fewest possible",
                  f"{sum(c['moved'] for c in changes)} moved in {len(changes)} changes, the fewest possible "
                  f"{least} ({extra} more)",
                  verdict(None if not changes else extra + least <= SHARD_MOVES_GOAL * least),
                  "bounded loads move a few more than rendezvous alone, to keep max - min <= 1"))
    return lines, goals


def main():
    results_path, doc_path = sys.argv[1], sys.argv[2]
    r = json.load(open(results_path))
    ph = r.get("phases", {})
    s = r.get("settings", {})
    m = r.get("machine", {})
    ld, rd, rp = s.get("ld", 15), s.get("rd", 10), s.get("rp", 2)
    doc_dir = os.path.dirname(os.path.abspath(doc_path))
    rel_results = os.path.relpath(os.path.abspath(results_path), ROOT)

    rows = []   # (measurement, leasehold, reference, ratio, goal, verdict)
    goals = []  # (goal, measured, verdict, note)

    # 1, 2: handover and failover
    for name, label in (("handover", "handover after SIGTERM of the leader"), ("failover", "failover after SIGKILL of the leader")):
        h = ph.get(name)
        if not h:
            continue
        sl, sr = get(h, "leasehold", "summary", default={}), get(h, "reference", "summary", default={})
        unit_s = name == "failover"
        conv = (lambda x: None if x is None else x / 1000) if unit_s else (lambda x: x)
        unit = " s" if unit_s else " ms"
        dg = 2 if unit_s else 1
        for stat in ("p50", "p99", "min", "max"):
            rows.append((f"{label}: {stat}" + (f" (n={sl.get('n')}/{sr.get('n')})" if stat == "p50" else ""),
                         fmt(conv(sl.get(stat)), dg, unit), fmt(conv(sr.get(stat)), dg, unit),
                         ratio(sl.get(stat), sr.get(stat)), "", ""))
        fails = [len(get(h, k, "failures", default=[])) for k in KINDS]
        if any(fails):
            rows.append((f"{label}: trials without a new leader in time", str(fails[0]), str(fails[1]), "", "", ""))
        if name == "handover":
            ok = None if not sl else (sl["p50"] <= 50 and sl["p99"] <= 200 and fails[0] == 0)
            goals.append(("handover p50 <= 50 ms and p99 <= 200 ms",
                          f"p50 {fmt(sl.get('p50'))} ms, p99 {fmt(sl.get('p99'))} ms (client-go: p50 {fmt(sr.get('p50'), 0)} ms, p99 {fmt(sr.get('p99'), 0)} ms)",
                          verdict(ok), ""))
        else:
            lim = ld * 1000 + 500
            ok = None if not sl else (sl["max"] <= lim and fails[0] == 0)
            goals.append((f"crash failover <= lease duration + 0.5 s = {lim / 1000:.1f} s",
                          f"max {fmt(conv(sl.get('max')), 2)} s, p50 {fmt(conv(sl.get('p50')), 2)} s (client-go: max {fmt(conv(sr.get('max')), 2)} s)",
                          verdict(ok), "judged on the slowest trial"))

    # beside them: the leader's app fails its health check (leasehold only)
    ah = ph.get("app_health")
    if ah:
        hs, hf, st = ah.get("summary", {}), ah.get("summary_from_first", {}), ah.get("settings", {})
        label = (f"app fails its last check -> healthy replica told leader (check every {st.get('period_s')} s, "
                 f"threshold {st.get('failure_threshold')})")
        for stat in ("p50", "p99", "min", "max"):
            rows.append((f"{label}: {stat}" + (f" (n={hs.get('n')})" if stat == "p50" else ""),
                         fmt(hs.get(stat), 1, " ms"), "n/a", "", "", ""))
        rows.append(("  the same from the app's first failing check: p50", fmt(hf.get("p50"), 0, " ms"), "n/a", "", "", ""))
        if ah.get("failures"):
            rows.append(("  app health trials without a new leader in time", str(len(ah["failures"])), "", "", "", ""))

    # 3, 4: steady state
    st = ph.get("steady")
    if st:
        tl, tr = get(st, "leasehold", "net_total_per_min"), get(st, "reference", "net_total_per_min")
        rows.append(("Lease API requests per minute, 3 candidates (all verbs)", fmt(tl), fmt(tr), ratio(tl, tr), "<= 0.5x",
                     verdict(None if tl is None or tr is None else tl <= 0.5 * tr)))
        verbs = sorted(set(get(st, "leasehold", "net_per_min", default={})) | set(get(st, "reference", "net_per_min", default={})))
        for v in verbs:
            a, b = get(st, "leasehold", "net_per_min", v), get(st, "reference", "net_per_min", v)
            if (a or 0) == 0 and (b or 0) == 0:
                continue
            rows.append((f"  of which {v}", fmt(a or 0.0), fmt(b or 0.0), "", "", ""))
        rows.append(("  open watches on Leases (long-running, not in the count above)",
                     fmt(get(st, "leasehold", "open_watches_net"), 0), fmt(get(st, "reference", "open_watches_net"), 0), "", "", ""))
        goals.append(("<= 50% of client-go's API requests", f"{fmt(tl)} vs {fmt(tr)} per minute = {ratio(tl, tr)}",
                      verdict(None if tl is None or tr is None else tl <= 0.5 * tr), "plus one open watch per agent"))
        worst_rss, worst_cpu = 0, 0
        for role in ("leader", "follower"):
            al, ar = agent(st, "leasehold", role), agent(st, "reference", role)
            rl, rr = al.get("vmrss_kb"), ar.get("vmrss_kb")
            rows.append((f"idle RSS (VmRSS), {role}", fmt(rl and rl / 1024, 1, " MiB"), fmt(rr and rr / 1024, 1, " MiB"),
                         ratio(rl, rr), "<= 0.3x", verdict(None if not rl or not rr else rl <= 0.3 * rr)))
            pl, pr = al.get("pss_kb"), ar.get("pss_kb")
            rows.append((f"  PSS (shared pages split among sharers), {role}", fmt(pl and pl / 1024, 1, " MiB"),
                         fmt(pr and pr / 1024, 1, " MiB"), ratio(pl, pr), "", ""))
            an_l, an_r = al.get("rssanon_kb"), ar.get("rssanon_kb")
            rows.append((f"  anonymous RSS (heap, stacks), {role}", fmt(an_l and an_l / 1024, 1, " MiB"),
                         fmt(an_r and an_r / 1024, 1, " MiB"), ratio(an_l, an_r), "", ""))
            cl, cr = al.get("cpu_millicores"), ar.get("cpu_millicores")
            rows.append((f"idle CPU, {role}", fmt(cl, 2, " mcores"), fmt(cr, 2, " mcores"), ratio(cl, cr), "<= 1 mcore",
                         verdict(None if cl is None else cl <= 1.0)))
            sl_, sr_ = al.get("cpu_millicores_schedstat"), ar.get("cpu_millicores_schedstat")
            rows.append((f"  same, from per-thread schedstat (ns), {role}", fmt(sl_, 2, " mcores"), fmt(sr_, 2, " mcores"),
                         ratio(sl_, sr_), "", ""))
            if rl and rr:
                worst_rss = max(worst_rss, rl / rr)
            if cl is not None:
                worst_cpu = max(worst_cpu, cl)
        goals.append(("idle RSS <= 0.3x the reference's", f"{worst_rss:.2f}x (the worse of leader and follower)",
                      verdict(worst_rss <= 0.3 if worst_rss else None), ""))
        goals.append(("idle CPU <= 1 millicore", f"{worst_cpu:.2f} mcores (the worse of leader and follower)",
                      verdict(worst_cpu <= 1.0), f"utime+stime over {fmt(get(st, 'leasehold', 'window', 'seconds'), 0)} s"))

    # 5: wrk
    w = ph.get("wrk")
    if w:
        conns = sorted({int(k[1:].split("_")[0]) for k in w.get("leasehold", {}) if k.endswith("_median")})
        for c in conns:
            ml, mr = get(w, "leasehold", f"c{c}_median", default={}), get(w, "reference", f"c{c}_median", default={})
            ok = None if not ml else (ml["rps"] >= 20000 and ml["p99_ms"] < 1.0)
            rows.append((f"/v1/leader, {c} connection{'s' if c > 1 else ''}: req/s", fmt(ml.get("rps"), 0), fmt(mr.get("rps"), 0),
                         ratio(ml.get("rps"), mr.get("rps")), ">= 20,000", verdict(None if not ml else ml["rps"] >= 20000)))
            rows.append((f"/v1/leader, {c} connection{'s' if c > 1 else ''}: p50 / p99 latency",
                         f"{fmt(ml.get('p50_ms'), 3)} / {fmt(ml.get('p99_ms'), 3)} ms",
                         f"{fmt(mr.get('p50_ms'), 3)} / {fmt(mr.get('p99_ms'), 3)} ms",
                         ratio(ml.get("p99_ms"), mr.get("p99_ms")) + " (p99)", "p99 < 1 ms",
                         verdict(None if not ml else ml["p99_ms"] < 1.0)))
            goals.append((f"status endpoint >= 20k req/s with p99 < 1 ms ({c} connection{'s' if c > 1 else ''})",
                          f"{fmt(ml.get('rps'), 0)} req/s, p99 {fmt(ml.get('p99_ms'), 3)} ms (client-go: {fmt(mr.get('rps'), 0)} req/s, p99 {fmt(mr.get('p99_ms'), 3)} ms)",
                          verdict(ok), ""))
        bad = sum(get(x, "non_2xx", default=0) for k in KINDS for key in w.get(k, {}) if not key.endswith("_median")
                  for x in w[k][key])
        if bad:
            rows.append(("/v1/leader: non-200 answers during wrk (both kinds, all runs)", str(bad), "", "", "", ""))

    # 6: lease -> file
    lf = ph.get("lease_to_file")
    if lf:
        sw = lf.get("state_from_watch_summary", {})
        ss = lf.get("state_from_send_summary", {})
        js = lf.get("status_json_from_watch_summary", {})
        rows.append((f"Lease change -> leader's `state` file, from a watcher's receipt: p50 / p99 (n={sw.get('n')})",
                     f"{fmt(sw.get('p50'), 2)} / {fmt(sw.get('p99'), 2)} ms", "(no file)", "", "<= 5 ms",
                     verdict(None if not sw else sw["p99"] <= 5)))
        rows.append(("  same, from the send of the PUT (includes the API server's write)",
                     f"{fmt(ss.get('p50'), 2)} / {fmt(ss.get('p99'), 2)} ms", "", "", "", ""))
        rows.append(("  follower's status.json, from a watcher's receipt: p50 / p99",
                     f"{fmt(js.get('p50'), 2)} / {fmt(js.get('p99'), 2)} ms", "", "", "", ""))
        pm = lf.get("put_summary", {})
        rows.append(("  (the PUT's own round trip: p50 / p99)", f"{fmt(pm.get('p50'), 2)} / {fmt(pm.get('p99'), 2)} ms", "", "", "", ""))
        goals.append(("Lease change -> file <= 5 ms", f"p99 {fmt(sw.get('p99'), 2)} ms, p50 {fmt(sw.get('p50'), 2)} ms after the watch event; "
                      f"p99 {fmt(ss.get('p99'), 2)} ms after the PUT was sent",
                      verdict(None if not sw else sw["p99"] <= 5), "judged on p99 from the watch event"))

    # 7: start
    sp = ph.get("start")
    if sp:
        a, b = get(sp, "leasehold", "served", default={}), get(sp, "reference", "served", default={})
        rows.append((f"process start -> first status answer: p50 (n={a.get('n')}/{b.get('n')})", fmt(a.get("p50"), 1, " ms"),
                     fmt(b.get("p50"), 1, " ms"), ratio(a.get("p50"), b.get("p50")), "<= 100 ms",
                     verdict(None if not a else a["p50"] <= 100)))
        rows.append(("  max", fmt(a.get("max"), 1, " ms"), fmt(b.get("max"), 1, " ms"), "", "", ""))
        rd_ = get(sp, "leasehold", "ready", default={})
        if rd_:
            rows.append(("  leasehold: start -> /readyz 200 (Lease observed): p50", fmt(rd_.get("p50"), 1, " ms"), "", "", "", ""))
        goals.append(("start -> served <= 100 ms", f"p50 {fmt(a.get('p50'), 1)} ms (client-go: {fmt(b.get('p50'), 1)} ms)",
                      verdict(None if not a else a["p50"] <= 100), ""))

    # 8: image
    im = ph.get("image")
    if im:
        if "bytes" in im:
            mb = im["bytes"] / 1e6
            rows.append((f"image size (`docker image inspect {im['image']}`)", fmt(mb, 1, " MB"), "(none built; old leader-elector ~60 MB)",
                         "", "<= 40 MB", verdict(mb <= 40)))
            goals.append(("image <= 40 MB", f"{mb:.1f} MB ({im['bytes']:,} bytes)", verdict(mb <= 40), ""))
        else:
            rows.append(("image size", "not measured: " + im.get("error", "no image"), "", "", "<= 40 MB", "n/a"))
            goals.append(("image <= 40 MB", "not measured (no image " + im.get("image", "") + ")", "n/a", ""))
        lb, rb = im.get("leasehold_binary_bytes"), im.get("reference_binary_bytes")
        libs = im.get("leasehold_shared_libraries") or {}
        rows.append(("binary size on disk (leasehold: a RelWithDebInfo build, debug info included, + its shared libraries)",
                     f"{fmt(lb and lb / 1e6, 1, ' MB')} + {fmt(libs.get('bytes', 0) / 1e6, 1, ' MB')} ({libs.get('count', '?')} libraries)",
                     fmt(rb and rb / 1e6, 1, " MB (static)"), "", "", ""))

    # 9: scale
    sc = ph.get("scale")
    scale_rows = []
    if sc:
        for kind in KINDS:
            for run in sc.get(kind, []):
                scale_rows.append((kind, run))

    # 10: elections per sidecar
    el_lines, el_plot = [], None
    if ph.get("elections"):
        el_lines, el_goals, el_plot = elections_section(ph["elections"], ld, rd, rp, doc_dir)
        goals += el_goals

    # 11: candidates per election
    ca_lines, ca_plots = [], []
    if ph.get("candidates"):
        ca_lines, ca_goals, ca_plots = candidates_section(ph["candidates"], ld, rd, rp, doc_dir)
        goals += ca_goals

    # 12: sharded ownership
    sh_lines = []
    if ph.get("shards"):
        sh_lines, sh_goals = shards_section(ph["shards"])
        goals += sh_goals

    # 13: footprint on a real node
    fp_lines = []
    if ph.get("footprint"):
        fp_lines, fp_goals = footprint_section(ph["footprint"])
        goals += fp_goals

    # ---------------------------------------------------------------- plots
    plots = []
    if ph.get("handover"):
        out = os.path.join(doc_dir, "benchmarks-handover.png")
        if plot({k: get(ph, "handover", k, "ms", default=[]) for k in KINDS},
                f"Handover after SIGTERM of the leader ({ld:g}s/{rd:g}s/{rp:g}s)", "ms from the SIGTERM to the first 200 of another candidate (log scale)",
                out, True, marks=((50, "goal p50"), (200, "goal p99"))):
            plots.append(("Handover after SIGTERM", os.path.basename(out)))
    if ph.get("failover"):
        out = os.path.join(doc_dir, "benchmarks-failover.png")
        if plot({k: get(ph, "failover", k, "ms", default=[]) for k in KINDS},
                f"Failover after SIGKILL of the leader ({ld:g}s/{rd:g}s/{rp:g}s)", "s from the SIGKILL to the first 200 of another candidate",
                out, False, scale=0.001, marks=((ld, "lease duration"), (ld + 0.5, "goal: +0.5 s"))):
            plots.append(("Failover after SIGKILL", os.path.basename(out)))

    # ---------------------------------------------------------------- the doc
    L = []
    total_s = r.get("make_bench_seconds") or r.get("seconds") or 0
    bench_s = total_s - m.get("waited_for_load_s", 0)
    L.append("# Benchmarks: leasehold and client-go's elector side by side")
    L.append("")
    L.append("Generated by `make bench` (`bench/run.sh`, `bench/bench.py`, this page by `bench/report.py`); "
             f"raw numbers in [`{rel_results}`](../{rel_results}). Reproduce with:")
    L.append("")
    L.append("```sh")
    L.append("make bench    # ~{} min, plus up to 20 min of waiting for a quiet machine; settings: see bench/run.sh".format(
        round(bench_s / 60)))
    L.append("```")
    L.append("")
    L.append("Both kinds run against the same local real control plane (etcd + kube-apiserver v1.37 on 127.0.0.1, "
             "`tests/controlplane/up`), with the same timings "
             f"(lease duration {ld:g} s, renew deadline {rd:g} s, retry period {rp:g} s), the same admin kubeconfig, "
             "and alternating trials (leasehold, client-go, leasehold, client-go, ...). "
             "client-go's elector is `reference-elector` (`tests/tools/reference-elector`: client-go `tools/leaderelection` "
             "with `ReleaseOnCancel`, answering `GET /v1/leader` 200 while leading, else 503).")
    L.append("")
    L.append("## Machine and run")
    L.append("")
    L.append("| | |")
    L.append("| --- | --- |")
    L.append(f"| date | {r.get('started', 'n/a')} to {r.get('finished', 'n/a')} |")
    L.append(f"| CPU | {m.get('nproc')} x {m.get('cpu')} |")
    L.append(f"| memory | {m.get('mem_total')} |")
    L.append(f"| kernel / OS | {m.get('kernel')} / {m.get('os')} |")
    L.append(f"| load average (1/5/15 min) | before the run {' '.join(map(str, m.get('loadavg_before_run', m.get('loadavg_at_start', []))))}"
             f" (waited {m.get('waited_for_load_s', 0)} s for it to drop); at the end {' '.join(map(str, m.get('loadavg_at_end', [])))} |")
    if r.get("phase_loadavg"):
        L.append("| load average at the start of each phase | " + ", ".join(
            f"{k} {v[0]:.1f}" for k, v in in_order(r["phase_loadavg"])) + " |")
    L.append(f"| leasehold | `{s.get('binaries', {}).get('leasehold')}` ({r.get('versions', {}).get('leasehold', '')}, "
             f"sha256 {r.get('versions', {}).get('leasehold_sha256', '?')[:12]}) |")
    L.append(f"| make bench took | {fmt(total_s / 60, 1)} min: {fmt(m.get('waited_for_load_s', 0) / 60, 0)} min of waiting for the load "
             f"to drop, {fmt(bench_s / 60, 1)} min of measuring "
             f"(phases: {', '.join(f'{k} {v:.0f} s' for k, v in in_order(r.get('phase_seconds', {})))}) |")
    L.append("")
    L.append("## Results")
    L.append("")
    L.append("Ratio = leasehold / client-go (below 1: leasehold is smaller or faster; for req/s, above 1 is better).")
    L.append("")
    L += table(["measurement", "leasehold", "client-go (reference-elector)", "ratio", "goal", "verdict"], rows)
    L.append("")
    if scale_rows:
        L.append("### Many elections on one API server")
        L.append("")
        L.append("N elections x 3 candidates in one namespace, the processes started one every "
                 f"{fmt(scale_rows[0][1].get('start_interval_s'), 2)} s (as a rollout would; all in one instant, 300 processes "
                 "swamp the 2 cores and the API server's TLS handshakes time out); after every election had a holder and "
                 f"{fmt(s.get('steady_settle'), 0)} s of settling, a {fmt(s.get('scale_window'), 0)} s window: Lease requests "
                 "to the API server (metrics delta, minus the idle baseline) and per-process RSS and CPU.")
        L.append("")
        L += table(["kind", "elections x candidates", "all elections held after", "Lease requests/s",
                    "per election per min", "RSS per agent (median)", "CPU per agent (median)", "CPU of all agents",
                    "elections with exactly one leader"],
                   [["leasehold" if kind == "leasehold" else "client-go",
                     f"{run['elections']} x 3 = {run['processes']} processes",
                     f"{fmt(run.get('all_held_after_s'), 1)} s",
                     fmt(run.get('net_per_s'), 1),
                     fmt(run['net_per_s'] * 60 / run['elections'], 1),
                     f"{fmt((run.get('rss_kb_median') or 0) / 1024, 1)} MiB",
                     f"{fmt(run.get('cpu_millicores_median'), 2)} mcores",
                     f"{fmt(run.get('cpu_millicores_sum'), 0)} mcores",
                     f"{run.get('elections_with_one_leader')} of {run['elections']}"] for kind, run in scale_rows])
        L.append("")
    L += el_lines
    L += ca_lines
    L += sh_lines
    L += fp_lines
    L.append("## Goals")
    L.append("")
    L += table(["goal", "measured", "verdict", "note"], goals)
    L.append("")
    if plots:
        L.append("## Distributions")
        L.append("")
        for title, f in plots:
            L.append(f"![{title}]({f})")
            L.append("")
    L.append("## How each number is measured")
    L.append("")
    L.append(f"""* **Handover / failover**: one election of 3 candidates per kind, both kept running side by side; each trial
  waits for the leader, sleeps 0.5 s plus a random part of the retry period (a random phase against renewals and
  polls), sends SIGTERM (handover) or SIGKILL (failover) to the leader, then polls `GET /v1/leader` of the two
  others every {fmt(s.get('poll', 0.005) * 1000, 0)} ms over kept-alive connections until one answers 200. The stopped candidate is replaced by a new
  process with a new identity (as a restarted pod). Percentiles are nearest-rank: with n=20, p99 is the maximum.
* **API requests**: `apiserver_request_total` has no user-agent or namespace label, so each kind runs alone
  (3 candidates in a fresh namespace), and after {fmt(s.get('steady_settle'), 0)} s of settling the delta of
  `apiserver_request_total{{resource="leases"}}` by verb over a {fmt(s.get('steady_window'), 0)} s window is taken, minus the same
  delta over a window with no agents (the API server's own Lease renewals). A watch is counted by the API server
  only when it ends, so open watches are shown separately (`apiserver_longrunning_requests`). leasehold's own
  count (`leasehold_api_requests_total`) is in the JSON and agrees.
* **Idle RSS and CPU**: during the same window, `VmRSS` (and `Pss`, `RssAnon`) from `/proc/PID/status` and
  `smaps_rollup` at its end, and utime+stime from `/proc/PID/stat` over it (10 ms ticks: resolution
  {10 / (s.get('steady_window') or 60):.2f} millicores; the sum of `/proc/PID/task/*/schedstat`, exact to the ns, is
  shown beside it); followers: the median of the two.
* **Status endpoint**: `wrk --latency` against the leader's `/v1/leader` for {s.get('wrk_seconds')} s, 1 connection
  (1 thread) and 64 connections (2 threads), keep-alive; wrk runs on the same 2 cores, so it competes with the
  server; the median of {s.get('reps_wrk')} alternating runs.
* **Lease change -> file** (leasehold only; client-go's elector writes no file): while leasehold's 3 candidates are
  idle, the bench writes another holder into the Lease (a CAS update, as a take-over by someone else) and waits,
  with inotify, for the leader's `state` file to say `follower` and a follower's `status.json` to name the new
  holder. Timed from the moment a watch of the bench's own on the same Lease delivered the event (the earliest any
  watcher can know), and also from the send of the PUT. The bench then releases the Lease and a candidate takes it.
* **Start -> served**: from just before `fork/exec` to the first HTTP answer on `/v1/status` (leasehold) or
  `/v1/leader` (client-go), polling connects every 0.5 ms; {s.get('reps_start')} starts each, alternating.
* **Scale**: see its table; the request rate excludes the idle baseline.
* **Elections per sidecar**, **candidates per election**: see their sections.""")
    L.append("")
    analysis = os.path.join(HERE, "analysis.md")
    if os.path.exists(analysis):
        L.append(open(analysis).read().rstrip())
        L.append("")
    with open(doc_path, "w") as f:
        f.write("\n".join(L))
    print(f"report: wrote {os.path.relpath(doc_path, ROOT)}" + "".join(f", docs/{p[1]}" for p in plots + [el_plot] + ca_plots if p))


if __name__ == "__main__":
    main()
