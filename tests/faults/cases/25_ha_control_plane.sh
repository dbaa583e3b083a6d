#!/usr/bin/env bash
# Case 25: a highly available control plane (tests/controlplane/up --ha): three etcd members and
# two kube-apiservers (a, b), each API server reaching every member through a proxy of its own.
# Three agents reach "the control plane" through a TCP balancer (tests/faults/balancer.py: round
# robin per connection over a and b, a refused connect goes to the other; no health check, the
# test marks an API server down with balancer_use). Six faults, one after the other, each judged
# by the witness (0 overlap) and by its time without a leader, printed beside its bound:
#   1. the etcd leader killed (SIGKILL), started again after 2 LD;
#   2. one etcd member (a follower) partitioned for 2 LD: SIGSTOP, so that its peers and the
#      API servers' connections to it hang (as behind a dropped link) rather than being refused;
#   3. API server a cut from etcd (its three links closed and refused) for 2 LD while the agents
#      stay connected to it: all their connections were put on a first, then the balancer marks a
#      down (new connections go to b, open ones stay): their requests on a time out, their
#      watches on a go quiet (checked with a watch of the test's own on a);
#   6. (right after 3) a's links restored with the agents' watches still open on it: a's watch
#      cache, behind by the whole cut, serves the backlog, events older than what the agents saw
#      through b; they are ignored (the elector keeps the newest revision it saw: a leader does not
#      step down on an old record of the previous term, nobody's view goes back);
#   4. API server a killed (SIGKILL) with every agent connected to it; started again;
#   5. both API servers restarted one after the other (SIGTERM, same flags, ready, then the other).
# Bound of each round's longest time without a leader: one term change whose first attempt may
# fail on the faulty path: LD + 2 x (request timeout + retry period) + 1 s for a loaded machine
# (9 s at 4s/3s/1s). The rounds' sums are printed beside it.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# Its own control plane (never the suite's shared one): the HA one.
FAULTS_CP_DIR=""
FAULTS_CP_HA=1
fault_init 25_ha_control_plane
[ "${CONTROLPLANE_HA:-}" = 1 ] || { fail "the control plane is not the HA one"; summary; exit 1; }

BOUND_MS=$((LD_MS + 2 * (RT_MS + RP_MS) + 1000))
HOLD_S=$((2 * LD))

balancer_start || { fail "balancer did not start"; summary; exit 1; }
for n in a b c; do
  APISERVER_URL="https://127.0.0.1:$BAL_PORT" kube_write_kubeconfig "$work/$n.kubeconfig" "$ADMIN_TOKEN" "$NS"
done
log "control plane: API servers $APISERVER_URLS, etcd $ETCD_URLS; balancer 127.0.0.1:$BAL_PORT"
start_election a b c || { fail "no leader"; summary; exit 1; }
t0_ns="$(now_ns)"
log "leader: $leader (token $(token_of "$leader"))"

# --- helpers of this case ----------------------------------------------------------------------
# timeouts_total: the agents' API requests that timed out or were answered 5xx, summed.
failed_requests() {
  local n s=0
  for n in a b c; do
    s=$((s + $(metric "$n" 'leasehold_api_requests_total\{[^}]*code="(timeout|network|5[0-9][0-9])"' | cut -d. -f1)))
  done
  echo "$s"
}
# current_leader: the agent answering 200, waiting up to a term change; "" if none. Asked again
# when the one found stepped down before it was named (a term ending at that very moment).
current_leader() {
  local end=$(($(now_ms) + (LD + RD + RP + 10) * 1000)) l=""
  while [ -z "$l" ] && [ "$(now_ms)" -lt "$end" ]; do
    l="$(wait_leader $(((end - $(now_ms)) / 1000 + 1)) a b c)" || l=""
  done
  echo "$l"
}
# judge ROUND FROM_NS: the witness over [FROM_NS, now]: its longest time without a leader
# against $BOUND_MS (a fault held for 2 LD may cost more than one term, each its own gap; the
# sum is printed too), and no overlap within the round; remembers the figures for the summary.
rounds=(); leaderless=()
judge() {
  local name="$1" from="$2" gap total
  report --from-ns "$from" --to-ns "$(now_ns)" >/dev/null
  gap="$(rj '.longest_gap_ms|floor')"; total="$(rj '.leaderless_ms|floor')"
  log "[$name] without a leader: longest ${gap} ms (bound ${BOUND_MS} ms), in all ${total} ms of $(rj '.window_ms|floor') ms; overlap $(rj .overlap_ms) ms; terms $(rj '[.terms[].token]|join(",")')"
  expect "[$name] longest time without a leader ${gap} ms <= ${BOUND_MS} ms" [ "$gap" -le "$BOUND_MS" ]
  expect_eq "[$name] overlap in the round" "$(rj .overlap_ms)" 0
  rounds+=("$name"); leaderless+=("$gap/$total")
}
# settle: a leader again and its app acting (the end of a round's window).
settle() {
  leader="$(current_leader)"
  [ -n "$leader" ] && wait_acting "$leader"
  expect "a leader after the round" [ -n "$leader" ]
}
# pin_to I: every agent connection on backend I (a = 0, b = 1): new connections there, the open
# ones closed; waits until the agents are back (ready, a leader acting, a renewal done).
pin_to() {
  balancer_use "$1"
  balancer_reset "" >/dev/null
  sleep 1
  local n; for n in a b c; do wait_until 20 ready "$n"; done
  settle
  wait_renew "$leader" >/dev/null
}
# observer_start URL RV OUT: a watch of the test's own on the Lease at URL from version RV,
# one JSON line per event to OUT: {"t": arrival ns, "type", "rv", "holder"}.
observer_start() {
  python3 - "$1" "$2" "$3" "$NS" "$ELECTION" "$APISERVER_CA" <<'PY' &
import http.client, json, ssl, sys, time, os
url, rv, out, ns, name, ca = sys.argv[1:]
host, port = url[len("https://"):].rsplit(":", 1)
ctx = ssl.create_default_context(cafile=ca)
c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=600)
c.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases?watch=true&allowWatchBookmarks=true"
          f"&fieldSelector=metadata.name%3D{name}&resourceVersion={rv}",
          headers={"Authorization": "Bearer " + os.environ["ADMIN_TOKEN"]})
r = c.getresponse()
with open(out, "a", buffering=1) as f:
    while True:
        line = r.readline()
        if not line:
            break
        e = json.loads(line)
        o = e.get("object", {})
        f.write(json.dumps({"t": time.time_ns(), "type": e.get("type"),
                            "rv": int(o.get("metadata", {}).get("resourceVersion", "0") or 0),
                            "holder": o.get("spec", {}).get("holderIdentity")}) + "\n")
PY
  track_pid $!
}
lease_rv() { lease_field .metadata.resourceVersion; }

# --- 1. the etcd leader killed ------------------------------------------------------------------
el="$(etcd_leader)" || { fail "no etcd leader found"; summary; exit 1; }
old="$leader"; old_token="$(token_of "$old")"
t_ns="$(now_ns)"; t="$(now_ms)"
cp_kill "etcd$el"
log "[etcd-leader-killed] etcd member e$el (the etcd leader) killed; agent leader $old (token $old_token)"
new_el=""
for _ in $(seq 1 100); do
  for i in 0 1 2; do
    [ "$i" = "$el" ] && continue
    [ "$(jq -r '.header.member_id == .leader' <<<"$(etcd_status "$i")" 2>/dev/null)" = true ] && new_el="$i"
  done
  [ -n "$new_el" ] && break
  sleep 0.1
done
etcd_elected_ms=$(($(now_ms) - t))
log "[etcd-leader-killed] etcd leader again: e${new_el:-?} after ${etcd_elected_ms} ms"
expect "[etcd-leader-killed] the other two members elect a leader" [ -n "$new_el" ]
sleep "$(awk -v h="$HOLD_S" -v e="$(($(now_ms) - t))" 'BEGIN { s = h - e / 1000; print (s > 0 ? s : 0) }')"
cp_start "etcd$el"
expect "[etcd-leader-killed] e$el started again and healthy" wait_until 30 etcd_healthy "$el"
settle
kept1="$([ "$leader" = "$old" ] && [ "$(token_of "$leader")" = "$old_token" ] && echo yes || echo no)"
log "[etcd-leader-killed] agent leader now $leader (token $(token_of "$leader")); same term: $kept1"
judge etcd-leader-killed "$t_ns"

# --- 2. one etcd member partitioned (SIGSTOP: every connection to it hangs) ----------------------
el="$(etcd_leader)" || el=0
part=$(((el + 1) % 3))
old="$leader"; old_token="$(token_of "$old")"; f0="$(failed_requests)"
t_ns="$(now_ns)"; t="$(now_ms)"
cp_signal "etcd$part" STOP
log "[etcd-member-partitioned] etcd member e$part (a follower; leader e$el) stopped for ${HOLD_S}s"
sleep "$HOLD_S"
still="$(etcd_leader || echo none)"
cp_signal "etcd$part" CONT
log "[etcd-member-partitioned] e$part resumed; etcd leader during the partition: e$still"
expect "[etcd-member-partitioned] the other two kept an etcd leader" [ "$still" != none ]
expect "[etcd-member-partitioned] e$part healthy again" wait_until 30 etcd_healthy "$part"
settle
kept2="$([ "$leader" = "$old" ] && [ "$(token_of "$leader")" = "$old_token" ] && echo yes || echo no)"
log "[etcd-member-partitioned] agent requests failed meanwhile: $(($(failed_requests) - f0)); leader now $leader; same term: $kept2"
judge etcd-member-partitioned "$t_ns"

# --- 3. API server a cut from etcd while the agents stay connected to it -------------------------
pin_to 0
expect_eq "[apiserver-cut-from-etcd] no agent connection on b before the cut" "$(balancer_open 1)" 0
on_a="$(balancer_open 0)"
admin_via b
rv_cut="$(lease_rv)"
observer_start "$(api_url a)" "$rv_cut" "$work/observer.jsonl"
sleep 0.5
old="$leader"; old_token="$(token_of "$old")"; f0="$(failed_requests)"
balancer_use 1
t_ns="$(now_ns)"; t="$(now_ms)"
etcd_links a false
log "[apiserver-cut-from-etcd] a cut from etcd, marked down at the balancer; $on_a agent connections stay on a; leader $old (token $old_token), Lease version $rv_cut"
sleep "$HOLD_S"
rv_now="$(lease_rv)"
# Quiet: nothing arrived on a's watch from 1 s after the cut on (a's last events before the cut
# may still be on their way), while the Lease moved on through b.
quiet="$(jq -s --argjson t "$((t_ns + 1000000000))" '[.[] | select(.t > $t)] | length' "$work/observer.jsonl")"
still_on_a="$(balancer_open 0)"
failed3=$(($(failed_requests) - f0))
log "[apiserver-cut-from-etcd] after ${HOLD_S}s: Lease version $rv_now (through b); events from a's watch since the cut + 1 s: $quiet; agent connections still on a: $still_on_a; agent requests failed: $failed3"
expect "[apiserver-cut-from-etcd] the Lease moved on through b" [ "${rv_now:-0}" -gt "$rv_cut" ]
expect_eq "[apiserver-cut-from-etcd] a's watches went quiet (no event since the cut + 1 s)" "$quiet" 0
expect "[apiserver-cut-from-etcd] the agents' requests on a failed" [ "$failed3" -gt 0 ]
expect "[apiserver-cut-from-etcd] agent connections stayed open on a" [ "$still_on_a" -gt 0 ]
settle
judge apiserver-cut-from-etcd "$t_ns"

# --- 6. a's lagging watch cache: a back on etcd, the backlog served to the watches still on it -----
old="$leader"; old_token="$(token_of "$old")"
rv_back="$(lease_rv)"
on_a="$(balancer_open 0)"
t_ns="$(now_ns)"; t="$(now_ms)"
etcd_links a true
log "[lagging-watch-cache] a's links to etcd restored; $on_a agent connections on a; leader $old (token $old_token), Lease version $rv_back"
expect "[lagging-watch-cache] a ready again" wait_until 40 api_ready a
wait_until 20 sh -c "[ \$(jq -s --argjson v '$rv_back' '[.[] | select(.rv >= \$v)] | length' '$work/observer.jsonl') -gt 0 ]"
caught_up_ms=$(($(now_ms) - t))
stale="$(jq -s --argjson v "$rv_back" --argjson t "$t_ns" '[.[] | select(.t >= $t and .rv < $v and .type != "BOOKMARK")] | length' "$work/observer.jsonl")"
stale_holders="$(jq -s -r --argjson v "$rv_back" --argjson t "$t_ns" '[.[] | select(.t >= $t and .rv < $v and .type != "BOOKMARK") | .holder] | unique | join(",")' "$work/observer.jsonl")"
log "[lagging-watch-cache] a's watch caught up after ${caught_up_ms} ms, serving $stale events older than version $rv_back (holders: ${stale_holders:-none})"
expect "[lagging-watch-cache] a's watch cache served events older than the Lease's version at the restore" [ "$stale" -gt 0 ]
sleep "$LD"
expect_eq "[lagging-watch-cache] the leader kept leading through the old events" "$(leaders_among a b c | tr '\n' ' ')" "$old "
expect_eq "[lagging-watch-cache] in the same term" "$(token_of "$old")" "$old_token"
expect "[lagging-watch-cache] it never stepped down" [ -z "$(log_ms "$old" '^stopped leading$' "$t")" ]
for n in a b c; do
  [ "$n" = "$old" ] && continue
  expect_eq "[lagging-watch-cache] $n names $old as leader" "$(status_field "$n" leader)" "$old"
done
settle
judge lagging-watch-cache "$t_ns"
balancer_use "0 1"

# --- 4. API server a killed with every agent connected to it --------------------------------------
pin_to 0
balancer_use "0 1"
old="$leader"; old_token="$(token_of "$old")"
on_a="$(balancer_open 0)"; on_b="$(balancer_open 1)"
t_ns="$(now_ns)"; t="$(now_ms)"
cp_kill kube-apiserver-a
log "[apiserver-killed] a killed with $on_a agent connections on it (they reconnect through the balancer to b); leader $old (token $old_token)"
expect_eq "[apiserver-killed] every agent connection was on a ($on_a), none on b" "$on_b" 0
sleep "$LD"
settle
kept4="$([ "$leader" = "$old" ] && [ "$(token_of "$leader")" = "$old_token" ] && echo yes || echo no)"
log "[apiserver-killed] leader now $leader (token $(token_of "$leader")); same term: $kept4"
judge apiserver-killed "$t_ns"
cp_start kube-apiserver-a
expect "[apiserver-killed] a started again and ready" wait_until 60 api_ready a

# --- 5. both API servers restarted, one after the other -----------------------------------------
balancer_reset "" >/dev/null   # the agents spread over both again
sleep 1
settle
old="$leader"; old_token="$(token_of "$old")"
t_ns="$(now_ns)"; t="$(now_ms)"
for s in b a; do
  other=a; [ "$s" = a ] && other=b
  admin_via "$other"
  cp_stop "kube-apiserver-$s"
  log "[apiservers-restarted] $s stopped (SIGTERM); starting it again"
  cp_start "kube-apiserver-$s"
  expect "[apiservers-restarted] $s ready again" wait_until 60 api_ready "$s"
done
admin_via a
settle
kept5="$([ "$leader" = "$old" ] && [ "$(token_of "$leader")" = "$old_token" ] && echo yes || echo no)"
log "[apiservers-restarted] both restarted in $(($(now_ms) - t)) ms; leader now $leader; same term: $kept5"
judge apiservers-restarted "$t_ns"

# --- the whole run ----------------------------------------------------------------------------
report --from-ns "$t0_ns"
expect_no_overlap
expect "fencing tokens of all terms strictly increase" tokens_increase a b c
for n in a b c; do expect "agent $n still running" alive "$n"; done
summary_line=""
for i in "${!rounds[@]}"; do summary_line+="${rounds[i]}=${leaderless[i]} "; done
log "without a leader per round (longest/sum ms; bound of the longest $BOUND_MS): $summary_line"
standard_figures "bound_ms=$BOUND_MS" "leaderless_per_round_ms=$(IFS=,; echo "${leaderless[*]}")" \
  "same_term=$kept1/$kept2/$kept4/$kept5" "etcd_elected_ms=$etcd_elected_ms" \
  "cut_failed_requests=$failed3" "stale_events=$stale"
summary
