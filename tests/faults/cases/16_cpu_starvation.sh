#!/usr/bin/env bash
# Case 16: CPU starvation. The leader's agent is put in a cgroup (v1 cpu controller, or v2
# cpu.max) with a tight CFS quota, each for 3 lease durations: 2 ms per 100 ms (2% of one CPU),
# then 1 ms per 1 s (0.1%, and stalls of up to a second at a time); its apps are not starved. Whatever the agent manages to do, its claim must end on time: no overlap
# (claim times are when the app RECEIVED "leader", so a reply delayed by starvation counts at
# its arrival), every 200 that arrives carries a validUntil still in the future ("late" answers
# are reported), and if a follower takes over it does so after the starved leader's last claim.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 16_cpu_starvation

cg_root=""
if [ -w /sys/fs/cgroup/cpu ] && [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then cg_root=/sys/fs/cgroup/cpu; v=1
elif [ -e /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then cg_root=/sys/fs/cgroup; v=2
fi
[ -n "$cg_root" ] || { fail "no writable cgroup cpu controller (run as root)"; summary; exit 1; }
FAULT_CGROUP="$cg_root/leasehold-faults-$$"
mkdir -p "$FAULT_CGROUP" || { fail "cannot create $FAULT_CGROUP"; summary; exit 1; }
# At exit, once its processes are stopped (the kernel may take a moment to let the group go).
cgroup_remove() { local i; for i in 1 2 3 4 5 6 7 8 9 10; do rmdir "$1" 2>/dev/null && return; sleep 0.2; done; }
at_exit cgroup_remove "$FAULT_CGROUP"
set_quota() { # QUOTA_US PERIOD_US
  if [ "$v" = 1 ]; then
    echo "$2" >"$FAULT_CGROUP/cpu.cfs_period_us"; echo "$1" >"$FAULT_CGROUP/cpu.cfs_quota_us"
  else
    echo "$1 $2" >"$FAULT_CGROUP/cpu.max"
  fi
}
throttled() { awk '$1=="nr_throttled"{print $2}' "$FAULT_CGROUP/cpu.stat"; }  # cgroup v1 and v2 alike
release_cg() { echo "$1" >"$cg_root/cgroup.procs"; }

start_election a b c || { fail "no leader"; summary; exit 1; }
t0_ns="$(now_ns)"
results=()
for q in 2000/100000 1000/1000000; do
  pct="$(awk -v a="${q%/*}" -v b="${q#*/}" 'BEGIN { printf "%g", 100 * a / b }')"
  old="$leader"; old_token="$(token_of "$old")"
  renews0="$(renewals_ok "$old")"
  set_quota "${q%/*}" "${q#*/}"
  pid_of "$old" >"$FAULT_CGROUP/cgroup.procs"
  t="$(now_ms)"; t_ns="$(now_ns)"
  log "[$pct%] $old (token $old_token) starved: ${q%/*} us of CPU per ${q#*/} us for $((3 * LD)) s"
  sleep $((3 * LD))
  release_cg "$(pid_of "$old")"
  t_end_ns="$(now_ns)"
  sleep 1
  renews=$(( $(renewals_ok "$old") - renews0 ))
  demoted="$(jq -R -r --argjson t "$t" 'fromjson? | select(.msg=="stopped leading") | .reason' "$work/$old.log" | tail -1)"
  leaders_now="$(leaders_among a b c | tr '\n' ' ')"
  late="$(jq -s --argjson a "$t_ns" '[.[] | select(.t >= $a and .late_ms != null) | .late_ms] | max // -1000000' "$work/$old.app.jsonl")"
  report --from-ns "$t0_ns" --to-ns "$t_end_ns" --fault-at "$t_ns" --old-token "$old_token" >/dev/null
  ov="$(rj .overlap_ms)"; fo="$(rj '.failover_ms // "none" | if type=="number" then floor else . end')"
  log "[$pct%] throttled periods $(throttled); $renews successful renews while starved; demotion: ${demoted:-none}; failover: $fo ms; leaders now: $leaders_now; latest 200 arrived $late ms after its validUntil"
  results+=("q${pct}pct=renews:${renews}/failover:${fo}/late:${late%.*}")
  expect_eq "[$pct%] no overlap" "$ov" 0
  expect "[$pct%] no 200 arrived after the claim it reported had ended (max $late ms)" awk -v l="$late" 'BEGIN { exit !(l < 0) }'
  expect "[$pct%] the starved agent is still running" alive "$old"
  if [ "$fo" != none ]; then
    expect "[$pct%] the follower took over after the starved leader's last claim" \
      [ "$(rj '.old_last_ms // 0 | floor')" -lt "$(rj '.failover_ms | floor')" ]
  fi
  leader="$(wait_leader $((LD + 10)) a b c)" || { fail "[$pct%] no leader after the starvation"; break; }
  wait_acting "$leader"
done
report --from-ns "$t0_ns"
expect_no_overlap
standard_figures "${results[@]}" "cgroup=v$v"
summary
