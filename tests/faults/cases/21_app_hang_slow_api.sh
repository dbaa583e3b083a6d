#!/usr/bin/env bash
# Case 21: the leader's app hangs while the API server is slow. Three agents check their apps
# (tests/e2e/health_app.py: an HTTP check, 500 ms apart, cut off after 300 ms, two failures in a
# row make the app unhealthy). Every agent's API traffic is delayed (toxiproxy `latency` both
# ways, a third of the request timeout), then:
# Round 1: the leader's app hangs. Its agent must stop claiming (resigning, as POST /v1/resign
#   does) although its own requests are slow, and a healthy follower takes over after the
#   release, not before the old claim ended. The hung agent must not take the Lease back.
# Round 2: the new leader's app hangs AND its API traffic is dropped (it cannot release): it must
#   stop claiming all the same; the remaining healthy agent takes over once the Lease expires.
# The fencing witness checks that no two apps ever acted as leader at once.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 21_app_hang_slow_api

HEALTH=(--app-health-period 500ms --app-health-timeout 300ms --app-health-failure-threshold 2)
health_app_start() {
  local name="$1"
  free_port >"$work/$name.health_port"
  echo ok >"$work/$name.mode"
  python3 "$root/tests/e2e/health_app.py" --port "$(cat "$work/$name.health_port")" --mode-file "$work/$name.mode" \
    >>"$work/$name.health.out" 2>&1 &
  track_pid $!
  wait_until 10 curl -sf -m 1 "127.0.0.1:$(cat "$work/$name.health_port")/healthz"
}
for n in a b c; do
  health_app_start "$n" || fail "health app $n did not start"
  agent_start "$n" --app-health-url "http://127.0.0.1:$(cat "$work/$n.health_port")/healthz" "${HEALTH[@]}"
done
for n in a b c; do wait_until 20 ready "$n"; app_start "$n" http; app_start "$n" file; done
leader="$(wait_leader $((3 * LD + 10)) a b c)" || { fail "no leader"; summary; exit 1; }
wait_acting "$leader"
started_terms() { log_count "$1" '.msg=="started leading"'; }

delay_ms=$((RT_MS / 3))
for n in a b c; do
  toxic_add "$n" slow_down latency downstream "{\"latency\":$delay_ms,\"jitter\":0}"
  toxic_add "$n" slow_up latency upstream "{\"latency\":$delay_ms,\"jitter\":0}"
done
log "API traffic of every agent delayed ${delay_ms} ms each way"
sleep "$RP"
expect_eq "the leader keeps leading through the slowness alone" "$(leaders_among a b c)" "$leader"

# --- round 1
old="$leader"
old_terms="$(started_terms "$old")"
t="$(now_ms)"; t_ns="$(now_ns)"
echo hang >"$work/$old.mode"
log "[hang] the app of $old hangs"
expect "[hang] $old stops claiming" wait_until 10 not_leader "$old"
stopped="$(now_ms)"
log "[hang] $old stopped claiming at +$((stopped - t)) ms"
expect "[hang] it judged its app unhealthy (checks timed out)" log_has "$old" '.msg=="the app is unhealthy" and .lastCheck=="timeout"'
expect "[hang] it stepped down by resigning" log_has "$old" '.msg=="stepping down: no longer claiming leadership" and .reason=="resign"'
others=(); for n in a b c; do [ "$n" = "$old" ] || others+=("$n"); done
new="$(wait_leader $((2 * LD + 10)) "${others[@]}")" || new=""
started="$(log_ms "${new:-x}" '^started leading$' "$t")"
log "[hang] $new leads at +$((${started:-0} - t)) ms (app hung -> healthy replica told leader)"
expect "[hang] a healthy follower took over" [ -n "$new" ]
expect "[hang] after the old leader stopped claiming" [ "${started:-0}" -ge "$(log_ms "$old" '^stepping down' "$t")" ]
report --fault-at "$t_ns" >/dev/null
fo1="$(rj '.failover_ms // 99999 | floor')"
[ -n "$new" ] && wait_acting "$new"

# --- round 2
old2="$new"
third=""; for n in "${others[@]}"; do [ "$n" = "$old2" ] || third="$n"; done
t="$(now_ms)"; t_ns="$(now_ns)"
echo hang >"$work/$old2.mode"
toxic_add "$old2" drop_down timeout downstream '{"timeout":0}'
toxic_add "$old2" drop_up timeout upstream '{"timeout":0}'
log "[hang, cut off] the app of $old2 hangs and its API traffic is dropped"
expect "[hang, cut off] $old2 stops claiming" wait_until 10 not_leader "$old2"
log "[hang, cut off] $old2 stopped claiming at +$(($(now_ms) - t)) ms"
new2="$(wait_leader $((3 * LD + 10)) "$third")" || new2=""
started2="$(log_ms "${new2:-x}" '^started leading$' "$t")"
log "[hang, cut off] $new2 leads at +$((${started2:-0} - t)) ms (the Lease had to expire)"
expect "[hang, cut off] the last healthy agent took over" [ "$new2" = "$third" ]
report --fault-at "$t_ns" >/dev/null
fo2="$(rj '.failover_ms // 99999 | floor')"
expect_eq "the first hung agent never took the Lease again" "$(started_terms "$old")" "$old_terms"
expect_eq "[hang, cut off] nobody but $third leads" "$(leaders_among a b c)" "$third"
for n in a b c; do toxic_del "$n" slow_down; toxic_del "$n" slow_up; done
toxic_del "$old2" drop_down; toxic_del "$old2" drop_up
expect "fencing tokens of all terms strictly increase" tokens_increase a b c
report
expect_no_overlap
FAILOVER_MS="$fo1/$fo2" standard_figures "api_delay_ms=$delay_ms"
summary
