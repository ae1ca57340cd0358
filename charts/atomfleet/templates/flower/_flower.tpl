{{- define "atomfleet.flower.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "flower") -}}
{{- end -}}

{{/* Which Secret holds Flower's `user:password`, under which key. */}}
{{- define "atomfleet.flower.secretName" -}}
{{- default (include "atomfleet.flower.name" .) .Values.flower.basicAuth.existingSecret -}}
{{- end -}}

{{- define "atomfleet.flower.secretKey" -}}
{{- ternary .Values.flower.basicAuth.existingSecretKey "basic-auth" (ne .Values.flower.basicAuth.existingSecret "") -}}
{{- end -}}
