#!/usr/bin/env bash
# Case 17: renewal patches whose test operations fail (422). A 422 alone does not say why: the
# term changed (another writer: a conflict), or the server compares the fields differently from
# how the agent wrote them (then no patch can ever pass). The agent asks the Lease with a
# compare-and-swap update on the revision it holds, which succeeds only if the Lease is
# unchanged. Safety is asserted throughout.
# Round "term edited": the leader's watch is stalled (faultproxy.py swallows it) and renewTime is
# moved an hour back by hand, so the leader's next patch tests a stale renewTime: the real API
# server answers 422, the update meets 409, the leader re-reads and renews; patching stays on.
# Round "422 fabricated": faultproxy.py answers 422 to the leader's PATCH requests while nobody
# touches the Lease: the update succeeds, the leader keeps its term with no gap and renews by
# update from then on, even after the 422s stop (the fallback lasts for the agent's life).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 17_patch_test_failed

# renewed_since NAME COUNT: COUNT more successful renewals than $renews_mark.
renewed_since() { [ "$(renewals_ok "$1")" -ge $((renews_mark + $2)) ]; }

for n in a b; do faultproxy_start "$n" || fail "faultproxy $n"; done
start_election a b || { fail "no leader"; summary; exit 1; }
t_ns="$(now_ns)"
token="$(token_of "$leader")"
terms_before="$(terms_started a b | wc -l)"
wait_renew "$leader" >/dev/null
expect "before the fault the leader renews by patch" [ "$(api_requests "$leader" patch 200)" -gt 0 ]

# --- round "term edited": a real 422 from the API server
faultproxy_mode "$leader" '{"status":0,"hold":"watch=true"}'
wait_renew "$leader" >/dev/null  # a renewal after the hold: the stream may have delivered it
conflicts_before="$(lease_conflicts "$leader")"
real_422_before="$(api_requests "$leader" patch 422)"
code="$(lease_patch "{\"spec\":{\"renewTime\":\"$(hour_ago)\"}}")"
log "[term edited] $leader's watch stalled; renewTime an hour back by hand (HTTP $code)"
expect_eq "[term edited] the edit was accepted" "$code" 200
conflicted() { [ "$(lease_conflicts "$leader")" -gt "$conflicts_before" ]; }
expect "[term edited] the leader's renewal met a conflict" wait_until $((2 * RP + 5)) conflicted
real_422=$(($(api_requests "$leader" patch 422) - real_422_before))
expect "[term edited] found by a patch the API server answered 422 ($real_422)" [ "$real_422" -ge 1 ]
patches_mark="$(api_requests "$leader" patch 200)"
patched_again() { [ "$(api_requests "$leader" patch 200)" -ge $((patches_mark + 2)) ]; }
expect "[term edited] the leader re-read and renews by patch again" wait_until $((3 * RP + 5)) patched_again
expect_eq "[term edited] no false demotion" "$(log_count "$leader" '.msg=="stopped leading"')" 0
faultproxy_mode "$leader" '{"status":0}'

# --- round "422 fabricated": 422 on every PATCH of the leader, the Lease untouched
updates_before="$(api_requests "$leader" update 200)"
renews_mark="$(renewals_ok "$leader")"
t_fault_ns="$(now_ns)"
faultproxy_mode "$leader" '{"status":422,"verbs":["PATCH"]}'
log "[422 fabricated] every PATCH of $leader answered 422 (the Lease untouched)"
met_422() { [ "$(fp_count "$leader" '.method=="PATCH" and .injected==422' "$t_fault_ns")" -ge 1 ]; }
expect "[422 fabricated] a renewal patch met the 422" wait_until $((2 * RP + 5)) met_422
expect "[422 fabricated] the leader went on renewing (3 renewals after the fault)" wait_until $((4 * RP + 5)) renewed_since "$leader" 3
patched_422="$(fp_count "$leader" '.method=="PATCH" and .injected==422' "$t_fault_ns")"
expect_eq "[422 fabricated] one 422 was enough: no PATCH after it" "$patched_422" 1
expect_eq "[422 fabricated] the agent counted it (api_requests_total verb=patch code=422)" \
  "$(($(api_requests "$leader" patch 422) - real_422_before - real_422))" 1

# --- the 422s stop; patching stays off
faultproxy_mode "$leader" '{"status":0}'
t_clear_ns="$(now_ns)"
renews_mark="$(renewals_ok "$leader")"
expect "[422 fabricated] the leader renewed 3 more times after the 422s stopped" wait_until $((4 * RP + 5)) renewed_since "$leader" 3
t_end_ns="$(now_ns)"
updates=$(($(api_requests "$leader" update 200) - updates_before))
expect "[422 fabricated] its renewals since the fault were updates (>= 6 updates answered 200: $updates)" [ "$updates" -ge 6 ]
expect_eq "[422 fabricated] it sent no PATCH after the 422s stopped" "$(fp_count "$leader" '.method=="PATCH"' "$t_clear_ns")" 0
expect_eq "the leader never stopped leading" "$(log_count "$leader" '.msg=="stopped leading"')" 0
expect_eq "nobody started another term" "$(terms_started a b | wc -l)" "$terms_before"
expect_eq "the fencing token is unchanged" "$(token_of "$leader")" "$token"
report --from-ns "$t_ns" --to-ns "$t_end_ns" >/dev/null
log "longest gap in the leader's actions in both rounds: $(rj '.longest_gap_ms|floor') ms"
expect "the leader acted throughout (no gap over 1 s)" [ "$(rj '.longest_gap_ms|floor')" -lt 1000 ]
report --from-ns "$t_ns"
expect_no_overlap
standard_figures "real_422=$real_422" "updates_after_fabricated_422=$updates" "patches_answered_422=$patched_422"
summary
