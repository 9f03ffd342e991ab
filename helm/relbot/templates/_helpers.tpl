{{/* Names, labels, the TOML renderer and the pieces every component shares. */}}

{{- define "relbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "relbot.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>": call with (dict "root" $ "component" "detector"). */}}
{{- define "relbot.componentName" -}}
{{- printf "%s-%s" (include "relbot.fullname" .root | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "relbot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: relbot
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "ingest"). */}}
{{- define "relbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "relbot.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "relbot.componentLabels" -}}
{{ include "relbot.labels" .root }}
{{ include "relbot.selectorLabels" . }}
{{- end -}}

{{- define "relbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "relbot.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "relbot.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "relbot.brokers" -}}
{{- required "kafka.brokers is required: the Kafka bootstrap servers, e.g. my-cluster-kafka-bootstrap.kafka:9092" .Values.kafka.brokers -}}
{{- end -}}

{{/*
The [kafka] table every service shares: brokers, client id, topics, TLS files and the raw
librdkafka settings. Returns YAML of a dict (fromYaml it).
*/}}
{{- define "relbot.kafkaTable" -}}
{{- $root := .root -}}
{{- $k := $root.Values.kafka -}}
{{- $lib := deepCopy $k.librdkafka -}}
{{- if $k.tls.caSecret -}}
{{- $_ := set $lib "ssl.ca.location" (printf "/etc/relbot/kafka-ca/%s" $k.tls.caKey) -}}
{{- end -}}
{{- if $k.tls.clientSecret -}}
{{- $_ := set $lib "ssl.certificate.location" (printf "/etc/relbot/kafka-client/%s" $k.tls.clientCertKey) -}}
{{- $_ := set $lib "ssl.key.location" (printf "/etc/relbot/kafka-client/%s" $k.tls.clientKeyKey) -}}
{{- end -}}
brokers: {{ include "relbot.brokers" $root | quote }}
client_id: {{ .clientId | quote }}
{{- if $k.sasl.passwordSecret }}
sasl_password_file: {{ printf "/etc/relbot/kafka-sasl/%s" $k.sasl.passwordKey | quote }}
{{- end }}
topics:
  flows: {{ $k.topics.flows | quote }}
  detections: {{ $k.topics.detections | quote }}
  detector_state: {{ $k.topics.detectorState | quote }}
  reports_dlq: {{ $k.topics.reportsDlq | quote }}
  partitions: {{ int $k.topics.partitions }}
  replication_factor: {{ int $k.topics.replicationFactor }}
{{- if $lib }}
librdkafka:
{{- range $key, $value := $lib }}
  {{ $key | quote }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
TOML from a dict: (dict "table" $dict "path" "").
Scalars and scalar lists first, then sub-tables ([a.b]) and arrays of tables ([[a.b]]).
Whole numbers print as integers (Helm reads every YAML number as a float).
*/}}
{{- define "relbot.toml" -}}
{{- $table := .table -}}
{{- $path := .path -}}
{{- range $key := keys $table | sortAlpha -}}
{{- $v := index $table $key -}}
{{- if and (ne (kindOf $v) "map") (not (and (kindIs "slice" $v) (gt (len $v) 0) (kindIs "map" (first $v)))) (not (kindIs "invalid" $v)) }}
{{ include "relbot.tomlKey" $key }} = {{ include "relbot.tomlValue" $v }}
{{- end -}}
{{- end -}}
{{- range $key := keys $table | sortAlpha -}}
{{- $v := index $table $key -}}
{{- $sub := ternary (include "relbot.tomlKey" $key) (printf "%s.%s" $path (include "relbot.tomlKey" $key)) (eq $path "") -}}
{{- if kindIs "map" $v }}

[{{ $sub }}]
{{- include "relbot.toml" (dict "table" $v "path" $sub) -}}
{{- else if and (kindIs "slice" $v) (gt (len $v) 0) (kindIs "map" (first $v)) -}}
{{- range $item := $v }}

[[{{ $sub }}]]
{{- include "relbot.toml" (dict "table" $item "path" $sub) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "relbot.tomlKey" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . -}}{{ . }}{{- else -}}{{ toJson . }}{{- end -}}
{{- end -}}

{{- define "relbot.tomlValue" -}}
{{- $v := . -}}
{{- if kindIs "string" $v -}}
{{- toJson $v -}}
{{- else if kindIs "bool" $v -}}
{{- ternary "true" "false" $v -}}
{{- else if or (kindIs "float64" $v) (kindIs "float32" $v) -}}
{{- if eq (float64 (int64 $v)) (float64 $v) -}}{{ int64 $v }}{{- else -}}{{ $v }}{{- end -}}
{{- else if or (kindIs "int" $v) (kindIs "int64" $v) (kindIs "int32" $v) -}}
{{- $v -}}
{{- else if kindIs "slice" $v -}}
[{{- range $i, $e := $v -}}{{- if $i }}, {{ end -}}{{- include "relbot.tomlValue" $e -}}{{- end -}}]
{{- else -}}
{{- toJson $v -}}
{{- end -}}
{{- end -}}

{{/* Volumes for the Kafka TLS secrets, and their mounts. */}}
{{- define "relbot.kafkaVolumes" -}}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret }}
{{- end }}
{{- if .Values.kafka.tls.clientSecret }}
- name: kafka-client
  secret:
    secretName: {{ .Values.kafka.tls.clientSecret }}
{{- end }}
{{- if .Values.kafka.sasl.passwordSecret }}
- name: kafka-sasl
  secret:
    secretName: {{ .Values.kafka.sasl.passwordSecret }}
    defaultMode: 0400
{{- end }}
{{- end -}}

{{- define "relbot.kafkaVolumeMounts" -}}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/relbot/kafka-ca
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.clientSecret }}
- name: kafka-client
  mountPath: /etc/relbot/kafka-client
  readOnly: true
{{- end }}
{{- if .Values.kafka.sasl.passwordSecret }}
- name: kafka-sasl
  mountPath: /etc/relbot/kafka-sasl
  readOnly: true
{{- end }}
{{- end -}}

{{/* Probes on the operations port named "http". */}}
{{- define "relbot.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* The config checksum annotation rolls pods when their TOML changes. */}}
{{- define "relbot.podAnnotations" -}}
checksum/config: {{ .config | sha256sum }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The Secret the reporter mounts: existingSecret, the chart's own, or none. */}}
{{- define "relbot.reporterSecretName" -}}
{{- $s := .Values.reporter.secrets -}}
{{- if $s.existingSecret -}}
{{- $s.existingSecret -}}
{{- else if or $s.cchApiKey $s.webhookSecret $s.pseudonymisationKey -}}
{{- include "relbot.componentName" (dict "root" . "component" "reporter") -}}
{{- end -}}
{{- end -}}
