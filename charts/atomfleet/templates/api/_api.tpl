{{- define "atomfleet.api.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "api") -}}
{{- end -}}

{{- define "atomfleet.api.selectorLabels" -}}
{{- include "atomfleet.selectorLabels" (dict "ctx" . "component" "api") -}}
{{- end -}}
