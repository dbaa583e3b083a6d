# shellcheck shell=bash
# Time limits for a command that leads a process group of its own (started with setsid): wait for
# it at most so long, then stop it together with everything it started. Sourced by
# tests/run_suites.sh (a limit per suite) and scripts/sanitize.sh (per sanitizer run); tested by
# tests/lib/process_group_test.sh.

# group_wait PID SECONDS ON_EXPIRY: waits while PID lives, at most SECONDS (polling once a
# second: testlib's wait_until forks `date` every 50 ms, too much beside a whole suite). Past them it calls ON_EXPIRY PID (a command that reports, e.g. the group's stacks) and
# then stop_group PID, and returns 124; otherwise 0.
group_wait() {
  local pid="$1" limit="$2" on_expiry="$3" waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge "$limit" ]; then
      "$on_expiry" "$pid"
      stop_group "$pid"
      return 124
    fi
    sleep 1
    waited=$((waited + 1))
  done
  return 0
}

# stop_group PID: SIGTERM to PID, whose exit trap stops what it started (a suite's control plane
# runs in a session of its own); at most a minute later SIGKILL to its whole group, because what
# is left there would hold its output pipe open.
stop_group() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  kill -KILL -- "-$pid" 2>/dev/null
}

# run_bounded SECONDS LOG CMD...: runs CMD in a process group of its own with its output in LOG,
# and returns its status. Past SECONDS, the stacks of every thread of each process in the group
# (gdb) go into LOG, the group is stopped, and the status is 124.
run_bounded() {
  local limit="$1" pid
  run_bounded_log="$2"
  shift 2
  setsid "$@" >"$run_bounded_log" 2>&1 &
  pid=$!
  if ! group_wait "$pid" "$limit" log_group_stacks; then
    wait "$pid" 2>/dev/null
    return 124
  fi
  wait "$pid"
}

# log_group_stacks PID: the stacks of each process in PID's group, into $run_bounded_log.
log_group_stacks() {
  local p
  echo "--- still running; the stacks of its processes:" >>"$run_bounded_log"
  for p in $(pgrep -g "$1"); do
    echo "--- process $p: $(tr '\0' ' ' 2>/dev/null </proc/"$p"/cmdline)" >>"$run_bounded_log"
    timeout 60 gdb -p "$p" -batch -ex "thread apply all bt 30" >>"$run_bounded_log" 2>&1
  done
}
