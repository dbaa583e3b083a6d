#!/usr/bin/env bash
# Tests of the Helm charts and the plain manifests:
#   - helm lint of charts/leasehold (library), charts/leasehold-example and charts/leasehold-injector
#     (whose policies are proven on a real node by cluster_test.sh);
#   - helm template with tests/chart-values/*.yaml, asserting the fields that matter (native vs
#     classic placement, ports, probes, securityContext, resources, RBAC resourceNames);
#   - the values schema rejects wrong types, unknown keys and bad enums (tests/chart-values/bad-*.yaml);
#   - manifests/ equals what manifests/generate.sh renders now;
#   - against a real control plane (tests/controlplane/up): every rendered object is accepted by
#     `kubectl apply --dry-run=server`, the pod template passes Pod Security "restricted", the
#     example chart installs (NOTES) and uninstalls with helm, and the
#     Role bound to the ServiceAccount allows exactly what the agent needs (kubectl auth can-i
#     with a token minted for that ServiceAccount): with one election, a watch by name only; with
#     several, one watch of the namespace's Lease collection, and still no other Lease's writes.
# Needs helm and kubectl (.cache/tools/bin, built by tests/tools/build.sh), jq, and python3 with
# PyYAML (installed from Debian's python3-yaml when missing). Set CHART_TEST_NO_CLUSTER=1 to skip
# the control-plane part.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib/suite.sh
source "$root/tests/lib/suite.sh"

export PATH="$TOOLS_BIN:$PATH"
for tool in helm kubectl jq; do
  command -v "$tool" >/dev/null || { echo "chart_test: $tool not found (build the tools: tests/tools/build.sh)" >&2; exit 1; }
done

# A python3 that can read YAML: the one on PATH, Debian's, or Debian's after installing python3-yaml.
PY=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import yaml' 2>/dev/null; then PY="$p"; break; fi
done
if [ -z "$PY" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { apt-get install -y -qq python3-yaml || { apt-get update -qq && apt-get install -y -qq python3-yaml; }; } >/dev/null 2>&1
  /usr/bin/python3 -c 'import yaml' 2>/dev/null && PY=/usr/bin/python3
fi
[ -n "$PY" ] || { echo "chart_test: no python3 with PyYAML (apt-get install python3-yaml)" >&2; exit 1; }

suite_begin chart_test
# The charts are staged in $work so that `helm dependency build` does not touch the work tree.
charts_stage "$work"
lib="$work/charts/leasehold"
example="$work/charts/leasehold-example"
values="$root/tests/chart-values"

# YAML documents on stdin -> one JSON array of the non-empty documents.
to_json() { "$PY" -c 'import sys, json, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))'; }
render() { helm template leasehold-example "$example" "$@"; }
# q JSON JQ_FILTER: jq on a rendered document array, compact, keys sorted.
q() { jq -S -c "$2" <<<"$1"; }

echo "== lint"
expect "helm dependency build of leasehold-example (file://../leasehold, offline)" \
  helm dependency build --skip-refresh "$example"
expect "helm lint charts/leasehold (library chart)" helm lint --strict "$lib"
expect "helm lint charts/leasehold-example" helm lint --strict "$example"
expect "helm lint charts/leasehold-injector" helm lint --strict "$root/charts/leasehold-injector"
expect_fail "the injector's schema rejects a mistyped key" helm template x "$root/charts/leasehold-injector" --set polcy.enabled=false
expect_fail "the injector's schema rejects a failurePolicy Kubernetes lacks" helm template x "$root/charts/leasehold-injector" --set policy.failurePolicy=Maybe
expect_eq "the injector's parts: policies alone, RBAC alone" \
  "$(helm template x "$root/charts/leasehold-injector" --set rbac.create=false | to_json | jq -c '[.[].kind]'),$(helm template x "$root/charts/leasehold-injector" --set policy.enabled=false | to_json | jq -c '[.[].kind]')" \
  '["MutatingAdmissionPolicy","MutatingAdmissionPolicyBinding","ValidatingAdmissionPolicy","ValidatingAdmissionPolicyBinding"],["Role","RoleBinding"]'
for f in native classic custom health; do
  expect "helm lint charts/leasehold-example -f $f.yaml" helm lint --strict "$example" -f "$values/$f.yaml"
done
expect_fail "the library chart alone is not installable" helm template x "$lib"

echo "== default values (native sidecar)"
out="$(render 2>"$work/err")" || { fail "helm template (default values): $(cat "$work/err")"; out=""; }
d="$(to_json <<<"$out")"
expect_eq "objects rendered" "$(q "$d" '[.[] | .kind] | sort')" '["Deployment","Role","RoleBinding","ServiceAccount"]'
expect_eq "no object carries metadata.namespace" "$(q "$d" '[.[] | select(.metadata.namespace)] | length')" 0
dep='.[] | select(.kind == "Deployment")'
pod="$dep | .spec.template.spec"
side="$pod | .initContainers[0]"
expect_eq "Deployment name" "$(q "$d" "$dep | .metadata.name")" '"leasehold-example"'
expect_eq "3 replicas" "$(q "$d" "$dep | .spec.replicas")" 3
expect_eq "sidecar is the only initContainer" "$(q "$d" "[$pod | .initContainers[].name]")" '["leasehold"]'
expect_eq "native sidecar: restartPolicy Always" "$(q "$d" "$side | .restartPolicy")" '"Always"'
expect_eq "containers: only the app" "$(q "$d" "[$pod | .containers[].name]")" '["app"]'
expect_eq "sidecar image" "$(q "$d" "$side | .image")" '"leasehold:0.2.0"'
expect_eq "sidecar args" "$(q "$d" "$side | .args")" \
  '["--election=leasehold-example","--lease-duration=15s","--renew-deadline=10s","--retry-period=2s","--status-address=127.0.0.1:4040","--status-dir=/run/leasehold","--ops-address=:9090","--log-level=info"]'
expect_eq "POD_NAME / POD_NAMESPACE from the downward API" \
  "$(q "$d" "[$side | .env[] | {(.name): .valueFrom.fieldRef.fieldPath}] | add")" \
  '{"POD_NAME":"metadata.name","POD_NAMESPACE":"metadata.namespace"}'
expect_eq "ops port" "$(q "$d" "$side | .ports")" '[{"containerPort":9090,"name":"leasehold-ops","protocol":"TCP"}]'
expect_eq "liveness probe: /healthz on the ops port" "$(q "$d" "$side | .livenessProbe.httpGet")" '{"path":"/healthz","port":"leasehold-ops"}'
expect_eq "readiness probe: /readyz on the ops port" "$(q "$d" "$side | .readinessProbe.httpGet")" '{"path":"/readyz","port":"leasehold-ops"}'
expect_eq "resources" "$(q "$d" "$side | .resources")" '{"limits":{"cpu":"100m","memory":"64Mi"},"requests":{"cpu":"5m","memory":"16Mi"}}'
restricted='.runAsNonRoot == true and .runAsUser == 65532 and .allowPrivilegeEscalation == false
  and .capabilities.drop == ["ALL"] and .seccompProfile.type == "RuntimeDefault" and .readOnlyRootFilesystem == true'
expect_eq "sidecar securityContext is restricted + read-only root" "$(q "$d" "$side | .securityContext | $restricted")" true
expect_eq "app securityContext is restricted + read-only root" "$(q "$d" "$pod | .containers[0].securityContext | $restricted")" true
expect_eq "status dir volume: emptyDir in memory" "$(q "$d" "$pod | .volumes")" '[{"emptyDir":{"medium":"Memory","sizeLimit":"1Mi"},"name":"leasehold-status"}]'
expect_eq "sidecar mounts the status dir" "$(q "$d" "$side | .volumeMounts")" '[{"mountPath":"/run/leasehold","name":"leasehold-status"}]'
expect_eq "app mounts the status dir read-only" "$(q "$d" "$pod | .containers[0].volumeMounts")" '[{"mountPath":"/run/leasehold","name":"leasehold-status","readOnly":true}]'
expect_eq "app is told where to ask" "$(q "$d" "[$pod | .containers[0].env[] | select(.name | startswith(\"LEASEHOLD_\")) | .value]")" \
  '["http://127.0.0.1:4040","/run/leasehold/state"]'
# shellcheck disable=SC2016 # the $ is literal: the script in the manifest expands it
expect_match "app works only while GET /v1/leader succeeds" "$(q "$d" "$pod | .containers[0].args[0]")" 'curl -sf -m 2 -D - -o /dev/null \\"\$LEASEHOLD_STATUS_URL/v1/leader'
expect_eq "pod runs as the ServiceAccount" "$(q "$d" "$pod | .serviceAccountName")" '"leasehold-example"'
expect_eq "ServiceAccount name" "$(q "$d" '.[] | select(.kind == "ServiceAccount") | .metadata.name')" '"leasehold-example"'
role='.[] | select(.kind == "Role")'
expect_eq "Role: create leases (no resourceNames)" \
  "$(q "$d" "[$role | .rules[] | select(.resourceNames == null and .resources == [\"leases\"])]")" \
  '[{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["create"]}]'
expect_eq "Role: get/update/patch/watch only the election's Lease" \
  "$(q "$d" "[$role | .rules[] | select(.resourceNames != null)]")" \
  '[{"apiGroups":["coordination.k8s.io"],"resourceNames":["leasehold-example"],"resources":["leases"],"verbs":["get","update","patch","watch"]}]'
expect_eq "Role: Events (create; patch: a repeat's series), and nothing else" \
  "$(q "$d" "[$role | .rules[] | select(.resources != [\"leases\"])]")" \
  '[{"apiGroups":["events.k8s.io"],"resources":["events"],"verbs":["create","patch"]}]'
d_quiet="$(render --set leasehold.events=false | to_json)"
expect_eq "events=false: --events=false, and no rule for events" \
  "$(q "$d_quiet" "[$side | .args[] | select(startswith(\"--events\"))] + [$role | .rules[] | select(.resources == [\"events\"])]")" \
  '["--events=false"]'
expect_eq "events on (the default): no --events flag (the agent's default)" \
  "$(q "$d" "[$side | .args[] | select(startswith(\"--events\"))]")" '[]'
expect_fail "schema rejects events that is not a boolean" render --set-string leasehold.events=yes
expect_eq "RoleBinding binds the Role to the ServiceAccount" \
  "$(q "$d" '.[] | select(.kind == "RoleBinding") | [.roleRef.kind, .roleRef.name, .subjects[0].kind, .subjects[0].name, (.subjects | length)]')" \
  '["Role","leasehold-example-leasehold","ServiceAccount","leasehold-example",1]'
expect_eq "Role and RoleBinding names" "$(q "$d" "[$role | .metadata.name]")" '["leasehold-example-leasehold"]'

echo "== tests/chart-values/native.yaml"
d="$(render -f "$values/native.yaml" | to_json)"
expect_eq "native: sidecar in initContainers with restartPolicy Always" \
  "$(q "$d" "[$pod | .initContainers[] | [.name, .restartPolicy]]")" '[["leasehold","Always"]]'
expect_eq "native: timings and log level" "$(q "$d" "[$side | .args[] | select(test(\"duration|deadline|period|log-level\"))]")" \
  '["--lease-duration=20s","--renew-deadline=12s","--retry-period=3s","--log-level=debug"]'

echo "== tests/chart-values/classic.yaml"
d="$(render -f "$values/classic.yaml" | to_json)"
cside="$pod | .containers[] | select(.name == \"leasehold\")"
expect_eq "classic: no initContainers" "$(q "$d" "$pod | .initContainers")" null
expect_eq "classic: sidecar after the app in containers" "$(q "$d" "[$pod | .containers[].name]")" '["app","leasehold"]'
expect_eq "classic: no restartPolicy on the container" "$(q "$d" "$cside | has(\"restartPolicy\")")" false
expect_eq "classic: 2 replicas" "$(q "$d" "$dep | .spec.replicas")" 2
expect_eq "classic: image and pull policy" "$(q "$d" "$cside | [.image, .imagePullPolicy]")" '["registry.example/leasehold:1.2.3","Always"]'
expect_eq "classic: args with other ports, status dir and extra args" "$(q "$d" "$cside | .args")" \
  '["--election=jobs.batch-leader","--lease-duration=15s","--renew-deadline=10s","--retry-period=2s","--status-address=127.0.0.1:4141","--status-dir=/var/run/lh","--ops-address=:9191","--log-level=info","--api-qps=2"]'
expect_eq "classic: ops port" "$(q "$d" "$cside | .ports[0] | [.name, .containerPort]")" '["leasehold-ops",9191]'
expect_eq "classic: probes on the renamed port" "$(q "$d" "$cside | [.livenessProbe.httpGet.port, .readinessProbe.httpGet.port]")" '["leasehold-ops","leasehold-ops"]'
expect_eq "classic: extra env after the downward API" "$(q "$d" "[$cside | .env[].name]")" '["POD_NAME","POD_NAMESPACE","LEASEHOLD_RELEASE_TIMEOUT"]'
expect_eq "classic: app told the other port and dir" "$(q "$d" "[$pod | .containers[0].env[] | select(.name | startswith(\"LEASEHOLD_\")) | .value]")" \
  '["http://127.0.0.1:4141","/var/run/lh/state"]'
expect_eq "classic: disk-backed emptyDir" "$(q "$d" "$pod | .volumes[0].emptyDir")" '{"sizeLimit":"2Mi"}'
expect_eq "classic: mounts at the other path" "$(q "$d" "[$pod | .containers[].volumeMounts[0].mountPath]")" '["/var/run/lh","/var/run/lh"]'
expect_eq "classic: resourceNames follow the election" "$(q "$d" "[$role | .rules[].resourceNames // empty]")" '[["jobs.batch-leader"]]'
expect_eq "classic: securityContext still restricted" "$(q "$d" "$cside | .securityContext | $restricted")" true

echo "== tests/chart-values/features.yaml"
d="$(render -f "$values/features.yaml" | to_json)"
expect_eq "features: handoff, label and hook flags reach the sidecar" \
  "$(q "$d" "$side | [.args[] | select(test(\"^--(handoff-timeout|leader-label|on-start-leading|on-stop-leading|hook-timeout)=\"))]")" \
  '["--handoff-timeout=20s","--leader-label=leasehold.io/leader","--on-start-leading=echo started","--hook-timeout=5s"]'
expect_eq "features: with handoffTimeout the app's mount of the status dir is writable (the ack file)" \
  "$(q "$d" "$pod | .containers[0].volumeMounts")" '[{"mountPath":"/run/leasehold","name":"leasehold-status"}]'
expect_eq "features: the Role may get/patch pods only because leaderLabel is set" \
  "$(q "$d" '.[] | select(.kind == "Role") | [.rules[] | select(.resources == ["pods"]) | .verbs]')" '[["get","patch"]]'
expect_eq "features: further elections are in the Role's resourceNames" \
  "$(q "$d" '.[] | select(.kind == "Role") | [.rules[] | .resourceNames // empty] | add')" '["features-lock","jobs-b","jobs-c"]'
expect_eq "features: get/update/patch only the elections' Leases" \
  "$(q "$d" '.[] | select(.kind == "Role") | [.rules[] | select(.resourceNames != null) | .verbs]')" '[["get","update","patch"]]'
expect_eq "features: one watch for all elections: watch on leases without resourceNames, beside create" \
  "$(q "$d" '.[] | select(.kind == "Role") | [.rules[] | select(.resourceNames == null and .resources == ["leases"])]')" \
  '[{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["create"]},{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["watch"]}]'
expect_eq "features: the ConfigMap lists them for the agent" \
  "$(q "$d" '.[] | select(.kind == "ConfigMap") | .data["config.yaml"]' | jq -r .)" \
  "$(printf 'elections:\n  - name: "jobs-b"\n    lease-duration: "20s"\n  - name: "jobs-c"')"
expect_eq "features: the sidecar reads it from a mounted ConfigMap" \
  "$(q "$d" "[$side | .args[] | select(startswith(\"--config=\"))] + [$side | .volumeMounts[] | select(.mountPath == \"/etc/leasehold\") | .readOnly]")" \
  '["--config=/etc/leasehold/config.yaml",true]'
d="$(render | to_json)"
expect_eq "defaults: no feature flags, no pods rule" \
  "$(q "$d" "[$side | .args[] | select(test(\"^--(handoff-timeout|leader-label|on-start-leading)\"))] + [.[] | select(.kind == \"Role\") | .rules[] | select(.resources == [\"pods\"])]")" '[]'
expect_fail "schema rejects an election name that is not a DNS subdomain" render --set 'leasehold.elections[0].name=Bad_Name'
expect_fail "schema rejects a leaderLabel that is not a label key" render --set 'leasehold.leaderLabel=not a label'
expect_fail "schema rejects an unknown hooks key" render --set 'leasehold.hooks.onStart=x'

echo "== shards: --shards, and a Role for Leases whose names are not known in advance"
d="$(render --set leasehold.shards=12 | to_json)"
expect_eq "shards: the sidecar gets --shards=12" "$(q "$d" "[$side | .args[] | select(startswith(\"--shards\"))]")" '["--shards=12"]'
expect_eq "shards: the app is told the number of shards" "$(q "$d" "[$pod | .containers[0].env[] | select(.name == \"SHARDS\") | .value]")" '["12"]'
expect_eq "shards: Role: create, and get/update/patch/delete/watch on leases without resourceNames" \
  "$(q "$d" "[$role | .rules[] | select(.resources == [\"leases\"])]")" \
  '[{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["create"]},{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["get","update","patch","delete","watch"]}]'
expect_fail "shards with leaderLabel is refused" render --set leasehold.shards=4 --set leasehold.leaderLabel=x/leader
expect_fail "shards with appHealth is refused" render --set leasehold.shards=4 --set leasehold.appHealth.tcpSocket.port=80
expect_fail "schema rejects shards above 1024" render --set leasehold.shards=1025
expect_fail "schema rejects negative shards" render --set leasehold.shards=-1
d="$(render --set 'leasehold.elections[0].name=jobs-b' --set 'leasehold.elections[0].shards=16' | to_json)"
expect_eq "shards of a further election: in its item of the ConfigMap" \
  "$(q "$d" '[.[] | select(.kind == "ConfigMap") | .data["config.yaml"]]')" '["elections:\n  - name: \"jobs-b\"\n    shards: 16\n"]'
expect_eq "shards of a further election: the Role is the sharded one (no resourceNames, delete)" \
  "$(q "$d" "[$role | .rules[] | select(.resourceNames) ] + [$role | .rules[] | select(.verbs | index(\"delete\")) | .verbs]")" \
  '[["get","update","patch","delete","watch"]]'
expect_fail "shards of a further election with its leaderLabel is refused" \
  render --set 'leasehold.elections[0].name=jobs-b' --set 'leasehold.elections[0].shards=4' --set 'leasehold.elections[0].leaderLabel=x/l'
expect_fail "shards of a further election that inherits the top-level appHealth is refused" \
  render --set 'leasehold.elections[0].name=jobs-b' --set 'leasehold.elections[0].shards=4' --set leasehold.appHealth.tcpSocket.port=80
expect "... and renders with appHealth: {} for that election" \
  render --set 'leasehold.elections[0].name=jobs-b' --set 'leasehold.elections[0].shards=4' --set leasehold.appHealth.tcpSocket.port=80 \
  --set-json 'leasehold.elections[0].appHealth={}'
expect_fail "schema rejects shards above 1024 for a further election" \
  render --set 'leasehold.elections[0].name=jobs-b' --set 'leasehold.elections[0].shards=2000'

echo "== tests/chart-values/health.yaml"
d="$(render -f "$values/health.yaml" | to_json)"
expect_eq "health: the app health flags reach the sidecar" \
  "$(q "$d" "$side | [.args[] | select(startswith(\"--app-health\"))]")" \
  '["--app-health-url=http://127.0.0.1:8080/healthz","--app-health-period=2s","--app-health-timeout=1s","--app-health-failure-threshold=2","--app-health-success-threshold=1","--app-health-require-before-claim=true"]'
expect_eq "health: per election in the ConfigMap (own TCP check, none, inherited)" \
  "$(q "$d" '.[] | select(.kind == "ConfigMap") | .data["config.yaml"]' | jq -r .)" \
  "$(printf 'elections:\n  - name: "jobs-tcp"\n    app-health-tcp: "5432"\n    app-health-period: "10s"\n    app-health-timeout: "1s"\n    app-health-failure-threshold: "3"\n    app-health-success-threshold: "1"\n    app-health-require-before-claim: "false"\n  - name: "jobs-off"\n    app-health-url: ""\n    app-health-tcp: ""\n    app-health-require-before-claim: "false"\n  - name: "jobs-inherit"')"
expect_eq "health: tcpSocket alone" \
  "$(render --set leasehold.appHealth.tcpSocket.port=6379 | to_json | jq -c "$side | [.args[] | select(startswith(\"--app-health-tcp\"))]")" \
  '["--app-health-tcp=6379"]'
expect_eq "health: off by default (no flags)" "$(render | to_json | jq -c "[$side | .args[] | select(startswith(\"--app-health\"))]")" '[]'
expect_fail "schema rejects a named (string) probe port" render --set-string leasehold.appHealth.httpGet.port=http
expect_fail "schema rejects failureThreshold 0" render --set leasehold.appHealth.failureThreshold=0
expect_fail "schema rejects an unknown appHealth key" render --set leasehold.appHealth.initialDelaySeconds=5
expect_fail "schema rejects app.healthPort above 65535" render --set app.healthPort=70000
out="$(render --set app.healthPort=8081 2>"$work/err")" || { fail "helm template (app.healthPort): $(cat "$work/err")"; out=""; }
d="$(to_json <<<"$out")"
expect_eq "app.healthPort: the app's livenessProbe checks its /healthz (hung app restarted)" \
  "$(q "$d" "$pod | .containers[0] | [.ports, .livenessProbe.httpGet, .livenessProbe.terminationGracePeriodSeconds]")" \
  '[[{"containerPort":8081,"name":"app-health"}],{"path":"/healthz","port":"app-health"},2]'
expect_eq "app.healthPort: a small /tmp for the heartbeat, root file system still read-only" \
  "$(q "$d" "[$pod | (.containers[0].volumeMounts[] | select(.name == \"app-tmp\") | .mountPath), (.volumes[] | select(.name == \"app-tmp\") | .emptyDir.sizeLimit), .containers[0].securityContext.readOnlyRootFilesystem]")" \
  '["/tmp","1Mi",true]'
expect_eq "app.healthPort: the app is told its port" "$(q "$d" "$pod | .containers[0].env[] | select(.name == \"HEALTH_PORT\") | .value")" '"8081"'
expect_fail "schema rejects a path without a leading slash" render --set leasehold.appHealth.httpGet.port=80 --set leasehold.appHealth.httpGet.path=healthz
echo "== your own chart, as docs/packaging.md says, with elections"
# block FILE HEADING: the first fenced block after the line that starts with HEADING.
block() { awk -v h="$2" 'index($0, h) == 1 { on = 1; next } on && /^```/ { if (grab) exit; grab = 1; next } grab' "$1"; }
mine="$work/charts/my-app"
mkdir -p "$mine/templates"
{ printf 'apiVersion: v2\nname: my-app\nversion: 0.1.0\n'; block "$root/docs/packaging.md" "\`Chart.yaml\`:"; } >"$mine/Chart.yaml"
block "$root/docs/packaging.md" "\`values.yaml\`:" >"$mine/values.yaml"
block "$root/docs/packaging.md" "\`templates/leasehold-rbac.yaml\`:" >"$mine/templates/leasehold-rbac.yaml"
block "$root/docs/packaging.md" "\`templates/deployment.yaml\` (the parts to add):" >"$mine/templates/deployment.yaml"
expect "the recipe's deployment template includes leasehold.config" grep -q 'include "leasehold.config"' "$mine/templates/deployment.yaml"
expect "helm dependency build of the recipe's chart" helm dependency build --skip-refresh "$mine"
if out="$(helm template my-app "$mine" --set 'leasehold.elections[0].name=jobs-b' 2>"$work/err")"; then
  d="$(to_json <<<"$out")"
  expect_eq "recipe: the ConfigMap the sidecar mounts is rendered" \
    "$(q "$d" "[.[] | select(.kind == \"ConfigMap\") | .metadata.name] == [$pod | .volumes[] | .configMap.name // empty]")" true
  expect_eq "recipe: one ConfigMap, listing jobs-b" \
    "$(q "$d" '[.[] | select(.kind == "ConfigMap") | .data["config.yaml"]]')" '["elections:\n  - name: \"jobs-b\"\n"]'
else
  fail "helm template of the recipe's chart with elections: $(cat "$work/err")"
fi
expect "recipe without elections renders too" helm template my-app "$mine"
sed -i '/include "leasehold.config"/d' "$mine/templates/deployment.yaml"
if helm template my-app "$mine" --set 'leasehold.elections[0].name=jobs-b' >/dev/null 2>"$work/err"; then
  fail "without leasehold.config, elections render a pod whose ConfigMap is missing (expected a render error)"
else
  expect_match "without leasehold.config, the render fails and says what to include" "$(tr '\n' ' ' <"$work/err")" \
    'include \\?"leasehold.config\\?"'
fi
expect "without elections, leasehold.config is not needed" helm template my-app "$mine"

echo "== tests/chart-values/custom.yaml"
d="$(render -f "$values/custom.yaml" | to_json)"
expect_eq "custom: no ServiceAccount rendered" "$(q "$d" '[.[] | .kind] | sort')" '["Deployment","PodMonitor","Role","RoleBinding"]'
expect_eq "custom: pod runs as the app's ServiceAccount" "$(q "$d" "$pod | .serviceAccountName")" '"my-app"'
expect_eq "custom: RoleBinding subject is the app's ServiceAccount" "$(q "$d" '.[] | select(.kind == "RoleBinding") | .subjects')" '[{"kind":"ServiceAccount","name":"my-app"}]'
expect_eq "custom: fullnameOverride names the objects" "$(q "$d" '[.[] | .metadata.name] | sort')" '["scheduler","scheduler-leasehold","scheduler-leasehold","scheduler-leasehold"]'
expect_eq "custom: liveness off, readiness kept" "$(q "$d" "$side | [has(\"livenessProbe\"), .readinessProbe.periodSeconds]")" '[false,7]'
expect_eq "custom: resources (cpu limit removed with null)" "$(q "$d" "$side | .resources")" '{"limits":{"memory":"40Mi"},"requests":{"cpu":"10m","memory":"20Mi"}}'
pm='.[] | select(.kind == "PodMonitor")'
expect_eq "custom: PodMonitor API" "$(q "$d" "$pm | .apiVersion")" '"monitoring.coreos.com/v1"'
expect_eq "custom: PodMonitor scrapes /metrics on the ops port" "$(q "$d" "$pm | .spec.podMetricsEndpoints")" \
  '[{"interval":"15s","path":"/metrics","port":"leasehold-ops","scrapeTimeout":"10s"}]'
expect_eq "custom: PodMonitor selects the Deployment's pods" "$(q "$d" "[$pm | .spec.selector.matchLabels] == [$dep | .spec.selector.matchLabels]")" true
expect_eq "custom: PodMonitor labels" "$(q "$d" "$pm | .metadata.labels.release")" '"prometheus"'

echo "== schema and template checks reject bad values"
for f in "$values"/bad-*.yaml; do
  name="${f##*/}"
  if render -f "$f" >/dev/null 2>"$work/err"; then
    fail "$name rendered (expected a rejection)"
  else
    expect_match "$name rejected" "$(tr '\n' ' ' <"$work/err")" 'values don.t meet the specifications of the schema|leasehold: set election|Additional property|Invalid type|must be one of'
  fi
done
expect_fail "--set leasehold.statusPort=0 rejected" render --set leasehold.statusPort=0
expect_fail "--set leasehold.unknown=1 rejected" render --set leasehold.unknown=1
expect_fail "--set-string leasehold.opsPort=9090 rejected" render --set-string leasehold.opsPort=9090
expect_fail "--set leasehold.election=Not_A_Name rejected" render --set leasehold.election=Not_A_Name
expect "--set leasehold.sidecarMode=classic accepted" render --set leasehold.sidecarMode=classic

echo "== the Grafana dashboard (leasehold.dashboard)"
expect_eq "off by default" "$(render | to_json | jq -c '[.[] | select(.kind == "ConfigMap")] | length')" 0
d="$(render --set leasehold.dashboard.enabled=true | to_json)"
cm='.[] | select(.kind == "ConfigMap" and (.metadata.name | endswith("-dashboard")))'
expect_eq "dashboard.enabled: a ConfigMap labelled grafana_dashboard=1" "$(q "$d" "$cm | .metadata.labels.grafana_dashboard")" '"1"'
dash="$(jq -r "$cm | .data[\"leasehold.json\"]" <<<"$d")"
expect "its leasehold.json is a dashboard (JSON with panels)" jq -e '.panels | length > 10' <<<"$dash"
expect_eq "every panel has a title and a query of leasehold's metrics" \
  "$(jq '[.panels[] | select((.title | length) > 0 and ([.targets[].expr | test("leasehold_")] | all))] | length' <<<"$dash")" \
  "$(jq '.panels | length' <<<"$dash")"
expect "panels do not overlap (gridPos)" jq -e '[.panels[] | .gridPos | "\(.x),\(.y)"] | (unique | length) == length' <<<"$dash"
expect_fail "schema rejects an unknown dashboard key" render --set leasehold.dashboard.folder=x

echo "== the FlowSchema (leasehold.flowSchema: API Priority and Fairness)"
fs='.[] | select(.kind == "FlowSchema")'
expect_eq "off by default" "$(render | to_json | jq -c "[$fs] | length")" 0
# fs_render RELEASE NAMESPACE [ARGS...]: the FlowSchema of the example chart, enabled, as JSON.
fs_render() { helm template "$1" "$example" --namespace "$2" --set leasehold.flowSchema.enabled=true "${@:3}" | to_json | jq -c "[$fs]"; }
d="$(helm template lh "$example" --namespace team-a --set leasehold.flowSchema.enabled=true | to_json)"
expect_eq "flowSchema.enabled: one FlowSchema of flowcontrol.apiserver.k8s.io/v1, without metadata.namespace (cluster-scoped)" \
  "$(q "$d" "[$fs | [.apiVersion, .metadata.namespace]]")" '[["flowcontrol.apiserver.k8s.io/v1",null]]'
expect_eq "named <fullname>-leasehold.<namespace>" "$(q "$d" "$fs | .metadata.name")" '"lh-leasehold-example-leasehold.team-a"'
expect_eq "priority level leader-election (the built-in one), precedence 300, one flow per user" \
  "$(q "$d" "$fs | [.spec.priorityLevelConfiguration.name, .spec.matchingPrecedence, .spec.distinguisherMethod.type]")" \
  '["leader-election",300,"ByUser"]'
expect_eq "its subject: the ServiceAccount the pods run as, in the release's namespace" \
  "$(q "$d" "$fs | .spec.rules[0].subjects")" \
  "$(q "$d" "[{kind: \"ServiceAccount\", serviceAccount: {name: ($pod | .serviceAccountName), namespace: \"team-a\"}}]")"
expect_eq "one rule: Leases only, in the release's namespace, every verb the sidecar uses; no non-resource rule" \
  "$(q "$d" "[$fs | .spec.rules[] | del(.subjects)]")" \
  '[{"resourceRules":[{"apiGroups":["coordination.k8s.io"],"namespaces":["team-a"],"resources":["leases"],"verbs":["get","list","watch","create","update","patch","delete"]}]}]'
expect_eq "its labels are the sidecar's objects' labels" \
  "$(q "$d" "[$fs][0].metadata.labels == [.[] | select(.kind == \"Role\")][0].metadata.labels")" true
expect_eq "names differ per release and per namespace (two releases never share one)" \
  "$(for rn in "lh team-a" "lh team-b" "lh2 team-a" "lh-team a"; do
       read -r rel ns <<<"$rn"; helm template "$rel" "$example" --namespace "$ns" --set leasehold.flowSchema.enabled=true \
         --show-only templates/leasehold-flowschema.yaml | to_json | jq -r '.[0].metadata.name'
     done | sort -u | wc -l)" 4
expect_eq "serviceAccount.create=false, name my-app: the subject is my-app" \
  "$(fs_render lh team-a --set leasehold.serviceAccount.create=false --set leasehold.serviceAccount.name=my-app | jq -c '.[0].spec.rules[0].subjects[0].serviceAccount')" \
  '{"name":"my-app","namespace":"team-a"}'
expect_eq "priorityLevel and matchingPrecedence from the values" \
  "$(fs_render lh team-a --set leasehold.flowSchema.priorityLevel=workload-high --set leasehold.flowSchema.matchingPrecedence=150 | jq -c '.[0].spec | [.priorityLevelConfiguration.name, .matchingPrecedence]')" \
  '["workload-high",150]'
expect_eq "with shards (Leases of unknown names): the same rule, the namespace's Leases" \
  "$(fs_render lh team-a --set leasehold.shards=4 | jq -S -c '.[0].spec.rules[0].resourceRules')" \
  "$(q "$d" "$fs | .spec.rules[0].resourceRules")"
expect_fail "schema rejects matchingPrecedence 0" render --set leasehold.flowSchema.enabled=true --set leasehold.flowSchema.matchingPrecedence=0
expect_fail "schema rejects matchingPrecedence above 10000" render --set leasehold.flowSchema.matchingPrecedence=10001
expect_fail "schema rejects a priorityLevel that is not a name" render --set leasehold.flowSchema.priorityLevel=Leader_Election
expect_fail "schema rejects an unknown flowSchema key" render --set leasehold.flowSchema.namespace=x

echo "== plain manifests"
mkdir -p "$work/manifests"
if HELM="$(command -v helm)" "$root/manifests/generate.sh" "$work/manifests" >/dev/null 2>"$work/err"; then
  for f in rbac.yaml deployment.yaml leasehold-alerts.yaml leasehold-dashboard.json flowschema.yaml \
    leasehold-injector.yaml leasehold-injector-rbac.yaml; do
    expect "manifests/$f is what manifests/generate.sh renders" diff -u "$root/manifests/$f" "$work/manifests/$f"
  done
else
  fail "manifests/generate.sh: $(cat "$work/err")"
fi
expect_eq "manifests/ hold exactly the chart's default objects" \
  "$(cat "$root/manifests/rbac.yaml" "$root/manifests/deployment.yaml" | to_json | jq -c 'sort_by(.kind)')" \
  "$(render | to_json | jq -c 'sort_by(.kind)')"
expect_eq "manifests/rbac.yaml: ServiceAccount, Role, RoleBinding" "$(to_json <"$root/manifests/rbac.yaml" | jq -c '[.[].kind]')" '["ServiceAccount","Role","RoleBinding"]'
# The header's command for another namespace, run as written (without the apply), gives exactly the
# chart's FlowSchema for that namespace.
fs_edit="$(sed -n 's/^#   \(sed .* manifests\/flowschema.yaml\) | kubectl apply -f -$/\1/p' "$root/manifests/flowschema.yaml")"
expect_match "manifests/flowschema.yaml's header says how to change its namespace" "$fs_edit" '^sed .*NAMESPACE'
expect_eq "... and that command gives the chart's FlowSchema for the namespace" \
  "$(cd "$root" && bash -c "${fs_edit//NAMESPACE/team-b}" | to_json | jq -c .)" \
  "$(helm template leasehold-example "$example" --namespace team-b --set leasehold.flowSchema.enabled=true \
      --show-only templates/leasehold-flowschema.yaml | to_json | jq -c .)"

if [ "${CHART_TEST_NO_CLUSTER:-}" = 1 ]; then
  echo "== control plane part skipped (CHART_TEST_NO_CLUSTER=1)"
  summary
  exit
fi

echo "== against a real control plane"
if ! controlplane_start "$work/cp"; then
  fail "control plane did not start: $(tail -n 5 "$work/cp.log")"
  summary
  exit
fi
ns="chart-test"
# Pods in this namespace must pass Pod Security "restricted" (enforced; warnings for workloads).
kubectl create namespace "$ns" >/dev/null
kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted >/dev/null
# PodMonitor's CRD, reduced to what makes the kind known (the Prometheus Operator is not here).
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: podmonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: PodMonitor, listKind: PodMonitorList, plural: podmonitors, singular: podmonitor}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
EOF
kubectl wait --for=condition=Established crd/podmonitors.monitoring.coreos.com --timeout=30s >/dev/null

# The ServiceAccounts the pod templates name (the ServiceAccount admission plugin wants them).
kubectl create serviceaccount --save-config -n "$ns" leasehold-example >/dev/null
kubectl create serviceaccount --save-config -n "$ns" my-app >/dev/null
# Negative control: the namespace really enforces "restricted".
expect_match "a pod without the restricted securityContext is refused (PSA is enforcing)" \
  "$(kubectl run -n "$ns" --dry-run=server --image=x --overrides='{"spec":{"serviceAccountName":"my-app"}}' \
      pss-negative-control 2>&1)" 'violates PodSecurity "restricted'
for f in default native classic custom; do
  args=(); [ "$f" = default ] || args=(-f "$values/$f.yaml")
  render "${args[@]}" >"$work/$f.yaml"
  expect "$f: every object accepted by kubectl apply --dry-run=server" \
    kubectl apply -n "$ns" --dry-run=server -f "$work/$f.yaml"
  kubectl apply -n "$ns" --dry-run=server -f "$work/$f.yaml" >/dev/null 2>"$work/warn" || true
  expect_eq "$f: no Pod Security warning" "$(grep -c 'would violate PodSecurity' "$work/warn")" 0
  # The pod template as a Pod: admission enforces "restricted" on Pods (and validates the sidecar).
  to_json <"$work/$f.yaml" | jq '.[] | select(.kind == "Deployment")
      | {apiVersion: "v1", kind: "Pod", metadata: {name: "pss-check", labels: .spec.template.metadata.labels},
         spec: .spec.template.spec}' >"$work/$f.pod.json"
  expect "$f: pod template admitted under Pod Security restricted (server dry run)" \
    kubectl create -n "$ns" --dry-run=server -f "$work/$f.pod.json"
done
expect "manifests/ accepted by kubectl apply --dry-run=server -n" \
  kubectl apply -n "$ns" --dry-run=server -f "$root/manifests/rbac.yaml" -f "$root/manifests/deployment.yaml"
# The README's minimal sidecar, as written, in a pod with the volume and an app container it names.
awk '/A minimal sidecar, for orientation:/ { on = 1 } on && /^```yaml/ { grab = 1; next } grab && /^```/ { exit } grab' \
  "$root/README.md" >"$work/readme-sidecar.yaml"
"$PY" - "$work/readme-sidecar.yaml" >"$work/readme-pod.json" <<'PY'
import json, sys, yaml
spec = yaml.safe_load(open(sys.argv[1]))
spec["serviceAccountName"] = "my-app"
spec["volumes"] = [{"name": "leasehold", "emptyDir": {}}]
spec["containers"] = [{"name": "app", "image": "app:1", "volumeMounts": [{"name": "leasehold", "mountPath": "/run/leasehold", "readOnly": True}],
    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}]
print(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "readme-sidecar"}, "spec": spec}))
PY
expect "the README's minimal sidecar passes Pod Security restricted on its own (server dry run)" \
  kubectl create -n "$ns" --dry-run=server -f "$work/readme-pod.json"
expect_eq "the README's sidecar names its ops port as docs/monitoring.md's scrape config keeps it" \
  "$(jq -r '.spec.initContainers[0].ports[0].name' "$work/readme-pod.json")" \
  "$(grep -oE 'container_port_name\], regex: [a-z-]+' "$root/docs/monitoring.md" | head -1 | awk '{ print $NF }')"

echo "== helm install / uninstall of the example chart"
kubectl create namespace chart-install >/dev/null
kubectl label namespace chart-install pod-security.kubernetes.io/enforce=restricted >/dev/null
if helm install -n chart-install leasehold-example "$example" >"$work/install.out" 2>&1; then
  pass "helm install -n chart-install leasehold-example"
else
  fail "helm install: $(tail -n 3 "$work/install.out")"
fi
expect_match "NOTES tell who leads" "$(tr '\n' ' ' <"$work/install.out")" \
  "kubectl -n chart-install get lease leasehold-example -o jsonpath='\{\.spec\.holderIdentity\}'"
expect_eq "installed objects are in the release namespace" \
  "$(kubectl get -n chart-install deployment,serviceaccount,role,rolebinding -l app.kubernetes.io/instance=leasehold-example -o name | sort | tr '\n' ' ')" \
  "deployment.apps/leasehold-example role.rbac.authorization.k8s.io/leasehold-example-leasehold rolebinding.rbac.authorization.k8s.io/leasehold-example-leasehold serviceaccount/leasehold-example "
expect "helm uninstall" helm uninstall -n chart-install leasehold-example
expect_eq "uninstall removes them" \
  "$(kubectl get -n chart-install deployment,serviceaccount,role,rolebinding -l app.kubernetes.io/instance=leasehold-example -o name 2>&1)" ""

echo "== the Role, bound to the ServiceAccount, allows exactly what the agent needs"
kubectl apply -n "$ns" -f "$root/manifests/rbac.yaml" >/dev/null
token="$(kubectl create token leasehold-example -n "$ns" --duration=10m 2>"$work/err")" || fail "kubectl create token: $(cat "$work/err")"
: >"$work/empty-kubeconfig"
as_sa() {
  kubectl --kubeconfig "$work/empty-kubeconfig" --server "$APISERVER_URL" --certificate-authority "$APISERVER_CA" \
    --token "$token" "$@"
}
expect_eq "the token authenticates as the ServiceAccount" \
  "$(as_sa auth whoami -o jsonpath='{.status.userInfo.username}' 2>&1)" "system:serviceaccount:$ns:leasehold-example"
can() { as_sa auth can-i "$@" 2>&1; }
for verb in get update patch watch; do
  expect_eq "CAN $verb lease leasehold-example" "$(can "$verb" leases.coordination.k8s.io/leasehold-example -n "$ns")" yes
done
expect_eq "CAN create leases" "$(can create leases.coordination.k8s.io -n "$ns")" yes
expect_eq "CANNOT update another lease" "$(can update leases.coordination.k8s.io/other -n "$ns")" no
expect_eq "CANNOT get another lease" "$(can get leases.coordination.k8s.io/other -n "$ns")" no
expect_eq "CANNOT delete leases" "$(can delete leases.coordination.k8s.io/leasehold-example -n "$ns")" no
expect_eq "CANNOT patch another lease" "$(can patch leases.coordination.k8s.io/other -n "$ns")" no
expect_eq "CANNOT list leases" "$(can list leases.coordination.k8s.io -n "$ns")" no
expect_eq "CANNOT list pods" "$(can list pods -n "$ns")" no
expect_eq "CANNOT get secrets" "$(can get secrets -n "$ns")" no
expect_eq "CAN create and patch events.k8s.io events (--events)" \
  "$(for v in create patch; do can "$v" events.events.k8s.io -n "$ns"; done | sort -u)" yes
expect_eq "CANNOT delete or list events" \
  "$(for v in delete list; do can "$v" events.events.k8s.io -n "$ns"; done | sort -u)" no
expect_eq "CANNOT update the lease in another namespace" "$(can update leases.coordination.k8s.io/leasehold-example -n default)" no
# And for real: the ServiceAccount creates and updates its Lease, and cannot touch another.
lease() {
  cat <<EOF
{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "$1"},
 "spec": {"holderIdentity": "chart-test", "leaseDurationSeconds": 15}}
EOF
}
expect "the ServiceAccount creates the election's Lease" as_sa create -n "$ns" -f <(lease leasehold-example)
expect "the ServiceAccount updates the election's Lease" as_sa replace -n "$ns" -f <(lease leasehold-example)
kubectl create -n "$ns" -f <(lease other) >/dev/null 2>&1
expect_fail "the ServiceAccount cannot update another Lease" as_sa replace -n "$ns" -f <(lease other)
expect_fail "the ServiceAccount cannot delete its Lease" as_sa delete -n "$ns" lease leasehold-example
# watch_code PATH_QUERY: the HTTP status of a watch of the namespace's Leases as the ServiceAccount.
watch_code() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$APISERVER_CA" -H "Authorization: Bearer $token" \
    "$APISERVER_URL/apis/coordination.k8s.io/v1/namespaces/$1/leases?watch=true&timeoutSeconds=1$2"
}
expect_eq "one election: its watch by name is allowed" "$(watch_code "$ns" '&fieldSelector=metadata.name%3Dleasehold-example')" 200
expect_eq "one election: a watch of the collection is not" "$(watch_code "$ns" '')" 403

echo "== the FlowSchema, applied: the ServiceAccount's Lease requests go to leader-election, nothing else of it does"
helm template leasehold-example "$example" --namespace "$ns" --set leasehold.flowSchema.enabled=true \
  --show-only templates/leasehold-flowschema.yaml >"$work/fs.yaml"
expect "manifests/flowschema.yaml accepted by kubectl apply --dry-run=server" kubectl apply --dry-run=server -f "$root/manifests/flowschema.yaml"
expect "the chart's FlowSchema for $ns applies" kubectl apply -f "$work/fs.yaml"
for builtin in kube-system-service-accounts service-accounts; do
  prec="$(kubectl get flowschema "$builtin" -o jsonpath='{.spec.matchingPrecedence}')"
  expect "the default matchingPrecedence (300) comes before the built-in $builtin ($prec)" [ 300 -lt "${prec:-0}" ]
done
expect_eq "the built-in leader-election level lends none of its seats (lendablePercent 0)" \
  "$(kubectl get prioritylevelconfiguration leader-election -o jsonpath='{.spec.type} {.spec.limited.lendablePercent}')" "Limited 0"
# pf PATH KIND: the X-Kubernetes-PF-<KIND>-UID header of a GET of PATH with the ServiceAccount's token.
pf() {
  curl -s -o /dev/null -D - --max-time 10 --cacert "$APISERVER_CA" -H "Authorization: Bearer $token" "$APISERVER_URL$1" |
    tr -d '\r' | awk -F': ' -v h="x-kubernetes-pf-$2-uid" 'tolower($1) == h { print $2 }'
}
fs_uid="$(kubectl get flowschema "leasehold-example-leasehold.$ns" -o jsonpath='{.metadata.uid}')"
fs_lease() { [ -n "$fs_uid" ] && [ "$(pf "/apis/coordination.k8s.io/v1/namespaces/$ns/leases/leasehold-example" flowschema)" = "$fs_uid" ]; }
expect "a Lease request of the ServiceAccount carries X-Kubernetes-PF-FlowSchema-UID = the FlowSchema's uid" wait_until 10 fs_lease
expect_eq "... at the priority level leader-election" \
  "$(pf "/apis/coordination.k8s.io/v1/namespaces/$ns/leases/leasehold-example" prioritylevel)" \
  "$(kubectl get prioritylevelconfiguration leader-election -o jsonpath='{.metadata.uid}')"
sa_uid="$(kubectl get flowschema service-accounts -o jsonpath='{.metadata.uid}')"
expect_eq "its Events, pods and Leases of another namespace go to the built-in service-accounts FlowSchema" \
  "$(for p in "/apis/events.k8s.io/v1/namespaces/$ns/events" "/api/v1/namespaces/$ns/pods" \
       "/apis/coordination.k8s.io/v1/namespaces/default/leases/leasehold-example"; do pf "$p" flowschema; done | sort -u)" "$sa_uid"
kubectl delete -f "$work/fs.yaml" >/dev/null

echo "== several elections: the Role allows one watch of the collection, and no more"
multi="chart-multi"
kubectl create namespace "$multi" >/dev/null
render -f "$values/features.yaml" | to_json |
  jq '{apiVersion: "v1", kind: "List", items: [.[] | select(.kind | test("^(ServiceAccount|Role|RoleBinding)$"))]}' \
  >"$work/multi-rbac.json"
expect "the Role of features.yaml (three elections) applies" kubectl apply -n "$multi" -f "$work/multi-rbac.json"
token="$(kubectl create token leasehold-example -n "$multi" --duration=10m 2>"$work/err")" || fail "kubectl create token: $(cat "$work/err")"
expect_eq "CAN watch the namespace's leases (one watch for all elections)" "$(can watch leases.coordination.k8s.io -n "$multi")" yes
for election in features-lock jobs-b jobs-c; do
  expect_eq "CAN get/update/patch lease $election" \
    "$(for v in get update patch; do can "$v" "leases.coordination.k8s.io/$election" -n "$multi"; done | sort -u)" yes
done
expect_eq "CANNOT get another lease" "$(can get leases.coordination.k8s.io/other -n "$multi")" no
expect_eq "CANNOT update another lease" "$(can update leases.coordination.k8s.io/other -n "$multi")" no
expect_eq "CANNOT list leases" "$(can list leases.coordination.k8s.io -n "$multi")" no
expect_eq "CANNOT delete leases" "$(can delete leases.coordination.k8s.io/jobs-b -n "$multi")" no
expect_eq "CANNOT watch leases in another namespace" "$(can watch leases.coordination.k8s.io -n default)" no
expect_eq "several elections: the watch of the collection is allowed" "$(watch_code "$multi" '')" 200

summary
