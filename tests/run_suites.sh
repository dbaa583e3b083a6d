#!/usr/bin/env bash
# Runs shell test suites one after another, prints each suite's summary line and a total:
# "suites: N passed, N failed" (counting checks). Exits non-zero when any suite failed.
# Usage: tests/run_suites.sh [--repeat N] "SUITE.sh [ARGS...]"...
# --repeat N (or REPEAT=N): the whole list N times over, each run of a suite counted on its own;
# at the end each suite's pass rate ("faults: 19 of 20 runs passed"), as a flaky suite shows itself
# only over many runs. The summary lines stay as they are: every run's "<name>: N passed, N failed"
# and the total over all runs.
# Each suite has SUITE_TIME_LIMIT seconds (default 2400; the longest, the sanitizer builds, takes
# about 15 minutes on 2 cores). Past it the suite is stopped with what it started
# (tests/lib/process_group.sh) and counts as failed: one hang costs one suite, not the whole run.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/process_group.sh"

repeat="${REPEAT:-1}"
if [ "${1:-}" = --repeat ]; then
  repeat="${2:-}"
  shift 2 || true
fi
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || { echo "run_suites: --repeat / REPEAT wants a positive count, got '$repeat'" >&2; exit 2; }
# Make's REPEAT is for this script alone: a suite started below must not repeat itself as well.
unset REPEAT

limit="${SUITE_TIME_LIMIT:-2400}"
pidfile="$(mktemp)"
trap 'rm -f "$pidfile"' EXIT

# watch_suite: waits for the suite's PID in $pidfile and stops the suite past $limit seconds.
watch_suite() {
  local pid=""
  while [ -z "$pid" ]; do
    sleep 1
    pid="$(cat "$pidfile" 2>/dev/null)"
  done
  group_wait "$pid" "$limit" announce_stop
}

# announce_stop PID: says which suite is stopped, and what runs in its group.
announce_stop() {
  echo "=== still running after ${limit}s (SUITE_TIME_LIMIT): stopping it"
  ps -o pid,etimes,args -g "$1" 2>/dev/null | head -30
}

# label SPEC: the suite's name in the pass rates; one run with arguments also shows them
# ("chaos 45"), so that two runs of one script stay apart.
label() {
  local words name
  read -r -a words <<<"$1"
  name="$(basename "${words[0]%.sh}")"
  [ "$name" = run ] && name="$(basename "$(dirname "${words[0]}")")"  # tests/faults/run.sh -> faults
  echo "$name${words[1]:+ ${words[*]:1}}"
}

total_passed=0
total_failed=0
failed_suites=()
runs_passed=()
for ((run = 1; run <= repeat; run++)); do
  index=0
  for spec in "$@"; do
    index=$((index + 1))
    # A spec is a script path, optionally followed by its arguments ("tests/faults/chaos.sh 60").
    read -r -a words <<<"$spec"
    name="$(label "${words[0]}")"
    if [ "$repeat" -gt 1 ]; then echo "=== $spec [run $run of $repeat]"; else echo "=== $spec"; fi
    log="$(mktemp)"
    start=$(date +%s)
    : >"$pidfile"
    watch_suite &
    watcher=$!
    # The suite leads a process group of its own (setsid, in place: a pipeline's member leads none),
    # so that a stopped suite leaves nothing behind.
    bash -c 'echo $$ >"$0"; exec setsid -w bash "$@"' "$pidfile" "${words[@]}" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    kill "$watcher" 2>/dev/null
    wait "$watcher" 2>/dev/null
    # The suite's own summary: the last "<name>: N passed, N failed" line it printed.
    line="$(grep -E "^[A-Za-z0-9_-]+: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1)"
    rm -f "$log"
    if [ -z "$line" ]; then
      echo "$name: 0 passed, 1 failed (no summary line; exit code $rc)"
      total_failed=$((total_failed + 1))
      failed_suites+=("$name")
      continue
    fi
    p="$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/')"
    f="$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/')"
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then total_failed=$((total_failed + 1)); fi
    [ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && runs_passed[index]=$((${runs_passed[index]:-0} + 1))
    [ "$rc" -eq 0 ] || failed_suites+=("$name")
    echo "=== $name took $(($(date +%s) - start))s"
  done
done
echo
echo "pass rates:"
index=0
for spec in "$@"; do
  index=$((index + 1))
  echo "$(label "$spec"): ${runs_passed[index]:-0} of $repeat runs passed"
done
echo "suite summaries:"
echo "suites: $total_passed passed, $total_failed failed"
[ "${#failed_suites[@]}" -eq 0 ] || {
  echo "failed suites: $(printf '%s\n' "${failed_suites[@]}" | sort -u | paste -sd ' ')"
  exit 1
}
