#!/usr/bin/env bash
# Case 18: the holder emptied by someone other than the holder. An operator's
# `kubectl patch lease ... holderIdentity: null, leaseDurationSeconds: 1`, at a random phase of the
# renew cycle, TRIALS times; every other trial with the leader's agent paused (SIGSTOP) for 1 s
# around the patch, as a long GC pause or CPU starvation would. Apps poll every agent's HTTP answer
# and state file every 10 ms. The holder may still be claiming when the patch lands, so nobody may
# take the Lease before a full lease duration after it: the witness must see no overlap, and every
# next term must begin no earlier than a lease duration after the patch and after the old claim's
# end. Then a client-go elector (ReleaseOnCancel: it writes the release and only then stops) holds
# the Lease and is stopped: leasehold followers wait one lease duration by default, and take over
# at once only with --trust-unmarked-release.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 18_foreign_release
TRIALS="${TRIALS:-6}"
export APP_INTERVAL=0.01

start_election a b c || { fail "no leader"; summary; exit 1; }
# new_term_after MS: the one leader among a b c, if its term began at or after MS.
new_term_after() {
  local n
  one_leader_among a b c || return 1
  n="$(leaders_among a b c)"
  [ -n "$(log_ms "$n" '^started leading$' "$1")" ] && echo "$n"
}
t_first_ns="$(now_ns)"
early=0; before_claim_end=0; gaps=()
for trial in $(seq 1 "$TRIALS"); do
  old="$leader"
  paused=$((trial % 2 == 0))
  wait_renew "$old" >/dev/null
  # A random phase within the retry period.
  sleep "$(awk -v r="$RANDOM" -v p="$RP" 'BEGIN { printf "%.3f", (r % 1000) / 1000 * p }')"
  read -r _ old_until _ <"$work/$old/state"
  [ "$paused" = 1 ] && agent_signal "$old" STOP
  t="$(now_ms)"
  code="$(lease_patch '{"spec":{"holderIdentity":null,"leaseDurationSeconds":1}}')"
  if [ "$paused" = 1 ]; then sleep 1; agent_signal "$old" CONT; fi
  # A leader whose term began after the patch: a paused leader answers "leader" for the moments
  # between its waking and reading the change, on a claim still its own (the witness judges it).
  new=""
  wait_until $((2 * LD + 10)) new_term_after "$t" && new="$(new_term_after "$t")"
  started="$(log_ms "$new" '^started leading$' "$t")"
  log "trial $trial: $old $([ "$paused" = 1 ] && echo "paused 1 s, ")emptied by a patch (HTTP $code); $new leads at +$((started - t)) ms"
  [ "$code" = 200 ] || fail "trial $trial: the patch was refused (HTTP $code)"
  [ -n "$new" ] && [ $((started - t)) -lt "$LD_MS" ] && early=$((early + 1))
  [ -n "$new" ] && [ "$started" -lt "$old_until" ] && before_claim_end=$((before_claim_end + 1))
  gaps+=("$((started - t))")
  leader="$new"
  [ -n "$leader" ] || break
  wait_acting "$leader"
done
expect "a leader after every trial" [ -n "$leader" ]
expect_eq "no term began before a lease duration after the patch" "$early" 0
expect_eq "no term began before the old claim's end" "$before_claim_end" 0
expect "every paused leader logged that it stopped leading" \
  [ "$(jq -R -c 'fromjson? | select(.msg=="stopped leading")' "$work"/[abc].log | wc -l)" -ge "$TRIALS" ]
report --from-ns "$t_first_ns"
expect_no_overlap
leader_answers=$(jq -s '[.[] | select(.leader)] | length' "$work"/[abc].app.jsonl)
figures "trials=$TRIALS" "next_term_after_patch_ms=$(IFS=,; echo "${gaps[*]}")" "overlap_ms=$(rj .overlap_ms)" \
  "leader_answers=$leader_answers"

# --- a client-go elector's release (ReleaseOnCancel)
for n in a b c; do agent_retire "$n"; done
cg_start() {  # cg_start NAME: client-go's elector, on its own proxy
  local port
  port="$(proxy_new "$1")" || return 1
  APISERVER_URL="https://127.0.0.1:$port" kube_write_kubeconfig "$work/$1.kubeconfig" "$ADMIN_TOKEN" "$NS"
  "$TOOLS_BIN/reference-elector" --namespace "$NS" --election "$ELECTION" --identity "$1" \
    --lease-duration "${LD}s" --renew-deadline "${RD}s" --retry-period "${RP}s" \
    --kubeconfig "$work/$1.kubeconfig" --status-address "127.0.0.1:$(free_port)" >"$work/$1.log" 2>&1 &
  echo $! >"$work/$1.pid"
  track_pid $!
}
for mode in default trusting; do
  cg="cg-$mode"; f="f-$mode"
  kube_api -o /dev/null -X DELETE "$(lease_path)"
  cg_start "$cg"
  wait_until $((3 * LD + 10)) holder_is "$cg" ||
    { fail "[$mode] the client-go elector did not lead"; continue; }
  if [ "$mode" = trusting ]; then agent_start "$f" --trust-unmarked-release; else agent_start "$f"; fi
  wait_until 20 ready "$f"
  sleep 0.5
  t="$(now_ms)"
  kill -TERM "$(cat "$work/$cg.pid")"
  wait_until 10 holder_is ""
  wait_until $((2 * LD + 10)) is_leader "$f"
  # When the follower saw the release: its own log line, written as it observed the change.
  released="$(jq -R -r 'fromjson? | select(.msg=="leader changed" and .leader=="") | .ts' "$work/$f.log" |
    tail -1 | xargs -I{} date -d {} +%s%3N)"
  started="$(log_ms "$f" '^started leading$' "$t")"
  log "[$mode] client-go's elector released at +$((released - t)) ms; leasehold leads at +$((started - t)) ms"
  if [ "$mode" = default ]; then
    # (less 20 ms: the two log lines' own timestamps, taken just after the events)
    expect "[default] an unmarked release is waited out for a lease duration" [ $((started - released)) -ge $((LD_MS - 20)) ]
  else
    expect "[--trust-unmarked-release] it is taken at once (before a lease duration)" [ $((started - released)) -lt "$LD_MS" ]
  fi
  figures "client_go_release_${mode}_ms=$((started - released))"
  agent_retire "$f"
done
summary
