#!/usr/bin/env bash
# Case 23: the paths a sharded election (--shards) adds, under faults. 6 shards over members
# m1..m3 (m4 joins), each behind its own fault proxy (faultproxy.py); each app works the shards
# its agent owns (over GET /v1/shards on m1/m3/m4, from the `shards` file on m2) and reports to
# the witness, which fences each shard on its own token.
# Round "record writes fail": m3's member-record writes get 500 for 3 lease durations (its shard
#   Leases are untouched). The others count m3 gone after a lease duration and m3 too sees its
#   own record stale: its shards move while it keeps answering for its claims until they end.
#   When the writes work again, m3 rejoins and the shards settle.
# Round "watch cut during a move": m4 joins with its watch stalled (the stream swallowed), and
#   m1's watch is cut as the moves begin: the releases that hand m4 its shards reach m4 only by
#   reading the Leases; the shards still settle over four members.
# Round "shard Lease edited": a shard's holderIdentity is set by hand to another member, then
#   the Lease is deleted: the owner stops claiming it at once (it is no longer the holder), and
#   the shard is owned again (after an edit, once the edit's claim would have ended; after a
#   deletion, at once, by a new term with a higher fencing token).
# Throughout: per shard, no two members' claims overlap (the witness), and no agent exits.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 23_shards
SHARDS=6
MEMBERS=(m1 m2 m3)

member_start() {
  faultproxy_start "$1" || fail "faultproxy $1"
  agent_start "$1" --shards "$SHARDS"
  wait_until 20 ready "$1" || fail "$1 is not ready"
  app_start "$1" "$2"
}
member_start m1 shards-http
member_start m2 shards-file
member_start m3 shards-http
expect_settled $((3 * LD + 10)) "start" "${MEMBERS[@]}"
t_first_ns="$(now_ns)"

echo "--- round \"record writes fail\": m3's member record cannot be written for 3 lease durations"
faultproxy_mode m3 '{"status":500,"path":"-member-"}'
t="$(now_ms)"
# members_seen NAME: how many members NAME counts (GET /v1/shards).
members_seen() { curl -sf --max-time 2 "$(url "$1" /v1/shards)" | jq -r '.members | length'; }
seen_by_m1_is() { [ "$(members_seen m1)" = "$1" ] || { sleep 0.2; return 1; }; }
expect "m1 counts m3 gone once its record is a lease duration old" wait_until $((2 * LD + 5)) seen_by_m1_is 2
expect_settled $((2 * LD + 10)) "m3's shards moved to the members the others see" m1 m2
sleep "$(( (3 * LD * 1000 - ($(now_ms) - t)) / 1000 ))" 2>/dev/null
expect "m3 logged that it could not write its member record" log_has m3 '.msg=="could not write the member record"'
expect "m3's record writes were answered 500 by the proxy" [ "$(fp_count m3 '.injected == 500')" -gt 0 ]
faultproxy_mode m3 '{"status":0}'
log "m3's record writes work again"
expect_settled $((2 * LD + 10)) "m3 rejoined" "${MEMBERS[@]}"

echo "--- round \"watch cut during a move\": m4 joins with a stalled watch; m1's watch is cut"
faultproxy_start m4 || fail "faultproxy m4"
faultproxy_mode m4 '{"status":0,"hold":"watch=true"}'
agent_start m4 --shards "$SHARDS"
wait_until 20 ready m4 || fail "m4 is not ready"
app_start m4 shards-http
MEMBERS+=(m4)
# The moves begin when the others see m4's record: cut m1's watch then.
wait_until $((2 * LD + 5)) seen_by_m1_is 4
faultproxy_mode m1 '{"status":0,"hold":"watch=true","drop":"watch=true"}'
log "m1's watch cut as m4 joins"
expect_settled $((4 * LD + 10)) "m4 joined (its watch stalled, m1's cut)" "${MEMBERS[@]}"
expect "m1's watch was cut and asked again" \
  [ "$(fp_count m1 '.method == "GET" and (.path | contains("watch=true"))')" -ge 2 ]
faultproxy_mode m1 '{"status":0}'
faultproxy_mode m4 '{"status":0}'

echo "--- round \"shard Lease edited\": holderIdentity set by hand, then the Lease deleted"
shard="$(owned m1 | head -1)"
lease="$(shard_lease "$shard")"
other="$(for m in m2 m3 m4; do ! owned "$m" | grep -qx "$shard" && { echo "$m"; break; }; done)"
code="$(ELECTION="$lease" lease_patch "{\"spec\":{\"holderIdentity\":\"$other\"}}")"
log "$lease (m1's) edited: holderIdentity -> $other (HTTP $code)"
not_owner() { ! leads_at "127.0.0.1:$(sport "$1")" "/v1/shards/$2"; }
expect "m1 stops claiming shard $shard once it sees the edit" wait_until 10 not_owner m1 "$shard"
expect_settled $((3 * LD + 10)) "after the hand edit" "${MEMBERS[@]}"
shard="$(owned m2 | head -1)"
lease="$(shard_lease "$shard")"
# shard_token NAME SHARD: the fencing token NAME's /v1/shards gives for SHARD (empty: not owned).
shard_token() { curl -sf --max-time 2 "$(url "$1" /v1/shards)" | jq -r --argjson s "$2" '.owned[] | select(.shard == $s) | .fencingToken'; }
token="$(shard_token m2 "$shard")"
code="$(ELECTION="$lease" lease_delete)"
log "$lease (m2's) deleted (HTTP $code)"
expect "m2 stopped leading shard $shard on the deletion" \
  wait_until 10 log_has m2 ".msg==\"stopped leading\" and .election==\"$lease\""
expect_settled $((3 * LD + 10)) "after the deletion" "${MEMBERS[@]}"
after="$(for m in "${MEMBERS[@]}"; do shard_token "$m" "$shard"; done)"
expect "the shard's next term has a higher fencing token ($token, then $after)" [ "${after:-0}" -gt "$token" ]

for m in "${MEMBERS[@]}"; do app_stop "$m"; done
echo "--- the witness, shard by shard"
expect_shards_never_overlapped "$WITNESS_LOG"
gone=0
for m in "${MEMBERS[@]}"; do alive "$m" || { gone=$((gone + 1)); echo "  $m exited:"; tail -3 "$work/$m.log"; }; done
expect_eq "no agent exited" "$gone" 0
figures "overlap_ms=$(jq -r .overlap_ms "$work/shards-overlap.json")" \
  "units_of_work=$(jq -r .actions "$work/shards-overlap.json")" "window_s=$((($(now_ns) - t_first_ns) / 1000000000))"
summary
