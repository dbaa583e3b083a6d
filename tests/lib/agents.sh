# shellcheck shell=bash
# Agents under test, for the e2e suites, the fault cases and the demo. Each agent NAME keeps its
# files in $work: NAME.status_port, NAME.ops_port (chosen once, kept across restarts), NAME.pid,
# NAME.log (appended across restarts) and its status dir NAME/.
#
# Source it (it sources suite.sh: testlib, kube.sh, track_pid); set $work before starting agents.
# `agents_suite SUITE` is the whole set-up of a suite: suite_begin (a work dir and the clean-up at
# exit) and a fresh control plane, its env sourced.

agents_lib="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$agents_lib/suite.sh"
LEASEHOLD="${LEASEHOLD:-$root/build/leasehold}"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# agent_spawn NAME [FLAGS...]: starts $LEASEHOLD (after $AGENT_PREFIX, e.g. faketime) with
# --identity ${AGENT_IDENTITY:-NAME}, its listeners on 127.0.0.1 and its status dir; the election,
# credentials and timings come in FLAGS.
agent_spawn() {
  local name="$1"; shift
  [ -f "$work/$name.status_port" ] || free_port >"$work/$name.status_port"
  [ -f "$work/$name.ops_port" ] || free_port >"$work/$name.ops_port"
  mkdir -p "$work/$name"
  ${AGENT_PREFIX:-} "$LEASEHOLD" --identity "${AGENT_IDENTITY:-$name}" \
    --status-address "127.0.0.1:$(sport "$name")" --ops-address "127.0.0.1:$(oport "$name")" \
    --status-dir "$work/$name" "$@" >>"$work/$name.log" 2>&1 &
  echo $! >"$work/$name.pid"
  track_pid $!
}

sport() { cat "$work/$1.status_port"; }
oport() { cat "$work/$1.ops_port"; }
pid_of() { cat "$work/$1.pid"; }
# alive NAME: the agent runs (one that exited and is not yet reaped does not count).
alive() { proc_alive "$(pid_of "$1")"; }
agent_signal() { kill "-$2" "$(pid_of "$1")" 2>/dev/null; }
# agent_wait NAME: waits for the agent to exit and returns its exit status. It must run in the
# shell that started the agent (not inside $(...): a subshell cannot wait for its parent's child).
agent_wait() { wait "$(pid_of "$1")" 2>/dev/null; }
# url NAME PATH: the agent's status listener.
url() { echo "127.0.0.1:$(sport "$1")$2"; }
# leader_code NAME [PATH]: the HTTP status of GET PATH (default /v1/leader).
leader_code() { leader_code_at "127.0.0.1:$(sport "$1")" "${2:-/v1/leader}"; }
is_leader() { [ "$(leader_code "$@")" = 200 ]; }
status_field() { curl -s --max-time 2 "$(url "$1" /v1/status)" | jq -r ".$2"; }
token_of() {
  curl -s --max-time 2 -D - -o /dev/null "$(url "$1" /v1/leader)" | tr -d '\r' |
    awk -F': ' 'tolower($1)=="leasehold-fencing-token"{print $2}'
}
metrics() { curl -s --max-time 2 "127.0.0.1:$(oport "$1")/metrics"; }
# metric NAME REGEX: the sum of the values of the sample lines matching REGEX (0 if none).
metric() { metrics "$1" | grep -E -- "$2" | awk '{ s += $NF } END { printf "%g\n", s + 0 }'; }
ready() { curl -sf --max-time 2 "127.0.0.1:$(oport "$1")/readyz" >/dev/null; }
# The documented check of the state file for shell readers.
file_says_leader() {
  local role until_ms _rest
  read -r role until_ms _rest <"$work/$1/state" 2>/dev/null && [ "$role" = leader ] && [ "$(now_ms)" -lt "$until_ms" ]
}
# leaders_among NAMES...: prints the names answering 200 on /v1/leader.
leaders_among() { local n; for n in "$@"; do is_leader "$n" && echo "$n"; done; return 0; }
one_leader_among() { [ "$(leaders_among "$@" | wc -l)" = 1 ]; }
# wait_leader TIMEOUT NAMES...: waits until exactly one leads; echoes it.
wait_leader() {
  local t="$1"; shift
  wait_until "$t" one_leader_among "$@" || return 1
  leaders_among "$@" | head -1
}

# agents_stop_all: stops every agent and other tracked process (for scripts with their own trap).
agents_stop_all() { stop_tracked; }

# agents_suite SUITE: see the header. Leaves $work, $cp and the control plane's env.
agents_suite() {
  suite_begin "$1"
  cp="$work/cp"
  [ -x "$LEASEHOLD" ] || { fail "no agent binary at $LEASEHOLD (make build)"; summary; exit; }
  controlplane_start "$cp" || { cat "$cp.log"; fail "control plane up"; summary; exit; }
}
