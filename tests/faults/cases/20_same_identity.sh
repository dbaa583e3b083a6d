#!/usr/bin/env bash
# Case 20: two processes started with one explicit --identity, and a new term written under the
# leader's identity by someone else. A leader stands only on the term it began (acquireTime and
# leaseTransitions as the API server stored them): a record with its name but another term makes
# it stop claiming at once and never renew that term; a second process with the same identity
# treats the first's term as foreign and never claims while it is renewed.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 20_same_identity

AGENT_IDENTITY=same agent_start one
wait_until 20 ready one
app_start one http; app_start one file
wait_until $((3 * LD + 10)) is_leader one || { fail "no leader"; summary; exit 1; }
t_first_ns="$(now_ns)"
AGENT_IDENTITY=same agent_start two
wait_until 20 ready two
app_start two http; app_start two file
sleep "$((2 * LD))"
expect "the second process with the same identity does not claim while the first renews" not_leader two
expect "the first still leads" is_leader one

# Someone writes a new term under the same identity (as a process that took over would).
t="$(now_ms)"
acquire="$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)"
transitions="$(lease_field .spec.leaseTransitions)"
code="$(lease_patch "{\"spec\":{\"acquireTime\":\"$acquire\",\"renewTime\":\"$acquire\",\"leaseTransitions\":$((transitions + 1))}}")"
log "a new term written under identity 'same' (HTTP $code)"
expect "the first process stopped leading at once" \
  wait_until 5 log_has one '.msg=="stopped leading" and (.reason|test("new term"))'
expect "it answers 503" not_leader one
# (counted from its demotion: a renewal of its own term may have been answered just before)
renews_before="$(renewals_ok one)"
sleep "$((2 * RP))"
renews_after="$(renewals_ok one)"
expect_eq "it did not renew the other term" "$renews_after" "$renews_before"
expect_eq "the Lease keeps the written term" "$(lease_field .spec.acquireTime)" "$acquire"
# The term nobody renews runs out; one of the two begins a new one.
new="$(wait_leader $((3 * LD + 10)) one two)" || new=""
expect "a new term begins after the written one ran out" [ -n "$new" ]
started="$(log_ms "$new" '^started leading$' "$t")"
expect "not before a lease duration after the write" [ $((started - t)) -ge "$LD_MS" ]
wait_acting "$new"
report --from-ns "$t_first_ns"
expect_no_overlap
figures "new_term_after_write_ms=$((started - t))" "overlap_ms=$(rj .overlap_ms)"
summary
