# shellcheck shell=bash
# Shared helpers for the fault cases (tests/faults/cases/NN_name.sh) and the chaos run.
#
# A case sources this file, then calls `fault_init SUITE`, which:
#   * uses the control plane of the suite run when $FAULTS_CP_DIR is set (run.sh starts one per
#     run), else starts its own (tests/controlplane/up), so every case also runs on its own; a
#     case that needs an API server of its own sets FAULTS_CP_DIR="" (and, for other flags,
#     exports CONTROLPLANE_APISERVER_ARGS) before fault_init (case 24), and FAULTS_CP_HA=1 for the
#     highly available one (tests/controlplane/up --ha: case 25);
#   * starts a toxiproxy-server, a witness (witness.py) and makes a fresh namespace ($NS);
#   * begins the suite with tests/lib/suite.sh's harness: its work dir ($work, kept with
#     FAULTS_KEEP=1 or SUITE_KEEP=1) and the clean-up at exit, which stops every process started
#     here and runs what the case registered with `at_exit` (also on failure or ^C).
# Agents reach the API server only through their own toxiproxy proxy (named after the agent),
# with the admin credentials unless AGENT_KUBECONFIG is given.
#
# Timings: FAULT_TIMINGS=short (default: 4s/3s/1s, margin 500ms, request timeout 1s, for CI) or
# FAULT_TIMINGS=default (15s/10s/2s, margin 2s, request timeout 5s, as in the safety notes).
# Fault durations written for the defaults are scaled with `scaled SECONDS` (x LD/15).

faults_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$faults_dir/../.." && pwd)"
. "$root/tests/lib/agents.sh"   # suite.sh, testlib.sh, kube.sh
. "$root/tests/lib/shards.sh"   # for a sharded election: SHARDS set by the case

case "${FAULT_TIMINGS:-short}" in
  short) LD=4 RD=3 RP=1 MARGIN_MS=500 RT=1 ;;
  default) LD=15 RD=10 RP=2 MARGIN_MS=2000 RT=5 ;;
  *) echo "FAULT_TIMINGS must be short or default" >&2; exit 2 ;;
esac
# shellcheck disable=SC2034 # for the cases
LD_MS=$((LD * 1000)) RD_MS=$((RD * 1000)) RP_MS=$((RP * 1000)) RT_MS=$((RT * 1000))
TIMINGS=(--lease-duration "${LD}s" --renew-deadline "${RD}s" --retry-period "${RP}s"
  --safety-margin "${MARGIN_MS}ms" --request-timeout "${RT}s")
ELECTION=fault

now_ns() { date +%s%N; }
# scaled SECONDS: a duration given for 15/10/2, scaled to the timings in use (1 decimal).
scaled() { awk -v s="$1" -v ld="$LD" 'BEGIN { printf "%.1f", s * ld / 15 }'; }
log() { echo "  [$(awk -v a="$FAULT_T0" -v b="$(now_ms)" 'BEGIN { printf "%6.1fs", (b - a) / 1000 }')] $*"; }

# --- set-up ------------------------------------------------------------------------------------
# On a failed check (the first two of a case): every agent's last lines about its leadership and
# its app's health, so that the output says why; the work directory goes with the case unless
# FAULTS_KEEP=1.
fault_failure_dumps=0
fault_show_agents() {
  [ "$fault_failure_dumps" -lt 2 ] || return 0
  fault_failure_dumps=$((fault_failure_dumps + 1))
  local f
  for f in "${work:?}"/*.log; do
    [ -f "$f" ] || continue
    jq -R -r --arg n "$(basename "$f" .log)" 'fromjson? | select(.msg? // "" | test("leading|resign|health|handoff|renew|error|exiting"; "i"))
      | "        \($n) \(.ts // "") \(.msg)\(if .reason then " (\(.reason))" else "" end)"' "$f" 2>/dev/null | tail -4
  done
}
# fault_init SUITE: see the header.
fault_init() {
  FAULT_T0="$(now_ms)"
  SUITE_KEEP="${SUITE_KEEP:-${FAULTS_KEEP:-}}"
  suite_begin "$1" "faults-$1"
  # shellcheck disable=SC2034  # read by fail() (testlib.sh); needs $work, made just above
  TESTLIB_ON_FAIL=fault_show_agents
  for b in "$LEASEHOLD" "$TOOLS_BIN/toxiproxy-server" "$TOOLS_BIN/kubectl"; do
    [ -x "$b" ] || { fail "missing $b (make build tools)"; summary; exit 1; }
  done
  if [ -n "${FAULTS_CP_DIR:-}" ]; then
    CP_DIR="$FAULTS_CP_DIR"
  else
    CP_DIR="$work/cp"
    controlplane_start ${FAULTS_CP_HA:+--ha} "$CP_DIR" || { cat "$CP_DIR.log"; fail "control plane up"; summary; exit 1; }
  fi
  # shellcheck source=/dev/null # written by tests/controlplane/up
  . "$CP_DIR/env"
  API_PORT="${APISERVER_URL##*:}"
  NS="$(kube_new_namespace "f$(echo "$1" | tr "_" "-")")" || { fail "namespace"; summary; exit 1; }
  SHARD_NS="$NS" SHARD_ELECTION="$ELECTION"

  TP_PORT="$(free_port)"
  LOG_LEVEL=warn "$TOOLS_BIN/toxiproxy-server" -host 127.0.0.1 -port "$TP_PORT" >"$work/toxiproxy.log" 2>&1 &
  track_pid $!
  WITNESS_PORT="$(free_port)"
  WITNESS_LOG="$work/witness.jsonl"
  : >"$WITNESS_LOG"
  python3 "$faults_dir/witness.py" --port "$WITNESS_PORT" --log "$WITNESS_LOG" >"$work/witness.out" 2>&1 &
  track_pid $!
  wait_until 10 curl -sf "127.0.0.1:$TP_PORT/version" || { fail "toxiproxy-server did not start"; summary; exit 1; }
  wait_until 10 curl -sf "127.0.0.1:$WITNESS_PORT/healthz" || { fail "witness did not start"; summary; exit 1; }
  echo "--- $1 (timings ${FAULT_TIMINGS:-short}: ${LD}s/${RD}s/${RP}s, margin ${MARGIN_MS}ms, request timeout ${RT}s; namespace $NS)"
}

# --- toxiproxy --------------------------------------------------------------------------------
tp() { curl -sS --max-time 5 "$@"; }
# proxy_new NAME: a proxy 127.0.0.1:FREE -> the API server; echoes the port.
proxy_new() {
  local port
  port="$(free_port)"
  tp -o /dev/null -XPOST "127.0.0.1:$TP_PORT/proxies" \
    -d "{\"name\":\"$1\",\"listen\":\"127.0.0.1:$port\",\"upstream\":\"127.0.0.1:$API_PORT\",\"enabled\":true}" || return 1
  echo "$port" >"$work/$1.proxy_port"
  echo "$port"
}
# tp_undo ARGS...: a toxiproxy call that ends a fault, retried: a busy toxiproxy-server can take
# longer than tp's 5 s to answer (seen removing a latency toxic under load), and a fault left in
# place would be blamed on the agents. Up to 4 tries of 10 s; a 404 (already gone) counts as done.
tp_undo() {
  local i code
  for i in 1 2 3 4; do
    code="$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$@" 2>/dev/null)"
    case "$code" in 2??|404) return 0 ;; esac
    echo "  (toxiproxy: $* answered '${code:-nothing}'; try $i of 4)" >&2
    sleep 0.5
  done
  return 1
}
proxy_set() {
  if [ "$2" = true ]; then
    tp_undo -XPOST "127.0.0.1:$TP_PORT/proxies/$1" -d "{\"enabled\":$2}"
  else
    tp -o /dev/null -XPOST "127.0.0.1:$TP_PORT/proxies/$1" -d "{\"enabled\":$2}"
  fi
}
proxy_down() { proxy_set "$1" false; }
proxy_up() { proxy_set "$1" true; }
# all proxies down/up: the API server unreachable for every agent.
proxies_all() {
  local p pids=()
  for p in $(tp "127.0.0.1:$TP_PORT/proxies" | jq -r 'keys[]'); do proxy_set "$p" "$1" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p"; done
  return 0
}
# toxic_add PROXY NAME TYPE STREAM ATTRIBUTES_JSON: e.g. toxic_add a t1 timeout downstream '{"timeout":0}'
toxic_add() {
  tp -o /dev/null -XPOST "127.0.0.1:$TP_PORT/proxies/$1/toxics" \
    -d "{\"name\":\"$2\",\"type\":\"$3\",\"stream\":\"$4\",\"toxicity\":1.0,\"attributes\":$5}"
}
toxic_del() { tp_undo -XDELETE "127.0.0.1:$TP_PORT/proxies/$1/toxics/$2"; }

# --- agents and apps --------------------------------------------------------------------------
# agent_start NAME [FLAGS...]: starts an agent named NAME (identity $AGENT_IDENTITY, default NAME)
# through proxy NAME (created on first use), status files in $work/NAME/, log $work/NAME.log
# (appended across restarts), ports kept across restarts (tests/lib/agents.sh). An
# existing $work/NAME.kubeconfig is used as is (e.g. pointing at faultproxy_start's proxy).
# AGENT_KUBECONFIG: use this kubeconfig (its server must already point at the proxy);
# AGENT_PREFIX: command words run before the agent (e.g. faketime ...).
agent_start() {
  local name="$1"; shift
  local port
  if [ ! -f "$work/$name.kubeconfig" ]; then
    port="$(proxy_new "$name")" || { fail "proxy $name"; return 1; }
    APISERVER_URL="https://127.0.0.1:$port" kube_write_kubeconfig "$work/$name.kubeconfig" "$ADMIN_TOKEN" "$NS"
  fi
  agent_spawn "$name" --election "$ELECTION" --namespace "$NS" \
    --kubeconfig "${AGENT_KUBECONFIG:-$work/$name.kubeconfig}" "${TIMINGS[@]}" "$@"
}
# app_start NAME [http|file|shards-http|shards-file]: the pod's app for agent NAME, acting on the
# witness every $APP_INTERVAL seconds when set, else app.py's default (shards-*: on every shard
# the agent owns, asked over GET /v1/shards or read from the `shards` file). In file mode, when
# the agent's wall clock is faked ($work/NAME.faketime), the reader's clock is shifted alike.
app_start() {
  local name="$1" mode="${2:-http}" src
  case "$mode" in
    file) src=(--state-file "$work/$name/state") ;;
    shards-http) src=(--shards-agent "127.0.0.1:$(sport "$name")") ;;
    shards-file) src=(--shards-file "$work/$name/shards") ;;
    *) src=(--agent "127.0.0.1:$(sport "$name")") ;;
  esac
  [ "$mode" = file ] && [ -f "$work/$name.faketime" ] && src+=(--wall-offset-file "$work/$name.faketime")
  python3 "$faults_dir/app.py" --name "$name" --witness "127.0.0.1:$WITNESS_PORT" "${src[@]}" \
    ${APP_INTERVAL:+--interval "$APP_INTERVAL"} --log "$work/$name.app.jsonl" >>"$work/$name.app.out" 2>&1 &
  echo $! >"$work/$name.app_pid"
  echo $! >>"$work/$name.app_pids"
  track_pid $!
}
# agent_retire NAME: kills agent NAME (-9) and all its apps.
agent_retire() {
  local p
  for p in $(cat "$work/$1.app_pids" 2>/dev/null) "$(pid_of "$1")"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -f "$work/$1.app_pids"
}
# lease_holder: the Lease's holderIdentity ("" when empty or absent).
lease_holder() { lease_json | jq -r '.spec.holderIdentity // empty'; }
holder_is() { [ "$(lease_holder)" = "$1" ]; }
app_stop() { local p; p="$(cat "$work/$1.app_pid" 2>/dev/null)" && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; }
not_leader() { ! is_leader "$1"; }
# log_ms NAME MSG_REGEX [after_ms]: wall ms of the first log line of agent NAME whose msg matches, at or after after_ms.
log_ms() {
  local after="${3:-0}"
  jq -R -r --arg m "$2" --argjson a "$after" 'fromjson? | select(.msg|test($m)) | .ts' "$work/$1.log" 2>/dev/null |
    while read -r ts; do
      local ms; ms="$(date -d "$ts" +%s%3N)"
      if [ "$ms" -ge "$after" ]; then echo "$ms"; break; fi
    done
}
# log_has NAME JQ_FILTER: a JSON log line of NAME matches the filter (e.g. '.reason=="x"').
log_has() { [ -n "$(jq -R -c "fromjson? | select(try ($2) catch false)" "$work/$1.log" 2>/dev/null | head -1)" ]; }
# log_count NAME JQ_FILTER: how many JSON log lines of NAME match.
log_count() { jq -R -c "fromjson? | select(try ($2) catch false)" "$work/$1.log" 2>/dev/null | wc -l; }
# Wait for the state file to change (a renew rewrote it): echoes the new validUntil ms.
wait_renew() {
  local name="$1" before now
  before="$(cat "$work/$name/state" 2>/dev/null)"
  wait_until "${2:-10}" sh -c "[ \"\$(cat '$work/$name/state' 2>/dev/null)\" != '$before' ]" || return 1
  read -r _ now _ <"$work/$name/state"; echo "$now"
}
lease_json() { kube_lease_json "$NS" "$ELECTION"; }
lease_field() { lease_json | jq -r "$1"; }

# --- the witness ------------------------------------------------------------------------------
# report [overlap.py ARGS...]: runs the overlap checker on the witness log, prints its summary,
# leaves the figures in $work/report.json (read them with `rj FILTER`).
report() {
  python3 "$faults_dir/overlap.py" "$WITNESS_LOG" --json "$work/report.json" "$@" | sed 's/^/  /'
  return 0
}
rj() { jq -r "$1" "$work/report.json"; }
# figures KEY=VALUE...: one line of figures for the case, also appended to $FAULTS_FIGURES.
figures() {
  echo "  figures: $*"
  [ -n "${FAULTS_FIGURES:-}" ] && echo "$TESTLIB_SUITE $*" >>"$FAULTS_FIGURES"
  return 0
}
# standard_figures [extra KEY=VALUE...]: overlap, time without leader, failover ($FAILOVER_MS if
# set, else the report's), accepted/rejected.
standard_figures() {
  figures "overlap_ms=$(rj .overlap_ms)" "leaderless_ms=$(rj '.leaderless_ms|floor')" \
    "failover_ms=${FAILOVER_MS:-$(rj '(.failover_ms // "n/a") | if type=="number" then floor else . end')}" \
    "accepted=$(rj .accepted)" "rejected=$(rj .rejected)" "$@"
}
# expect_no_overlap: the common assertions on the witness figures.
expect_no_overlap() {
  expect_eq "witness: overlap is 0 ms" "$(rj .overlap_ms)" 0
  expect_eq "witness: no token shared by two candidates" "$(rj '.shared_tokens|length')" 0
  expect_eq "witness: accepted tokens never go backwards" "$(rj .accepted_tokens_monotonic)" true
}
# witness_post CANDIDATE TOKEN [extra json]: one action; echoes the HTTP code.
witness_post() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 -XPOST "127.0.0.1:$WITNESS_PORT/action" \
    -d "{\"candidate\":\"$1\",\"token\":$2${3:+,$3}}"
}
# wait_actions NAME N: waits until the app of NAME got N accepted actions since now.
accepted_count() { jq -s --arg c "$1" '[.[] | select(.candidate==$c and .accepted)] | length' "$WITNESS_LOG"; }
wait_acting() {
  local name="$1" before
  before="$(accepted_count "$name")"
  wait_until "${2:-10}" sh -c "[ \$(jq -s --arg c '$name' '[.[] | select(.candidate==\$c and .accepted)] | length' '$WITNESS_LOG') -gt $((before + 3)) ]"
}
# start_election NAME...: starts the agents and their two apps each (HTTP and state file), waits
# for a leader and for its apps to act; sets $leader. Non-zero when nobody leads.
start_election() {
  local n
  for n in "$@"; do agent_start "$n"; done
  for n in "$@"; do wait_until 20 ready "$n"; app_start "$n" http; app_start "$n" file; done
  leader="$(wait_leader $((3 * LD + 10)) "$@")" || return 1
  wait_acting "$leader"
  return 0  # the cases' own checks judge the acting; this only gives the apps a head start
}

# --- the agents' own counts (their /metrics) ----------------------------------------------------
# api_requests NAME VERB CODE: the agent's API requests of that verb (any, if empty) answered
# with that code (or timeout/network/rate_limited).
api_requests() {
  local code="code=\"$3\""
  if [ -z "$2" ]; then
    metric "$1" "leasehold_api_requests_total\\{[^}]*$code"
  else
    metric "$1" "leasehold_api_requests_total\\{([^}]*${code}[^}]*verb=\"$2\"|[^}]*verb=\"$2\"[^}]*$code)"
  fi
}
renewals_ok() { metric "$1" 'leasehold_renewals_total\{.*outcome="success"'; }
lease_conflicts() { metric "$1" 'leasehold_lease_errors_total\{[^}]*error="conflict"'; }

# --- the Lease, by hand (admin, straight to the API server, not through any proxy) -----------
# hour_ago: a MicroTime an hour back, for hand edits of the Lease's times.
hour_ago() { date -u -d "@$(($(date +%s) - 3600))" +%Y-%m-%dT%H:%M:%S.000000Z; }
lease_path() { echo "/apis/coordination.k8s.io/v1/namespaces/$NS/leases/$ELECTION"; }
# lease_patch JSON: a merge patch; echoes the HTTP code.
lease_patch() {
  kube_api -o /dev/null -w '%{http_code}' -X PATCH -H 'Content-Type: application/merge-patch+json' -d "$1" "$(lease_path)"
}
lease_delete() { kube_api -o /dev/null -w '%{http_code}' -X DELETE "$(lease_path)"; }
# terms_started NAMES...: "started leading" log lines of these agents as "ms token name", by time.
terms_started() {
  local n
  for n in "$@"; do
    jq -R -r --arg n "$n" 'fromjson? | select(.msg=="started leading") | "\(.ts) \(.fencingToken) \($n)"' "$work/$n.log"
  done | while read -r ts tok n; do echo "$(date -d "$ts" +%s%3N) $tok $n"; done | sort -n
}
# tokens_increase NAMES...: the fencing tokens of all terms begun by these agents, in start order,
# strictly increase.
tokens_increase() { terms_started "$@" | awk 'NR > 1 && $2 <= prev { bad = 1 } { prev = $2 } END { exit bad }'; }

# --- the API server process --------------------------------------------------------------------
# apiserver_stop: TERM the kube-apiserver of $CP_DIR (KILL after 3 s: a graceful shutdown waits
# for open watches) and wait for it to exit;
# remembers its command line for apiserver_start.
apiserver_stop() {
  local pid; pid="$(cat "$CP_DIR/.kube-apiserver.pid")"
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" >"$work/apiserver.cmdline"
  kill -TERM "$pid" 2>/dev/null
  local i; for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null; sleep 0.2
}
# apiserver_start: starts it again with the same command line (same ports, certs, etcd), in its
# own session as tests/controlplane/up does (proc_start), registered in $CP_DIR/pids for `down`;
# waits until /readyz is ok (60 s at most).
apiserver_start() {
  local args=()
  mapfile -t args <"$work/apiserver.cmdline"
  proc_start "$CP_DIR" kube-apiserver "${args[@]}" >/dev/null || return 1
  wait_until 60 sh -c "[ \"\$(curl -s --max-time 2 --cacert '$APISERVER_CA' -H 'Authorization: Bearer $ADMIN_TOKEN' '$APISERVER_URL/readyz')\" = ok ]"
}

# --- the HTTPS fault proxy (faultproxy.py: fabricated HTTP answers such as 429) ---------------
# faultproxy_start NAME: a fault proxy for agent NAME in front of the API server; writes
# $work/NAME.kubeconfig pointing at it (start the agent afterwards), its control port in
# $work/NAME.fp_control and its request log in $work/NAME.fp.jsonl.
faultproxy_start() {
  local name="$1" port ctl
  port="$(free_port)"; ctl="$(free_port)"
  python3 "$faults_dir/faultproxy.py" --listen "$port" --control "$ctl" --upstream "$APISERVER_URL" \
    --ca "$APISERVER_CA" --cert "$CP_DIR/certs/apiserver.crt" --key "$CP_DIR/certs/apiserver.key" \
    --log "$work/$name.fp.jsonl" >"$work/$name.fp.out" 2>&1 &
  track_pid $!
  echo "$ctl" >"$work/$name.fp_control"
  wait_until 10 curl -sf -XPOST "127.0.0.1:$ctl/mode" -d '{"status":0}' || return 1
  APISERVER_URL="https://127.0.0.1:$port" kube_write_kubeconfig "$work/$name.kubeconfig" "$ADMIN_TOKEN" "$NS"
}
# faultproxy_mode NAME JSON: e.g. '{"status":429,"retry_after":30}' or '{"status":0}'.
faultproxy_mode() { curl -sf -o /dev/null -XPOST "127.0.0.1:$(cat "$work/$1.fp_control")/mode" -d "$2"; }
# fp_times NAME JQ_FILTER [FROM_NS [TO_NS]]: the send times (ns), one per line, of the requests in
# agent NAME's fault-proxy log that match the filter (fields t, method, path, injected), sent in
# that window. fp_count: how many.
fp_times() {
  jq -s -r --argjson a "${3:-0}" --argjson b "${4:-null}" \
    ".[] | select(.t >= \$a and (\$b == null or .t <= \$b)) | select($2) | .t" "$work/$1.fp.jsonl"
}
fp_count() { fp_times "$@" | wc -l; }
# fp_requests NAME FROM_NS TO_NS: requests agent NAME sent in that window (injected or not).
fp_requests() { fp_count "$1" true "$2" "$3"; }

# --- clocks (libfaketime) -----------------------------------------------------------------------
FAKETIME_LIB="${FAKETIME_LIB:-$(ls /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 2>/dev/null)}"
# faketime_agent_start NAME [FLAGS...]: agent_start under libfaketime with the offset read from
# $work/NAME.faketime at every clock read ("+0" at start; write "+1h", "-55m" to step the wall
# clock). Monotonic clocks stay real (DONT_FAKE_MONOTONIC=1) unless FAKE_MONOTONIC=1.
faketime_agent_start() {
  local name="$1"; shift
  [ -f "$work/$name.faketime" ] || echo "+0" >"$work/$name.faketime"
  AGENT_PREFIX="env LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE=$work/$name.faketime FAKETIME_NO_CACHE=1 DONT_FAKE_MONOTONIC=$([ -n "${FAKE_MONOTONIC:-}" ] && echo 0 || echo 1)" \
    agent_start "$name" "$@"
}
clock_step() { echo "$2" >"$work/$1.faketime"; }

# ratewarp_agent_start NAME RATE [FLAGS...]: agent_start with its monotonic clocks running RATE
# times as fast as real time (tests/faults/ratewarp.c, built on first use); wall clock untouched.
ratewarp_agent_start() {
  local name="$1" rate="$2"; shift 2
  if [ ! -f "$work/ratewarp.so" ]; then
    cc -shared -fPIC -O2 -o "$work/ratewarp.so" "$faults_dir/ratewarp.c" -ldl -lpthread || return 1
  fi
  AGENT_PREFIX="env LD_PRELOAD=$work/ratewarp.so RATEWARP_RATE=$rate" agent_start "$name" "$@"
}

# --- the highly available control plane (tests/controlplane/up --ha: case 25) -----------------
# Its processes by name: etcd0 etcd1 etcd2 (members e0 e1 e2), kube-apiserver-a, kube-apiserver-b
# and toxiproxy (the API servers' links to etcd: proxies a-etcd0..2, b-etcd0..2, at $CP_TOXIPROXY).
# cp_pid NAME: its PID now.
cp_pid() { cat "$CP_DIR/.$1.pid" 2>/dev/null; }
# cp_signal NAME SIG: e.g. cp_signal etcd1 STOP.
cp_signal() { kill "-$2" "$(cp_pid "$1")" 2>/dev/null; }
# cp_kill NAME: SIGKILL, and waits until it is gone (10 s at most).
cp_kill() {
  local pid; pid="$(cp_pid "$1")"
  kill -CONT "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null
  wait_until 10 proc_gone "$pid"
}
# cp_stop NAME: SIGTERM, SIGKILL after 3 s (a graceful API server shutdown waits for open watches).
cp_stop() {
  local pid i; pid="$(cp_pid "$1")"
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 30); do proc_gone "$pid" && return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait_until 10 proc_gone "$pid"
}
# cp_start NAME: starts it again from its command line as up started it ($CP_DIR/NAME.cmdline: same
# ports, data dir, certs), in its own session, appending to its log; registered in $CP_DIR/pids
# for `down`. Returns once its PID is known; the caller waits for it to be healthy.
cp_start() {
  local args=()
  mapfile -t args <"$CP_DIR/$1.cmdline"
  proc_start "$CP_DIR" "$1" "${args[@]}" >/dev/null
}
# etcd_url I: member eI's client URL. etcd_status I: its /v3/maintenance/status (the gRPC gateway;
# numbers as strings), "" when it does not answer within 2 s.
etcd_url() { local u; read -r -a u <<<"$ETCD_URLS"; echo "${u[$1]}"; }
etcd_status() { curl -s --max-time 2 -XPOST "$(etcd_url "$1")/v3/maintenance/status" -d '{}' 2>/dev/null; }
# etcd_leader: the index of the member that calls itself leader (asked of each member), or fails.
etcd_leader() {
  local i st
  for i in 0 1 2; do
    st="$(etcd_status "$i")"
    [ -n "$st" ] && [ "$(jq -r '.header.member_id == .leader' <<<"$st" 2>/dev/null)" = true ] && { echo "$i"; return 0; }
  done
  return 1
}
# etcd_healthy I: member eI answers /health true (it sees a leader and serves).
etcd_healthy() { [[ "$(curl -s --max-time 2 "$(etcd_url "$1")/health" 2>/dev/null)" == *'"health":"true"'* ]]; }
# api_url a|b: that API server's URL. api_ready a|b: its /readyz is "ok".
# shellcheck disable=SC2153 # APISERVER_URLS comes from the --ha control plane's env file
api_url() { local u; read -r -a u <<<"$APISERVER_URLS"; if [ "$1" = a ]; then echo "${u[0]}"; else echo "${u[1]}"; fi; }
api_ready() {
  [ "$(curl -s --max-time 2 --cacert "$APISERVER_CA" -H "Authorization: Bearer $ADMIN_TOKEN" "$(api_url "$1")/readyz" 2>/dev/null)" = ok ]
}
# admin_via a|b: the test's own requests (lease_json, lease_patch, kubectl, ...) go to that API
# server (APISERVER_URL and KUBECONFIG, an admin kubeconfig written on first use).
admin_via() {
  APISERVER_URL="$(api_url "$1")"
  [ -f "$work/admin-$1.kubeconfig" ] || kube_write_kubeconfig "$work/admin-$1.kubeconfig" "$ADMIN_TOKEN"
  export KUBECONFIG="$work/admin-$1.kubeconfig"
}
# etcd_links a|b true|false: that API server's three links to etcd enabled or cut (proxies
# disabled: open connections closed, new ones refused).
etcd_links() {
  local i pids=()
  for i in 0 1 2; do
    if [ "$2" = true ]; then
      tp_undo -XPOST "$CP_TOXIPROXY/proxies/$1-etcd$i" -d '{"enabled":true}' & pids+=($!)
    else
      tp -o /dev/null -XPOST "$CP_TOXIPROXY/proxies/$1-etcd$i" -d '{"enabled":false}' & pids+=($!)
    fi
  done
  for i in "${pids[@]}"; do wait "$i"; done
}
# balancer_start: tests/faults/balancer.py over both API servers (backend 0 = a, 1 = b), round
# robin per connection; sets BAL_PORT (agents' kubeconfigs point there) and BAL_CTL.
balancer_start() {
  local a b
  read -r BAL_PORT BAL_CTL < <(free_ports 2)
  a="$(api_url a)"; b="$(api_url b)"
  python3 "$faults_dir/balancer.py" --listen "$BAL_PORT" --control "$BAL_CTL" \
    --backend "${a#https://}" --backend "${b#https://}" >"$work/balancer.out" 2>&1 &
  track_pid $!
  wait_until 10 curl -sf "127.0.0.1:$BAL_CTL/stats"
}
# balancer_use "0 1" | 0 | 1: the API servers new connections go to (open ones stay).
balancer_use() {
  curl -sf -o /dev/null --max-time 5 -XPOST "127.0.0.1:$BAL_CTL/use" -d "{\"backends\":[$(echo "$1" | tr ' ' ',')]}"
}
# balancer_reset [I]: closes the open connections (to backend I only, if given); echoes how many.
balancer_reset() {
  local body='{}'
  [ -n "${1:-}" ] && body="{\"backend\":$1}"
  curl -sf --max-time 5 -XPOST "127.0.0.1:$BAL_CTL/reset" -d "$body" | jq -r .closed
}
# balancer_open I: the connections open through the balancer to backend I.
balancer_open() { curl -sf --max-time 5 "127.0.0.1:$BAL_CTL/stats" | jq -r ".backends[$1].open"; }
