#!/usr/bin/env bash
# Case 19: the operator's way to force a re-election: `kubectl annotate lease NAME
# leasehold.io/resign=<reason>`. The leader resigns exactly as POST /v1/resign does: it stops
# claiming, publishes, releases with its release marker (clearing the request), and stands back;
# a watching follower takes over at once (a marked release needs no lease duration of waiting).
# Then the old trick, `kubectl patch ... holderIdentity: null`, is shown to be slow by design (a
# full lease duration), and nobody ever claims twice (witness).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 19_resign_annotation

start_election a b c || { fail "no leader"; summary; exit 1; }
t_first_ns="$(now_ns)"
times=()
for round in 1 2 3; do
  old="$leader"; old_token="$(token_of "$old")"
  t="$(now_ms)"
  kube_kubectl annotate lease -n "$NS" "$ELECTION" leasehold.io/resign="round $round" >/dev/null ||
    fail "kubectl annotate was refused"
  new="$(wait_leader $((2 * LD + 10)) a b c)" || new=""
  started="$(log_ms "$new" '^started leading$' "$t")"
  stopped="$(log_ms "$old" '^stopped leading$' "$t")"
  log "round $round: annotated under $old; $old stopped at +$((stopped - t)) ms; $new leads at +$((started - t)) ms (token $(token_of "$new"))"
  expect "[$round] the leader honoured the request" [ -n "$stopped" ]
  expect "[$round] another candidate leads" [ -n "$new" ] && [ "$new" != "$old" ]
  expect "[$round] the new term began after the old one stopped" [ "${started:-0}" -ge "${stopped:-999999999999999}" ]
  expect "[$round] taken over without waiting a lease duration" [ $((started - t)) -lt "$LD_MS" ]
  expect "[$round] the request was cleared" [ "$(lease_field '.metadata.annotations["leasehold.io/resign"] // "none"')" = none ]
  expect "[$round] the new token is higher" [ "$(token_of "$new")" -gt "$old_token" ]
  times+=("$((started - t))")
  leader="$new"
  [ -n "$leader" ] || break
  wait_acting "$leader"
done
expect "the next term cleared the release marker" \
  [ "$(lease_field '.metadata.annotations["leasehold.io/released"] // "none"')" = none ]

# The hand edit, for comparison: waited out for a full lease duration.
old="$leader"; t="$(now_ms)"
lease_patch '{"spec":{"holderIdentity":null,"leaseDurationSeconds":1}}' >/dev/null
new="$(wait_leader $((2 * LD + 10)) a b c)" || new=""
started="$(log_ms "$new" '^started leading$' "$t")"
log "holderIdentity emptied by a patch under $old: $new leads at +$((started - t)) ms"
expect "the patch trick waits a full lease duration" [ $((started - t)) -ge "$LD_MS" ]
expect "fencing tokens of all terms strictly increase" tokens_increase a b c
report --from-ns "$t_first_ns"
expect_no_overlap
figures "resign_annotation_to_next_leader_ms=$(IFS=,; echo "${times[*]}")" "patch_to_next_leader_ms=$((started - t))" \
  "overlap_ms=$(rj .overlap_ms)"
summary
