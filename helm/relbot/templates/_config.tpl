{{/*
Each service's TOML, built from the values and then merged with <component>.config (the
user's keys win). The ConfigMaps, the checksum annotations and the tests use these.
*/}}

{{- define "relbot.runtimeTable" -}}
listen: {{ printf "0.0.0.0:%d" (int .port) | quote }}
log_format: {{ .root.Values.logFormat | quote }}
log_level: {{ .root.Values.logLevel | quote }}
drain_timeout: {{ printf "%ds" (int .drain) | quote }}
{{- end -}}

{{- define "relbot.ingestConfig" -}}
{{- $v := .Values.ingest -}}
{{- $kafka := fromYaml (include "relbot.kafkaTable" (dict "root" . "clientId" "relbot-ingest")) -}}
{{- $ingest := dict "create_topics" .Values.kafka.createTopics "monitored" $v.monitored -}}
{{- if $v.templateCache.enabled -}}
{{- $_ := set $ingest "template_cache" (printf "/var/lib/relbot/templates/%s" $v.templateCache.fileName) -}}
{{- end -}}
{{- $udp := dict "listen" (printf "0.0.0.0:%d" (int $v.udpPort)) "workers" $v.udpWorkers "recv_buffer_bytes" $v.recvBufferBytes -}}
{{- $_ := set $ingest "udp" (list $udp) -}}
{{- $runtime := fromYaml (include "relbot.runtimeTable" (dict "root" . "port" $v.httpPort "drain" $v.drainTimeoutSeconds)) -}}
{{- $cfg := dict "runtime" $runtime "kafka" $kafka "ingest" $ingest -}}
{{- $cfg = mergeOverwrite $cfg (deepCopy $v.config) -}}
# relbot-ingest, rendered by the relbot Helm chart (values: ingest.*, kafka.*).
{{- include "relbot.toml" (dict "table" $cfg "path" "") }}
{{ end -}}

{{- define "relbot.detectorConfig" -}}
{{- $v := .Values.detector -}}
{{- $kafka := fromYaml (include "relbot.kafkaTable" (dict "root" . "clientId" "relbot-detector")) -}}
{{- $_ := set $kafka "consumer" (dict "group_id" $v.groupId "session_timeout" $v.sessionTimeout) -}}
{{- $runtime := fromYaml (include "relbot.runtimeTable" (dict "root" . "port" $v.httpPort "drain" $v.drainTimeoutSeconds)) -}}
{{- $cfg := dict "runtime" $runtime "kafka" $kafka "detector" (dict "create_topics" .Values.kafka.createTopics "checkpoint_interval" $v.checkpointInterval) -}}
{{- $cfg = mergeOverwrite $cfg (deepCopy $v.config) -}}
# relbot-detector, rendered by the relbot Helm chart (values: detector.*, kafka.*).
# kafka.consumer.group_instance_id comes from the environment: the pod's name.
{{- include "relbot.toml" (dict "table" $cfg "path" "") }}
{{ end -}}

{{- define "relbot.reporterConfig" -}}
{{- $v := .Values.reporter -}}
{{- if not $v.sinks -}}
{{- fail "reporter.sinks: at least one sink is required (docs/REPORTER.md), e.g. reporter.sinks.audit = {kind: jsonl, path: /var/lib/relbot/reports/reports.jsonl}" -}}
{{- end -}}
{{- $kafka := fromYaml (include "relbot.kafkaTable" (dict "root" . "clientId" "relbot-reporter")) -}}
{{- $_ := set $kafka "consumer" (dict "group_id" $v.groupId) -}}
{{- /* A detection can be held by a sink outage for up to retry.max_elapsed (docs/REPORTER.md). */ -}}
{{- $lib := default (dict) $kafka.librdkafka -}}
{{- if not (hasKey $lib "max.poll.interval.ms") -}}
{{- $_ := set $lib "max.poll.interval.ms" "86400000" -}}
{{- end -}}
{{- $_ := set $kafka "librdkafka" $lib -}}
{{- $runtime := fromYaml (include "relbot.runtimeTable" (dict "root" . "port" $v.httpPort "drain" $v.drainTimeoutSeconds)) -}}
{{- $reporter := dict "state_topic" .Values.kafka.topics.reporterState "create_topics" .Values.kafka.createTopics -}}
{{- $cfg := dict "runtime" $runtime "kafka" $kafka "reporter" $reporter "sinks" (deepCopy $v.sinks) -}}
{{- $cfg = mergeOverwrite $cfg (deepCopy $v.config) -}}
# relbot-reporter, rendered by the relbot Helm chart (values: reporter.*, kafka.*).
# Secrets are never here: sinks read them from files under {{ $v.secretsMountPath }}.
{{- include "relbot.toml" (dict "table" $cfg "path" "") }}
{{ end -}}
