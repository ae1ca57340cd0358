{{- define "atomfleet.postgresql.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "postgresql") -}}
{{- end -}}
