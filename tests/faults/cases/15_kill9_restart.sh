#!/usr/bin/env bash
# Case 15: kill -9 the leader's agent (a crash: no release), then restart it at once in the same
# "pod" (same ports, same status dir): first with a new identity (the default: pod name + a new
# random suffix per start), then, on the next leader, with the SAME identity and the other agent
# frozen (SIGSTOP), so the restarted process is the only one that can take the Lease and finds its
# own identity in it. Either way the
# restarted agent never resumes the old term: its state file is rewritten as "follower" at
# start, it answers 503 until it wins a new term, nobody (itself included) acquires before the
# old claim ended, and every new term has a higher token.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 15_kill9_restart

start_election a b || { fail "no leader"; summary; exit 1; }
fo_list=()
for identity_kind in new same; do
  old="$leader"; other=a; [ "$old" = a ] && other=b
  old_token="$(token_of "$old")"
  old_identity="$(status_field "$old" identity)"
  read -r _ old_until _ <"$work/$old/state"
  t="$(now_ms)"; t_ns="$(now_ns)"
  [ "$identity_kind" = same ] && agent_signal "$other" STOP
  agent_signal "$old" KILL; agent_wait "$old" >/dev/null
  if [ "$identity_kind" = new ]; then id="$old-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"; else id="$old_identity"; fi
  AGENT_IDENTITY="$id" agent_start "$old"
  log "[$identity_kind] kill -9 $old ($old_identity, token $old_token, claim valid until +$((old_until - t)) ms); restarted as $id"
  wait_until 10 ready "$old"
  expect_eq "[$identity_kind] the restarted agent's state file says follower" "$(cut -d' ' -f1 "$work/$old/state")" follower
  expect "[$identity_kind] and it answers 503" not_leader "$old"
  if [ "$identity_kind" = same ]; then
    new="$(wait_leader $((2 * LD + 10)) "$old")" || new=""
    agent_signal "$other" CONT
    expect_eq "[same] the restarted process with the old identity won a new term" "$new" "$old"
  else
    new="$(wait_leader $((2 * LD + 10)) a b)" || new=""
  fi
  started="$(jq -R -r 'fromjson? | select(.msg=="started leading") | .ts' "$work/a.log" "$work/b.log" |
    while read -r ts; do ms="$(date -d "$ts" +%s%3N)"; [ "$ms" -ge "$t" ] && echo "$ms"; done | sort -n | head -1)"
  log "[$identity_kind] next term: ${new:-none} at +$((started - t)) ms (token $(token_of "${new:-a}"))"
  expect "[$identity_kind] somebody leads again" [ -n "$new" ]
  expect "[$identity_kind] not before the killed leader's claim ended (+$((old_until - t)) ms)" [ "${started:-0}" -ge "$old_until" ]
  expect "[$identity_kind] with a higher token" [ "$(token_of "${new:-a}")" -gt "$old_token" ]
  expect_eq "[$identity_kind] the Lease's holder is the new leader's identity" \
    "$(lease_field .spec.holderIdentity)" "$(status_field "${new:-a}" identity)"
  report --fault-at "$t_ns" >/dev/null
  fo="$(rj '.failover_ms // 99999 | floor')"; fo_list+=("$fo")
  expect "[$identity_kind] failover <= lease-duration + retry-period ($fo ms)" [ "$fo" -le $((LD_MS + RP_MS)) ]
  leader="$new"; [ -n "$leader" ] || break
  wait_acting "$leader"
done
expect "fencing tokens of all terms strictly increase" tokens_increase a b
report
expect_no_overlap
# shellcheck disable=SC2119 # no extra figures
FAILOVER_MS="$(IFS=/; echo "${fo_list[*]}")" standard_figures
summary
