#!/usr/bin/env bash
# features_test: what leasehold adds beyond the anchors, on a real kube-apiserver: long polls and
# Server-Sent Events, the acknowledged handoff (HTTP and file), resign and transfer to a named
# candidate, several elections in one sidecar, hooks, the leader pod label, and Kubernetes Events.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/tests/lib/agents.sh"
agents_suite features_test

TIMINGS=(--lease-duration 4s --renew-deadline 3s --retry-period 1s --safety-margin 500ms)

# start NAME ELECTION [FLAGS...]: an agent with the admin kubeconfig in namespace $ns.
start() {
  local name="$1" election="$2"; shift 2
  agent_spawn "$name" --election "$election" --namespace "$ns" --kubeconfig "$KUBECONFIG" "${TIMINGS[@]}" "$@"
}
holder() { kube_lease_json "$ns" "$1" | jq -r .spec.holderIdentity; }

echo "--- long poll and Server-Sent Events"
ns="$(kube_new_namespace push)"
start p1 push; start p2 push
expect "one of two leads" wait_until 30 one_leader_among p1 p2
leader="$(leaders_among p1 p2)"; follower=p1; [ "$leader" = p1 ] && follower=p2
rev="$(curl -s "$(url "$follower" /v1/status)" | jq -r .revision)"
expect_eq "a long poll with a stale revision answers at once" \
  "$(curl -s --max-time 2 "$(url "$follower" "/v1/status?wait=30s&after=$((rev - 1))")" | jq -r .revision)" "$rev"
started=$(now_ms)
expect_eq "a long poll with nothing changing answers at the end of its wait, unchanged" \
  "$(curl -s --max-time 5 "$(url "$follower" "/v1/status?wait=1s&after=$rev")" | jq -r .revision)" "$rev"
expect "and waited about its wait" [ $(($(now_ms) - started)) -ge 900 ]
curl -s --max-time 20 "$(url "$follower" "/v1/leader?wait=20s&after=$rev")" -o "$work/poll.json" \
  -w '%{http_code}' >"$work/poll.code" &
poll_pid=$!
curl -s -N --max-time 20 "$(url "$follower" /v1/events)" >"$work/events.txt" &
sse_pid=$!; track_pid "$sse_pid"
expect "the event stream sent the current status at once" wait_until 5 grep -q '^event: status' "$work/events.txt"
kill -TERM "$(pid_of "$leader")"
wait "$poll_pid"
expect_eq "the long poll on /v1/leader returned 200 when the follower became leader" "$(cat "$work/poll.code")" 200
expect_eq "its body says isLeader" "$(jq -r .isLeader "$work/poll.json")" true
expect "the event stream delivered the change" wait_until 5 grep -q '"isLeader":true' "$work/events.txt"
expect_eq "event ids are revisions" "$(grep -c '^id: [0-9]*$' "$work/events.txt")" "$(grep -c '^event: status' "$work/events.txt")"
kill "$sse_pid" 2>/dev/null
kill -TERM "$(pid_of "$follower")"; wait "$(pid_of "$follower")" 2>/dev/null

echo "--- acknowledged handoff"
ns="$(kube_new_namespace handoff)"
start h1 handoff --handoff-timeout 20s; start h2 handoff --handoff-timeout 20s
expect "one of two leads" wait_until 30 one_leader_among h1 h2
leader="$(leaders_among h1 h2)"; other=h1; [ "$leader" = h1 ] && other=h2
termed=$(now_ms)
kill -TERM "$(pid_of "$leader")"
expect "on SIGTERM the leader stops claiming at once" wait_until 2 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $(url "$leader" /v1/leader))\" = 503 ]"
expect_eq "its status says steppingDown" "$(curl -s "$(url "$leader" /v1/status)" | jq -r .steppingDown)" true
sleep 2  # the handoff must hold for longer than a renew round without an ack
expect_eq "it still holds the Lease while the app has not acknowledged" "$(holder handoff)" "$leader"
expect_eq "nobody else leads meanwhile" "$(leader_code "$other" /v1/leader)" 503
expect_eq "POST /v1/ack is accepted" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$(url "$leader" /v1/ack)")" 202
expect "after the ack the other agent leads" wait_until 5 is_leader "$other"
echo "  handoff with ack: $(($(now_ms) - termed)) ms from SIGTERM (including a 2 s app delay)"
wait "$(pid_of "$leader")"; expect_eq "the acknowledged agent exited 0" "$?" 0
start "$leader" handoff --handoff-timeout 2s
expect "the restarted agent has observed the Lease" wait_until 10 curl -sf "127.0.0.1:$(oport "$leader")/readyz"
kill -TERM "$(pid_of "$other")"
expect "the second handoff: stops claiming" wait_until 2 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $(url "$other" /v1/leader))\" = 503 ]"
touch "$work/$other/ack"
expect "an ack file in the status dir works too" wait_until 5 is_leader "$leader"
wait "$(pid_of "$other")"
expect_fail "the ack file is cleaned up" test -e "$work/$other/ack"
start "$other" handoff
expect "the restarted agent has observed the Lease" wait_until 10 curl -sf "127.0.0.1:$(oport "$other")/readyz"
timed=$(now_ms)
kill -TERM "$(pid_of "$leader")"
expect "without an ack the Lease is released when --handoff-timeout passes" wait_until 10 is_leader "$other"
took=$(($(now_ms) - timed))
echo "  handoff without ack: released after $took ms (--handoff-timeout 2s)"
expect "the leader waited for the ack until its --handoff-timeout before releasing" [ "$took" -ge 2000 ]
kill -TERM "$(pid_of "$other")"; wait 2>/dev/null

echo "--- an ack path the agent cannot remove (a non-empty directory) does not end the handoff"
ns="$(kube_new_namespace ackdir)"
start k1 ackdir --handoff-timeout 1s; start k2 ackdir --handoff-timeout 1s
expect "one of two leads" wait_until 30 one_leader_among k1 k2
leader="$(leaders_among k1 k2)"; other=k1; [ "$leader" = k1 ] && other=k2
mkdir -p "$work/$leader/ack/inside"
kill -TERM "$(pid_of "$leader")"
expect "the other agent leads after the handoff timeout" wait_until 15 is_leader "$other"
wait "$(pid_of "$leader")"; rc=$?
expect_eq "the agent finished its handoff and exited 0 (no crash while holding the Lease)" "$rc" 0
expect "it said it ignores the ack path" grep -q 'cannot remove the ack file' "$work/$leader.log"
expect "the directory did not count as an acknowledgement" grep -q 'no acknowledgement in time' "$work/$leader.log"
expect_fail "and it did not leave the Lease to expire" grep -q 'could not release' "$work/$leader.log"
kill -TERM "$(pid_of "$other")"; wait 2>/dev/null

echo "--- resign and transfer"
ns="$(kube_new_namespace resign)"
start r1 resign; start r2 resign; start r3 resign
expect "one of three leads" wait_until 30 one_leader_among r1 r2 r3
leader="$(leaders_among r1 r2 r3)"
expect_eq "resign is refused on a follower (409)" \
  "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$(url "$([ "$leader" = r1 ] && echo r2 || echo r1)" /v1/resign)")" 409
resigned=$(now_ms)
expect_eq "POST /v1/resign on the leader is accepted" \
  "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$(url "$leader" /v1/resign)")" 202
others=(); for n in r1 r2 r3; do [ "$n" = "$leader" ] || others+=("$n"); done
expect "another agent leads after the resign" wait_until 5 one_leader_among "${others[@]}"
echo "  resign -> new leader in $(($(now_ms) - resigned)) ms"
expect_fail "the resigner does not take it back at once" is_leader "$leader"
current="$(leaders_among "${others[@]}")"
target=""; for n in "${others[@]}"; do [ "$n" = "$current" ] || target="$n"; done
[ -n "$target" ] || target="$leader"
expect_eq "POST /v1/resign?to=$target is accepted" \
  "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$(url "$current" "/v1/resign?to=$target")")" 202
expect "the named candidate $target leads" wait_until 5 is_leader "$target"
expect_eq "the Lease names it" "$(holder resign)" "$target"
expect_eq "and the preferred-holder annotation is gone once it took over" \
  "$(kube_lease_json "$ns" resign | jq -r '.metadata.annotations["leasehold.io/preferred-holder"] // "none"')" none
# SIGHUP (and SIGQUIT, SIGUSR1, SIGUSR2) would end a leader without a release: taken as SIGTERM.
kill -HUP "$(pid_of "$target")"
wait "$(pid_of "$target")"
expect_eq "SIGHUP on the leader: it exits 0" "$?" 0
forget_pid "$(pid_of "$target")"
expect "... having released the Lease" grep -q '"released the lease"' "$work/$target.log"
rest=(); for n in r1 r2 r3; do [ "$n" = "$target" ] || rest+=("$n"); done
expect "... so another leads at once (the release is marked)" wait_until 5 one_leader_among "${rest[@]}"
for n in "${rest[@]}"; do kill -TERM "$(pid_of "$n")" 2>/dev/null; done; wait 2>/dev/null

echo "--- several elections in one sidecar, hooks"
ns="$(kube_new_namespace multi)"
cat >"$work/multi.yaml" <<YAML
election: jobs-a
elections:
  - name: jobs-b
    on-start-leading: 'echo "start \$LEASEHOLD_ELECTION \$LEASEHOLD_IDENTITY \$LEASEHOLD_FENCING_TOKEN" >> $work/hooks.log'
    on-stop-leading: 'echo "stop \$LEASEHOLD_ELECTION \$LEASEHOLD_IDENTITY \$LEASEHOLD_FENCING_TOKEN" >> $work/hooks.log'
YAML
start x multi-ignored --config "$work/multi.yaml" --election jobs-a
start y multi-ignored --config "$work/multi.yaml" --election jobs-a
expect "jobs-a has one leader" wait_until 30 sh -c "[ \$( (curl -sf -o /dev/null $(url x /v1/elections/jobs-a/leader) && echo x; curl -sf -o /dev/null $(url y /v1/elections/jobs-a/leader) && echo y) | wc -l) = 1 ]"
expect "jobs-b has one leader" wait_until 30 sh -c "[ \$( (curl -sf -o /dev/null $(url x /v1/elections/jobs-b/leader) && echo x; curl -sf -o /dev/null $(url y /v1/elections/jobs-b/leader) && echo y) | wc -l) = 1 ]"
expect_eq "/v1/elections lists both" "$(curl -s "$(url x /v1/elections)" | jq -r '[.elections[].election] | join(",")')" "jobs-a,jobs-b"
expect_eq "the short paths serve the first election" "$(curl -s "$(url x /v1/status)" | jq -r .election)" jobs-a
for n in x y; do
  expect "$n: both elections follow the watch" wait_until 10 sh -c \
    "curl -s 127.0.0.1:$(oport "$n")/metrics | grep -cE '^leasehold_watch_connected\\{election=\"jobs-[ab]\"\\} 1' | grep -qx 2"
  expect_eq "$n: one watch request for both elections (one connection per sidecar)" \
    "$(metric "$n" '^leasehold_api_requests_total\{.*verb="watch"')" 1
done
a_leader="$(holder jobs-a)"; b_leader="$(holder jobs-b)"
if [ "$a_leader" = "$b_leader" ]; then
  curl -s -o /dev/null -X POST "$(url "$b_leader" /v1/elections/jobs-b/resign)"
  expect "after a resign of jobs-b, the two jobs are led by different pods" \
    wait_until 10 sh -c "[ \"\$(kubectl -n $ns get lease jobs-b -o jsonpath='{.spec.holderIdentity}')\" != '$a_leader' ] && [ -n \"\$(kubectl -n $ns get lease jobs-b -o jsonpath='{.spec.holderIdentity}')\" ]"
  b_leader="$(holder jobs-b)"
fi
expect "two jobs, two different leading pods ($a_leader, $b_leader)" [ "$a_leader" != "$b_leader" ]
expect "per-election state files" test -s "$work/$b_leader/elections/jobs-b/state"
expect_match "the jobs-b leader's per-election file says leader" "$(cat "$work/$b_leader/elections/jobs-b/state")" '^leader '
expect_match "the default election's file sits at the top of the status dir" "$(cat "$work/$a_leader/state")" '^leader '
expect_match "metrics are labelled by election" "$(curl -s "127.0.0.1:$(oport "$b_leader")/metrics")" \
  'leasehold_is_leader\{election="jobs-b"\} 1'
expect "the start hook ran for jobs-b with the fencing token" \
  wait_until 5 grep -qE "^start jobs-b $b_leader [0-9]+$" "$work/hooks.log"
expect "the hook run is counted in leasehold_hook_runs_total" \
  [ "$(metric "$b_leader" 'leasehold_hook_runs_total\{election="jobs-b",hook="start",outcome="success"\}')" -ge 1 ]
b_token="$(grep -E "^start jobs-b $b_leader [0-9]+$" "$work/hooks.log" | tail -1 | awk '{print $4}')"
kill -TERM "$(pid_of "$b_leader")"; wait "$(pid_of "$b_leader")" 2>/dev/null
expect "the stop hook ran on shutdown, with the token of the term that ended ($b_token)" \
  grep -q "^stop jobs-b $b_leader $b_token$" "$work/hooks.log"
kill -TERM "$(pid_of x)" "$(pid_of y)" 2>/dev/null; wait 2>/dev/null

echo "--- leader pod label"
ns="$(kube_new_namespace label)"
kube_create_sa "$ns" default >/dev/null  # no controller-manager here to create it
for pod in pod-l1 pod-l2; do
  kube_kubectl -n "$ns" run "$pod" --image=example.invalid/app --restart=Never >/dev/null
done
POD_NAME=pod-l1 start l1 label --leader-label leasehold.io/leader
POD_NAME=pod-l2 start l2 label --leader-label leasehold.io/leader
expect "one of two leads" wait_until 30 one_leader_among l1 l2
leader="$(leaders_among l1 l2)"; other=l1; [ "$leader" = l1 ] && other=l2
label_of() { kube_kubectl -n "$ns" get pod "pod-$1" -o jsonpath='{.metadata.labels.leasehold\.io/leader}'; }
expect "the leader's pod gets leasehold.io/leader=true" wait_until 10 sh -c "[ \"\$(kubectl -n $ns get pod pod-$leader -o jsonpath='{.metadata.labels.leasehold\\.io/leader}')\" = true ]"
expect_eq "the follower's pod has no such label" "$(label_of "$other")" ""
kill -TERM "$(pid_of "$leader")"; wait "$(pid_of "$leader")" 2>/dev/null
expect_eq "the label is removed when the leader stops" "$(label_of "$leader")" ""
expect "the new leader's pod gets the label" wait_until 10 sh -c "[ \"\$(kubectl -n $ns get pod pod-$other -o jsonpath='{.metadata.labels.leasehold\\.io/leader}')\" = true ]"

echo "--- Kubernetes Events (events.k8s.io/v1), seen through kubectl get events"
# events FIELD_SELECTOR: the core/v1 view of the namespace's Events that match, as JSON lines.
events() { kube_kubectl -n "$ns" get events --field-selector "$1" -o json | jq -c '.items[]'; }
has_event() { [ -n "$(events "$1")" ] || { sleep 0.3; return 1; }; }
expect "StartedLeading about the first leader's pod (reason Elected)" \
  wait_until 10 has_event "involvedObject.name=pod-$leader,reason=Elected"
expect "StoppedLeading about it on SIGTERM (reason ShuttingDown)" \
  wait_until 10 has_event "involvedObject.name=pod-$leader,reason=ShuttingDown"
expect "StartedLeading about the new leader's pod" wait_until 10 has_event "involvedObject.name=pod-$other,reason=Elected"
e="$(kube_api "/apis/events.k8s.io/v1/namespaces/$ns/events" |
  jq -c --arg p "pod-$leader" '[.items[] | select(.regarding.name == $p and .reason == "ShuttingDown")][0]')"
expect_eq "... with the Lease as related object, the controller and the agent's identity" \
  "$(jq -c '[.related.kind, .related.name, .reportingController, .reportingInstance, .action, .type]' <<<"$e")" \
  "[\"Lease\",\"label\",\"leasehold.io/leasehold\",\"$leader\",\"StoppedLeading\",\"Normal\"]"
expect_eq "leasehold_events_total{outcome=\"created\"} counts them on the new leader" \
  "$(metric "$other" '^leasehold_events_total\{outcome="created"\}')" 1
start q1 quiet --events=false
expect "an agent with --events=false leads" wait_until 30 is_leader q1
expect_eq "... and records no Event" "$(events "involvedObject.name=quiet" | wc -l)" 0
kill -TERM "$(pid_of q1)" "$(pid_of "$other")"; wait 2>/dev/null
out="$(POD_NAME="" "$LEASEHOLD" --election x --namespace "$ns" --kubeconfig "$KUBECONFIG" --leader-label a/b 2>&1)"
expect_match "--leader-label without \$POD_NAME is a configuration error" "$out" 'leader-label'

summary
