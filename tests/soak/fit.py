#!/usr/bin/env python3
"""Growth check of the soak's samples (tests/soak/sample.py's CSV).

    fit.py SAMPLES.csv --warmup-s S [--bound METRIC=PER_MIN]... [--json OUT] [--plot OUT.png]
           [--title TEXT]

For each process (agent name + pid: a restarted agent is a new process and is fitted on its own)
and each metric given a --bound (rss_kib, anon_kib, fds, threads, sockets, series), it fits a
least-squares line through the samples taken at least S seconds after that process's first sample
(the warm-up is left out: caches, allocator arenas and connection pools fill up first) and
compares its slope, in units per minute, with the bound. A slope above the bound means the figure
keeps growing after the warm-up: a leak. So that a single sample never decides (least squares
gives the first and last samples the most weight: one burst of clients caught by the last sample
can tilt the line), the metric fails only when the Theil-Sen slope (the median of the slopes
between every two samples) is above the bound as well; a steady growth puts both there. A process
with fewer than 6 samples after the warm-up fails (too short to judge).

Prints one line per process and metric: both slopes, the bound, the verdict, and the
first/last/min/max after the warm-up. --json OUT writes {"processes": [{"agent", "pid", "samples",
"fitted_from_s", "duration_s", "metrics": {METRIC: {"slope_per_min", "median_slope_per_min",
"bound_per_min", "ok", "first", "last", "min", "max", "mean"}}}], "ok": bool}. --plot OUT.png
draws every metric against time, one line per process, the warm-up's end marked (gnuplot,
pngcairo or png terminal). Exit status 1 when any metric is above its bound or a process has too
few samples, else 0.
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import OrderedDict

METRICS = ("rss_kib", "anon_kib", "fds", "threads", "sockets", "series")
LABELS = {"rss_kib": "VmRSS (KiB)", "anon_kib": "RssAnon (KiB)", "fds": "open FDs", "threads": "threads",
          "sockets": "sockets", "series": "Prometheus series"}
MIN_SAMPLES = 6


def load(path):
    """OrderedDict (agent, pid) -> list of rows (dicts of numbers), in file order."""
    procs = OrderedDict()
    with open(path) as f:
        for row in csv.DictReader(f):
            try:
                key = (row["agent"], int(row["pid"]))
                values = {"t_s": float(row["t_s"])}
                for m in METRICS:
                    values[m] = float(row[m])
            except (KeyError, ValueError, TypeError):
                continue  # a line cut by a kill
            procs.setdefault(key, []).append(values)
    return procs


def slope(xs, ys):
    """Least-squares slope of ys over xs (0 when xs has no spread)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def median_slope(xs, ys):
    """Theil-Sen slope: the median of the slopes between every two samples (pairs with equal xs
    skipped). A few outlying samples (a burst of clients caught by one sample) cannot move it."""
    slopes = sorted((ys[j] - ys[i]) / (xs[j] - xs[i])
                    for i in range(len(xs)) for j in range(i + 1, len(xs)) if xs[j] != xs[i])
    if not slopes:
        return 0.0
    mid = len(slopes) // 2
    return slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2


def judge(procs, warmup_s, bounds):
    results, ok = [], True
    for (agent, pid), rows in procs.items():
        t0 = rows[0]["t_s"]
        kept = [r for r in rows if r["t_s"] - t0 >= warmup_s]
        proc = {"agent": agent, "pid": pid, "samples": len(kept), "fitted_from_s": round(t0 + warmup_s, 1),
                "duration_s": round(rows[-1]["t_s"] - t0, 1), "metrics": {}, "ok": True}
        if len(kept) < MIN_SAMPLES:
            proc["ok"] = False
            proc["error"] = f"{len(kept)} samples after the warm-up (< {MIN_SAMPLES})"
        for m, bound in bounds.items():
            # series = -1: /metrics did not answer that round; such samples are not fitted.
            pts = [(r["t_s"], r[m]) for r in kept if r[m] >= 0]
            if len(pts) < MIN_SAMPLES:
                proc["metrics"][m] = {"slope_per_min": None, "bound_per_min": bound, "ok": False, "samples": len(pts)}
                proc["ok"] = False
                continue
            xs = [p[0] / 60.0 for p in pts]
            ys = [p[1] for p in pts]
            s, ts = slope(xs, ys), median_slope(xs, ys)
            good = s <= bound or ts <= bound
            proc["metrics"][m] = {"slope_per_min": round(s, 3), "median_slope_per_min": round(ts, 3),
                                  "bound_per_min": bound, "ok": good,
                                  "samples": len(pts), "first": ys[0], "last": ys[-1], "min": min(ys),
                                  "max": max(ys), "mean": round(sum(ys) / len(ys), 1)}
            proc["ok"] = proc["ok"] and good
        ok = ok and proc["ok"]
        results.append(proc)
    return results, ok


def fmt(v):
    return "-" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def show(results, warmup_s):
    print(f"  least-squares slopes per minute over the samples taken >= {warmup_s:g} s after each process's first")
    print(f"  {'agent':<6} {'pid':>7} {'metric':<9} {'slope/min':>10} {'median':>8} {'bound':>7}  {'first':>8} "
          f"{'last':>8} {'min':>8} {'max':>8}  verdict")
    for p in results:
        if p.get("error"):
            print(f"  {p['agent']:<6} {p['pid']:>7} {p['error']}")
        for m, r in p["metrics"].items():
            print(f"  {p['agent']:<6} {p['pid']:>7} {m:<9} {fmt(r['slope_per_min']):>10} "
                  f"{fmt(r.get('median_slope_per_min')):>8} {fmt(r['bound_per_min']):>7}  {fmt(r.get('first')):>8} {fmt(r.get('last')):>8} {fmt(r.get('min')):>8} {fmt(r.get('max')):>8}  "
                  f"{'ok' if r['ok'] else 'ABOVE BOUND'}")


def plot(procs, warmup_s, out, title):
    """Six panels (one per metric) against minutes, one line per process; needs gnuplot."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        print("  (no gnuplot: no plot)", file=sys.stderr)
        return False
    tmp = tempfile.mkdtemp(prefix="soak-plot.")
    try:
        files = []
        for (agent, pid), rows in procs.items():
            path = os.path.join(tmp, f"{agent}-{pid}.dat")
            with open(path, "w") as f:
                for r in rows:
                    f.write(" ".join([f"{r['t_s'] / 60:.3f}"] + [f"{r[m]:g}" for m in METRICS]) + "\n")
            files.append((f"{agent} (pid {pid})", path))
        terms = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True, text=True).stderr
        term = "pngcairo size 1400,1000 font ',10'" if "pngcairo" in terms else "png size 1400,1000"
        script = [f"set terminal {term}", f"set output '{out}'",
                  f"set multiplot layout 3,2 title '{title}'", "set grid", "set key right bottom opaque box",
                  "set xlabel 'minutes'", f"warm = {warmup_s / 60:.3f}"]
        for i, m in enumerate(METRICS):
            script.append(f"set title '{LABELS[m]}'")
            script.append("set arrow 1 from warm, graph 0 to warm, graph 1 nohead dashtype 2")
            script.append("set yrange [0:*]")  # from 0: a flat line looks flat, a slope of note shows
            parts = [f"'{path}' using 1:{i + 2} with linespoints pointsize 0.4 title '{label}'"
                     for label, path in files]
            script.append("plot " + ", ".join(parts))
        script.append("unset multiplot")
        r = subprocess.run([gnuplot], input="\n".join(script) + "\n", capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return False
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("samples")
    ap.add_argument("--warmup-s", type=float, required=True)
    ap.add_argument("--bound", action="append", default=[], help="METRIC=PER_MINUTE")
    ap.add_argument("--json")
    ap.add_argument("--plot")
    ap.add_argument("--title", default="leasehold soak")
    args = ap.parse_args()
    bounds = OrderedDict()
    for b in args.bound:
        m, _, v = b.partition("=")
        if m not in METRICS:
            ap.error(f"unknown metric {m} (one of {', '.join(METRICS)})")
        bounds[m] = float(v)
    procs = load(args.samples)
    if not procs:
        print("  no samples", file=sys.stderr)
        return 1
    results, ok = judge(procs, args.warmup_s, bounds)
    show(results, args.warmup_s)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"warmup_s": args.warmup_s, "bounds_per_min": bounds, "processes": results, "ok": ok}, f,
                      indent=1)
    if args.plot:
        plot(procs, args.warmup_s, args.plot, args.title)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
