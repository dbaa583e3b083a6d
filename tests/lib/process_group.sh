# Time limits for a command that leads a process group of its own (started with setsid): wait for
# it at most so long, then stop it together with everything it started. Sourced by
# tests/run_suites.sh (a limit per suite) and scripts/sanitize.sh (per sanitizer run).

# group_wait PID SECONDS ON_EXPIRY: waits while PID lives, at most SECONDS (polling once a
# second). Past them it calls ON_EXPIRY PID (a command that reports, e.g. the group's stacks) and
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
  local pid="$1" second
  kill -TERM "$pid" 2>/dev/null
  for second in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  kill -KILL -- "-$pid" 2>/dev/null
}
