# shellcheck shell=bash
# The local processes of the test harness and the ports they listen on: free ports, daemons
# started in sessions of their own with their PIDs recorded in a directory, and stopping only
# what was started for that directory. Sourced by tests/lib/suite.sh (so by every suite, the
# fault cases and scripts/demo.sh), tests/controlplane/{up,down} and tests/cluster/{up,down}.
# Messages begin with "$proc_label: " (default: the script's name).

# free_ports [N]: echoes N (default 1) distinct free TCP ports on 127.0.0.1, on one line. They lie
# below the ephemeral range, so outgoing connections cannot take them meanwhile; the sockets stay
# bound until all N are picked, so the N are distinct.
free_ports() {
  python3 - "${1:-1}" <<'PY'
import random, socket, sys
held = []
while len(held) < int(sys.argv[1]):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randint(20000, 32000)))
    except OSError:
        s.close(); continue
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
PY
}
free_port() { free_ports 1; }

# proc_alive PID: the process runs (a zombie does not count).
proc_alive() { local st; st="$(ps -o stat= -p "$1" 2>/dev/null)" && [ -n "$st" ] && [ "${st:0:1}" != Z ]; }
# proc_gone PID: no such process, or only a zombie left.
proc_gone() { ! proc_alive "$1"; }

# proc_start DIR NAME ARGS...: runs ARGS in a new session, detached (it outlives the caller),
# logging to DIR/logs/NAME.log; its PID goes into DIR/.NAME.pid and is appended to DIR/pids, and
# is echoed. The PID is written by the process itself before exec, so it is right whether or not
# setsid forks.
proc_start() {
  local dir="$1" name="$2"
  shift 2
  local pidfile="$dir/.$name.pid"
  rm -f "$pidfile"
  mkdir -p "$dir/logs"
  # shellcheck disable=SC2016 # $$ and $0 are the inner shell's
  setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$dir/logs/$name.log" 2>&1 &
  disown $!
  for _ in $(seq 1 100); do [ -s "$pidfile" ] && break; sleep 0.02; done
  [ -s "$pidfile" ] || { echo "${proc_label:-${0##*/}}: $name did not start" >&2; return 1; }
  cat "$pidfile" >>"$dir/pids"
  cat "$pidfile"
}

# proc_recorded DIR: the PIDs proc_start recorded for DIR (DIR/pids, plus the per-process files,
# which cover a start interrupted before DIR/pids was written), newest first, each once.
proc_recorded() {
  local pid seen=" "
  while read -r pid; do
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    [[ "$seen" == *" $pid "* ]] && continue
    seen=" $pid$seen"
  done < <(cat "$1/pids" "$1"/.*.pid 2>/dev/null)
  echo "$seen" | tr -s ' ' '\n' | grep .
}

# proc_ours DIR PID: PID runs (not a zombie), was started for DIR (its command line mentions DIR/,
# so a recycled PID is never taken for ours), and is neither this shell nor one of its ancestors
# (whose command lines may name DIR too).
proc_ours() {
  local dir="$1" pid="$2" cmd p
  proc_alive "$pid" || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *"$dir/"* ]] || return 1
  p="$BASHPID"
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    [ "$p" = "$pid" ] && return 1
    p="$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')"
  done
}

# proc_stop DIR PID [GRACE]: SIGTERM to PID, SIGKILL while it is still ours (proc_ours DIR PID)
# GRACE seconds later (default 5). Returns 1 when it outlives SIGKILL by 5 s.
proc_stop() {
  local dir="$1" pid="$2" grace="${3:-5}" deadline
  kill -TERM "$pid" 2>/dev/null
  deadline=$(($(date +%s%N) + grace * 1000000000))
  while proc_ours "$dir" "$pid" && [ "$(date +%s%N)" -lt "$deadline" ]; do sleep 0.1; done
  proc_ours "$dir" "$pid" || return 0
  echo "${proc_label:-${0##*/}}: pid $pid still running ${grace}s after TERM, killing" >&2
  kill -KILL "$pid" 2>/dev/null
  for _ in $(seq 1 50); do proc_ours "$dir" "$pid" || return 0; sleep 0.1; done
  echo "${proc_label:-${0##*/}}: pid $pid survived KILL" >&2
  return 1
}

# proc_log_tails DIR LINES: the last LINES lines of each DIR/logs/*.log, on stderr.
proc_log_tails() {
  local f
  for f in "$1"/logs/*.log; do
    [ -e "$f" ] || continue
    echo "---- tail of ${f##*/} ----" >&2
    tail -n "$2" "$f" >&2
  done
}

# write_env FILE NAME=VALUE...: a shell-sourceable FILE (mode 600) exporting each NAME, and
# $TOOLS_BIN put before PATH.
write_env() {
  local file="$1" kv
  shift
  {
    for kv in "$@"; do printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"; done
    # shellcheck disable=SC2016 # $PATH is expanded where the file is sourced
    printf 'export PATH=%q:"$PATH"\n' "$TOOLS_BIN"
  } >"$file"
  chmod 600 "$file"
}
