{{- define "atomfleet.redis.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "redis") -}}
{{- end -}}

{{/* redis.conf of the in-chart Redis (its ConfigMap). The password is not in it: the container
reads it from the mounted Secret and hands it to redis-server on stdin (redis-statefulset.yaml). */}}
{{- define "atomfleet.redis.conf" -}}
{{- $r := .Values.redis -}}
port 6379
dir /data
# Broker durability: AOF on; noeviction so queue keys and kombu bindings never vanish.
appendonly yes
appendfsync {{ $r.appendfsync }}
maxmemory-policy noeviction
{{- with $r.maxmemory }}
maxmemory {{ . }}
{{- end }}
{{- end -}}
