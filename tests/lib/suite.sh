# shellcheck shell=bash
# The shared harness of the end-to-end suites: clean-up at exit, background processes, a control
# plane per suite, staged charts and the leader probe. Source it (it sources testlib.sh, kube.sh,
# procs.sh and charts.sh); a suite begins with `suite_begin NAME`, which makes its work dir $work
# and installs the EXIT trap that stops the tracked processes, then runs every clean-up registered
# with `at_exit`, also when a check fails or on ^C.

suite_lib="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${root:-$(cd "$suite_lib/../.." && pwd)}"
export TOOLS_BIN="${TOOLS_BIN:-$root/.cache/tools/bin}"
# shellcheck source=testlib.sh
. "$suite_lib/testlib.sh"
# shellcheck source=kube.sh
. "$suite_lib/kube.sh"
# shellcheck source=procs.sh
. "$suite_lib/procs.sh"
# shellcheck source=charts.sh
. "$suite_lib/charts.sh"

# --- clean-up -----------------------------------------------------------------------------------
suite_at_exit=()
# at_exit COMMAND [ARGS...]: runs at exit, the last registered first, its output discarded.
# Call it in the suite's shell, not inside $(...) (a subshell's registration is lost).
at_exit() { suite_at_exit_add quiet "$@"; }
# at_exit_checked COMMAND [ARGS...]: the same, with its output shown; when it fails, the suite
# exits 1 (for a clean-up that must leave the host as it was).
at_exit_checked() { suite_at_exit_add checked "$@"; }
suite_at_exit_add() {
  local mode="$1" command
  shift
  printf -v command '%q ' "$@"
  suite_at_exit+=("$mode $command")
}
suite_run_at_exit() {
  local rc=$? i entry
  stop_tracked
  for ((i = ${#suite_at_exit[@]} - 1; i >= 0; i--)); do
    entry="${suite_at_exit[i]}"
    if [ "${entry%% *}" = checked ]; then
      eval "${entry#* }" || rc=1
    else
      eval "${entry#* }" >/dev/null 2>&1
    fi
  done
  suite_at_exit=()
  exit "$rc"
}

# suite_begin NAME [DIR_NAME]: names the suite for `summary`, makes the work dir $work
# (leasehold-DIR_NAME.XXXXXX, DIR_NAME defaulting to NAME; removed at exit, kept with
# SUITE_KEEP=1) and installs the traps.
suite_begin() {
  TESTLIB_SUITE="$1"
  work="$(mktemp -d "${TMPDIR:-/tmp}/leasehold-${2:-$1}.XXXXXX")"
  if [ -n "${SUITE_KEEP:-}" ]; then echo "$1: keeping $work"; else at_exit rm -rf "$work"; fi
  trap suite_run_at_exit EXIT
  trap 'exit 130' INT TERM
}

# --- background processes -----------------------------------------------------------------------
tracked_pids=()
# track_pid PID: a process for stop_tracked, which the clean-up of suite_begin runs first.
track_pid() { tracked_pids+=("$1"); }
# forget_pid PID: a process reaped already, so that the clean-up never signals a recycled PID.
forget_pid() {
  local p keep=()
  for p in "${tracked_pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  tracked_pids=("${keep[@]}")
}
# stop_tracked: SIGKILL (after SIGCONT, for stopped ones) to every tracked process, and reaps them.
stop_tracked() {
  local p
  for p in "${tracked_pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  for p in "${tracked_pids[@]}"; do wait "$p" 2>/dev/null; done
  tracked_pids=()
}

# --- control plane ------------------------------------------------------------------------------
# controlplane_start [--ha] DIR: a fresh etcd + kube-apiserver in DIR (tests/controlplane/up; --ha:
# three etcd members and two API servers), stopped at exit, its env sourced (KUBECONFIG,
# APISERVER_URL, APISERVER_CA, ADMIN_TOKEN). On failure returns non-zero with up's output in DIR.log.
controlplane_start() {
  local dir="${*: -1}"
  at_exit "$root/tests/controlplane/down" "$dir"
  "$root/tests/controlplane/up" "$@" >"$dir.log" 2>&1 || return 1
  # shellcheck disable=SC1091
  . "$dir/env"
}

# --- a real node -------------------------------------------------------------------------------
# cluster_start DIR [IMAGE...]: a real single-node cluster in DIR (tests/cluster/up) with the docker
# images loaded, its env sourced (KUBECONFIG, NODE_NAME, NODE_IP, CONTAINERD_ADDRESS, ...). At exit
# tests/cluster/down restores the host; anything it leaves behind fails the suite (SUITE_KEEP=1
# keeps DIR and the logs). On failure returns non-zero with up's output in DIR.log.
cluster_start() {
  at_exit_checked cluster_stop "$1"
  "$root/tests/cluster/up" "$@" >"$1.log" 2>&1 || return 1
  # shellcheck disable=SC1091
  . "$1/env"
}
cluster_stop() {
  if [ -n "${SUITE_KEEP:-}" ]; then
    "$root/tests/cluster/down" --keep "$1" >/dev/null 2>&1
  elif ! "$root/tests/cluster/down" "$1"; then
    echo "  FAIL  tests/cluster/down left something behind"
    return 1
  fi
}

# --- the leader probe ---------------------------------------------------------------------------
# leader_code_at HOST:PORT [PATH]: the HTTP status of GET PATH (default /v1/leader), 000 if none.
leader_code_at() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$1${2:-/v1/leader}"; }
leads_at() { [ "$(leader_code_at "$@")" = 200 ]; }
