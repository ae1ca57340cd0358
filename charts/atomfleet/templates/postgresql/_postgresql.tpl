{{- define "atomfleet.postgresql.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "postgresql") -}}
{{- end -}}

{{/* Which Secret holds the in-chart PostgreSQL password, under which key. */}}
{{- define "atomfleet.postgresql.secretName" -}}
{{- default (include "atomfleet.postgresql.name" .) .Values.postgresql.auth.existingSecret -}}
{{- end -}}

{{- define "atomfleet.postgresql.secretPasswordKey" -}}
{{- .Values.postgresql.auth.existingSecretPasswordKey -}}
{{- end -}}
