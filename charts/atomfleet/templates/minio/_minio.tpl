{{- define "atomfleet.minio.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "minio") -}}
{{- end -}}

{{- define "atomfleet.minio.secretName" -}}
{{- default (include "atomfleet.minio.name" .) .Values.minio.auth.existingSecret -}}
{{- end -}}

{{- define "atomfleet.minio.credentialsEnv" -}}
- name: MINIO_ROOT_USER
  valueFrom:
    secretKeyRef:
      name: {{ include "atomfleet.minio.secretName" . }}
      key: root-user
- name: MINIO_ROOT_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "atomfleet.minio.secretName" . }}
      key: root-password
{{- end -}}
