{{/* ---------------------------------------------------------------------------------------------
Migrations. With an external database (the default) `atomfleet migrate` runs as a pre-install /
pre-upgrade hook, before any pod of the new release version starts. A pre-install hook runs
before the chart's ConfigMap, Secrets and ServiceAccount exist, so the hook Job carries its own:
the configuration is inlined, value-given credentials come from a hook Secret, and it runs under
a hook ServiceAccount.
With the in-chart PostgreSQL the database does not exist before install, so the hook moves to
post-install (pre-upgrade stays); the Job then reads the release's own Secrets.
--------------------------------------------------------------------------------------------- */}}

{{- define "atomfleet.migrations.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "migrations") -}}
{{- end -}}

{{- define "atomfleet.migrations.secretName" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "migrations") -}}
{{- end -}}

{{/* True when the Job may run before the release's objects exist (pre-install). */}}
{{- define "atomfleet.migrations.preInstall" -}}
{{- if not .Values.postgresql.enabled -}}true{{- end -}}
{{- end -}}

{{- define "atomfleet.migrations.hooks" -}}
{{- if .Values.postgresql.enabled -}}post-install,pre-upgrade{{- else -}}pre-install,pre-upgrade{{- end -}}
{{- end -}}

{{/* dict "ctx" $ "weight" <n> "delete" <policy> */}}
{{- define "atomfleet.migrations.hookAnnotations" -}}
helm.sh/hook: {{ include "atomfleet.migrations.hooks" .ctx }}
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: {{ .delete }}
{{- end -}}
