# Agents under test, for the e2e suites, the fault cases and the demo. Each agent NAME keeps its
# files in $work: NAME.status_port, NAME.ops_port (chosen once, kept across restarts), NAME.pid,
# NAME.log (appended across restarts) and its status dir NAME/.
#
# Source it (it sources kube.sh); set $work before starting agents. `agents_suite SUITE` is the
# whole set-up of a suite: testlib, a work dir, a fresh control plane (its env sourced) and a trap
# that stops every process started here and removes it all, also when a check fails.

agents_lib="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${root:-$(cd "$agents_lib/../.." && pwd)}"
export TOOLS_BIN="${TOOLS_BIN:-$root/.cache/tools/bin}"
LEASEHOLD="${LEASEHOLD:-$root/build/leasehold}"
. "$agents_lib/kube.sh"

agent_pids=()
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# track_pid PID: a process for the cleanup to stop.
track_pid() { agent_pids+=("$1"); }

# agent_spawn NAME [FLAGS...]: starts $LEASEHOLD (after $AGENT_PREFIX, e.g. faketime) with
# --identity ${AGENT_IDENTITY:-NAME}, its listeners on 127.0.0.1 and its status dir; the election,
# credentials and timings come in FLAGS.
agent_spawn() {
  local name="$1"; shift
  [ -f "$work/$name.status_port" ] || kube_free_port >"$work/$name.status_port"
  [ -f "$work/$name.ops_port" ] || kube_free_port >"$work/$name.ops_port"
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
alive() { kill -0 "$(pid_of "$1")" 2>/dev/null; }
agent_signal() { kill "-$2" "$(pid_of "$1")" 2>/dev/null; }
# agent_wait NAME: waits for the agent to exit and returns its exit status. It must run in the
# shell that started the agent (not inside $(...): a subshell cannot wait for its parent's child).
agent_wait() { wait "$(pid_of "$1")" 2>/dev/null; }
# url NAME PATH: the agent's status listener.
url() { echo "127.0.0.1:$(sport "$1")$2"; }
# leader_code NAME [PATH]: the HTTP status of GET PATH (default /v1/leader).
leader_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(url "$1" "${2:-/v1/leader}")"; }
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

agents_stop_all() {
  local p
  for p in "${agent_pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  for p in "${agent_pids[@]}"; do wait "$p" 2>/dev/null; done
  agent_pids=()
}

# agents_suite SUITE: see the header. Leaves $work, $cp and the control plane's env.
agents_suite() {
  TESTLIB_SUITE="$1"
  . "$agents_lib/testlib.sh"
  work="$(mktemp -d "${TMPDIR:-/tmp}/leasehold-$1.XXXXXX")"
  cp="$work/cp"
  trap agents_suite_cleanup EXIT
  trap 'exit 130' INT TERM
  [ -x "$LEASEHOLD" ] || { fail "no agent binary at $LEASEHOLD (make build)"; summary; exit; }
  if ! "$root/tests/controlplane/up" "$cp" >"$work/up.log" 2>&1; then
    cat "$work/up.log"; fail "control plane up"; summary; exit
  fi
  . "$cp/env"
}
agents_suite_cleanup() {
  agents_stop_all
  "$root/tests/controlplane/down" "$cp" >/dev/null 2>&1
  rm -rf "$work"
}
