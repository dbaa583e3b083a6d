#!/usr/bin/env bash
# docs_test: the docs say what the product does.
# - The README's flag table is exactly what `leasehold --help` says, and every flag of --help is
#   in it.
# - docs/architecture.md's layer table is the one the build enforces (cmake/layers.cmake).
# - Every request docs/contract.md lists answers as written (status, Allow header, stream type),
#   and its query-parameter rule holds.
# - Every metric name docs/contract.md lists is exported from the start, counters with known
#   labels at 0 (so increase() sees their first event).
# - docs/monitoring.md's metric table names exactly the metrics the agent exports: every row is
#   in /metrics, and every metric in /metrics has a row.
# - The README's gate snippets run as written: over HTTP it gives up within its bound on a
#   frozen agent, by the file it follows the deadline.
# One agent, its API server a port nothing listens on (it never leads); needs no control plane.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LEASEHOLD="${LEASEHOLD:-$root/build/leasehold}"
. "$root/tests/lib/suite.sh"
suite_begin docs_test

echo "--- the flag table"
rows="$("$LEASEHOLD" --help | python3 "$root/tests/e2e/flag_table.py")"
expect_match "--help lists flags" "$(echo "$rows" | wc -l)" '^[1-9][0-9]*$'
while IFS= read -r row; do
  flag="$(echo "$row" | cut -d'`' -f2)"
  expect "README row for $flag matches --help" grep -qxF -- "$row" "$root/README.md"
done <<<"$rows"
readme_flags="$(sed -n '/^## Flags/,/^## Timings\|^## Failure/p' "$root/README.md" | grep -E '^\| `--' | cut -d'`' -f2 | sort)"
help_flags="$(echo "$rows" | cut -d'`' -f2 | sort)"
expect_eq "README documents no flag that --help lacks" "$readme_flags" "$help_flags"
expect "--help mentions the config file's elections: list" grep -q 'elections:' <("$LEASEHOLD" --help)
for doc in docs/contract.md docs/controlplane.md docs/packaging.md; do
  expect "$doc exists" test -s "$root/$doc"
done

echo "--- docs/architecture.md's layer table is cmake/layers.cmake's"
layers="$(sed -n 's/^set(LEASEHOLD_LAYERS \(.*\))$/\1/p' "$root/cmake/layers.cmake")"
# shellcheck disable=SC2016 # Markdown backquotes
rows="$(sed -n '/^## Layers/,/^\* /p' "$root/docs/architecture.md" | grep -E '^\| `[a-z]+` \|')"
expect_eq "one row per layer, lowest first" "$(echo "$rows" | cut -d'`' -f2 | xargs)" "$layers"
below=""
for layer in $layers; do
  allowed="$(sed -n "s/^set(LEASEHOLD_LAYER_${layer} \([^)]*\)).*/\1/p" "$root/cmake/layers.cmake" | tr -d '"' | xargs -n1 | sort | xargs)"
  cell="$(echo "$rows" | grep -E "^\| \`$layer\` \|" | cut -d'|' -f3)"
  if [[ "$cell" == *"all of the above"* ]]; then
    documented="$(echo "$below" | xargs -n1 | sort | xargs)"
  else
    # shellcheck disable=SC2016 # Markdown backquotes
    documented="$(echo "$cell" | grep -oE '`[a-z]+`' | tr -d '`' | sort | xargs)"
  fi
  expect_eq "architecture.md: what $layer may include" "$documented" "$allowed"
  below="$below $layer"
done

cat >"$work/kubeconfig" <<'EOF'
apiVersion: v1
kind: Config
current-context: dev
contexts: [{name: dev, context: {cluster: dev, user: dev, namespace: docs}}]
clusters: [{name: dev, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: dev, user: {token: not-a-real-token}}]
EOF
# docs-e has a start hook (--on-start-leading), docs-other turns it off for itself and checks its
# app's health (on a port nothing listens on); docs-sharded is a sharded election (its paths and
# metrics are the contract's too). Between them they export every metric there is.
printf 'elections:\n  - name: docs-other\n    on-start-leading: ""\n    app-health-tcp: "1"\n    app-health-period: 1s\n  - name: docs-sharded\n    shards: 2\n' \
  >"$work/config.yaml"
sp="$(free_port)"
op="$(free_port)"
mkdir -p "$work/status"
"$LEASEHOLD" --election docs-e --identity me --kubeconfig "$work/kubeconfig" --config "$work/config.yaml" \
  --on-start-leading true \
  --status-address "127.0.0.1:$sp" --ops-address "127.0.0.1:$op" --status-dir "$work/status" \
  >"$work/agent.log" 2>&1 &
agent_pid=$!
track_pid "$agent_pid"
base="127.0.0.1:$sp"
expect "the agent answers" wait_until 20 curl -s -m 1 -o /dev/null "$base/v1/status"

# code METHOD PATH: the HTTP status (curl's own bound: a hang is a failure, not a wait).
code() {
  local method=(-X "$1")
  [ "$1" = HEAD ] && method=(-I)
  curl -s -m 5 -o /dev/null -w '%{http_code}' "${method[@]}" "$base$2"
}
allow() { curl -s -m 5 -o /dev/null -D - -X "$1" "$base$2" | tr -d '\r' | awk -F': ' 'tolower($1)=="allow"{print $2}'; }

echo "--- every request of docs/contract.md answers as written"
rev="$(curl -s -m 1 "$base/v1/status" | jq .revision)"
expect_match "status has a revision" "$rev" '^[0-9]+$'
# Not leading (no API server): /v1/leader is 503, the rest as the contract's table says.
while read -r method path want; do
  path="${path//<rev>/$rev}"
  expect_eq "$method $path answers $want" "$(code "$method" "$path")" "$want"
done <<'EOF'
GET /v1/leader 503
HEAD /v1/leader 503
GET /v1/status 200
HEAD /v1/status 200
GET / 200
HEAD / 200
GET /v1/leader?wait=1s&after=<rev> 503
GET /v1/status?wait=1s&after=<rev> 200
GET /v1/elections 200
HEAD /v1/elections 200
GET /v1/elections/docs-other/leader 503
GET /v1/elections/docs-other/status 200
GET /v1/elections/docs-sharded/shards 200
GET /v1/elections/docs-sharded/shards/1 503
GET /v1/elections/docs-sharded/shards/2 404
POST /v1/elections/docs-sharded/shards/0 405
POST /v1/elections/docs-sharded/shards/0/ack 409
GET /v1/elections/docs-sharded-shard-0/leader 503
POST /v1/ack 409
POST /v1/resign 409
POST /v1/resign?to=someone 409
POST /v1/elections/docs-other/ack 409
POST /v1/elections/docs-other/resign 409
GET /nope 404
GET /v1/nope 404
GET /v1/elections/missing/leader 404
POST /v1/leader 405
POST /v1/status 405
POST / 405
POST /v1/elections 405
HEAD /v1/events 405
POST /v1/events 405
GET /v1/ack 405
GET /v1/resign 405
GET /v1/status?after=abc 400
GET /v1/status?wait=2 400
GET /v1/status?wait=1s&after=abc 400
GET /v1/events?after=abc 400
GET /v1/events?wait=2 400
GET /v1/status?after=3 200
EOF
expect_eq "405 on a read path says Allow: GET, HEAD" "$(allow POST /v1/leader)" "GET, HEAD"
expect_eq "405 on the event stream says Allow: GET" "$(allow POST /v1/events)" "GET"
expect_eq "405 on ack says Allow: POST" "$(allow GET /v1/ack)" "POST"
for stream in /v1/events /v1/elections/docs-other/events; do
  head="$(curl -s -m 1 -D - -o "$work/events" "$base$stream" | tr -d '\r')"
  expect_match "GET $stream is 200" "$head" '^HTTP/1.1 200'
  expect_match "GET $stream is an event stream" "$head" 'Content-Type: text/event-stream'
  expect "GET $stream sends the status at once" grep -q '^event: status' "$work/events"
done
legacy="$(curl -s -m 1 "$base/")"
expect_eq "GET / is the contrib leader-elector's answer" "$(echo "$legacy" | jq -c 'keys')" '["name"]'
fields="$(curl -s -m 1 "$base/v1/status" | jq -r 'keys[]' | sort)"
# The status JSON's fields are exactly the contract's field table's.
# shellcheck disable=SC2016 # Markdown backquotes
documented="$(sed -n '/^The status JSON:/,/^## /p' "$root/docs/contract.md" | grep -E '^\| `' |
  cut -d'|' -f2 | grep -oE '`[a-zA-Z]+`' | tr -d '`' | sort)"
expect_eq "the status JSON has exactly the documented fields" "$documented" "$fields"

echo "--- every metric of docs/contract.md is exported from the start"
metrics="$(curl -s -m 5 "127.0.0.1:$op/metrics")"
while read -r name; do
  expect "$name is exported" grep -qE "^${name}(_bucket|_sum|_count)?[{ ]" <<<"$metrics"
done < <(grep -oE '(leasehold|leader_election)_[a-z_]+' "$root/docs/contract.md" | sort -u)
expect "leasehold_hook_runs_total is at 0 before any hook ran" \
  grep -qF 'leasehold_hook_runs_total{election="docs-e",hook="start",outcome="failure"} 0' <<<"$metrics"
expect_fail "leasehold_hook_runs_total has no series for hooks an election does not have" \
  grep -qF 'leasehold_hook_runs_total{election="docs-other"' <<<"$metrics"
expect "leasehold_lease_errors_total is at 0 for renewal errors not yet seen" \
  grep -qF 'leasehold_lease_errors_total{election="docs-other",error="conflict",operation="renew"} 0' <<<"$metrics"
expect "leasehold_http_refused_total is at 0 for each election's held requests" \
  grep -qF 'leasehold_http_refused_total{election="docs-e",listener="status",reason="held"} 0' <<<"$metrics"
expect "and for refused connections, which name no election" \
  grep -qF 'leasehold_http_refused_total{election="",listener="status",reason="connections"} 0' <<<"$metrics"

echo "--- docs/monitoring.md's metric table is exactly what /metrics exports"
# The metric names of the table's rows.
# shellcheck disable=SC2016 # the backquotes are the table's, not a command
table="$(sed -n '/^## Metrics/,/^## /p' "$root/docs/monitoring.md" | grep -E '^\| `[a-z_]+` \|' | cut -d'`' -f2 | sort)"
# exported: the names of the metrics /metrics has samples of (a histogram's under its own name).
exported() {
  curl -s -m 5 "127.0.0.1:$op/metrics" | awk '
    /^# TYPE / { type[$3] = $4; next }
    /^#/ || NF == 0 { next }
    {
      name = $1; sub(/\{.*/, "", name)
      base = name; sub(/_(bucket|sum|count)$/, "", base)
      if (type[base] == "histogram") name = base
      print name
    }' | sort -u
}
# Some appear with their first event: the API client's with its first request, the health
# checks' with the first check.
first_events() {
  local names
  names="$(exported)"
  grep -qx leasehold_api_requests_total <<<"$names" && grep -qx leasehold_app_health_checks_total <<<"$names"
}
expect "the first API request and health check are counted" wait_until 20 first_events
exported_names="$(exported)"
expect_match "the table has rows" "$(grep -c . <<<"$table")" '^[1-9][0-9]+$'
expect_match "and /metrics has metrics" "$(grep -c . <<<"$exported_names")" '^[1-9][0-9]+$'
expect_eq "every metric /metrics exports has a row in docs/monitoring.md's table" \
  "$(comm -23 <(echo "$exported_names") <(echo "$table") | xargs)" ""
expect_eq "every row of docs/monitoring.md's table is a metric /metrics exports" \
  "$(comm -13 <(echo "$exported_names") <(echo "$table") | xargs)" ""

echo "--- the README's gate snippets, as written"
# The README's first sh block after "Gate once-only work": an HTTP gate and a file gate.
snippet="$(awk '/^Gate once-only work/ { on = 1 } on && /^```sh/ { grab = 1; next } grab && /^```/ { exit } grab' \
  "$root/README.md")"
expect_match "the README has the HTTP gate" "$snippet" 'curl .*localhost:4040/v1/leader'
expect_match "and the file gate" "$snippet" '/run/leasehold/state'
# run_snippet STATE_DIR: runs the snippet as written in a mount namespace where STATE_DIR is
# /run/leasehold, with curl's localhost:4040 taken to this agent (.curlrc, not the snippet);
# charge_customer records its arguments. Prints what was charged; bounded by 10 s.
run_snippet() {
  mkdir -p "$work/curlhome"
  echo "connect-to = localhost:4040:127.0.0.1:$sp" >"$work/curlhome/.curlrc"
  : >"$work/charged"
  # shellcheck disable=SC2016 # the inner shell expands them
  SNIPPET="$snippet" STATE_DIR="$1" CHARGED="$work/charged" CURL_HOME="$work/curlhome" \
    timeout 10 unshare -m --propagation private bash -c '
      mount -t tmpfs tmpfs /run && mkdir /run/leasehold && mount --bind "$STATE_DIR" /run/leasehold || exit 99
      charge_customer() { echo "charged $*" >>"$CHARGED"; }
      eval "$SNIPPET"
      exit 0'
  echo "rc=$? $(cat "$work/charged")"
}
mkdir -p "$work/fake"
echo "leader $(($(date +%s%3N) + 60000)) 42 2099-01-01T00:00:00Z" >"$work/fake/state"
expect_eq "a follower's answer and a leader's file: only the file gate charges, with the token" \
  "$(run_snippet "$work/fake")" "rc=0 charged --fencing-token 42"
echo "leader $(($(date +%s%3N) - 1000)) 42 2000-01-01T00:00:00Z" >"$work/fake/state"
expect_eq "a leader line past its deadline charges nothing" "$(run_snippet "$work/fake")" "rc=0 "
expect_eq "the agent's own state file (a follower) charges nothing" "$(run_snippet "$work/status")" "rc=0 "
kill -STOP "$agent_pid"
expect_eq "with the agent frozen, the snippets end within their bound and charge nothing" \
  "$(run_snippet "$work/status")" "rc=0 "
kill -CONT "$agent_pid"

kill -TERM "$agent_pid"
wait "$agent_pid"
expect_eq "SIGTERM: exits 0" "$?" 0
forget_pid "$agent_pid"
expect_fail "a follower does not say it released the lease" grep -q '"released the lease"' "$work/agent.log"
summary
