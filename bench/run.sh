#!/usr/bin/env bash
# make bench: leasehold and client-go's elector (reference-elector) side by side, against a local
# real control plane (tests/controlplane/up) on 127.0.0.1, with the same timings (15s/10s/2s).
# Writes bench/results/<date>.json (raw numbers), docs/benchmarks.md and docs/benchmarks-*.png.
#
# Settings (environment): LEASEHOLD, REFERENCE (binaries); REPS_HANDOVER (20), REPS_FAILOVER (6),
# REPS_START (10), REPS_APP_HEALTH (10), REPS_LEASE_TO_FILE (20), REPS_WRK (2), WRK_SECONDS (10), STEADY_WINDOW (60),
# SCALE_ELECTIONS (100,30), SCALE_REF_ELECTIONS (30), SCALE_WINDOW (30), SCALE_START_INTERVAL
# (0.1 s between process starts), PHASES (all: see
# bench/bench.py), BENCH_MAX_LOAD (1.0: wait up to BENCH_LOAD_WAIT seconds, default 1200, for
# the 1-minute load average to drop below it first), BENCH_DOC (docs/benchmarks.md; "-": none),
# BENCH_RESULTS (bench/results/<date>.json), BENCH_WORK_DIR (where the agents' status dirs and
# logs go: /dev/shm, tmpfs as the chart's default statusDir.medium, unless set).
#
# Phase elections (many elections in one sidecar: 3 sidecars, each with one --config listing the
# same N elections): ELECTIONS_PER_SIDECAR (the values of N, "1,10,100,300"), ELECTIONS_WINDOW (30 s
# of idle measuring per N), ELECTIONS_SETTLE (10 s between "all held" and the window),
# REPS_ELECTIONS_HANDOVER (10 resigns per N), ELECTIONS_HOLD_TIMEOUT (180 s: the longest wait for
# every election to have one leader), ELECTIONS_API_LIMITS ("per-election": --api-qps 5N and
# --api-burst 10N, at most 1000, leasehold's defaults per election; "sidecar": its defaults for
# the whole sidecar), ELECTIONS_EXTRA_CONFIG (further top-level keys of the sidecars' --config,
# ";" between them, e.g. "log-level: debug"; none by default).
#
# Phase candidates (N candidates of ONE election, leasehold and client-go alternately): CANDIDATES
# (the values of N, "3,30,100,300"), CANDIDATES_WINDOW (30 s of idle measuring per run),
# CANDIDATES_SETTLE (10 s), CANDIDATES_START_INTERVAL (0.1 s between process starts),
# REPS_CANDIDATES_HANDOVER (3 SIGTERMs of the leader per run), REPS_CANDIDATES_FAILOVER (1 SIGKILL).
# Phase footprint (the sidecar's memory in a pod on a real node, leasehold's default image against
# reference-elector packaged the same way: bench/footprint.sh, which needs root and docker as the
# cluster suite does): IMAGE (the leasehold image it builds, leasehold:bench), FOOTPRINT_SETTLE
# (30 s), FOOTPRINT_SAMPLES (5), FOOTPRINT_INTERVAL (10 s).
# Alone, on a busy machine, without touching docs/:
#   PHASES=elections BENCH_MAX_LOAD=100 BENCH_DOC=- ELECTIONS_PER_SIDECAR=1,10,100 bash bench/run.sh
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TOOLS_BIN="${TOOLS_BIN:-$root/.cache/tools/bin}"
export LEASEHOLD="${LEASEHOLD:-$root/build/leasehold}"
export REFERENCE="${REFERENCE:-$TOOLS_BIN/reference-elector}"
PHASES="${PHASES:-steady,start,handover,wrk,lease_to_file,failover,app_health,scale,elections,candidates,image,footprint}"
# Phase footprint runs on a real node (bench/footprint.sh), after bench.py's phases.
footprint=""
case ",$PHASES," in *,footprint,*) footprint=1 ;; esac
py_phases="$(echo ",$PHASES," | sed 's/,footprint,/,/g; s/^,//; s/,$//')"
date_tag="$(date -u +%Y-%m-%d)"
results="${BENCH_RESULTS:-$root/bench/results/$date_tag.json}"
doc="${BENCH_DOC:-$root/docs/benchmarks.md}"
max_load="${BENCH_MAX_LOAD:-1.0}"
load_wait="${BENCH_LOAD_WAIT:-1200}"

for b in "$LEASEHOLD" "$REFERENCE" "$TOOLS_BIN/kube-apiserver" "$TOOLS_BIN/etcd"; do
  [ -x "$b" ] || { echo "bench: $b missing (make build tools)" >&2; exit 1; }
done
for c in python3 wrk curl; do
  command -v "$c" >/dev/null || { echo "bench: $c not found (apt-get install wrk)" >&2; exit 1; }
done

. "$root/tests/lib/suite.sh"
suite_begin bench bench-run
bench_pid=""
# bench.py is asked to stop (SIGTERM: it stops the processes it started), not killed.
stop_bench() { [ -n "$bench_pid" ] && kill -TERM "$bench_pid" 2>/dev/null && wait "$bench_pid" 2>/dev/null; }
at_exit stop_bench

t0=$(date +%s)
# A quiet machine first: other work on the 2 cores would show up in every number.
load1() { cut -d' ' -f1 /proc/loadavg; }
waited=0
while awk -v l="$(load1)" -v m="$max_load" 'BEGIN { exit !(l > m) }' && [ "$waited" -lt "$load_wait" ]; do
  echo "bench: load average $(load1) > $max_load; waiting (${waited}s of at most ${load_wait}s)"
  sleep 60; waited=$((waited + 60))
done
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench: load average before the run: $load_before (waited ${waited}s)"

# A private copy of the binary: build/ may be rebuilt by someone else while the run goes on.
src_bin="$LEASEHOLD"
{ cp "$LEASEHOLD" "$work/leasehold" && "$work/leasehold" --version >/dev/null 2>&1; } ||
  { echo "bench: $LEASEHOLD does not run (mid-rebuild?); try again or set LEASEHOLD" >&2; exit 1; }
export LEASEHOLD="$work/leasehold"
echo "bench: leasehold $("$LEASEHOLD" --version) from $src_bin (sha256 $(sha256sum "$LEASEHOLD" | cut -c1-12))"

controlplane_start "$work/cp" || { cat "$work/cp.log"; exit 1; }

mkdir -p "$(dirname "$results")"
python3 "$root/bench/bench.py" --out "$results" --phases "$py_phases" &
bench_pid=$!
wait "$bench_pid"; rc=$?
bench_pid=""
[ "$rc" = 0 ] || { echo "bench: bench.py failed (status $rc); partial results in $results" >&2; exit "$rc"; }
if [ -n "$footprint" ]; then
  t_fp=$(date +%s)
  IMAGE="${IMAGE:-leasehold:bench}" bash "$root/bench/footprint.sh" "$work/footprint.json" || { echo "bench: phase footprint failed" >&2; exit 1; }
  python3 - "$results" "$work/footprint.json" "$(($(date +%s) - t_fp))" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r["phases"]["footprint"] = json.load(open(sys.argv[2]))
r.setdefault("phase_seconds", {})["footprint"] = int(sys.argv[3])
json.dump(r, open(sys.argv[1], "w"), indent=1, sort_keys=True)
EOF
fi

python3 -B - "$results" "$load_before" "$waited" "$(($(date +%s) - t0))" "$src_bin" "$(sha256sum "$LEASEHOLD" | cut -d' ' -f1)" \
  "$root/bench" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[7])
from bench import repo_relative
path, load, waited, total = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
r = json.load(open(path))
r["settings"]["binaries"]["leasehold"] = repo_relative(sys.argv[5])
r["versions"]["leasehold_sha256"] = sys.argv[6]
r["machine"]["loadavg_before_run"] = [float(x) for x in load.split()]
r["machine"]["waited_for_load_s"] = waited
r["make_bench_seconds"] = total
json.dump(r, open(path, "w"), indent=1, sort_keys=True)
EOF
if [ "$doc" != "-" ]; then
  python3 "$root/bench/report.py" "$results" "$doc" || exit 1
fi
echo "bench: make bench took $(($(date +%s) - t0))s; results in ${results#"$root"/}${doc:+, report in ${doc#"$root"/}}"
