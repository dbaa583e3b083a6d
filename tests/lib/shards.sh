# shellcheck shell=bash
# Helpers for the tests of a sharded election (--shards): what the members say they own and what
# the shard Leases name. The caller sets SHARDS (the count), SHARD_NS (the namespace) and
# SHARD_ELECTION (the election's name), and has sourced agents.sh (url, kube_api, now_ms).
# A member's identity is its agent's name unless the caller redefines member_identity NAME.

member_identity() { echo "$1"; }
# shard_lease I: shard I's Lease name (the number padded to the width of SHARDS-1).
shard_lease() {
  local last=$((SHARDS - 1))
  printf '%s-shard-%0*d\n' "$SHARD_ELECTION" "${#last}" "$1"
}
# owned NAME: the shards the member says it owns now (GET /v1/shards), one per line.
owned() { curl -sf --max-time 2 "$(url "$1" /v1/shards)" | jq -r '.owned[].shard'; }
# holders: "<shard> <holder>" for each shard Lease, from the API server.
holders() {
  kube_api "/apis/coordination.k8s.io/v1/namespaces/$SHARD_NS/leases" |
    jq -r --arg p "$SHARD_ELECTION-shard-" '.items[] | select(.metadata.name | startswith($p)) |
      "\(.metadata.name | ltrimstr($p) | tonumber) \(.spec.holderIdentity // "")"' | sort -n
}
# claims MEMBERS...: "<shard> <identity>" for each shard a member says it owns.
claims() {
  local m s id
  for m in "$@"; do
    id="$(member_identity "$m")"
    for s in $(owned "$m"); do echo "$s $id"; done
  done | sort -n
}
# member_records: how many member records the API server holds.
member_records() {
  kube_api "/apis/coordination.k8s.io/v1/namespaces/$SHARD_NS/leases" | jq -r '.items[].metadata.name' |
    grep -c "^$SHARD_ELECTION-member-"
}
# member_record_of NAME: the name of the member record that holds NAME's identity (none: empty).
member_record_of() {
  kube_api "/apis/coordination.k8s.io/v1/namespaces/$SHARD_NS/leases" |
    jq -r --arg id "$(member_identity "$1")" --arg p "$SHARD_ELECTION-member-" \
      '.items[] | select((.metadata.name | startswith($p)) and .spec.holderIdentity == $id) | .metadata.name' | head -1
}
# settled MEMBERS...: every shard is claimed by exactly one of them, the one its Lease names, and
# the loads differ by at most one.
settled() {
  local c h
  c="$(claims "$@")"
  h="$(holders)"
  { [ "$(printf '%s\n' "$c" | grep -c .)" = "$SHARDS" ] && [ "$c" = "$h" ] &&
    [ "$(printf '%s\n' "$c" | awk '{ print $1 }' | sort -u | wc -l)" = "$SHARDS" ]; } || { sleep 0.1; return 1; }
  local loads
  loads="$(printf '%s\n' "$c" | awk '{ n[$2]++ } END { for (m in n) print n[m] }' | sort -n)"
  { [ "$(printf '%s\n' "$loads" | wc -l)" = "$#" ] &&
    [ $(($(printf '%s\n' "$loads" | tail -1) - $(printf '%s\n' "$loads" | head -1))) -le 1 ]; } || { sleep 0.1; return 1; }
}
# expect_settled BOUND WHAT MEMBERS...: waits until settled, prints how long it took and the loads.
expect_settled() {
  local bound="$1" what="$2" start
  shift 2
  start="$(now_ms)"
  if wait_until "$bound" settled "$@"; then
    pass "$what: every shard owned by exactly one of $*, the one its Lease names, loads within one"
    echo "  settled in $(($(now_ms) - start)) ms; loads: $(claims "$@" | awk '{ n[$2]++ } END { for (m in n) printf "%s=%d ", m, n[m] }')"
  else
    fail "$what: every shard owned by exactly one of $*, the one its Lease names, loads within one"
    echo "  claims:"; claims "$@" | sed 's/^/    /'
    echo "  holders:"; holders | sed 's/^/    /'
  fi
}
# expect_shards_never_overlapped WITNESS_LOG: the witness's figures shard by shard
# (tests/faults/overlap.py --each-shard): no two members' claims on one shard overlapped, no token
# used by two, every shard worked. Leaves them in $work/shards-overlap.json.
# shellcheck disable=SC2154 # root and work: set by agents.sh and the suite, as the header says
expect_shards_never_overlapped() {
  python3 "$root/tests/faults/overlap.py" "$1" --each-shard --json "$work/shards-overlap.json" >"$work/shards-overlap.txt"
  grep "OVERLAP" "$work/shards-overlap.txt" | sed 's/^/  /'
  echo "  $(jq -r .actions "$work/shards-overlap.json") units of work reported over $SHARDS shards"
  expect_eq "the witness saw work on every shard" "$(jq -r .shards "$work/shards-overlap.json")" "$SHARDS"
  expect_eq "overlap over all shards is 0 ms" "$(jq -r .overlap_ms "$work/shards-overlap.json")" 0
  expect_eq "no token was used by two members" "$(jq -r '.shared_tokens | length' "$work/shards-overlap.json")" 0
  expect_eq "accepted tokens never go backwards on any shard" "$(jq -r .accepted_tokens_monotonic "$work/shards-overlap.json")" true
}
