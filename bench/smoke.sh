#!/usr/bin/env bash
# bench_smoke: a reduced `make bench` (~2 min): short timings (3s/2s/1s), 2 handovers and 2
# failovers per kind, one 5 s wrk run per kind, short steady and scale windows, 1 and 3 elections
# per sidecar (2 resigns each). It checks only that every measurement produced a number (never a
# timing threshold: this machine's load is not the code's fault). Writes nothing into the
# repository.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TOOLS_BIN="${TOOLS_BIN:-$root/.cache/tools/bin}"
export LEASEHOLD="${LEASEHOLD:-$root/build/leasehold}"
export REFERENCE="${REFERENCE:-$TOOLS_BIN/reference-elector}"
TESTLIB_SUITE=bench_smoke
. "$root/tests/lib/testlib.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/leasehold-bench-smoke.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

export BENCH_LEASE_DURATION=3 BENCH_RENEW_DEADLINE=2 BENCH_RETRY_PERIOD=1 BENCH_SAFETY_MARGIN=500ms
export REPS_HANDOVER=2 REPS_FAILOVER=2 REPS_START=2 REPS_LEASE_TO_FILE=2 REPS_WRK=1 WRK_SECONDS=5 WRK_CONNECTIONS=64
export STEADY_WINDOW=4 STEADY_SETTLE=1 SCALE_ELECTIONS=3 SCALE_REF_ELECTIONS=2 SCALE_WINDOW=3
export ELECTIONS_PER_SIDECAR=1,3 ELECTIONS_WINDOW=3 ELECTIONS_SETTLE=1 REPS_ELECTIONS_HANDOVER=2
export BENCH_MAX_LOAD=1000 BENCH_RESULTS="$work/results.json" BENCH_DOC="$work/benchmarks.md"

t0=$(date +%s)
bash "$root/bench/run.sh" >"$work/run.log" 2>&1
rc=$?
grep -E "phase |done in" "$work/run.log" | sed "s/^/  /"
expect_eq "bench/run.sh exits 0" "$rc" 0
[ "$rc" = 0 ] || tail -n 20 "$work/run.log" | sed 's/^/        /'

# number JSONPATH...: prints the value at each path (python subscripts) when it is a finite number.
number() {
  python3 - "$BENCH_RESULTS" "$1" <<'EOF' 2>/dev/null
import json, math, sys
r = json.load(open(sys.argv[1]))
v = eval("r" + sys.argv[2], {"r": r})
assert isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
print(v)
EOF
}
is_number() { number "$1" >/dev/null; }

if [ -s "$BENCH_RESULTS" ]; then
  for k in leasehold reference; do
    expect "$k: handover p50"  is_number "['phases']['handover']['$k']['summary']['p50']"
    expect "$k: handover p99"  is_number "['phases']['handover']['$k']['summary']['p99']"
    expect "$k: failover p50"  is_number "['phases']['failover']['$k']['summary']['p50']"
    expect "$k: failover p99"  is_number "['phases']['failover']['$k']['summary']['p99']"
    expect "$k: Lease requests per minute" is_number "['phases']['steady']['$k']['net_total_per_min']"
    expect "$k: idle RSS of an agent" is_number "['phases']['steady']['$k']['agents'][0]['vmrss_kb']"
    expect "$k: idle CPU of an agent" is_number "['phases']['steady']['$k']['agents'][0]['cpu_millicores']"
    expect "$k: wrk req/s" is_number "['phases']['wrk']['$k']['c64_median']['rps']"
    expect "$k: wrk p99" is_number "['phases']['wrk']['$k']['c64_median']['p99_ms']"
    expect "$k: start -> served p50" is_number "['phases']['start']['$k']['served']['p50']"
    expect "$k: scale request rate" is_number "['phases']['scale']['$k'][0]['net_per_s']"
    expect "$k: scale RSS median" is_number "['phases']['scale']['$k'][0]['rss_kb_median']"
  done
  for i in 0 1; do
    expect "elections per sidecar, run $i: threads" is_number "['phases']['elections']['runs'][$i]['threads_max']"
    expect "elections per sidecar, run $i: anonymous RSS" is_number "['phases']['elections']['runs'][$i]['rssanon_kb_median']"
    expect "elections per sidecar, run $i: idle CPU" is_number "['phases']['elections']['runs'][$i]['cpu_millicores_median']"
    expect "elections per sidecar, run $i: connections" is_number "['phases']['elections']['runs'][$i]['apiserver_connections_median']"
    expect "elections per sidecar, run $i: API requests" is_number "['phases']['elections']['runs'][$i]['api_requests_per_min_mean']"
    expect "elections per sidecar, run $i: all held after" is_number "['phases']['elections']['runs'][$i]['all_held_after_s']"
    expect "elections per sidecar, run $i: handover p50" is_number "['phases']['elections']['runs'][$i]['handover']['summary']['p50']"
    expect "elections per sidecar, run $i: CPU per renewal" is_number "['phases']['elections']['runs'][$i]['cpu_ms_per_renewal']"
  done
  expect "leasehold: Lease change -> state file" is_number "['phases']['lease_to_file']['state_from_send_summary']['p50']"
  expect "leasehold: Lease change -> status.json" is_number "['phases']['lease_to_file']['status_json_from_send_summary']['p50']"
  if docker image inspect leasehold:test >/dev/null 2>&1; then
    expect "image size" is_number "['phases']['image']['bytes']"
  else
    echo "  (no image leasehold:test: image size not measured)"
  fi
  expect "the report names both kinds" grep -q 'client-go (reference-elector)' "$BENCH_DOC"
  expect "the report has a goals table" grep -q '^## Goals' "$BENCH_DOC"
  expect "the report has the section Elections per sidecar" grep -q '^## Elections per sidecar' "$BENCH_DOC"
else
  fail "no results file"
fi
echo "bench_smoke: took $(($(date +%s) - t0))s"
summary
