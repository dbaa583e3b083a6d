#!/usr/bin/env bash
# demo_test: `make demo` (scripts/demo.sh) does what the README says: a leader, failover after
# kill -9 with no overlap of the two claims, a handover after SIGTERM to a third agent, the
# stopped agent exits 0, and nothing is left running afterwards.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/tests/lib/suite.sh"
suite_begin demo_test

timeout --foreground -k 10 300 bash "$root/scripts/demo.sh" >"$work/demo.out" 2>&1
rc=$?
sed 's/^/    /' "$work/demo.out"
expect_eq "the demo exits 0" "$rc" 0
# The names in the demo's lines: "leader: A", "failover: B leads", "handover: C leads".
leader="$(sed -nE 's/.* leader: (pod-[a-c]) .*/\1/p' "$work/demo.out")"
failover="$(sed -nE 's/.* failover: (pod-[a-c]) leads .*/\1/p' "$work/demo.out")"
handover="$(sed -nE 's/.* handover: (pod-[a-c]) leads .*/\1/p' "$work/demo.out")"
# differ A B...: all given, and all different.
differ() { [ "$#" -gt 0 ] && [ -z "$(printf '%s\n' "$@" | sort | uniq -d)" ] && ! printf '%s\n' "$@" | grep -qx ''; }
expect "a leader is elected" differ "$leader"
expect "after kill -9 of the leader another agent leads" differ "$leader" "$failover"
expect "the new term began no earlier than the old claim ended" grep -q ": no overlap$" "$work/demo.out"
expect "after SIGTERM of the new leader the third agent leads" differ "$leader" "$failover" "$handover"
expect "the agent stopped by SIGTERM exits 0" grep -q "$failover exited with status 0" "$work/demo.out"
expect_fail "no agent of the demo is left running" pgrep -f -- "--election leasehold-example"
expect_eq "no work dir of the demo is left" "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'leasehold-demo.*' | wc -l)" 0
summary
