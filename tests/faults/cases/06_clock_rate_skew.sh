#!/usr/bin/env bash
# Case 6: clock RATE skew on a follower: its monotonic clock runs RATE times as fast as real time
# (tests/faults/ratewarp.c, an LD_PRELOAD shim; libfaketime's "x RATE" cannot be used, see the
# shim's header), so its lease-duration wait is RATE times too short, against the worst leader
# failure for it: the leader frozen (SIGSTOP) right after a renew, so nothing but its own claim
# deadline ends its claim (its file-reading app acts until validUntil = send + LD - margin).
# Theory: the follower takes over after LD/RATE of real time, so an overlap appears once
# RATE > LD / (LD - margin) (1.143 at 4s/500ms, 1.154 at 15s/2s). The case scans rates and
# reports, per rate, the overlap seen by the witness and the first rate with overlap.
# Asserted: no overlap at rates within the design margin (<= 1.10); at every rate the
# witness's fencing rejects the stale leader's late actions (no accepted overlap).
# RATES="1.05 1.1 ..." overrides the scan (FAULTS_ALL=1 in run.sh: the finer scan).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 06_clock_rate_skew
command -v cc >/dev/null || { fail "no C compiler for tests/faults/ratewarp.c"; summary; exit 1; }
if [ -n "${RATES:-}" ]; then read -r -a rates <<<"$RATES"
elif [ -n "${FAULTS_ALL:-}" ]; then rates=(1.05 1.10 1.12 1.14 1.16 1.18 1.20 1.30 1.50 2.00)
else rates=(1.05 1.10 1.20 1.50); fi
threshold="$(awk -v ld="$LD_MS" -v m="$MARGIN_MS" 'BEGIN { printf "%.3f", ld / (ld - m) }')"

# One normal-clock agent a (it leads at the start of every trial) and the skewed follower f.
agent_start a
wait_until 20 ready a; app_start a http; app_start a file
wait_leader $((3 * LD + 10)) a >/dev/null || { fail "no leader"; summary; exit 1; }
first_overlap=""
table=()
i=0
for rate in "${rates[@]}"; do
  i=$((i + 1))
  # A normal-clock agent leads; the skewed follower f starts fresh with this rate.
  if [ -f "$work/f.pid" ] && alive f; then agent_signal f TERM; agent_wait f >/dev/null; fi
  leader="$(wait_leader $((2 * LD + 10)) a)" || { fail "[x$rate] no normal leader"; break; }
  AGENT_IDENTITY="f-$i" ratewarp_agent_start f "$rate" || { fail "ratewarp"; break; }
  wait_until 10 ready f
  [ -f "$work/f.app_pid" ] || app_start f http
  sleep 1
  wait_renew "$leader" >/dev/null
  t_ns="$(now_ns)"
  agent_signal "$leader" STOP
  new="$(wait_leader $((2 * LD + 10)) f)" || new=""
  sleep 0.5
  agent_signal "$leader" CONT
  wait_until 5 not_leader "$leader"
  report --from-ns "$((t_ns - 1000000000))" --fault-at "$t_ns" >/dev/null
  ov="$(rj '.overlap_ms * 10 | floor / 10')"; acc_ov="$(rj .accepted_overlap_ms)"; fo="$(rj '.failover_ms // -1 | floor')"
  old_last="$(rj '.old_last_ms // -1 | floor')"; rejected="$(rj .rejected)"
  log "[x$rate] leader $leader frozen; f (x$rate) took over after $fo ms; old claims until +$old_last ms; overlap $ov ms, rejected stale actions $rejected"
  table+=("x${rate}:fo=${fo}:overlap=${ov}")
  expect "[x$rate] the skewed follower took over" [ -n "$new" ]
  expect_eq "[x$rate] fencing: no accepted overlap" "$acc_ov" 0
  if awk -v r="$rate" 'BEGIN { exit !(r <= 1.10) }'; then
    expect_eq "[x$rate] within the design margin: no overlap" "$ov" 0
  fi
  if [ -z "$first_overlap" ] && [ "$ov" != 0 ]; then first_overlap="$rate"; fi
done
log "first rate with overlap: ${first_overlap:-none up to ${rates[-1]}} (theory: > $threshold)"
report
figures "first_overlap_rate=${first_overlap:-none}" "theory=${threshold}" "$(IFS=' '; echo "${table[*]}")"
summary
