{{- define "atomfleet.redis.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "redis") -}}
{{- end -}}
