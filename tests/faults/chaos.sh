#!/usr/bin/env bash
# Chaos run: 5 agents (slots s1..s5, each with its own toxiproxy proxy and one test app: HTTP
# check on s1/s3/s5, state-file check on s2/s4) on one Lease, and for DURATION seconds a random
# sequence of faults:
#   kill9      kill -9 a slot's agent, restart it 0-2 s later with a new identity
#   term       SIGTERM a slot's agent (release), restart it with a new identity
#   pause      SIGSTOP a slot's agent for 0.5-2 lease durations, then SIGCONT
#   partition  disable a slot's proxy for 0.5-2 lease durations
#   slow       latency toxic (0.3-1.5 retry periods on answers) on a slot for 1-2 lease durations
#   apiserver  stop the kube-apiserver process (SIGTERM, SIGKILL after 3 s) and start it again with
#              the same flags and ports (a real restart: connections and watches are cut)
#   edit       a hand edit of the Lease: holderIdentity -> another slot's identity,
#              leaseDurationSeconds -> 1, renewTime an hour back, an annotation, or deletion
# Targets are drawn as slot numbers (or "the current leader" for kill9/pause/partition half of
# the time). Every draw comes from bash's RANDOM seeded with SEED (printed), so a seed replays the
# same sequence of fault kinds, slots, durations and pauses; which process leads at a given
# moment depends on timing and may differ between replays.
#
# With SHARDS=N the election is sharded (--shards N): each app works the shards its agent owns
# (over GET /v1/shards on s1/s3/s5, from the `shards` file on s2/s4), "the current leader" is the
# owner of a random shard, an edit hits a random shard's Lease (or deletes a member record), and
# the witness is read shard by shard; at the end every shard must be owned by exactly one slot,
# the one its Lease names, with loads within one.
#
#   bash tests/faults/chaos.sh [--shards N] DURATION_SECONDS [SEED]   (make chaos DURATION=N [SHARDS=N])
# Prints the witness's figures (overlap must be 0, fraction of time with a leader), counts of
# each fault, and ends with "chaos: N passed, N failed"; exits non-zero on any overlap.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
unset FAULTS_CP_DIR   # API server restarts: always a control plane of its own

SHARDS="${SHARDS:-0}"
if [ "${1:-}" = --shards ]; then SHARDS="${2:-}"; shift 2; fi
duration="${1:-60}"
seed="${2:-$(( $(date +%s%N) % 32768 ))}"
{ [[ "$duration" =~ ^[0-9]+$ ]] && [[ "$seed" =~ ^[0-9]+$ ]]; } || { echo "usage: $0 DURATION_SECONDS [SEED]" >&2; exit 2; }
[[ "$SHARDS" =~ ^[0-9]+$ ]] || { echo "the number of shards must be a number" >&2; exit 2; }
RANDOM="$seed"
if [ "$SHARDS" -gt 0 ]; then fault_init chaos_shards; else fault_init chaos; fi
echo "chaos: seed $seed, duration ${duration}s$([ "$SHARDS" -gt 0 ] && echo ", $SHARDS shards") (replay: bash tests/faults/chaos.sh --shards $SHARDS $duration $seed)"
shard_flags=()
[ "$SHARDS" -gt 0 ] && shard_flags=(--shards "$SHARDS")

SLOTS=(s1 s2 s3 s4 s5)
declare -A gen ident paused_until cut_until slow_until
declare -A count=([kill9]=0 [term]=0 [pause]=0 [partition]=0 [slow]=0 [apiserver]=0 [edit]=0)
R=0
rnd() { R=$((RANDOM % $1)); }   # never in a subshell: keeps the seeded sequence

start_slot() {
  local s="$1"
  gen[$s]=$(( ${gen[$s]:-0} + 1 ))
  ident[$s]="$s-g${gen[$s]}"
  AGENT_IDENTITY="${ident[$s]}" agent_start "$s" --release-timeout 2s "${shard_flags[@]}"
}
member_identity() { echo "${ident[$1]}"; }
unexpected=0
check_alive() { # an agent that died without us killing it is a crash
  local s
  for s in "${SLOTS[@]}"; do
    if ! alive "$s"; then
      unexpected=$((unexpected + 1))
      log "UNEXPECTED: $s (${ident[$s]}) is not running; log tail:"; tail -3 "$work/$s.log" | sed 's/^/      /'
      start_slot "$s"
    fi
  done
}
now_s() { echo $(($(now_ms) / 1000)); }
# current_leader [SHARD]: the slot that says it leads (owns SHARD, when sharded), if any.
current_leader() {
  if [ "$SHARDS" -gt 0 ]; then
    local s
    for s in "${SLOTS[@]}"; do leads_at "127.0.0.1:$(sport "$s")" "/v1/shards/$1" && { echo "$s"; return 0; }; done
    return 0
  fi
  leaders_among "${SLOTS[@]}" | head -1
}

for s in "${SLOTS[@]}"; do start_slot "$s"; done
for s in "${SLOTS[@]}"; do wait_until 20 ready "$s"; done
app_modes=(http file)
[ "$SHARDS" -gt 0 ] && app_modes=(shards-http shards-file)
i=0; for s in "${SLOTS[@]}"; do app_start "$s" "${app_modes[$((i % 2))]}"; i=$((i + 1)); done
if [ "$SHARDS" -gt 0 ]; then
  wait_until $((3 * LD + 10)) settled "${SLOTS[@]}" || { fail "the shards were not placed at the start"; summary; exit 1; }
else
  wait_leader $((3 * LD + 10)) "${SLOTS[@]}" >/dev/null || { fail "no leader at the start"; summary; exit 1; }
fi
t_start_ns="$(now_ns)"
t_end=$(($(now_ms) + duration * 1000))
log "faults begin"

undo_due() { # resume / reconnect / remove toxics whose time has come ($1 = force all)
  local s now; now="$(now_ms)"
  for s in "${SLOTS[@]}"; do
    if [ -n "${paused_until[$s]:-}" ] && { [ -n "${1:-}" ] || [ "$now" -ge "${paused_until[$s]}" ]; }; then
      agent_signal "$s" CONT; paused_until[$s]=""
    fi
    if [ -n "${cut_until[$s]:-}" ] && { [ -n "${1:-}" ] || [ "$now" -ge "${cut_until[$s]}" ]; }; then
      proxy_up "$s"; cut_until[$s]=""
    fi
    if [ -n "${slow_until[$s]:-}" ] && { [ -n "${1:-}" ] || [ "$now" -ge "${slow_until[$s]}" ]; }; then
      toxic_del "$s" slow; slow_until[$s]=""
    fi
  done
}
# pick_target: sets T to a slot (half of the time the current leader, if any).
pick_target() {
  rnd 5; local slot="${SLOTS[$R]}" shard=""
  [ "$SHARDS" -gt 0 ] && { rnd "$SHARDS"; shard="$R"; }
  rnd 2
  if [ "$R" = 0 ]; then local l; l="$(current_leader "$shard")"; T="${l:-$slot}"; else T="$slot"; fi
}

while [ "$(now_ms)" -lt "$t_end" ]; do
  rnd 20; gap_ms=$((500 + R * 100))            # 0.5 - 2.4 s between faults
  deadline=$(($(now_ms) + gap_ms))
  while [ "$(now_ms)" -lt "$deadline" ]; do undo_due; sleep 0.1; done
  check_alive
  rnd 100; roll="$R"
  if   [ "$roll" -lt 18 ]; then kind=kill9
  elif [ "$roll" -lt 32 ]; then kind=term
  elif [ "$roll" -lt 50 ]; then kind=pause
  elif [ "$roll" -lt 68 ]; then kind=partition
  elif [ "$roll" -lt 78 ]; then kind=slow
  elif [ "$roll" -lt 83 ]; then kind=apiserver
  else kind=edit; fi
  rnd 16; span_ms=$((LD_MS / 2 + R * LD_MS / 10))   # 0.5 - 2 lease durations
  pick_target; target="$T"
  case "$kind" in
    kill9)
      rnd 20; delay_ms=$((R * 100))
      [ -n "${paused_until[$target]:-}" ] && paused_until[$target]=""
      agent_signal "$target" KILL; agent_wait "$target" >/dev/null
      log "kill -9 $target (${ident[$target]}); restart in ${delay_ms} ms"
      sleep "$(awk -v d="$delay_ms" 'BEGIN { print d / 1000 }')"
      start_slot "$target" ;;
    term)
      if [ -n "${paused_until[$target]:-}" ]; then agent_signal "$target" CONT; paused_until[$target]=""; fi
      agent_signal "$target" TERM; agent_wait "$target" >/dev/null
      log "SIGTERM $target (${ident[$target]}); restarted"
      start_slot "$target" ;;
    pause)
      if [ -z "${paused_until[$target]:-}" ]; then
        agent_signal "$target" STOP; paused_until[$target]=$(($(now_ms) + span_ms))
        log "SIGSTOP $target (${ident[$target]}) for ${span_ms} ms"
      fi ;;
    partition)
      if [ -z "${cut_until[$target]:-}" ]; then
        proxy_down "$target"; cut_until[$target]=$(($(now_ms) + span_ms))
        log "partition $target for ${span_ms} ms"
      fi ;;
    slow)
      rnd 13; lat=$((RP_MS * 3 / 10 + R * RP_MS / 10))
      if [ -z "${slow_until[$target]:-}" ]; then
        toxic_add "$target" slow latency downstream "{\"latency\":$lat,\"jitter\":0}"
        slow_until[$target]=$(($(now_ms) + span_ms * 2 / 3 + LD_MS / 2))
        log "answers to $target delayed ${lat} ms"
      fi ;;
    apiserver)
      t0="$(now_ms)"
      apiserver_stop
      apiserver_start || { fail "kube-apiserver did not come back"; break; }
      log "kube-apiserver restarted (down $(($(now_ms) - t0)) ms)" ;;
    edit)
      edited="$ELECTION"
      if [ "$SHARDS" -gt 0 ]; then rnd "$SHARDS"; edited="$(shard_lease "$R")"; fi
      rnd $((SHARDS > 0 ? 6 : 5)); e="$R"; rnd 5; other="${SLOTS[$R]}"
      case "$e" in
        0) c="$(ELECTION="$edited" lease_patch "{\"spec\":{\"holderIdentity\":\"${ident[$other]}\"}}")"; what="holderIdentity -> ${ident[$other]}" ;;
        1) c="$(ELECTION="$edited" lease_patch '{"spec":{"leaseDurationSeconds":1}}')"; what="leaseDurationSeconds -> 1" ;;
        2) c="$(ELECTION="$edited" lease_patch "{\"spec\":{\"renewTime\":\"$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%S.000000Z)\"}}")"; what="renewTime an hour back" ;;
        3) c="$(ELECTION="$edited" lease_patch "{\"metadata\":{\"annotations\":{\"chaos\":\"$RANDOM\"}}}")"; what="annotation" ;;
        4) c="$(ELECTION="$edited" lease_delete)"; what="deleted" ;;
        5) edited="$(member_record_of "$other")"
           if [ -n "$edited" ]; then c="$(ELECTION="$edited" lease_delete)"; else c=none; fi
           what="deleted (the member record of $other)" ;;
      esac
      log "Lease $edited edited: $what (HTTP $c)" ;;
  esac
  count[$kind]=$((count[$kind] + 1))
done
undo_due force
# Every fault undone, or what follows would judge the agents by a fault still in place.
left="$(tp "127.0.0.1:$TP_PORT/proxies" | jq -c '[.[] | select((.enabled | not) or (.toxics | length) > 0) | .name]')"
expect_eq "every fault undone at the end (no proxy disabled or with a toxic)" "$left" "[]"
t_faults_end_ns="$(now_ns)"
check_alive
if [ "$SHARDS" -gt 0 ]; then
  log "faults end; waiting for every shard to be owned"
  # A member killed -9 counts as alive until its record is a lease duration old.
  expect_settled $((2 * LD + RP + 10)) "2 lease durations + retry period + 10 s after the last fault" "${SLOTS[@]}"
  for s in "${SLOTS[@]}"; do app_stop "$s"; done
  echo "--- figures (seed $seed, ${duration}s, $SHARDS shards, timings ${LD}s/${RD}s/${RP}s)"
  echo "  faults: $(for k in kill9 term pause partition slow apiserver edit; do printf '%s=%s ' "$k" "${count[$k]}"; done)"
  expect_shards_never_overlapped "$WITNESS_LOG"
  expect_eq "no agent exited by itself (never crash-loops)" "$unexpected" 0
  figures "seed=$seed" "duration_s=$duration" "shards=$SHARDS" "overlap_ms=$(jq -r .overlap_ms "$work/shards-overlap.json")" \
    "units_of_work=$(jq -r .actions "$work/shards-overlap.json")" \
    "$(for k in kill9 term pause partition slow apiserver edit; do printf '%s=%s ' "$k" "${count[$k]}"; done)"
  summary
  exit
fi
log "faults end; waiting for a leader"
expect "a leader within lease-duration + retry-period + 10 s after the last fault" \
  wait_until $((LD + RP + 10)) one_leader_among "${SLOTS[@]}"
sleep 1
t_stop_ns="$(now_ns)"
for s in "${SLOTS[@]}"; do app_stop "$s"; done

echo "--- figures (seed $seed, ${duration}s, timings ${LD}s/${RD}s/${RP}s)"
report --from-ns "$t_start_ns" --to-ns "$t_faults_end_ns" >/dev/null
fraction="$(rj '.leader_fraction * 1000 | floor / 10')"
report --from-ns "$t_start_ns" --to-ns "$t_stop_ns"
echo "  faults: $(for k in kill9 term pause partition slow apiserver edit; do printf '%s=%s ' "$k" "${count[$k]}"; done)"
echo "  time with a leader during the faults: ${fraction}%; terms: $(rj '.terms|length'); unexpected agent exits: $unexpected"
expect_no_overlap
expect "fencing tokens of all terms strictly increase (agents' logs)" tokens_increase "${SLOTS[@]}"
expect_eq "no agent exited by itself (never crash-loops)" "$unexpected" 0
expect "faults were injected" [ "$(( count[kill9] + count[term] + count[pause] + count[partition] + count[slow] + count[apiserver] + count[edit] ))" -gt 0 ]
figures "seed=$seed" "duration_s=$duration" "overlap_ms=$(rj .overlap_ms)" "leader_fraction_pct=$fraction" \
  "terms=$(rj '.terms|length')" "accepted=$(rj .accepted)" "rejected=$(rj .rejected)" \
  "$(for k in kill9 term pause partition slow apiserver edit; do printf '%s=%s ' "$k" "${count[$k]}"; done)"
summary
