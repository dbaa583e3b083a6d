#!/usr/bin/env bash
# Case 26: mixed versions. The previous release's agent (tests/compat/previous-release, built from
# this checkout's history by tests/compat/build-previous.sh) and this tree's agent in one election,
# as during a rolling upgrade and its rollback. Each "pod" is a new agent with an identity of its
# own (o1.. run the previous release, n1.. this tree), each with an app acting on the witness.
#   1. Three pods of the previous release; one leads.
#   2. Rolling upgrade, one pod at a time, the leader's pod first: a new pod starts, then an old one
#      gets SIGTERM (it releases on its way out).
#   3. While both versions run: the lead handed from one version to the other and back
#      (POST /v1/resign?to=), a resign without successor, and kill -9 of the leader.
#   4. The rest of the upgrade, then the rollback the same way (old pods replacing new ones).
# After every step exactly one running agent leads within a bound (no election stuck) and the
# Lease names it; throughout, the witness sees no overlap and the tokens of all terms increase.
# Each handover between the versions is printed with its time.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 26_mixed_versions

if ! prev_out="$(bash "$root/tests/compat/build-previous.sh" 2>&1)"; then
  echo "$prev_out" | tail -20
  fail "the previous release is built (tests/compat/build-previous.sh)"; summary; exit 1
fi
PREV="$(echo "$prev_out" | tail -1)"
read -r prev_tag prev_commit < <(grep -v '^#' "$root/tests/compat/previous-release" | grep -m1 .)
prev_version="$("$PREV" --version | awk '{print $2}')"
cur_version="$("$LEASEHOLD" --version | awk '{print $2}')"
log "previous release $prev_tag (${prev_commit:0:12}): leasehold $prev_version; this tree: leasehold $cur_version"
expect "the previous release and this tree are different versions ($prev_version, $cur_version)" \
  [ "$prev_version" != "$cur_version" ]

declare -A version_of=()   # agent name -> "previous" or "current"
running=()
all=()
old_n=0 new_n=0
# pod_start previous|current: a new pod of that version (named o<n> or n<n>); sets $started.
pod_start() {
  local bin name
  if [ "$1" = previous ]; then old_n=$((old_n + 1)); name="o$old_n"; bin="$PREV"
  else new_n=$((new_n + 1)); name="n$new_n"; bin="$LEASEHOLD"; fi
  LEASEHOLD="$bin" agent_start "$name" --release-timeout 2s
  version_of[$name]="$1"
  running+=("$name"); all+=("$name")
  wait_until 20 ready "$name" || fail "$name ($1) ready"
  app_start "$name" http
  started="$name"
}
# pod_stop NAME: SIGTERM, as a rolling update's pod deletion does; the agent must exit 0.
pod_stop() {
  local rc
  agent_signal "$1" TERM
  agent_wait "$1"; rc=$?
  app_stop "$1"
  expect_eq "$1 (${version_of[$1]}) exits 0 on SIGTERM" "$rc" 0
  forget "$1"
}
# forget NAME: NAME is no longer among the running agents.
forget() { local n keep=(); for n in "${running[@]}"; do [ "$n" = "$1" ] || keep+=("$n"); done; running=("${keep[@]}"); }
identity_of() { status_field "$1" identity; }
bound_s=$((2 * LD + RP + 5))   # a killed leader's claim runs out, then a retry period
# settled STEP: exactly one running agent leads within the bound, and the Lease names it.
settled() {
  leader="$(wait_leader "$bound_s" "${running[@]}")" || leader=""
  expect "[$1] one of the running agents leads within ${bound_s}s (${running[*]})" [ -n "$leader" ]
  [ -n "$leader" ] || return 1
  expect_eq "[$1] the Lease names the leader, $leader (${version_of[$leader]})" "$(lease_holder)" "$(identity_of "$leader")"
  wait_acting "$leader"   # every term acts at the witness, so that an overlap would show
}
# of_version VERSION [EXCEPT]: a running agent of that version (other than EXCEPT).
of_version() { local n; for n in "${running[@]}"; do [ "$n" != "${2:-}" ] && [ "${version_of[$n]}" = "$1" ] && { echo "$n"; return; }; done; }
other_version() { if [ "$1" = previous ]; then echo current; else echo previous; fi; }
handovers=()
# transfer_to NAME: the leader hands the lead to NAME (POST /v1/resign?to=); NAME must lead.
transfer_to() {
  local from="$leader" to="$1" t code
  t="$(now_ms)"
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -XPOST "$(url "$from" "/v1/resign?to=$(identity_of "$to")")")"
  expect_eq "resign?to=$to accepted by $from (${version_of[$from]})" "$code" 202
  if wait_until "$bound_s" is_leader "$to"; then
    handovers+=("${version_of[$from]}->${version_of[$to]}:resign-to:$(($(now_ms) - t))ms")
    log "lead handed from $from (${version_of[$from]}) to $to (${version_of[$to]}) in $(($(now_ms) - t)) ms"
  fi
  settled "handed from $from (${version_of[$from]}) to $to (${version_of[$to]})"
  expect_eq "[handed from $from to $to] the named successor leads" "$leader" "$to"
}

# 1. The previous release's deployment.
for _ in 1 2 3; do pod_start previous; done
settled "three pods of $prev_tag" || { summary; exit 1; }
for n in "${running[@]}"; do
  expect "$n runs the previous release (its log says leasehold $prev_version)" \
    log_has "$n" ".msg==\"leasehold started\" and .version==\"$prev_version\""
done

# upgrade_step TO_VERSION: one pod of TO_VERSION added, then the leader's pod (first step) or
# another pod of the other version stopped.
upgrade_step() {
  local to="$1" from victim t
  from="$(other_version "$to")"
  pod_start "$to"
  victim="$leader"
  [ "${version_of[$victim]}" = "$from" ] || victim="$(of_version "$from" "$leader")"
  [ -n "$victim" ] || { fail "no pod of $from left to replace"; return 1; }
  t="$(now_ms)"
  was_leader=""; is_leader "$victim" && was_leader=1
  pod_stop "$victim"
  victim_last="$victim"
  settled "$started ($to) added, $victim ($from) stopped"
  [ -n "$was_leader" ] && [ -n "$leader" ] && handovers+=("$from->${version_of[$leader]}:sigterm:$(($(now_ms) - t))ms")
  log "step: +$started ($to) -$victim ($from): $leader (${version_of[$leader]}) leads, $(($(now_ms) - t)) ms after the stop"
}

# 2. The upgrade's first step replaces the leader's pod: it releases on its way out, and a pod of
# either version takes over.
old_leader="$leader"
upgrade_step current
expect_eq "the first pod stopped was the previous release's leader" "$victim_last" "$old_leader"

# 3. Both versions running: hand the lead across, and back; resign without successor; kill -9.
target="$(of_version "$(other_version "${version_of[$leader]}")" "$leader")"
transfer_to "$target"
target="$(of_version "$(other_version "${version_of[$leader]}")" "$leader")"
transfer_to "$target"
from="$leader"; t="$(now_ms)"
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -XPOST "$(url "$from" /v1/resign)")"
expect_eq "resign (no successor) accepted by $from (${version_of[$from]})" "$code" 202
settled "$from (${version_of[$from]}) resigned"
expect "[$from resigned] another agent leads" [ "$leader" != "$from" ]
handovers+=("${version_of[$from]}->${version_of[$leader]}:resign:$(($(now_ms) - t))ms")
# A crash: the next term begins only when the killed leader's claim has run out.
victim="$leader"; t="$(now_ms)"
agent_signal "$victim" KILL; agent_wait "$victim"; app_stop "$victim"
forget "$victim"
settled "kill -9 of the leader $victim (${version_of[$victim]})"
handovers+=("${version_of[$victim]}->${version_of[$leader]}:kill-9:$(($(now_ms) - t))ms")
pod_start "${version_of[$victim]}"   # its pod restarted (a new identity)
settled "$started restarted in place of $victim"

# 4. The rest of the upgrade, then the rollback.
while [ -n "$(of_version previous)" ]; do upgrade_step current || break; done
for n in "${running[@]}"; do expect_eq "upgraded: $n runs this tree" "${version_of[$n]}" current; done
while [ -n "$(of_version current)" ]; do upgrade_step previous || break; done
for n in "${running[@]}"; do expect_eq "rolled back: $n runs the previous release" "${version_of[$n]}" previous; done
wait_acting "$leader"

for n in "${all[@]}"; do
  [ "${version_of[$n]}" = current ] && expect "$n runs this tree (its log says leasehold $cur_version)" \
    log_has "$n" ".msg==\"leasehold started\" and .version==\"$cur_version\""
done
led_prev=0 led_cur=0
while read -r _ _ name; do
  case "${version_of[$name]:-}" in previous) led_prev=$((led_prev + 1)) ;; current) led_cur=$((led_cur + 1)) ;; esac
done < <(terms_started "${all[@]}")
log "terms begun: $led_prev by the previous release, $led_cur by this tree; handovers: ${handovers[*]}"
both_led() { [ "$led_prev" -gt 0 ] && [ "$led_cur" -gt 0 ]; }
expect "both versions led terms ($led_prev previous, $led_cur current)" both_led
expect "fencing tokens of all terms strictly increase, across versions" tokens_increase "${all[@]}"
# shellcheck disable=SC2119 # the whole run: no arguments
report
expect_no_overlap
standard_figures "previous=$prev_tag" "handovers=$(IFS=,; echo "${handovers[*]}")"
summary
