{{/* ---------------------------------------------------------------------------------------------
Migrations. With an external database (the default) `atomfleet migrate` runs as a pre-install /
pre-upgrade hook, before any pod of the new release version starts. A pre-install hook runs
before the chart's ConfigMap, Secrets and ServiceAccount exist, so the hook Job carries its own:
the configuration is inlined, value-given credentials come from a hook Secret, and it runs under
a hook ServiceAccount.
With the in-chart PostgreSQL the database does not exist before install, so the hook moves to
post-install (pre-upgrade stays); the Job then reads the release's own Secrets.
Hook objects are not part of the release: Helm deletes them by their delete policy only, never on
`helm uninstall`. A successful migration removes its Job, Pod, ServiceAccount and Secret
(hook-succeeded); a failed one leaves them for `kubectl logs` until the next upgrade replaces them
(before-hook-creation) or you delete them.
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
