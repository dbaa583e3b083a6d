#!/usr/bin/env bash
# shards_test: a sharded election (--shards) on a real kube-apiserver. 12 shards over members
# that join, leave, crash and freeze; each member's app works the shards its agent says it owns
# (two over GET /v1/shards, one from the `shards` file) and reports every unit of work to the
# witness (tests/faults/witness.py), which fences each shard on its own token. No timing is
# asserted; every wait is a bound on a hang, and the times to rebalance are printed.
# Checks, after each change: every shard owned by exactly one live member, the one its Lease
# names; the loads differ by at most one; and at the end, per shard, that no two members' claims
# ever overlapped (tests/faults/overlap.py --each-shard).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/tests/lib/agents.sh"
. "$root/tests/lib/shards.sh"
agents_suite shards_test
faults="$root/tests/faults"

SHARDS=12
# Short timings keep the crash and freeze cases short: a crashed member's shards move after one
# lease duration.
TIMINGS=(--lease-duration 6s --renew-deadline 4s --retry-period 1s --safety-margin 1s --request-timeout 2s)
ns="$(kube_new_namespace shards)"
SHARD_NS="$ns"
SHARD_ELECTION="jobs"

read -r witness_port < <(free_ports 1)
python3 "$faults/witness.py" --port "$witness_port" --log "$work/witness.jsonl" >"$work/witness.out" 2>&1 &
track_pid $!
expect "the witness is up" wait_until 10 curl -sf "127.0.0.1:$witness_port/healthz"

# member NAME [file]: an agent of the sharded election and its app (over HTTP, or the file).
member() {
  agent_spawn "$1" --namespace "$ns" --kubeconfig "$KUBECONFIG" --election jobs --shards "$SHARDS" "${TIMINGS[@]}"
  local src=(--shards-agent "127.0.0.1:$(sport "$1")")
  [ "${2:-}" = file ] && src=(--shards-file "$work/$1/shards")
  python3 "$faults/app.py" --name "$1" --witness "127.0.0.1:$witness_port" "${src[@]}" >"$work/$1.app.out" 2>&1 &
  echo $! >"$work/$1.app.pid"
  track_pid $!
}
echo "--- three members"
member m1
member m2
member m3 file
expect_settled 60 "start" m1 m2 m3
leases="$(kube_api "/apis/coordination.k8s.io/v1/namespaces/$ns/leases" | jq -r '.items[].metadata.name' | sort)"
expect_eq "shard Leases are named jobs-shard-00 .. jobs-shard-11" \
  "$(printf '%s\n' "$leases" | grep -c '^jobs-shard-[01][0-9]$')" "$SHARDS"
expect_eq "one member record per member" "$(printf '%s\n' "$leases" | grep -c '^jobs-member-[0-9a-f]\{16\}$')" 3

echo "--- the app's interface"
s1="$(owned m1 | head -1)"
other="$(holders | awk -v s="$s1" '$1 != s && $2 != "m1" { print $1; exit }')"
code="$(curl -s -o /dev/null -w '%{http_code}' "$(url m1 "/v1/shards/$s1")")"
expect_eq "GET /v1/shards/<owned> answers 200" "$code" 200
token="$(curl -s -D - -o /dev/null "$(url m1 "/v1/shards/$s1")" | tr -d '\r' | awk -F': ' 'tolower($1)=="leasehold-fencing-token"{print $2}')"
expect_eq "... with the shard's fencing token as Leasehold-Fencing-Token (the shard election's own)" "$token" \
  "$(curl -s "$(url m1 "/v1/elections/jobs-shard-$(printf '%02d' "$s1")/status")" | jq -r .fencingToken)"
expect_eq "... and in /v1/shards" "$token" \
  "$(curl -s "$(url m1 /v1/shards)" | jq -r --argjson s "$s1" '.owned[] | select(.shard == $s) | .fencingToken')"
expect_eq "GET /v1/shards/<another's> answers 503" "$(curl -s -o /dev/null -w '%{http_code}' "$(url m1 "/v1/shards/$other")")" 503
expect_eq "GET /v1/shards/99 answers 404" "$(curl -s -o /dev/null -w '%{http_code}' "$(url m1 /v1/shards/99)")" 404
expect_eq "GET /v1/leader of a sharded default election answers 404" "$(leader_code m1)" 404
expect_eq "/v1/shards lists the three members" "$(curl -s "$(url m1 /v1/shards)" | jq -c '.members | length')" 3
expect_eq "the shards file has one line per owned shard" "$(wc -l <"$work/m3/shards")" "$(owned m3 | wc -l)"
expect_eq "each shard is also an election: /v1/elections/jobs-shard-<i>/leader" \
  "$(leader_code m1 "/v1/elections/jobs-shard-$(printf '%02d' "$s1")/leader")" 200

expect_eq "leasehold_shards_owned is the number of shards m1 owns" \
  "$(metric m1 '^leasehold_shards_owned\{')" "$(owned m1 | wc -l)"
expect_eq "leasehold_shard_members: the three members" "$(metric m1 '^leasehold_shard_members\{')" 3
expect_eq "leasehold_shards_placed: a third of the shards" "$(metric m1 '^leasehold_shards_placed\{')" 4
expect_eq "each shard is an election in the metrics" "$(metrics m1 | grep -c '^leasehold_is_leader{election="jobs-shard-')" "$SHARDS"

echo "--- scale up: a fourth member joins"
moves_before=0
for n in m1 m2 m3; do moves_before=$((moves_before + $(metric "$n" '^leasehold_shard_moves_total\{'))); done
# The app's way to hear of it: a long poll and an event stream on m1, opened before the join.
rev="$(curl -s "$(url m1 /v1/shards)" | jq -r .revision)"
curl -s --max-time 60 "$(url m1 "/v1/shards?wait=60s&after=$rev")" >"$work/poll.json" &
poll_pid=$!
curl -sN --max-time 60 "$(url m1 /v1/shards/events)" >"$work/events.txt" &
events_pid=$!
sleep 1
expect "a long poll on /v1/shards waits while nothing changes" kill -0 "$poll_pid"
member m4
expect_settled 30 "a member joined" m1 m2 m3 m4
wait "$poll_pid"
# shellcheck disable=SC2016 # a jq variable
expect "... and is answered with a new revision once it does" jq -e --argjson r "$rev" '.revision != $r' "$work/poll.json"
kill "$events_pid" 2>/dev/null; wait "$events_pid" 2>/dev/null
expect_eq "GET /v1/shards/events: the shards at once, then the join (an event with four members)" \
  "$(sed -n 's/^data: //p' "$work/events.txt" | jq -rs '"\(.[0].members | length) \(map(.members | length) | max)"')" "3 4"
moves_after=0
for n in m1 m2 m3; do moves_after=$((moves_after + $(metric "$n" '^leasehold_shard_moves_total\{'))); done
expect "leasehold_shard_moves_total counts the shards handed to m4 (3 at least)" [ $((moves_after - moves_before)) -ge 3 ]
echo "  shards handed over: $((moves_after - moves_before)) (the fewest possible: 3)"
expect "leasehold_shard_rebalance_seconds: m4 recorded the time it took to own its share" \
  [ "$(metric m4 '^leasehold_shard_rebalance_seconds_count\{')" -ge 1 ]
echo "  m4 owned its share $(metric m4 '^leasehold_shard_rebalance_seconds_sum\{') s after its start placed it (sum of $(metric m4 '^leasehold_shard_rebalance_seconds_count\{') changes)"

echo "--- scale down: a member leaves (SIGTERM)"
agent_signal m2 TERM
expect "m2 exits" wait_until 30 proc_gone "$(pid_of m2)"
agent_wait m2
expect_eq "m2 exited 0" "$?" 0
kill "$(cat "$work/m2.app.pid")" 2>/dev/null
expect_settled 30 "a member left" m1 m3 m4
expect_eq "its member record is deleted" \
  "$(kube_api "/apis/coordination.k8s.io/v1/namespaces/$ns/leases" | jq -r '.items[].metadata.name' | grep -c '^jobs-member-')" 3

echo "--- crash: a member is killed (SIGKILL)"
agent_signal m4 KILL
agent_wait m4
kill "$(cat "$work/m4.app.pid")" 2>/dev/null
expect_settled 40 "a member crashed" m1 m3

echo "--- freeze: a member stops (SIGSTOP) for 15 s, then goes on"
agent_signal m1 STOP
expect_settled 40 "a member froze" m3
sleep 15
agent_signal m1 CONT
expect_settled 40 "the frozen member is back" m1 m3

echo "--- a member rejoins after a crash"
member m5
expect_settled 30 "a new member joined" m1 m3 m5
records_are() { [ "$(member_records)" = "$1" ] || { sleep 0.5; return 1; }; }
expect "the crashed member's record is deleted by the others (unchanged for 4 lease durations)" \
  wait_until 60 records_are 3

echo "--- the witness: per shard, no two members' claims overlapped"
for n in m1 m3 m5; do kill "$(cat "$work/$n.app.pid")" 2>/dev/null; done
sleep 0.5
expect_shards_never_overlapped "$work/witness.jsonl"
expect "the apps worked the shards (more than 1000 units of work)" [ "$(jq -r .actions "$work/shards-overlap.json")" -gt 1000 ]

echo "--- stop: every shard Lease released"
for n in m1 m3 m5; do agent_signal "$n" TERM; done
for n in m1 m3 m5; do
  wait_until 30 proc_gone "$(pid_of "$n")" || agent_signal "$n" KILL
  agent_wait "$n"
done
expect_eq "no shard Lease names a holder" "$(holders | awk '$2 != ""' | wc -l)" 0
expect_eq "no member record is left" "$(member_records)" 0

summary
