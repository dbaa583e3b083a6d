{{/*
Named templates of the leasehold library chart.

Every template takes one dict argument:
  "Values"   the leasehold values map, normally .Values.leasehold of the parent chart (the library's
             defaults from values.yaml are merged into it by Helm);
  "context"  the parent chart's root context ($), for Release, Chart and name overrides.

Templates that render YAML emit it at column 0; indent them with nindent where they are placed.
*/}}

{{/*
leasehold.name: the parent chart's name (or its nameOverride), as used in labels.
Usage: {{ include "leasehold.name" (dict "Values" .Values.leasehold "context" $) }}
*/}}
{{- define "leasehold.name" -}}
{{- default .context.Chart.Name .context.Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
leasehold.fullname: the parent release's fullname, computed like Helm's chart scaffolding does
(fullnameOverride, else the release name, suffixed with the chart name unless it contains it).
Usage: {{ include "leasehold.fullname" (dict "Values" .Values.leasehold "context" $) }}
*/}}
{{- define "leasehold.fullname" -}}
{{- $ctx := .context -}}
{{- if $ctx.Values.fullnameOverride -}}
{{- $ctx.Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default $ctx.Chart.Name $ctx.Values.nameOverride -}}
{{- if contains $name $ctx.Release.Name -}}
{{- $ctx.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" $ctx.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
leasehold.selectorLabels: the labels that select the parent's pods (name + instance).
Usage: {{ include "leasehold.selectorLabels" (dict "Values" .Values.leasehold "context" $) | nindent 4 }}
*/}}
{{- define "leasehold.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leasehold.name" . }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- end -}}

{{/*
leasehold.labels: the common labels of the objects these templates render.
Usage: {{ include "leasehold.labels" (dict "Values" .Values.leasehold "context" $) | nindent 4 }}
*/}}
{{- define "leasehold.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .context.Chart.Name .context.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "leasehold.selectorLabels" . }}
{{- with .context.Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
app.kubernetes.io/component: leader-election
{{- end -}}

{{/*
leasehold.serviceAccountName: the ServiceAccount the pods run as: serviceAccount.name, else the
fullname when serviceAccount.create, else "default".
Usage: serviceAccountName: {{ include "leasehold.serviceAccountName" (dict "Values" .Values.leasehold "context" $) }}
*/}}
{{- define "leasehold.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "leasehold.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
leasehold.roleName: the name of the Role and RoleBinding: "<fullname>-leasehold".
Usage: {{ include "leasehold.roleName" (dict "Values" .Values.leasehold "context" $) }}
*/}}
{{- define "leasehold.roleName" -}}
{{- printf "%s-leasehold" (include "leasehold.fullname" . | trunc 53 | trimSuffix "-") -}}
{{- end -}}

{{/*
leasehold.election: the Lease name; fails the render when it is not set.
Usage: {{ include "leasehold.election" (dict "Values" .Values.leasehold "context" $) }}
*/}}
{{- define "leasehold.election" -}}
{{- required "leasehold: set election (the name of the Lease the replicas compete for)" .Values.election -}}
{{- end -}}

{{/*
leasehold.container: the sidecar container as a map (not a list item), without restartPolicy.
Prefer leasehold.initContainers / leasehold.containers, which place it by sidecarMode.
An extra key "native" (true) adds restartPolicy: Always.
Usage: {{ include "leasehold.container" (dict "Values" .Values.leasehold "context" $) | nindent 10 }}
*/}}
{{- define "leasehold.container" -}}
{{- $v := .Values -}}
name: {{ $v.containerName }}
image: {{ printf "%s:%s" $v.image.repository $v.image.tag | quote }}
imagePullPolicy: {{ $v.image.pullPolicy }}
{{- if .native }}
restartPolicy: Always
{{- end }}
args:
  - {{ printf "--election=%s" (include "leasehold.election" .) | quote }}
  - {{ printf "--lease-duration=%s" $v.leaseDuration | quote }}
  - {{ printf "--renew-deadline=%s" $v.renewDeadline | quote }}
  - {{ printf "--retry-period=%s" $v.retryPeriod | quote }}
  - {{ printf "--status-address=127.0.0.1:%d" (int $v.statusPort) | quote }}
  - {{ printf "--status-dir=%s" $v.statusDir.mountPath | quote }}
  - {{ printf "--ops-address=:%d" (int $v.opsPort) | quote }}
  - {{ printf "--log-level=%s" $v.logLevel | quote }}
  {{- if include "leasehold.handoff" . }}
  - {{ printf "--handoff-timeout=%s" $v.handoffTimeout | quote }}
  {{- end }}
  {{- if $v.leaderLabel }}
  - {{ printf "--leader-label=%s" $v.leaderLabel | quote }}
  {{- end }}
  {{- if $v.shards }}
  {{- if or $v.leaderLabel $v.appHealth.httpGet $v.appHealth.tcpSocket }}
  {{- fail "leasehold: shards cannot be combined with leaderLabel or appHealth (a sharded election has no one leader; health checks of shards are not available yet)" }}
  {{- end }}
  - {{ printf "--shards=%d" (int $v.shards) | quote }}
  {{- end }}
  {{- range (include "leasehold.appHealthFlags" $v.appHealth | fromYamlArray) }}
  - {{ printf "--%s" . | quote }}
  {{- end }}
  {{- if eq (toString $v.events) "false" }}
  - "--events=false"
  {{- end }}
  {{- with $v.hooks }}
  {{- if .onStartLeading }}
  - {{ printf "--on-start-leading=%s" .onStartLeading | quote }}
  {{- end }}
  {{- if .onStopLeading }}
  - {{ printf "--on-stop-leading=%s" .onStopLeading | quote }}
  {{- end }}
  {{- if and .timeout (or .onStartLeading .onStopLeading) }}
  - {{ printf "--hook-timeout=%s" .timeout | quote }}
  {{- end }}
  {{- end }}
  {{- if $v.elections }}
  - "--config=/etc/leasehold/config.yaml"
  {{- end }}
  {{- range $v.extraArgs }}
  - {{ . | quote }}
  {{- end }}
env:
  - name: POD_NAME
    valueFrom:
      fieldRef:
        fieldPath: metadata.name
  - name: POD_NAMESPACE
    valueFrom:
      fieldRef:
        fieldPath: metadata.namespace
  {{- with $v.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
ports:
  - name: leasehold-ops
    containerPort: {{ $v.opsPort }}
    protocol: TCP
{{- with $v.probes.liveness }}
{{- if .enabled }}
livenessProbe:
  httpGet:
    path: /healthz
    port: leasehold-ops
  {{- toYaml (omit . "enabled") | nindent 2 }}
{{- end }}
{{- end }}
{{- with $v.probes.readiness }}
{{- if .enabled }}
readinessProbe:
  httpGet:
    path: /readyz
    port: leasehold-ops
  {{- toYaml (omit . "enabled") | nindent 2 }}
{{- end }}
{{- end }}
resources:
  {{- toYaml $v.resources | nindent 2 }}
securityContext:
  {{- toYaml $v.securityContext | nindent 2 }}
volumeMounts:
  - name: {{ $v.statusDir.volumeName }}
    mountPath: {{ $v.statusDir.mountPath }}
  {{- if $v.elections }}
  - name: {{ $v.statusDir.volumeName }}-config
    mountPath: /etc/leasehold
    readOnly: true
  {{- end }}
{{- end -}}

{{/*
leasehold.nativeSidecar: the sidecar as a list item for the pod's initContainers, with
restartPolicy: Always (a native sidecar, Kubernetes 1.29+): it starts before the app's containers,
runs beside them and is stopped after them.
Usage:
  initContainers:
    {{- include "leasehold.nativeSidecar" (dict "Values" .Values.leasehold "context" $) | nindent 8 }}
*/}}
{{- define "leasehold.nativeSidecar" -}}
- {{ include "leasehold.container" (merge (dict "native" true) .) | indent 2 | trim }}
{{- end -}}

{{/*
leasehold.classicSidecar: the sidecar as a list item for the pod's containers (any Kubernetes).
Usage:
  containers:
    {{- include "leasehold.classicSidecar" (dict "Values" .Values.leasehold "context" $) | nindent 8 }}
*/}}
{{- define "leasehold.classicSidecar" -}}
- {{ include "leasehold.container" (omit . "native") | indent 2 | trim }}
{{- end -}}

{{/*
leasehold.initContainers: the native sidecar list item when sidecarMode is "native", else nothing.
leasehold.containers: the classic sidecar list item when sidecarMode is "classic", else nothing.
Use both, so that values alone switch the mode:
Usage:
  {{- $lh := dict "Values" .Values.leasehold "context" $ }}
  {{- with include "leasehold.initContainers" $lh }}
  initContainers:
    {{- . | nindent 8 }}
  {{- end }}
  containers:
    - name: app
      ...
    {{- with include "leasehold.containers" $lh }}
    {{- . | nindent 8 }}
    {{- end }}
*/}}
{{- define "leasehold.initContainers" -}}
{{- if eq (include "leasehold.mode" .) "native" -}}
{{ include "leasehold.nativeSidecar" . }}
{{- end -}}
{{- end -}}

{{- define "leasehold.containers" -}}
{{- if eq (include "leasehold.mode" .) "classic" -}}
{{ include "leasehold.classicSidecar" . }}
{{- end -}}
{{- end -}}

{{/*
leasehold.mode: sidecarMode, checked ("native" or "classic").
Usage: {{ include "leasehold.mode" (dict "Values" .Values.leasehold "context" $) }}
*/}}
{{- define "leasehold.mode" -}}
{{- $mode := default "native" .Values.sidecarMode -}}
{{- if not (has $mode (list "native" "classic")) -}}
{{- fail (printf "leasehold: sidecarMode must be native or classic, not %q" $mode) -}}
{{- end -}}
{{- $mode -}}
{{- end -}}

{{/*
leasehold.volumes: the emptyDir volume for the status dir, as a list item for the pod's volumes.
Usage:
  volumes:
    {{- include "leasehold.volumes" (dict "Values" .Values.leasehold "context" $) | nindent 8 }}
*/}}
{{- define "leasehold.volumes" -}}
{{- $d := .Values.statusDir -}}
- name: {{ $d.volumeName }}
  {{- if or $d.medium $d.sizeLimit }}
  emptyDir:
    {{- with $d.medium }}
    medium: {{ . }}
    {{- end }}
    {{- with $d.sizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
  {{- else }}
  emptyDir: {}
  {{- end }}
{{- if .Values.elections }}
{{- /* The ConfigMap this volume reads is rendered by leasehold.config; without it the pod would
fail at start, so say so now. */}}
{{- if not (and .context (hasKey .context "leaseholdConfigRendered")) }}
{{- fail "leasehold: elections is set, so the sidecar reads the ConfigMap that leasehold.config renders, and this release has not rendered it before leasehold.volumes: include \"leasehold.config\" at the top of your Deployment's template, followed by --- (see the chart's README)" }}
{{- end }}
- name: {{ $d.volumeName }}-config
  configMap:
    name: {{ include "leasehold.fullname" . }}-config
{{- end }}
{{- end -}}

{{/*
leasehold.config: the ConfigMap that lists the further elections of `elections` (one sidecar,
several Leases; see docs/features.md), as a document of its own (it begins with ---). Renders
nothing when `elections` is empty, and nothing the second time in one release. It must come
before leasehold.volumes, which fails the render without it when `elections` is set: include it
at the top of the template of your Deployment, and end it with ---.
Usage:
  {{- $lh := dict "Values" .Values.leasehold "context" $ }}
  {{- include "leasehold.config" $lh }}
  ---
  apiVersion: apps/v1
  kind: Deployment
*/}}
{{- define "leasehold.config" -}}
{{- $v := .Values -}}
{{- if and $v.elections (not (and .context (hasKey .context "leaseholdConfigRendered"))) }}
{{- if .context }}{{- $_ := set .context "leaseholdConfigRendered" true }}{{- end }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "leasehold.fullname" . }}-config
  labels:
    {{- include "leasehold.labels" . | nindent 4 }}
data:
  config.yaml: |
    elections:
    {{- range $v.elections }}
      - name: {{ .name | quote }}
        {{- with .leaseDuration }}
        lease-duration: {{ . | quote }}
        {{- end }}
        {{- with .renewDeadline }}
        renew-deadline: {{ . | quote }}
        {{- end }}
        {{- with .retryPeriod }}
        retry-period: {{ . | quote }}
        {{- end }}
        {{- with .leaderLabel }}
        leader-label: {{ . | quote }}
        {{- end }}
        {{- if .shards }}
        {{- $health := ternary .appHealth $v.appHealth (hasKey . "appHealth") }}
        {{- if or .leaderLabel (include "leasehold.appHealthFlags" $health | fromYamlArray) }}
        {{- fail (printf "leasehold: elections[%s].shards cannot be combined with leaderLabel or appHealth (a sharded election has no one leader; health checks of shards are not available yet; an item without appHealth inherits the top-level one: set appHealth: {})" .name) }}
        {{- end }}
        shards: {{ int .shards }}
        {{- end }}
        {{- if hasKey . "appHealth" }}
        {{- $flags := include "leasehold.appHealthFlags" .appHealth | fromYamlArray }}
        {{- if not $flags }}
        app-health-url: ""
        app-health-tcp: ""
        app-health-require-before-claim: "false"
        {{- end }}
        {{- range $flags }}
        {{- $kv := splitn "=" 2 . }}
        {{ $kv._0 }}: {{ $kv._1 | quote }}
        {{- end }}
        {{- end }}
    {{- end }}
{{- end }}
{{- end -}}

{{/*
leasehold.volumeMount: the app container's mount of the status dir (status.json and the one-line
file `state`), as a list item for its volumeMounts. Read-only, except when handoffTimeout is set:
then the app must be able to create the `ack` file there to acknowledge a handoff.
Usage:
  volumeMounts:
    {{- include "leasehold.volumeMount" (dict "Values" .Values.leasehold "context" $) | nindent 12 }}
*/}}
{{- define "leasehold.volumeMount" -}}
- name: {{ .Values.statusDir.volumeName }}
  mountPath: {{ .Values.statusDir.mountPath }}
  {{- if not (include "leasehold.handoff" .) }}
  readOnly: true
  {{- end }}
{{- end -}}

{{/*
leasehold.handoff: "true" when handoffTimeout is set (not empty, not 0s), else empty.
*/}}
{{- define "leasehold.handoff" -}}
{{- $t := toString (default "0s" .Values.handoffTimeout) -}}
{{- if not (has $t (list "0" "0s" "0ms")) -}}true{{- end -}}
{{- end -}}

{{/*
leasehold.appEnv: environment for the app container telling it where to ask: LEASEHOLD_STATUS_URL
(http://127.0.0.1:<statusPort>; GET $LEASEHOLD_STATUS_URL/v1/leader is 200 while the pod leads)
and LEASEHOLD_STATE_FILE (the `state` file in the mounted status dir), as list items for env.
Usage:
  env:
    {{- include "leasehold.appEnv" (dict "Values" .Values.leasehold "context" $) | nindent 12 }}
*/}}
{{- define "leasehold.appEnv" -}}
- name: LEASEHOLD_STATUS_URL
  value: {{ printf "http://127.0.0.1:%d" (int .Values.statusPort) | quote }}
- name: LEASEHOLD_STATE_FILE
  value: {{ printf "%s/state" (trimSuffix "/" .Values.statusDir.mountPath) | quote }}
{{- end -}}

{{/*
leasehold.rbac: the ServiceAccount (when serviceAccount.create), and the Role and RoleBinding
(when rbac.create) the agent needs: create leases (which cannot be limited by name), and get,
update, patch and watch only the election's Lease; with further `elections`, get, update and patch
only their Leases, and watch on leases without resourceNames: the sidecar follows all its Leases
with one watch of the namespace's collection, which cannot be limited by name (it sees every Lease
of the namespace, read-only). No metadata.namespace: the objects go to the release's
namespace (or kubectl's -n), and the RoleBinding's subject defaults to the binding's namespace.
Usage (a template file of the parent chart, e.g. templates/leasehold-rbac.yaml):
  {{- include "leasehold.rbac" (dict "Values" .Values.leasehold "context" $) }}
*/}}
{{- define "leasehold.rbac" -}}
{{- $election := include "leasehold.election" . -}}
{{- $v := .Values -}}
{{- if $v.serviceAccount.create }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "leasehold.serviceAccountName" . }}
  labels:
    {{- include "leasehold.labels" . | nindent 4 }}
  {{- with $v.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- if $v.rbac.create }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ include "leasehold.roleName" . }}
  labels:
    {{- include "leasehold.labels" . | nindent 4 }}
rules:
  # create cannot be restricted by resourceNames: the name is not known before the object exists.
  - apiGroups: ["coordination.k8s.io"]
    resources: ["leases"]
    verbs: ["create"]
  {{- $sharded := $v.shards }}{{ range $v.elections }}{{ if .shards }}{{ $sharded = true }}{{ end }}{{ end }}
  {{- if $sharded }}
  # A sharded election: its shard Leases and the members' records, whose names carry a hash of
  # each pod's identity and cannot be listed here; delete: the records of pods that are gone.
  - apiGroups: ["coordination.k8s.io"]
    resources: ["leases"]
    verbs: ["get", "update", "patch", "delete", "watch"]
  {{- else }}
  - apiGroups: ["coordination.k8s.io"]
    resources: ["leases"]
    resourceNames: [{{ $election | quote }}{{ range $v.elections }}, {{ .name | quote }}{{ end }}]
    # patch: renewals are JSON patches guarded by test operations, which other controllers'
    # annotations on the Lease cannot make fail (without it, renewals fall back to update).
    verbs: ["get", "update", "patch"{{ if not $v.elections }}, "watch"{{ end }}]
  {{- end }}
  {{- if and $v.elections (not $sharded) }}
  # One watch follows all the elections' Leases: a watch of several Leases is a watch of the
  # collection, which resourceNames cannot restrict. It shows every Lease of the namespace
  # (read-only; Leases hold no secrets) for one connection instead of one per election.
  - apiGroups: ["coordination.k8s.io"]
    resources: ["leases"]
    verbs: ["watch"]
  {{- end }}
  {{- if ne (toString $v.events) "false" }}
  # --events: Events about the pod's leadership (create; patch: a repeat counted in its series).
  - apiGroups: ["events.k8s.io"]
    resources: ["events"]
    verbs: ["create", "patch"]
  {{- end }}
  {{- $labels := list $v.leaderLabel }}{{ range $v.elections }}{{ $labels = append $labels (.leaderLabel | default "") }}{{ end }}
  {{- if (compact $labels) }}
  # --leader-label patches the pod's own labels; pod names are not known in advance.
  - apiGroups: [""]
    resources: ["pods"]
    verbs: ["get", "patch"]
  {{- end }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ include "leasehold.roleName" . }}
  labels:
    {{- include "leasehold.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ include "leasehold.roleName" . }}
subjects:
  - kind: ServiceAccount
    name: {{ include "leasehold.serviceAccountName" . }}
{{- end }}
{{- end -}}

{{/*
leasehold.flowSchemaName: the FlowSchema's name, "<fullname>-leasehold.<namespace>": FlowSchemas
are cluster-scoped, and a namespace name has no dots, so two releases never share one.
Usage: {{ include "leasehold.flowSchemaName" (dict "Values" .Values.leasehold "context" $) }}
*/}}
{{- define "leasehold.flowSchemaName" -}}
{{- printf "%s.%s" (include "leasehold.roleName" .) .context.Release.Namespace -}}
{{- end -}}

{{/*
leasehold.flowSchema: when flowSchema.enabled (off by default), a flowcontrol.apiserver.k8s.io/v1
FlowSchema (API Priority and Fairness, Kubernetes 1.29+) that sends the Lease requests of the pods'
ServiceAccount in the release's namespace to flowSchema.priorityLevel (default: the built-in
"leader-election"), so that the app's other requests under the same ServiceAccount cannot starve
renewals. It matches leases only (all the verbs the sidecar uses, any Lease of the namespace: a
FlowSchema cannot match by name), not Events or pods. Cluster-scoped: it carries no namespace,
its name and subject name the release's namespace (kubectl's -n does not change them).
Usage (a template file of the parent chart):
  {{- include "leasehold.flowSchema" (dict "Values" .Values.leasehold "context" $) }}
*/}}
{{- define "leasehold.flowSchema" -}}
{{- $v := .Values -}}
{{- if $v.flowSchema.enabled }}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: {{ include "leasehold.flowSchemaName" . }}
  labels:
    {{- include "leasehold.labels" . | nindent 4 }}
spec:
  priorityLevelConfiguration:
    name: {{ $v.flowSchema.priorityLevel }}
  matchingPrecedence: {{ int $v.flowSchema.matchingPrecedence }}
  # One flow per user: each ServiceAccount queues apart from other releases' in the level.
  distinguisherMethod:
    type: ByUser
  rules:
    - subjects:
        - kind: ServiceAccount
          serviceAccount:
            name: {{ include "leasehold.serviceAccountName" . }}
            namespace: {{ .context.Release.Namespace }}
      resourceRules:
        - apiGroups: ["coordination.k8s.io"]
          resources: ["leases"]
          verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
          namespaces: [{{ .context.Release.Namespace | quote }}]
{{- end }}
{{- end -}}

{{/*
leasehold.podMonitor: a monitoring.coreos.com/v1 PodMonitor scraping the sidecar's /metrics on
the port "leasehold-ops", when podMonitor.enabled (off by default). It selects the pods by
leasehold.selectorLabels; pass "selectorLabels" (a map) in the dict to select others.
Usage (a template file of the parent chart):
  {{- include "leasehold.podMonitor" (dict "Values" .Values.leasehold "context" $) }}
*/}}
{{- define "leasehold.podMonitor" -}}
{{- $v := .Values -}}
{{- if $v.podMonitor.enabled }}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: {{ include "leasehold.roleName" . }}
  labels:
    {{- include "leasehold.labels" . | nindent 4 }}
    {{- with $v.podMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- if .selectorLabels }}
      {{- toYaml .selectorLabels | nindent 6 }}
      {{- else }}
      {{- include "leasehold.selectorLabels" . | nindent 6 }}
      {{- end }}
  podMetricsEndpoints:
    - port: leasehold-ops
      path: /metrics
      interval: {{ $v.podMonitor.interval }}
      scrapeTimeout: {{ $v.podMonitor.scrapeTimeout }}
{{- end }}
{{- end -}}

{{/*
leasehold.notes: lines for the parent chart's NOTES.txt.
Usage (templates/NOTES.txt): {{ include "leasehold.notes" (dict "Values" .Values.leasehold "context" $) }}
*/}}
{{- define "leasehold.notes" -}}
{{- $v := .Values -}}
leasehold ({{ include "leasehold.mode" . }} sidecar) elects one leader among the pods through the Lease
{{ include "leasehold.election" . }} in namespace {{ .context.Release.Namespace }}.

  Who leads:       kubectl -n {{ .context.Release.Namespace }} get lease {{ $v.election }} -o jsonpath='{.spec.holderIdentity}'
  From the app:    curl -sf -m 1 http://127.0.0.1:{{ $v.statusPort }}/v1/leader   (200 = this pod leads, 503 = it does not)
                   or read {{ $v.statusDir.mountPath }}/state
  Metrics:         :{{ $v.opsPort }}/metrics (port "leasehold-ops"){{ if $v.podMonitor.enabled }}, scraped by a PodMonitor{{ end }}
{{- if $v.flowSchema.enabled }}
  Lease requests:  priority level {{ $v.flowSchema.priorityLevel }} (FlowSchema {{ include "leasehold.flowSchemaName" . }});
                   check: kubectl get flowschema {{ include "leasehold.flowSchemaName" . }}
{{- end }}
{{- end -}}

{{/*
leasehold.prometheusRule: a monitoring.coreos.com/v1 PrometheusRule with leasehold's alerts, when
prometheusRule.enabled (off by default). manifests/leasehold-alerts.yaml holds the same rules
(default values) as a plain Prometheus rules file, generated from this template by
manifests/generate.sh. What each alert means and what to do: docs/monitoring.md.
Usage (a template file of the parent chart):
  {{- include "leasehold.prometheusRule" (dict "Values" .Values.leasehold "context" $) }}
*/}}
{{- define "leasehold.prometheusRule" -}}
{{- $v := .Values -}}
{{- if $v.prometheusRule.enabled }}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ include "leasehold.roleName" . }}
  labels:
    {{- include "leasehold.labels" . | nindent 4 }}
    {{- with $v.prometheusRule.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- include "leasehold.alertGroups" $v.prometheusRule | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
leasehold.alertGroups: the rule groups (a "groups:" map), from the prometheusRule values.
*/}}
{{- define "leasehold.alertGroups" -}}
{{- $r := . -}}
{{- $agent := printf "up{%s}" $r.agentSelector -}}
groups:
  - name: leasehold
    rules:
      - alert: LeaseholdNoLeader
        # Every agent of the election is scraped and none leads. A crash failover leaves no leader
        # for up to the lease duration plus the safety margin: noLeaderFor must be longer.
        expr: sum by (namespace, election) (leasehold_is_leader) == 0
        for: {{ $r.noLeaderFor }}
        labels:
          severity: critical
        annotations:
          summary: {{ `No leader for election {{ $labels.election }} in {{ $labels.namespace }}` | quote }}
          description: {{ printf "No pod has led the election for %s although its agents run: the once-only work is not done. See docs/monitoring.md#leaseholdnoleader." $r.noLeaderFor | quote }}
      - alert: LeaseholdTwoLeaders
        # Must never fire. Two scrapes taken at different moments can see a handover's old and new
        # leader both at 1, for up to one scrape interval: twoLeadersFor must be longer.
        expr: sum by (namespace, election) (leasehold_is_leader) > 1
        for: {{ $r.twoLeadersFor }}
        labels:
          severity: critical
        annotations:
          summary: {{ `{{ $value }} pods claim to lead election {{ $labels.election }} in {{ $labels.namespace }}` | quote }}
          description: "More than one agent says it leads. Check the fencing tokens your app sent and the pods' clocks. See docs/monitoring.md#leaseholdtwoleaders."
      - alert: LeaseholdFlapping
        expr: sum by (namespace, election) (increase(leasehold_leadership_transitions_total{direction="started"}[{{ $r.flappingWindow }}])) > {{ $r.flappingThreshold }}
        labels:
          severity: warning
        annotations:
          summary: {{ `Leadership of {{ $labels.election }} in {{ $labels.namespace }} changes often` | quote }}
          description: {{ printf "More than %v terms began within %s. See docs/monitoring.md#leaseholdflapping." $r.flappingThreshold $r.flappingWindow | quote }}
      - alert: LeaseholdRenewalsFailing
        expr: sum by (namespace, pod, election) (increase(leasehold_renewals_total{outcome="failure"}[5m])) > 0
        for: {{ $r.renewalsFailingFor }}
        labels:
          severity: warning
        annotations:
          summary: {{ `Lease renewals of {{ $labels.pod }} ({{ $labels.election }}) fail` | quote }}
          description: "The leader's renewals keep failing; it steps down at renew-deadline. See docs/monitoring.md#leaseholdrenewalsfailing."
      - alert: LeaseholdWatchDisconnected
        expr: max by (namespace, pod, election) (leasehold_watch_connected) == 0
        for: {{ $r.watchDisconnectedFor }}
        labels:
          severity: warning
        annotations:
          summary: {{ `The Lease watch of {{ $labels.pod }} ({{ $labels.election }}) is down` | quote }}
          description: "The agent polls instead of watching: handovers take up to retry-period instead of milliseconds. See docs/monitoring.md#leaseholdwatchdisconnected."
      - alert: LeaseholdAgentDown
        expr: {{ printf "%s == 0" $agent | quote }}
        for: {{ $r.agentDownFor }}
        labels:
          severity: warning
        annotations:
          summary: {{ `The leasehold agent of {{ $labels.namespace }}/{{ $labels.pod }} cannot be scraped` | quote }}
          description: "A scrape target of the sidecar fails: the pod cannot take part in the election, or its metrics port is blocked. See docs/monitoring.md#leaseholdagentdown."
{{- end -}}

{{/*
leasehold.appHealthFlags: the agent's app-health settings (without "--", as "name=value") for an
appHealth map, as a YAML list; empty when neither httpGet nor tcpSocket is set.
*/}}
{{- define "leasehold.appHealthFlags" -}}
{{- $h := . | default dict -}}
{{- $flags := list -}}
{{- if and $h.httpGet $h.httpGet.port -}}
{{- $flags = append $flags (printf "app-health-url=http://127.0.0.1:%d%s" (int $h.httpGet.port) ($h.httpGet.path | default "/")) -}}
{{- else if and $h.tcpSocket $h.tcpSocket.port -}}
{{- $flags = append $flags (printf "app-health-tcp=%d" (int $h.tcpSocket.port)) -}}
{{- end -}}
{{- if $flags -}}
{{- $flags = append $flags (printf "app-health-period=%ds" (int ($h.periodSeconds | default 10))) -}}
{{- $flags = append $flags (printf "app-health-timeout=%ds" (int ($h.timeoutSeconds | default 1))) -}}
{{- $flags = append $flags (printf "app-health-failure-threshold=%d" (int ($h.failureThreshold | default 3))) -}}
{{- $flags = append $flags (printf "app-health-success-threshold=%d" (int ($h.successThreshold | default 1))) -}}
{{- $flags = append $flags (printf "app-health-require-before-claim=%s" (ternary "true" "false" (eq (toString $h.requireBeforeClaim) "true"))) -}}
{{- end -}}
{{- toYaml $flags -}}
{{- end -}}
