{{/* Chart name, truncated to the 63 characters a label value may have. */}}
{{- define "gateway-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "gateway-exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gateway-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gateway-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gateway-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gateway-exporter.labels" -}}
helm.sh/chart: {{ include "gateway-exporter.chart" . }}
{{ include "gateway-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gateway-exporter
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "gateway-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gateway-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image; global.imageRegistry (a parent chart's mirror) wins over image.registry. */}}
{{- define "gateway-exporter.image" -}}
{{- $repo := .Values.image.repository }}
{{- $registry := default .Values.image.registry (.Values.global).imageRegistry }}
{{- if $registry }}{{ $repo = printf "%s/%s" $registry $repo }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
A file of the repository's alerts/ or dashboards/ (read through the chart's symlinks), with
the link prefixes the files are written with replaced: runbooks by .Values.runbookUrl,
Grafana dashboards by .Values.dashboardUrl.
*/}}
{{- define "gateway-exporter.withRunbookUrl" -}}
{{- $runbooks := "https://github.com/gateway-exporter/gateway-exporter/blob/main/alerts/runbooks/" }}
{{- $dashboards := "http://localhost:3000/d/" }}
{{- .content | replace $runbooks .root.Values.runbookUrl | replace $dashboards .root.Values.dashboardUrl }}
{{- end }}

{{/*
The exporter's config file: .Values.config, with the hosts of serviceMonitor.targets added
to probe_endpoint.allowed_targets (the chart's own /probe targets are trusted).
*/}}
{{- define "gateway-exporter.config" -}}
{{- $config := deepCopy .Values.config }}
{{- $hosts := list }}
{{- if .Values.serviceMonitor.enabled }}
{{- range .Values.serviceMonitor.targets }}
{{- $hosts = append $hosts (urlParse .url).hostname }}
{{- end }}
{{- end }}
{{- if $hosts }}
{{- $endpoint := default dict $config.probe_endpoint }}
{{- $allowed := concat (default list $endpoint.allowed_targets) $hosts | uniq }}
{{- $_ := set $endpoint "allowed_targets" $allowed }}
{{- $_ := set $config "probe_endpoint" $endpoint }}
{{- end }}
{{- toYaml $config }}
{{- end }}
