#!/usr/bin/env bash
# Fault suite: runs the fault cases tests/faults/cases/NN_name.sh against one fresh control plane
# (one namespace, toxiproxy-server and witness per case) and ends with "faults: N passed, N failed"
# (one check per case; a case passes when all its assertions do).
#
#   bash tests/faults/run.sh [--repeat N] [NN ...]   # all cases, or only those whose number/name matches
#   REPEAT=N ...          # the same as --repeat N: every case N times, one after another
#   FAULT_TIMINGS=default bash tests/faults/run.sh   # 15s/10s/2s instead of 4s/3s/1s (slow)
#   FAULTS_ALL=1 ...      # also the cases marked slow (SLOW=1 in their header: skipped in CI)
#   FAULTS_KEEP=1 ...     # keep each case's work directory (logs, witness log) for inspection
#   LEASEHOLD=path ...    # the agent binary (default build/leasehold)
# Each case prints its figures ("figures: overlap_ms=... leaderless_ms=... failover_ms=...");
# they are collected at the end. A case that runs longer than FAULTS_CASE_TIMEOUT (default 300 s)
# is stopped and counted as failed. Each run of a case is one check of the suite; at the end every
# case's pass rate is printed ("22_out_of_memory: 19 of 20 runs passed"), as a flaky case shows
# itself only over many runs.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export TOOLS_BIN="${TOOLS_BIN:-$root/.cache/tools/bin}"
export LEASEHOLD="${LEASEHOLD:-$root/build/leasehold}"
. "$root/tests/lib/suite.sh"

repeat="${REPEAT:-1}"
if [ "${1:-}" = --repeat ]; then
  repeat="${2:-}"
  shift 2 || true
fi
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || { echo "faults: --repeat / REPEAT wants a positive count, got '$repeat'" >&2; exit 2; }

t0=$(date +%s)
suite_begin faults faults-run

[ -x "$LEASEHOLD" ] || { fail "no agent binary at $LEASEHOLD (make build)"; summary; exit; }
echo "faults: agent $LEASEHOLD ($("$LEASEHOLD" --version 2>/dev/null)); timings ${FAULT_TIMINGS:-short}"
controlplane_start "$work/cp" || { cat "$work/cp.log"; fail "control plane up"; summary; exit; }
export FAULTS_CP_DIR="$work/cp"
export FAULTS_FIGURES="$work/figures"
: >"$FAULTS_FIGURES"

cases=()
for f in "$here"/cases/[0-9]*.sh; do
  name="$(basename "$f" .sh)"
  if [ $# -gt 0 ]; then
    hit=""; for want in "$@"; do [[ "$name" == *"$want"* ]] && hit=1; done
    [ -n "$hit" ] || continue
  elif grep -q '^# SLOW=1' "$f" && [ -z "${FAULTS_ALL:-}" ]; then
    echo "--- $name: skipped (slow; FAULTS_ALL=1 runs it)"
    continue
  fi
  cases+=("$f")
done

results=()
declare -A runs_passed=()
for ((run = 1; run <= repeat; run++)); do
  for f in "${cases[@]}"; do
    name="$(basename "$f" .sh)"
    tag="$name"
    [ "$repeat" -gt 1 ] && tag="$name [run $run of $repeat]"
    start=$(date +%s)
    timeout --foreground -k 10 "${FAULTS_CASE_TIMEOUT:-300}" bash "$f" 2>&1 | tee "$work/$name.out"
    rc=${PIPESTATUS[0]}
    took=$(($(date +%s) - start))
    line="$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "$work/$name.out" | tail -1)"
    [ -n "$line" ] || line="$name: no summary (exit $rc)"
    [ "$repeat" -gt 1 ] && line="$line [run $run]"
    results+=("$line (${took}s)")
    if [ "$rc" = 0 ]; then
      runs_passed[$name]=$((${runs_passed[$name]:-0} + 1))
      pass "$tag (${took}s)"
    else
      fail "$tag (exit $rc, ${took}s)"
    fi
  done
done

echo
echo "=== fault cases"
printf '  %s\n' "${results[@]}"
echo "=== figures"
sed 's/^/  /' "$FAULTS_FIGURES"
echo "=== pass rates"
for f in "${cases[@]}"; do
  name="$(basename "$f" .sh)"
  echo "$name: ${runs_passed[$name]:-0} of $repeat runs passed"
done
echo "=== total time: $(($(date +%s) - t0)) s"
summary
