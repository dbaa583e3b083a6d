#!/usr/bin/env bash
# make bench, phase footprint: the sidecar's memory where it is paid, in a pod on a real node.
#
# Usage: bench/footprint.sh OUT.json
#
# One real single-node cluster (tests/cluster/up), one namespace, two Deployments of the same
# shape (3 replicas; an idle main container and the elector as a native sidecar with an emptyDir
# in memory as its status dir, the chart's default; the same Role): one with leasehold's default
# image (our Dockerfile), one with client-go's elector (`reference-elector`) packaged the way ours
# is (FROM scratch: the binary and a passwd line; it is a static Go binary, so nothing else).
# Default timings (15s/10s/2s). Once each Deployment's Lease has a holder and after SETTLE
# seconds, SAMPLES samples INTERVAL seconds apart of each sidecar container's memory as the
# kubelet reports it (`/stats/summary` through the API server: workingSetBytes, rssBytes, usage),
# and the image sizes. Writes OUT.json; prints a summary line per kind.
#
# Settings (environment): IMAGE (leasehold image to build and use, default leasehold:bench),
# FOOTPRINT_SETTLE (30), FOOTPRINT_SAMPLES (5), FOOTPRINT_INTERVAL (10), SUITE_KEEP (keep the
# work folder and the cluster's logs).
set -euo pipefail

out="${1:?usage: $0 OUT.json}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TOOLS_BIN="${TOOLS_BIN:-$root/.cache/tools/bin}"
image="${IMAGE:-leasehold:bench}"
ref_image=leasehold-bench/reference-elector:1
idle_image=leasehold-base/debian:bookworm
settle="${FOOTPRINT_SETTLE:-30}"
samples="${FOOTPRINT_SAMPLES:-5}"
interval="${FOOTPRINT_INTERVAL:-10}"

# shellcheck source=../tests/lib/suite.sh
. "$root/tests/lib/suite.sh"
suite_begin footprint bench-footprint
cdir="$work/cluster"
log() { echo "footprint [$(date +%T)] $*"; }

log "images"
"$root/docker/base-image.sh" >/dev/null
docker build -q --network host -t "$image" "$root" >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
ctx="$work/reference-image"
mkdir -p "$ctx/etc"
cp "$TOOLS_BIN/reference-elector" "$ctx/reference-elector"
echo 'nonroot:x:65532:65532:nonroot:/:/sbin/nologin' >"$ctx/etc/passwd"
printf 'FROM scratch\nCOPY etc/passwd /etc/passwd\nCOPY reference-elector /reference-elector\nUSER 65532:65532\nENTRYPOINT ["/reference-elector"]\n' \
  >"$ctx/Dockerfile"
docker build -q -t "$ref_image" "$ctx" >"$work/ref-build.log" 2>&1 || { cat "$work/ref-build.log"; exit 1; }

log "cluster"
cluster_start "$cdir" "$image" "$ref_image" "$idle_image" || { tail -30 "$cdir.log"; exit 1; }
k() { kube_kubectl "$@"; }
NS=footprint
k create namespace "$NS" >/dev/null

# deployment NAME IMAGE ARGS_JSON: 3 replicas, the elector as a native sidecar.
deployment() {
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, namespace: $NS}
spec:
  replicas: 3
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      serviceAccountName: elector
      terminationGracePeriodSeconds: 5
      initContainers:
        - name: elector
          image: $2
          imagePullPolicy: Never
          restartPolicy: Always
          args: $3
          env:
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
          securityContext: {runAsNonRoot: true, runAsUser: 65532, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}
          volumeMounts: [{name: status, mountPath: /run/leasehold}]
      containers:
        - name: app
          image: $idle_image
          imagePullPolicy: Never
          command: [sleep, infinity]
      volumes: [{name: status, emptyDir: {medium: Memory, sizeLimit: 1Mi}}]
EOF
}
{
  cat <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: elector, namespace: $NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: elector, namespace: $NS}
rules:
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [get, list, watch, create, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: elector, namespace: $NS}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: elector}
subjects: [{kind: ServiceAccount, name: elector, namespace: $NS}]
---
EOF
  # shellcheck disable=SC2016 # $(POD_NAME): expanded by the kubelet, not here
  deployment leasehold "$image" \
    '["--election=leasehold", "--identity=$(POD_NAME)", "--namespace=$(POD_NAMESPACE)", "--status-dir=/run/leasehold"]'
  echo "---"
  # shellcheck disable=SC2016 # $(POD_NAME): expanded by the kubelet, not here
  deployment reference "$ref_image" \
    '["--election=reference", "--identity=$(POD_NAME)", "--namespace=$(POD_NAMESPACE)", "--status-address=127.0.0.1:4040"]'
} >"$work/manifests.yaml"
k apply -f "$work/manifests.yaml" >/dev/null

holder() { k get lease -n "$NS" "$1" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
ready() {
  [ "$(k get deployment -n "$NS" "$1" -o jsonpath='{.status.readyReplicas}' 2>/dev/null)" = 3 ] && [ -n "$(holder "$1")" ]
}
for d in leasehold reference; do
  end=$(($(date +%s) + 180))
  until ready "$d"; do
    if [ "$(date +%s)" -gt "$end" ]; then
      k get pods -n "$NS" -o wide; k describe pods -n "$NS" | tail -40
      echo "footprint: $d did not become ready with a leader" >&2; exit 1
    fi
    sleep 1
  done
  log "$d: 3 pods ready, leader $(holder "$d")"
done
sleep "$settle"

: >"$work/samples.jsonl"
for i in $(seq 1 "$samples"); do
  k get --raw "/api/v1/nodes/$NODE_NAME/proxy/stats/summary" |
    jq -c --arg ns "$NS" --arg lh "$(holder leasehold)" --arg rf "$(holder reference)" \
      '.pods[] | select(.podRef.namespace == $ns) | .podRef.name as $pod
       | .containers[] | select(.name == "elector")
       | {pod: $pod, leader: ($pod == $lh or $pod == $rf), working_set: .memory.workingSetBytes,
          rss: .memory.rssBytes, usage: .memory.usageBytes, cpu_nano_cores: .cpu.usageNanoCores}' >>"$work/samples.jsonl"
  [ "$i" -lt "$samples" ] && sleep "$interval"
done

size_of() { docker image inspect "$1" --format '{{.Size}}'; }
python3 - "$work/samples.jsonl" "$out" "$(size_of "$image")" "$(size_of "$ref_image")" "$image" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out = {"image_bytes": {"leasehold": int(sys.argv[3]), "reference": int(sys.argv[4])}, "image": sys.argv[5], "kinds": {}}
for kind in ("leasehold", "reference"):
    mine = [r for r in rows if r["pod"].startswith(kind + "-")]
    k = {"samples": len(mine)}
    for key in ("working_set", "rss", "usage", "cpu_nano_cores"):
        xs = [r[key] for r in mine if r.get(key) is not None]
        k[key + "_median"] = statistics.median(xs) if xs else None
        lead = [r[key] for r in mine if r.get(key) is not None and r["leader"]]
        k[key + "_leader_median"] = statistics.median(lead) if lead else None
    out["kinds"][kind] = k
lh, rf = out["kinds"]["leasehold"]["working_set_median"], out["kinds"]["reference"]["working_set_median"]
out["working_set_ratio"] = round(lh / rf, 3) if lh and rf else None
json.dump(out, open(sys.argv[2], "w"), indent=1, sort_keys=True)
for kind, k in out["kinds"].items():
    mib = lambda x: "n/a" if x is None else f"{x / 1048576:.1f} MiB"
    print(f"footprint: {kind}: working set {mib(k['working_set_median'])} (leader {mib(k['working_set_leader_median'])}), "
          f"RSS {mib(k['rss_median'])}, {k['samples']} samples; image {out['image_bytes'][kind] / 1e6:.1f} MB")
print(f"footprint: working set leasehold / client-go = {out['working_set_ratio']} (goal <= 0.5)")
EOF
