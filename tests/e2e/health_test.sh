#!/usr/bin/env bash
# health_test: leadership follows the app's health, on a real kube-apiserver. Three agents, each
# checking its own app (tests/e2e/health_app.py, toggled by the test): healthy -> failing -> hung
# -> down -> healthy again. Checks who leads, prints how fast leadership moves, that an unhealthy
# follower never takes the Lease, and (with the fencing witness of the fault suite) that no two
# agents ever said "leader" at once. Then: require-before-claim, and health checking off.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/tests/lib/agents.sh"
agents_suite health_test

TIMINGS=(--lease-duration 4s --renew-deadline 3s --retry-period 1s --safety-margin 500ms --request-timeout 1s)
# Two failed checks 500 ms apart, each cut off after 300 ms: an app is judged unhealthy within
# about 1.3 s of failing.
HEALTH=(--app-health-period 500ms --app-health-timeout 300ms --app-health-failure-threshold 2
  --app-health-success-threshold 1)
NAMES=(h1 h2 h3)
ns="$(kube_new_namespace health)"
election=health

witness_port="$(free_port)"
python3 "$root/tests/faults/witness.py" --port "$witness_port" --log "$work/witness.jsonl" >"$work/witness.out" 2>&1 &
track_pid $!
wait_until 10 curl -sf "127.0.0.1:$witness_port/healthz" || fail "witness did not start"

# app_start NAME: NAME's app (health endpoint) and its worker acting on the witness via the agent.
app_start() {
  local name="$1"
  [ -f "$work/$name.app_port" ] || free_port >"$work/$name.app_port"
  python3 "$root/tests/e2e/health_app.py" --port "$(cat "$work/$name.app_port")" --mode-file "$work/$name.mode" \
    >>"$work/$name.app.out" 2>&1 &
  echo $! >"$work/$name.app_pid"; track_pid $!
  wait_until 10 curl -s -o /dev/null -m 1 "127.0.0.1:$(cat "$work/$name.app_port")/healthz"
}
app_kill() { kill -KILL "$(cat "$work/$1.app_pid")" 2>/dev/null; wait "$(cat "$work/$1.app_pid")" 2>/dev/null; }
set_mode() { echo "$2" >"$work/$1.mode"; }
start() {
  local name="$1"; shift
  agent_spawn "$name" --election "$election" --namespace "$ns" --kubeconfig "$KUBECONFIG" "${TIMINGS[@]}" \
    --app-health-url "http://localhost:$(cat "$work/$name.app_port")/healthz" "${HEALTH[@]}" "$@"
  python3 "$root/tests/faults/app.py" --name "$name" --witness "127.0.0.1:$witness_port" \
    --agent "127.0.0.1:$(sport "$name")" --log "$work/$name.worker.jsonl" >>"$work/$name.worker.out" 2>&1 &
  track_pid $!
}
holder() { kube_lease_json "$ns" "$election" | jq -r '.spec.holderIdentity // ""'; }
health_of() { status_field "$1" appHealth.state; }
all_healthy() { local n; for n in "${NAMES[@]}"; do [ "$(health_of "$n")" = healthy ] || return 1; done; }
terms_of() { metric "$1" 'leasehold_leadership_transitions_total\{[^}]*direction="started"'; }
# log_ms NAME MSG AFTER_MS: wall ms of NAME's first log line with this msg at or after AFTER_MS.
log_ms() {
  jq -R -r --arg m "$2" 'fromjson? | select(.msg == $m) | .ts' "$work/$1.log" 2>/dev/null |
    while read -r ts; do
      ms="$(date -d "$ts" +%s%3N)"
      if [ "$ms" -ge "$3" ]; then echo "$ms"; break; fi
    done
}
# split FROM_MS OLD NEW: "judged unhealthy after X ms, NEW started leading Y ms later" from the logs.
split() {
  local bad started
  bad="$(log_ms "$2" "the app is unhealthy" "$1")"; started="$(log_ms "$3" "started leading" "$1")"
  echo "judged unhealthy after $((${bad:-0} - $1)) ms, $3 started leading $((${started:-0} - ${bad:-0})) ms later"
}
others_of() { local n; for n in "${NAMES[@]}"; do [ "$n" = "$1" ] || echo "$n"; done; }
# moved FROM: the election has a leader other than FROM; echoes it.
leader_other_than() {
  local l; l="$(leaders_among "${NAMES[@]}")"
  [ "$(echo "$l" | grep -c .)" = 1 ] && [ "$l" != "$1" ] && echo "$l"
}

echo "--- all healthy: one leads"
for n in "${NAMES[@]}"; do set_mode "$n" ok; app_start "$n"; done
for n in "${NAMES[@]}"; do start "$n"; done
leader="$(wait_leader 30 "${NAMES[@]}")"
expect "one of three leads" [ -n "$leader" ]
expect "every agent judges its app healthy" wait_until 10 all_healthy
expect_eq "status: eligible while healthy" "$(status_field "$leader" appHealth.eligible)" true
expect_eq "metric leasehold_app_healthy is 1" "$(metric "$leader" '^leasehold_app_healthy\{')" 1
expect "probe results are counted by outcome" [ "$(metric "$leader" 'leasehold_app_health_checks_total\{[^}]*outcome="success"')" -ge 1 ]

echo "--- the leader's app fails (HTTP 500): it resigns, a healthy follower takes over"
first="$leader"
started_before="$(terms_of "$first")"
failed=$(now_ms)
set_mode "$first" fail
expect "another agent leads" wait_until 20 leader_other_than "$first"
moved=$(($(now_ms) - failed))
second="$(leader_other_than "$first")"
echo "  app failing -> $second leads in $moved ms (2 checks 500 ms apart, then a resign): $(split "$failed" "$first" "$second")"
expect_eq "the failing app's agent says unhealthy" "$(health_of "$first")" unhealthy
expect_eq "and not eligible" "$(status_field "$first" appHealth.eligible)" false
expect_eq "metric leasehold_app_healthy is 0" "$(metric "$first" '^leasehold_app_healthy\{')" 0
expect "it logged the transition" grep -q '"the app is unhealthy"' "$work/$first.log"
expect "it stepped down by resigning" grep -q '"reason":"resign"' "$work/$first.log"
expect_eq "the Lease names the new leader" "$(holder)" "$second"

echo "--- the new leader's app hangs: cut off by the timeout, the third agent takes over"
hung=$(now_ms)
set_mode "$second" hang
third="$(others_of "$first" | grep -vx "$second")"
expect "the third agent leads, not the unhealthy one" wait_until 20 is_leader "$third"
echo "  app hung -> $third leads in $(($(now_ms) - hung)) ms: $(split "$hung" "$second" "$third")"
expect_eq "the hung app's agent says unhealthy" "$(health_of "$second")" unhealthy
expect "hung checks are counted as timeouts" [ "$(metric "$second" 'leasehold_app_health_checks_total\{[^}]*outcome="timeout"')" -ge 2 ]
expect_eq "the first (still failing) never took the Lease again" "$(terms_of "$first")" "$started_before"

echo "--- the last healthy app goes down (killed): nobody leads, no unhealthy follower takes the Lease"
downed=$(now_ms)
app_kill "$third"
expect "the third agent stops leading" wait_until 20 sh -c "! curl -sf -o /dev/null $(url "$third" /v1/leader)"
echo "  app down -> leader stepped down in $(($(now_ms) - downed)) ms"
expect "refused checks are counted" [ "$(metric "$third" 'leasehold_app_health_checks_total\{[^}]*outcome="refused"')" -ge 2 ]
sleep 10  # two and a half lease durations: any follower could take the released Lease by now
expect_eq "nobody leads" "$(leaders_among "${NAMES[@]}" | wc -l)" 0
expect_eq "the Lease has no holder" "$(holder)" ""
for n in "${NAMES[@]}"; do
  expect_eq "$n: status says not eligible" "$(status_field "$n" appHealth.eligible)" false
done

echo "--- an app recovers: its agent leads again"
recovered=$(now_ms)
set_mode "$first" ok
expect "the recovered agent leads" wait_until 20 is_leader "$first"
echo "  app healthy again -> $first leads in $(($(now_ms) - recovered)) ms"
expect "it logged the transition" grep -q '"the app is healthy"' "$work/$first.log"
set_mode "$second" ok; app_start "$third"
expect "all apps healthy again" wait_until 10 all_healthy
expect_eq "and one leads" "$(leaders_among "${NAMES[@]}" | wc -l)" 1

echo "--- nobody led twice at once (fencing witness)"
sleep 1
for n in "${NAMES[@]}"; do kill -TERM "$(pid_of "$n")" 2>/dev/null; done
for n in "${NAMES[@]}"; do wait "$(pid_of "$n")" 2>/dev/null; done
python3 "$root/tests/faults/overlap.py" "$work/witness.jsonl" --json "$work/report.json" | sed 's/^/  /'
expect_eq "witness: overlap is 0 ms" "$(jq -r .overlap_ms "$work/report.json")" 0
expect_eq "witness: no token shared by two candidates" "$(jq -r '.shared_tokens|length' "$work/report.json")" 0
expect "witness: every leader acted" [ "$(jq -r .accepted "$work/report.json")" -gt 0 ]

echo "--- require-before-claim: an agent whose app never was healthy does not take a free Lease"
ns="$(kube_new_namespace health-first)"
set_mode r1 fail; app_start r1
start r1 --app-health-require-before-claim
expect "it has observed the (absent) Lease" wait_until 10 ready r1
sleep 6  # longer than the lease duration an agent waits before creating an absent Lease
expect_fail "it does not lead" is_leader r1
expect_eq "status: not eligible" "$(status_field r1 appHealth.eligible)" false
expect_fail "no Lease was created" kube_lease_json "$ns" "$election"
set_mode r1 ok
expect "once its app is healthy it leads" wait_until 15 is_leader r1
kill -TERM "$(pid_of r1)"; wait "$(pid_of r1)" 2>/dev/null

echo "--- health checking off: nothing changes"
ns="$(kube_new_namespace health-off)"
agent_spawn off1 --election "$election" --namespace "$ns" --kubeconfig "$KUBECONFIG" "${TIMINGS[@]}"
expect "it leads" wait_until 20 is_leader off1
expect_eq "status: appHealth is null" "$(status_field off1 appHealth)" null
expect_fail "no leasehold_app_healthy metric" sh -c "curl -s 127.0.0.1:$(oport off1)/metrics | grep -q '^leasehold_app_healthy'"
kill -TERM "$(pid_of off1)"; wait "$(pid_of off1)" 2>/dev/null

summary
