{{/*
leasehold-example.fullname: this chart's fullname; the leasehold library computes it the same way.
Usage: {{ include "leasehold-example.fullname" . }}
*/}}
{{- define "leasehold-example.fullname" -}}
{{- include "leasehold.fullname" (dict "Values" .Values.leasehold "context" .) -}}
{{- end -}}

{{/*
leasehold-example.labels: labels of this chart's own objects (the app's, not the sidecar's).
Usage: {{ include "leasehold-example.labels" . | nindent 4 }}
*/}}
{{- define "leasehold-example.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "leasehold.selectorLabels" (dict "Values" .Values.leasehold "context" .) }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
