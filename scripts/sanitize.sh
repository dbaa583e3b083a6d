#!/usr/bin/env bash
# sanitize: the unit tests and the agent e2e suite under AddressSanitizer + UndefinedBehavior-
# Sanitizer (build-asan/) and under ThreadSanitizer (build-tsan/), built with g++. Any sanitizer
# report fails the run (halt_on_error / abort_on_error). Four checks: asan unit, asan e2e,
# tsan unit, tsan e2e; prints "sanitize: N passed, N failed".
#
# Usage: scripts/sanitize.sh   (make sanitize)
# Environment: SANITIZE_CXX (compiler, default g++), SANITIZE_JOBS (build jobs, default 2),
# SANITIZE_ONLY=asan|tsan (one of the two), SANITIZE_LOGS (where logs of a failed run are kept,
# default build-sanitize-logs/), SANITIZE_UNIT_LIMIT and SANITIZE_E2E_LIMIT (seconds before a run
# counts as hung: its stacks are kept and it fails; 600 and 1200).
#
# Logs: ASan and TSan also write their reports to files of ours (log_path); the e2e suite keeps
# the agents' stderr in its work directory, which it deletes at the end, so it runs with TMPDIR
# pointing into our scratch directory and a copier keeps snapshots of the agents' logs. A report
# in either fails the check even when the suite passed. When a check fails, its logs are copied
# to $SANITIZE_LOGS and the report lines are printed.
#
# Note: the agent leaves with std::_Exit after a clean shutdown (what is left after every
# election has ended is not waited for), so LeakSanitizer's at-exit check does not run for the
# agent; it does run for the unit tests.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root" || exit 1
TESTLIB_SUITE=sanitize
. "$root/tests/lib/testlib.sh"
. "$root/tests/lib/process_group.sh"
export PATH="$PATH:/usr/local/go/bin"

cxx="${SANITIZE_CXX:-g++}"
jobs="${SANITIZE_JOBS:-2}"
logs="${SANITIZE_LOGS:-$root/build-sanitize-logs}"
only="${SANITIZE_ONLY:-}"
start=$(date +%s)
stamp() { echo "sanitize [$(($(date +%s) - start))s] $*"; }

bash "$root/scripts/install-deps.sh" >/dev/null || { fail "scripts/install-deps.sh"; summary; exit 1; }
if [ ! -x "$root/.cache/tools/bin/kube-apiserver" ]; then
  stamp "building the test tools (make tools)"
  bash "$root/tests/tools/build.sh" >/dev/null || { fail "build the test tools"; summary; exit 1; }
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/leasehold-sanitize.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
rm -rf "$logs"

# Sanitizer runtime options. ASan/UBSan: stop at the first report with a non-zero exit.
# TSan: the same; the suppressions file only names frames in uninstrumented third-party code.
# abort_on_error=0: the sanitizer ends the process with its exit code, not SIGABRT. doctest's
# SIGABRT handler allocates, and under TSan it did so while the runtime held the lock it needs
# for that: a report turned into a run that never ended (CI's time ran out) instead of a failure.
export ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
tsan_options="halt_on_error=1:second_deadlock_stack=1:abort_on_error=0:suppressions=$root/tests/fuzz/tsan.supp"

# Time limits (run_bounded, tests/lib/process_group.sh): a hang is a failure with its stacks, not
# a run that eats CI's time. The unit tests take about 10 s under TSan and the agent e2e suite
# about a minute (2 cores).
unit_limit="${SANITIZE_UNIT_LIMIT:-600}"
e2e_limit="${SANITIZE_E2E_LIMIT:-1200}"

report_pattern='ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:'

# keep_logs NAME DIR...: copies logs of a failed check and prints the sanitizer report lines.
keep_logs() {
  local name="$1"; shift
  mkdir -p "$logs/$name"
  cp -r "$@" "$logs/$name/" 2>/dev/null
  grep -rhaE -m3 "$report_pattern|SUMMARY: " "$logs/$name" 2>/dev/null | head -12 | sed 's/^/        /'
  echo "        logs kept in ${logs#"$root"/}/$name/"
}

# build DIR SANITIZERS: configures and builds the agent and the unit tests.
build() {
  local dir="$1" san="$2"
  stamp "building $dir (-fsanitize=$san, $cxx)"
  # -O1 -g1: line tables for the reports, assertions on, and about half the compile time of
  # RelWithDebInfo's -O2 -g with the sanitizers (g++ 12, 2 cores).
  if CXX="$cxx" cmake -S "$root" -B "$root/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DLEASEHOLD_SANITIZE="$san" >"$scratch/$dir-build.log" 2>&1 &&
    cmake --build "$root/$dir" -j "$jobs" --target leasehold leasehold_unit_tests >>"$scratch/$dir-build.log" 2>&1; then
    return 0
  fi
  grep -E 'error' "$scratch/$dir-build.log" | head -10 | sed 's/^/        /'
  keep_logs "$dir-build" "$scratch/$dir-build.log"
  return 1
}

# unit NAME DIR: the unit tests, with the sanitizer environment already exported.
unit() {
  local name="$1" dir="$2" log="$scratch/$1-unit.log"
  stamp "unit tests in $dir"
  local rc
  run_bounded "$unit_limit" "$log" "$root/$dir/leasehold_unit_tests"
  rc=$?
  if [ "$rc" -eq 0 ] && ! grep -qaE "$report_pattern" "$log"; then
    pass "$name unit: $(grep -aE '^\[doctest\] test cases' "$log" | sed 's/\[doctest\] //;s/  */ /g')"
  elif [ "$rc" -eq 124 ]; then
    fail "$name unit: still running after ${unit_limit}s (stopped; the stacks are in the kept log)"
    grep -aE '^#[0-9]+ .* (DOCTEST_ANON|leasehold::)' "$log" | head -8 | sed 's/^/        /'
    keep_logs "$name-unit" "$log"
  else
    fail "$name unit (exit $rc)"
    tail -n 5 "$log" | sed 's/^/        /'
    keep_logs "$name-unit" "$log"
  fi
}

# e2e NAME DIR: tests/e2e/agent_test.sh with LEASEHOLD=DIR/leasehold. The sanitizers write their
# reports to files of our own (log_path=$tmp/reports/<kind>.<pid>) as well as the agents' stderr,
# which the suite keeps in its work directory and deletes at the end; with TMPDIR pointing into
# $tmp, a copier keeps snapshots of the agents' logs meanwhile. A report from any agent fails the
# check even when the suite itself passed.
e2e() {
  local name="$1" dir="$2" tmp="$scratch/$1-tmp" log="$scratch/$1-e2e.log" rc f
  mkdir -p "$tmp/reports" "$tmp/agent-logs"
  stamp "agent e2e suite with $dir/leasehold"
  snapshot() {
    for f in "$tmp"/leasehold-agent_test.*/*.log; do
      [ -f "$f" ] && cp -f "$f" "$tmp/agent-logs/" 2>/dev/null
    done
  }
  ( while :; do snapshot; sleep 0.5; done ) &
  local copier=$!
  ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$tmp/reports/asan" UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$tmp/reports/ubsan" \
    TSAN_OPTIONS="${TSAN_OPTIONS:-}:log_path=$tmp/reports/tsan" \
    TMPDIR="$tmp" LEASEHOLD="$root/$dir/leasehold" run_bounded "$e2e_limit" "$log" bash "$root/tests/e2e/agent_test.sh"
  rc=$?
  kill "$copier" 2>/dev/null
  wait "$copier" 2>/dev/null
  local line reports
  line="$(grep -E '^agent_test: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)"
  # ASan and TSan honour log_path; g++'s UBSan inside the ASan runtime still writes to stderr,
  # which only the snapshots of the agents' logs have.
  reports="$(($(find "$tmp/reports" -type f | wc -l) + $(grep -laE "$report_pattern" "$tmp"/agent-logs/* 2>/dev/null | wc -l)))"
  if [ "$rc" -eq 0 ] && [ "$reports" -eq 0 ]; then
    pass "$name e2e: ${line:-agent_test passed}"
  elif [ "$rc" -eq 124 ]; then
    fail "$name e2e: still running after ${e2e_limit}s (stopped; the stacks are in the kept log)"
    keep_logs "$name-e2e" "$log" "$tmp/reports" "$tmp/agent-logs"
  else
    fail "$name e2e: ${line:-no summary line} (exit $rc, sanitizer reports from $reports processes)"
    grep -E '^ +FAIL' "$log" | head -10
    keep_logs "$name-e2e" "$log" "$tmp/reports" "$tmp/agent-logs"
  fi
}

if [ "$only" != tsan ]; then
  if build build-asan address,undefined; then
    unit asan build-asan
    e2e asan build-asan
  else
    fail "asan unit: build failed"
    fail "asan e2e: build failed"
  fi
fi

if [ "$only" != asan ]; then
  export TSAN_OPTIONS="$tsan_options"
  if build build-tsan thread; then
    unit tsan build-tsan
    e2e tsan build-tsan
  else
    fail "tsan unit: build failed"
    fail "tsan e2e: build failed"
  fi
  unset TSAN_OPTIONS
fi

stamp "done"
summary
