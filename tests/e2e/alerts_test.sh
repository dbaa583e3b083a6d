#!/usr/bin/env bash
# The alert rules shipped for Prometheus (manifests/leasehold-alerts.yaml, generated from the
# chart's PrometheusRule by manifests/generate.sh; chart_test.sh diffs the two):
#   - `promtool check rules` accepts them;
#   - every alert has unit tests, and `promtool test rules` passes them
#     (tests/alerts/leasehold-alerts.test.yaml: each alert fires when it should, not before its
#     `for`, and a healthy election fires nothing);
#   - the chart renders the PrometheusRule only when prometheusRule.enabled, with the same groups.
# Needs promtool and helm (.cache/tools/bin, make tools) and python3 with PyYAML.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib/suite.sh
source "$root/tests/lib/suite.sh"
suite_begin alerts_test
export PATH="$TOOLS_BIN:$PATH"
rules="$root/manifests/leasehold-alerts.yaml"
unit="$root/tests/alerts/leasehold-alerts.test.yaml"

for b in promtool helm; do
  command -v "$b" >/dev/null || { fail "$b missing (make tools)"; summary; exit 1; }
done

echo "== promtool"
expect "promtool check rules manifests/leasehold-alerts.yaml" promtool check rules "$rules"
names() { python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1]))
print("\n".join(sorted({r["alert"] for g in d["groups"] for r in g["rules"] if "alert" in r})))' "$1"; }
tested() { python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1]))
print("\n".join(sorted({a["alertname"] for t in d["tests"] for a in t.get("alert_rule_test", []) if a.get("exp_alerts")})))' "$1"; }
expect_eq "the six alerts are there" "$(names "$rules" | tr '\n' ' ')" \
  "LeaseholdAgentDown LeaseholdFlapping LeaseholdNoLeader LeaseholdRenewalsFailing LeaseholdTwoLeaders LeaseholdWatchDisconnected "
expect_eq "every alert has a unit test in which it fires" "$(tested "$unit")" "$(names "$rules")"
if out="$(cd "$(dirname "$unit")" && promtool test rules "$(basename "$unit")" 2>&1)"; then
  pass "promtool test rules ($(grep -c '^  - name:' "$unit") cases)"
else
  fail "promtool test rules"; echo "$out" | tail -n 30 | sed 's/^/        /'
fi

echo "== the chart"
charts_stage "$work"
helm dependency build --skip-refresh "$work/charts/leasehold-example" >/dev/null
render() { helm template t "$work/charts/leasehold-example" "$@" 2>&1; }
expect_eq "no PrometheusRule by default" "$(render | grep -c '^kind: PrometheusRule')" 0
render --set leasehold.prometheusRule.enabled=true --set leasehold.prometheusRule.noLeaderFor=45s \
  --show-only templates/leasehold-prometheusrule.yaml >"$work/rule.yaml"
expect_eq "prometheusRule.enabled renders one PrometheusRule" "$(grep -c '^kind: PrometheusRule' "$work/rule.yaml")" 1
python3 -c 'import sys, yaml; print(yaml.safe_dump(yaml.safe_load(open(sys.argv[1]))["spec"]))' "$work/rule.yaml" >"$work/rules.yaml"
expect "its groups pass promtool check rules" promtool check rules "$work/rules.yaml"
expect_eq "noLeaderFor sets LeaseholdNoLeader's for" \
  "$(python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1]))
print([r["for"] for g in d["groups"] for r in g["rules"] if r.get("alert") == "LeaseholdNoLeader"][0])' "$work/rules.yaml")" 45s
expect_fail "a bad duration is refused by the schema" helm template t "$work/charts/leasehold-example" \
  --set leasehold.prometheusRule.enabled=true --set leasehold.prometheusRule.noLeaderFor=soon
summary
