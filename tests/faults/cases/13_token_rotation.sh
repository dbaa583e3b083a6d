#!/usr/bin/env bash
# Case 13: credentials rotated under a leader. Agent a authenticates with a kubeconfig whose user
# has `tokenFile:` (as an in-cluster projected token), holding a bound ServiceAccount token; b
# uses admin credentials (the other candidate). Each token is bound to its own Secret
# (`kubectl create token --bound-object-kind Secret`), so deleting that Secret revokes exactly
# that token (the API server checks bound objects on every request).
# Round 1 (rotation): the file is replaced by a new token, then the old one is revoked: a's next
# request meets 401, it re-reads the file at once and retries: no demotion, same term.
# Round 2 (revoked, no replacement): persistent 401: a demotes (at renew-deadline) rather than
# stay leader, b takes over, a keeps running; once a valid token is in the file again a follows b.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 13_token_rotation

cat <<YAML | kube_kubectl apply -n "$NS" -f - >/dev/null
apiVersion: v1
kind: ServiceAccount
metadata: {name: elector}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: elector}
rules:
- {apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"]}
- {apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: ["$ELECTION"], verbs: ["get", "update", "watch"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: elector}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: elector}
subjects: [{kind: ServiceAccount, name: elector}]
YAML
# mint N: a token for SA elector bound to Secret tok-N (created here); echoes it.
mint() {
  kube_kubectl -n "$NS" create secret generic "tok-$1" >/dev/null || return 1
  kube_kubectl -n "$NS" create token elector --duration=10m --bound-object-kind Secret --bound-object-name "tok-$1"
}
revoke() { kube_kubectl -n "$NS" delete secret "tok-$1" >/dev/null; }
put_token() { printf '%s' "$1" >"$work/token.tmp" && mv "$work/token.tmp" "$work/token"; }
t1="$(mint 1)" || { fail "mint"; summary; exit 1; }
put_token "$t1"
port="$(proxy_new a)"
cat >"$work/a.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:$port", certificate-authority: "$APISERVER_CA"}}]
contexts: [{name: test, context: {cluster: test, user: sa, namespace: "$NS"}}]
current-context: test
users: [{name: sa, user: {tokenFile: "$work/token"}}]
KC
agent_start a
wait_until 20 ready a; app_start a http; app_start a file
wait_leader $((3 * LD + 10)) a >/dev/null || { fail "a did not lead with its token"; summary; exit 1; }
agent_start b
wait_until 20 ready b; app_start b http; app_start b file
wait_acting a
token="$(token_of a)"
log "a leads (token $token) with a bound ServiceAccount token from its tokenFile"

# --- round 1: rotation
t_ns="$(now_ns)"
put_token "$(mint 2)"
revoke 1
t="$(now_ms)"
log "[rotation] token file replaced, the old token revoked"
expect "[rotation] a met a 401" wait_until $((RP + 10)) sh -c "curl -s -m 2 127.0.0.1:$(oport a)/metrics | grep -qE 'leasehold_api_requests_total\\{[^}]*code=\"401\"'"
sleep $((2 * RP))
renewed_after="$(renewals_ok a)"
sleep $((2 * RP))
expect "[rotation] a keeps renewing with the new token" [ "$(renewals_ok a)" -gt "$renewed_after" ]
expect_eq "[rotation] a still leads, same term" "$(token_of a)" "$token"
expect "[rotation] no demotion" [ "$(log_count a '.msg=="stopped leading"')" = 0 ]
report --from-ns "$t_ns" >/dev/null
gap1="$(rj '.longest_gap_ms|floor')"
expect "[rotation] a's apps acted throughout (longest gap $gap1 ms)" [ "$gap1" -lt 500 ]
n401="$(api_requests a "" 401)"
log "[rotation] 401s seen: $n401; renewals continue"

# --- round 2: revoked, nothing to replace it
wait_renew a >/dev/null
read -r _ old_until _ <"$work/a/state"
t="$(now_ms)"; t_ns="$(now_ns)"; t_rev="$t"
revoke 2
log "[revoked] a's only token revoked"
expect "[revoked] a demoted" wait_until $((RD + 5)) log_has a '.msg=="stopped leading"'
stopped="$(log_ms a '^stopped leading$' "$t")"
new="$(wait_leader $((LD + 10)) b)" || new=""
started="$(log_ms b '^started leading$' "$t")"
log "[revoked] a stopped leading at +$((stopped - t)) ms ($(jq -R -r 'fromjson? | select(.msg=="lease request failed") | .error' "$work/a.log" | sort | uniq -c | tr '\n' ' ')); b leads at +$((started - t)) ms"
first401="$(log_ms a '^lease request failed$' "$t")"
log "[revoked] the API server's first 401 came +$((first401 - t)) ms after the revocation (its token cache)"
expect "[revoked] a demoted within renew-deadline of its first 401 (+$((stopped - first401)) ms)" \
  [ $((stopped - first401)) -le $((RD_MS + 200)) ]
expect "[revoked] the 401s are logged as unauthorized" log_has a '.error=="unauthorized"'
expect "[revoked] b took over" [ -n "$new" ]
expect "[revoked] after a's claim ended" [ "${started:-0}" -ge "$old_until" ]
expect "[revoked] a keeps running" alive a
report --fault-at "$t_ns" >/dev/null
fo="$(rj '.failover_ms // 99999 | floor')"
put_token "$(mint 3)"
t="$(now_ms)"
expect "[revoked] with a valid token again, a follows b" \
  wait_until $((LD + 70)) sh -c "[ \"\$(curl -s -m 2 127.0.0.1:$(sport a)/v1/status | jq -r .leader)\" = b ] && [ \$(curl -s -m 2 127.0.0.1:$(oport a)/metrics | grep -E '^leasehold_api_requests_total\\{[^}]*code=\"200\"' | awk '{s+=\$NF} END {print s+0}') -gt 0 ]"
log "[revoked] a back in touch $(($(now_ms) - t)) ms after the new token was written"
report
expect_no_overlap
FAILOVER_MS="$fo" standard_figures "rotation_longest_gap_ms=$gap1" "rotation_401s=$n401" \
  "revocation_to_first_401_ms=$((first401 - t_rev))" "first_401_to_demotion_ms=$((stopped - first401))"
summary
