{{/*
leasehold-injector.name: the policies' names (cluster-scoped: one injector per cluster).
*/}}
{{- define "leasehold-injector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "leasehold-injector.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
app.kubernetes.io/name: {{ include "leasehold-injector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
leasehold-injector.settings: the pod annotations leasehold.io/<flag> the sidecar takes, as a
list of "flag kind" pairs; each becomes LEASEHOLD_<FLAG> in the sidecar's environment.
*/}}
{{- define "leasehold-injector.settings" -}}
- [lease-duration, duration]
- [renew-deadline, duration]
- [retry-period, duration]
- [safety-margin, duration]
- [handoff-timeout, duration]
- [app-health-url, url]
- [app-health-tcp, tcp]
- [app-health-period, duration]
- [app-health-failure-threshold, count]
- [events, bool]
- [log-level, level]
{{- end -}}

{{/*
leasehold-injector.pattern: the RE2 pattern (a CEL string literal) an annotation of a kind must
match; the agent checks the same at start, and would otherwise crash-loop on it.
*/}}
{{- define "leasehold-injector.patternsByKind" -}}
duration: '^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$'
url: '^http://(localhost|127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|\[::1\]):[0-9]{1,5}(/[!-~]*)?$'
tcp: '^((localhost|127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|\[::1\]):)?[0-9]{1,5}$'
count: '^[1-9][0-9]{0,3}$'
bool: '^(true|false)$'
level: '^(debug|info|warn|error)$'
{{- end -}}

{{- define "leasehold-injector.pattern" -}}
{{- get (include "leasehold-injector.patternsByKind" . | fromYaml) . | toJson -}}
{{- end -}}

{{/*
leasehold-injector.patterns: the same, as one CEL map literal (JSON is one), kind -> pattern.
*/}}
{{- define "leasehold-injector.patterns" -}}
{{- include "leasehold-injector.patternsByKind" . | fromYaml | toJson -}}
{{- end -}}

{{- define "leasehold-injector.example" -}}
{{- $examples := dict "duration" "e.g. 15s, 500ms, 1m30s" "url" "e.g. http://localhost:8080/healthz" "tcp" "PORT or localhost:PORT" "count" "a whole number from 1" "bool" "true or false" "level" "debug, info, warn or error" -}}
{{- get $examples . -}}
{{- end -}}
