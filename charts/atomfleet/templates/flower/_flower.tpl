{{- define "atomfleet.flower.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "flower") -}}
{{- end -}}
