#!/usr/bin/env bash
# Soak: does an agent's use of memory, descriptors, threads or metric series keep growing under
# steady churn? Five agents on one Lease (the fault harness, tests/faults/lib.sh: a control plane
# of its own, each agent behind its own toxiproxy proxy, an app per agent acting on the witness):
#   l1 l2 l3   long-lived: started once, never signalled; these are the agents measured
#   c1 c2      churned: SIGKILL or SIGTERM and restarted with a new identity
# all with --handoff-timeout 2s, hooks on start/stop leading (`true`), Kubernetes Events on, and
# their apps' health checked over HTTP (tests/soak/health.py; period 500 ms, 2 failures in a row).
# For DURATION seconds, every 1-3 s one churn step drawn at random:
#   resign     POST /v1/resign on the leader (half of the time ?to=<another identity>: a transfer),
#              its handoff then acknowledged by POST /v1/ack at once, after 0.5-1.5 s, or never
#              (the 2 s handoff timeout ends it)
#   kill9      kill -9 a churned agent, restart it 0-2 s later
#   term       SIGTERM a churned agent (handoff unacknowledged, release), restart it
#   health     an agent's app answers 503 for 1-6 s, or hangs (answers after 5 s) for 1-4 s
#   annotate   kubectl annotate the Lease: leasehold.io/resign (the leader resigns), or another
#              annotation set or removed
#   apiserver  the kube-apiserver process stopped and started again with the same flags
# (first the lead is handed to l1, l2 and l3 in turn, then the first six steps are one of each, so
# every path has run before the warm-up ends), while
# tests/soak/clients.py keeps 8 status-listener clients coming and vanishing without pause
# (/v1/events streams, /v1/status and /v1/leader long polls, plain requests, bursts of streams;
# closed, reset, half-closed or muted). Every draw comes from bash's RANDOM (and clients.py's)
# seeded with SEED (printed).
#
# tests/soak/sample.py samples each long-lived agent every SOAK_INTERVAL s (default 10): VmRSS,
# RssAnon, threads (/proc/PID/status), open FDs and of them sockets (/proc/PID/fd), and the
# series of its /metrics. tests/soak/fit.py then fits a least-squares line per agent and metric
# over the samples after the warm-up (the first quarter of the run, at least 60 s) and checks its
# slope against the bounds below: a figure that keeps growing is a leak. Also checked: overlap 0
# at the witness, no agent exited by itself, the long-lived agents ran as one process each
# throughout, a leader at the end.
#
#   bash tests/soak/soak.sh [DURATION_SECONDS [SEED]]      (make soak DURATION=N; default 3600)
# SOAK_OUT=DIR keeps the samples (samples.csv), the fit (fit.json), the plot (soak.png) and the
# churn counts (churn.txt) in DIR. Ends with "soak: N passed, N failed".
set -uo pipefail
soak_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$soak_dir/../faults/lib.sh"
unset FAULTS_CP_DIR   # API server restarts: always a control plane of its own

duration="${1:-3600}"
seed="${2:-$(( $(date +%s%N) % 32768 ))}"
if ! [[ "$duration" =~ ^[0-9]+$ ]] || ! [[ "$seed" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [DURATION_SECONDS [SEED]]" >&2
  exit 2
fi
[ "$duration" -ge 120 ] || { echo "soak: DURATION must be at least 120 s (60 s of warm-up, then enough samples to fit)" >&2; exit 2; }
RANDOM="$seed"
INTERVAL="${SOAK_INTERVAL:-10}"
WARMUP_S=$(( duration / 4 > 60 ? duration / 4 : 60 ))

# The bounds, in units per minute of the least-squares slope after the warm-up (fit.py: a metric
# fails when its Theil-Sen slope is above the bound too, so one sample never decides). Set with
# margin for a 4-minute run on a loaded 2-core machine, where the fit covers 3 minutes (18
# samples) and measured runs gave: RSS/RssAnon up to +63 KiB/min (the allocator still settling:
# the 25-minute run's slope is 7-11), descriptors and sockets within +-2 (the clients' number
# is stationary, a leak of one descriptor per vanished client would be ~100/min), series up to
# +2.1 (label values such as a rare HTTP code seen for the first time; bounded, flat once seen;
# an agent's first term adds ~20 at once, hence lead_each before the churn).
# A leak of 50 bytes per status request (~3000 a minute) would be above the RSS bound.
BOUNDS=(rss_kib=160 anon_kib=160 fds=4 threads=0.5 sockets=4 series=5)

fault_init soak
echo "soak: seed $seed, duration ${duration}s, samples every ${INTERVAL}s, warm-up ${WARMUP_S}s (replay: bash tests/soak/soak.sh $duration $seed)"
echo "soak: bounds per minute: ${BOUNDS[*]}"

LONG=(l1 l2 l3)
CHURN=(c1 c2)
ALL=("${LONG[@]}" "${CHURN[@]}")
declare -A gen ident health_until first_pid
declare -A count=([resign]=0 [kill9]=0 [term]=0 [health]=0 [annotate]=0 [apiserver]=0)
declare -A sub=([transfer]=0 [ack]=0 [ack_late]=0 [no_ack]=0 [acks_taken]=0 [no_leader]=0 [down]=0 [hang]=0
  [resign_annotation]=0 [other_annotation]=0)
R=0
rnd() { R=$((RANDOM % $1)); }   # never in a subshell: keeps the seeded sequence

HEALTH_PORT="$(free_port)"
mkdir -p "$work/health"
python3 "$soak_dir/health.py" --port "$HEALTH_PORT" --dir "$work/health" >"$work/health.out" 2>&1 &
track_pid $!
wait_until 10 curl -sf "127.0.0.1:$HEALTH_PORT/healthz" || { fail "health endpoints did not start"; summary; exit 1; }

# start_agent NAME: starts agent NAME with the soak's flags; a churned one gets a new identity
# each time (NAME-gN), a long-lived one is NAME.
start_agent() {
  local n="$1"
  gen[$n]=$(( ${gen[$n]:-0} + 1 ))
  case "$n" in l*) ident[$n]="$n" ;; *) ident[$n]="$n-g${gen[$n]}" ;; esac
  AGENT_IDENTITY="${ident[$n]}" agent_start "$n" --release-timeout 2s --handoff-timeout 2s \
    --app-health-url "http://127.0.0.1:$HEALTH_PORT/$n" --app-health-period 500ms --app-health-timeout 300ms \
    --app-health-failure-threshold 2 --app-health-success-threshold 1 \
    --on-start-leading true --on-stop-leading true --hook-timeout 2s
}
unexpected=0
# check_alive: an agent that died without being killed here is a crash: counted, restarted.
check_alive() {
  local n
  for n in "${ALL[@]}"; do
    if ! alive "$n"; then
      unexpected=$((unexpected + 1))
      log "UNEXPECTED: $n (${ident[$n]}) is not running; log tail:"; tail -3 "$work/$n.log" | sed 's/^/      /'
      forget_pid "$(pid_of "$n")"
      start_agent "$n"
    fi
  done
}
# current_leader: the agent that says it leads, if any.
current_leader() { leaders_among "${ALL[@]}" | head -1; }
# other_identity NAME: the identity of an agent other than NAME, drawn at random.
other_identity() {
  local others=() n
  for n in "${ALL[@]}"; do [ "$n" = "$1" ] || others+=("$n"); done
  rnd "${#others[@]}"; OTHER="${ident[${others[$R]}]}"
}
# restart_churned NAME SIGNAL: signals churned agent NAME, waits for its exit, restarts it after
# 0-2 s (KILL) or at once (TERM).
restart_churned() {
  local n="$1" sig="$2" delay_ms=0
  agent_signal "$n" "$sig"; agent_wait "$n" >/dev/null
  forget_pid "$(pid_of "$n")"
  if [ "$sig" = KILL ]; then rnd 20; delay_ms=$((R * 100)); sleep "$(awk -v d="$delay_ms" 'BEGIN { print d / 1000 }')"; fi
  log "$sig ${ident[$n]}; restarted after ${delay_ms} ms"
  start_agent "$n"
}
# health_undo [force]: ends the health faults whose time has come (every one with "force").
health_undo() {
  local n now; now="$(now_ms)"
  for n in "${ALL[@]}"; do
    if [ -n "${health_until[$n]:-}" ] && { [ -n "${1:-}" ] || [ "$now" -ge "${health_until[$n]}" ]; }; then
      rm -f "$work/health/$n.down" "$work/health/$n.hang"; health_until[$n]=""
    fi
  done
}
# ack NAME: the app's acknowledgement of a handoff; counts the ones the agent took (202).
ack() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -XPOST "$(url "$1" /v1/ack)")" = 202 ] &&
    sub[acks_taken]=$((sub[acks_taken] + 1))
}

# lead_each NAMES...: hands the lead to each of NAMES in turn (POST /v1/resign?to=), so that every
# measured agent has led once, and its leader-only series exist, well before the warm-up ends.
lead_each() {
  local n l
  for n in "$@"; do
    l="$(current_leader)"
    [ -n "$l" ] && [ "$l" != "$n" ] && curl -s -o /dev/null --max-time 2 -XPOST "$(url "$l" "/v1/resign?to=${ident[$n]}")"
    if wait_until 15 is_leader "$n"; then log "$n leads"; else log "$n did not take the lead when named"; fi
  done
}

# step KIND: one churn step of that kind.
step() {
  local kind="$1" n leader code t0 ms
  case "$kind" in
    resign)
      leader="$(current_leader)"
      if [ -z "$leader" ]; then sub[no_leader]=$((sub[no_leader] + 1)); return; fi
      rnd 2
      if [ "$R" = 0 ]; then
        other_identity "$leader"
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -XPOST "$(url "$leader" "/v1/resign?to=$OTHER")")"
        sub[transfer]=$((sub[transfer] + 1)); log "resign $leader -> $OTHER (HTTP $code)"
      else
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -XPOST "$(url "$leader" /v1/resign)")"
        log "resign $leader (HTTP $code)"
      fi
      rnd 3
      case "$R" in
        0) ack "$leader"; sub[ack]=$((sub[ack] + 1)) ;;
        1) rnd 11; sleep "$(awk -v r="$R" 'BEGIN { print 0.5 + r / 10 }')"; ack "$leader"; sub[ack_late]=$((sub[ack_late] + 1)) ;;
        2) sub[no_ack]=$((sub[no_ack] + 1)) ;;
      esac ;;
    kill9) rnd 2; restart_churned "${CHURN[$R]}" KILL ;;
    term) rnd 2; restart_churned "${CHURN[$R]}" TERM ;;
    health)
      rnd "${#ALL[@]}"; n="${ALL[$R]}"
      [ -n "${health_until[$n]:-}" ] && return
      rnd 4
      if [ "$R" -lt 3 ]; then
        rnd 51; ms=$((1000 + R * 100)); touch "$work/health/$n.down"; sub[down]=$((sub[down] + 1))
        log "app of $n unhealthy (503) for $ms ms"
      else
        rnd 31; ms=$((1000 + R * 100)); touch "$work/health/$n.hang"; sub[hang]=$((sub[hang] + 1))
        log "app of $n hung for $ms ms"
      fi
      health_until[$n]=$(($(now_ms) + ms)) ;;
    annotate)
      rnd 3
      case "$R" in
        0) kube_kubectl annotate lease -n "$NS" "$ELECTION" --overwrite "leasehold.io/resign=soak-$RANDOM" >/dev/null 2>&1
           sub[resign_annotation]=$((sub[resign_annotation] + 1)); log "annotated leasehold.io/resign" ;;
        1) kube_kubectl annotate lease -n "$NS" "$ELECTION" --overwrite "soak=$RANDOM" >/dev/null 2>&1
           sub[other_annotation]=$((sub[other_annotation] + 1)); log "annotated soak=..." ;;
        2) kube_kubectl annotate lease -n "$NS" "$ELECTION" "soak-" >/dev/null 2>&1
           sub[other_annotation]=$((sub[other_annotation] + 1)); log "annotation soak removed" ;;
      esac ;;
    apiserver)
      t0="$(now_ms)"
      apiserver_stop
      apiserver_start || { fail "kube-apiserver did not come back"; return 1; }
      log "kube-apiserver restarted (down $(($(now_ms) - t0)) ms)" ;;
  esac
  count[$kind]=$((count[$kind] + 1))
}

for n in "${ALL[@]}"; do start_agent "$n"; done
for n in "${ALL[@]}"; do wait_until 20 ready "$n" || { fail "$n not ready"; summary; exit 1; }; done
for n in "${LONG[@]}"; do first_pid[$n]="$(pid_of "$n")"; done
python3 "$soak_dir/sample.py" --work "$work" --agents "$(IFS=,; echo "${LONG[*]}")" --out "$work/samples.csv" \
  --interval "$INTERVAL" >"$work/sample.out" 2>&1 &
sampler=$!; track_pid "$sampler"
APP_INTERVAL=0.1
for n in "${ALL[@]}"; do app_start "$n" http; done
wait_leader $((3 * LD + 10)) "${ALL[@]}" >/dev/null || { fail "no leader at the start"; summary; exit 1; }
python3 "$soak_dir/clients.py" --work "$work" --agents "$(IFS=,; echo "${ALL[*]}")" --seed "$seed" \
  --stats "$work/clients.json" >"$work/clients.out" 2>&1 &
clients=$!; track_pid "$clients"

t_start_ns="$(now_ns)"
t_end=$(($(now_ms) + duration * 1000))
log "churn begins"
lead_each "${LONG[@]}"
KINDS=(resign kill9 term health annotate apiserver)
steps=0
while [ "$(now_ms)" -lt "$t_end" ]; do
  rnd 21; deadline=$(($(now_ms) + 1000 + R * 100))   # 1 - 3 s between steps
  while [ "$(now_ms)" -lt "$deadline" ]; do health_undo; sleep 0.1; done
  check_alive
  if [ "$steps" -lt "${#KINDS[@]}" ]; then
    kind="${KINDS[$steps]}"   # one of each first, within the warm-up
  else
    rnd 100
    if   [ "$R" -lt 24 ]; then kind=resign
    elif [ "$R" -lt 36 ]; then kind=kill9
    elif [ "$R" -lt 48 ]; then kind=term
    elif [ "$R" -lt 74 ]; then kind=health
    elif [ "$R" -lt 97 ]; then kind=annotate
    else kind=apiserver; fi
  fi
  step "$kind" || break
  steps=$((steps + 1))
done
health_undo force
kill -TERM "$clients" 2>/dev/null; wait "$clients" 2>/dev/null; forget_pid "$clients"
check_alive
log "churn ends; waiting for a leader"
expect "a leader within lease-duration + retry-period + 10 s after the last step" \
  wait_until $((LD + RP + 10)) one_leader_among "${ALL[@]}"
sleep 1
t_stop_ns="$(now_ns)"
kill -TERM "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; forget_pid "$sampler"
for n in "${ALL[@]}"; do app_stop "$n"; done

churn="$(for k in resign kill9 term health annotate apiserver; do printf '%s=%s ' "$k" "${count[$k]}"; done)"
detail="$(for k in transfer ack ack_late no_ack acks_taken no_leader down hang resign_annotation other_annotation; do printf '%s=%s ' "$k" "${sub[$k]}"; done)"
echo "--- churn (seed $seed, ${duration}s, $steps steps, timings ${LD}s/${RD}s/${RP}s)"
echo "  steps: $churn"
echo "  of which: $detail"
echo "  clients: $(jq -c . "$work/clients.json" 2>/dev/null)"
echo "--- the witness"
report --from-ns "$t_start_ns" --to-ns "$t_stop_ns" | grep -v '^    term '   # hundreds of terms: counted below
expect_no_overlap
expect "fencing tokens of all terms strictly increase (agents' logs)" tokens_increase "${ALL[@]}"
expect_eq "no agent exited by itself" "$unexpected" 0
for k in resign kill9 term health annotate apiserver; do
  expect "churn: $k ran (${count[$k]} times)" [ "${count[$k]}" -gt 0 ]
done
# Not necessarily all: a handoff also ends when the Lease is lost meanwhile (an API server restart).
acks_taken_some() { [ $((sub[ack] + sub[ack_late])) -eq 0 ] || [ "${sub[acks_taken]}" -gt 0 ]; }
expect "acknowledgements were taken (${sub[acks_taken]} of $((sub[ack] + sub[ack_late])) sent)" acks_taken_some
expect "clients came and went (more than 10 per minute)" \
  [ "$(jq '[.clients[]] | add' "$work/clients.json" 2>/dev/null || echo 0)" -gt $((duration / 6)) ]
for n in "${LONG[@]}"; do
  sampled="$(awk -F, -v a="$n" 'NR > 1 && $2 == a { print $3 }' "$work/samples.csv" | sort -u | tr '\n' ' ')"
  expect_eq "$n ran as one process throughout (sampled pids)" "${sampled% }" "${first_pid[$n]}"
done

echo "--- growth after the warm-up (${WARMUP_S}s)"
fit_args=()
for b in "${BOUNDS[@]}"; do fit_args+=(--bound "$b"); done
python3 "$soak_dir/fit.py" "$work/samples.csv" --warmup-s "$WARMUP_S" "${fit_args[@]}" --json "$work/fit.json" \
  --plot "$work/soak.png" --title "leasehold soak: ${duration} s, seed $seed, the 3 long-lived agents"
for n in "${LONG[@]}"; do
  for b in "${BOUNDS[@]}"; do
    m="${b%%=*}"
    s="$(jq -r --arg a "$n" --arg m "$m" '[.processes[] | select(.agent == $a) | .metrics[$m].slope_per_min] | first // "none"' "$work/fit.json")"
    # shellcheck disable=SC2016 # $a and $m are jq's
    expect "$n: $m grows at most ${b#*=}/min after the warm-up (slope $s/min)" \
      jq -e --arg a "$n" --arg m "$m" '[.processes[] | select(.agent == $a) | .metrics[$m].ok] | length > 0 and all' "$work/fit.json"
  done
done
echo "  terms: $(rj '.terms|length')"
# shellcheck disable=SC2086 # $churn is one figure per word
figures "seed=$seed" "duration_s=$duration" "overlap_ms=$(rj .overlap_ms)" "terms=$(rj '.terms|length')" $churn \
  "clients=$(jq '[.clients[]] | add' "$work/clients.json" 2>/dev/null)"
if [ -n "${SOAK_OUT:-}" ]; then
  mkdir -p "$SOAK_OUT"
  cp "$work/samples.csv" "$work/fit.json" "$SOAK_OUT/"
  [ -f "$work/soak.png" ] && cp "$work/soak.png" "$SOAK_OUT/"
  { echo "seed=$seed duration_s=$duration steps=$steps"; echo "$churn"; echo "$detail"; cat "$work/clients.json"; echo; } >"$SOAK_OUT/churn.txt"
  echo "soak: samples, fit and plot in $SOAK_OUT"
fi
summary
