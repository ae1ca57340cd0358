{{- define "atomfleet.events.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "events") -}}
{{- end -}}

{{- define "atomfleet.events.selectorLabels" -}}
{{- include "atomfleet.selectorLabels" (dict "ctx" . "component" "events") -}}
{{- end -}}
