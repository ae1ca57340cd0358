{{- define "atomfleet.beat.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "beat") -}}
{{- end -}}
