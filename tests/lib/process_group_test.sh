#!/usr/bin/env bash
# process_group_test: the time limits that keep one hang from eating CI's whole time
# (tests/lib/process_group.sh) stop what hangs, with everything it started, and say so.
# - run_bounded passes a finished command's status through; past its limit it writes the
#   stacks of the hung group into the log, delivers SIGTERM (the exit trap runs), leaves no
#   process of the group behind and returns 124.
# - tests/run_suites.sh stops a suite past SUITE_TIME_LIMIT even when a child of the suite holds
#   its output pipe open, counts it as failed, and goes on with the next suite.
# Each call is itself bounded by timeout(1), so a broken limit fails here instead of hanging.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/tests/lib/suite.sh"
suite_begin process_group_test
. "$root/tests/lib/process_group.sh"

# A suite that hangs: its exit trap leaves a mark, and a child of its own keeps stdout open.
cat >"$work/hang.sh" <<'HANG'
trap 'echo ran >"$0.cleanup"' EXIT
trap 'exit 130' TERM
sleep 1000 &
echo $! >"$0.child"
while :; do sleep 0.2; done
HANG
printf 'echo "quick: 1 passed, 0 failed"\n' >"$work/quick.sh"

# run_bounded, a command that ends by itself.
(run_bounded 30 "$work/ok.log" bash -c 'echo said; exit 3')
expect_eq "run_bounded: a finished command's status comes back" "$?" 3
expect_eq "run_bounded: its output is in the log" "$(cat "$work/ok.log")" said

# run_bounded, a hang.
# shellcheck disable=SC2016 # the inner shell expands them
timeout 150 bash -c '. "$0"; run_bounded 2 "$1" bash "$2"' "$root/tests/lib/process_group.sh" "$work/hang.log" "$work/hang.sh"
expect_eq "run_bounded: a hang past its limit returns 124" "$?" 124
expect_match "run_bounded: the log says it was still running" "$(cat "$work/hang.log")" "still running"
expect_match "run_bounded: the log has the stacks of the hung processes (gdb)" \
  "$(grep -c '^--- process\|^Thread\|^#0' "$work/hang.log")" '^([3-9]|[1-9][0-9]+)$'
expect_eq "run_bounded: the hung command got SIGTERM and its exit trap ran" "$(cat "$work/hang.sh.cleanup" 2>/dev/null)" ran
child="$(cat "$work/hang.sh.child")"
track_pid "$child"  # killed at exit if the limit failed to
expect "run_bounded: nothing of the hung group is left (its child is gone)" wait_until 10 proc_gone "$child"
rm -f "$work/hang.sh.cleanup" "$work/hang.sh.child"

# run_suites: quick, hang, quick.
out="$(cd "$work" && SUITE_TIME_LIMIT=2 timeout 150 bash "$root/tests/run_suites.sh" "$work/quick.sh" "$work/hang.sh" "$work/quick.sh" 2>&1)"
rc=$?
expect_eq "run_suites: a stopped suite makes the run fail (not time out)" "$rc" 1
expect_match "run_suites: it says which suite it stopped" "$out" "still running after 2s \(SUITE_TIME_LIMIT\)"
expect_eq "run_suites: the suite's exit trap ran" "$(cat "$work/hang.sh.cleanup" 2>/dev/null)" ran
child="$(cat "$work/hang.sh.child")"
track_pid "$child"
expect "run_suites: the child that held its output is gone" wait_until 10 proc_gone "$child"
expect_match "run_suites: the suite after it ran, and the total counts the stop" "$out" \
  "suites: 2 passed, 1 failed"

summary
