{{/* ---------------------------------------------------------------------------------------------
`helm test <release>`: hook Pods running the chart's own image. The first registers the tests'
tenant and the token of the tests Secret (`atomfleet manage ensure_token`: the token itself comes
from the Secret, never from a command line); then one Pod per queue with a `test.atom` submits
that atom through the API Service, waits for the run to succeed and checks it ran on its queue
(`python -m atomfleet_orchestrator.cli.selftest`). Helm runs them one at a time, by weight.
Successful Pods are deleted (hook-succeeded); a failed one stays for `kubectl logs` until the next
`helm test` (before-hook-creation). Hook objects are not removed by `helm uninstall`.
--------------------------------------------------------------------------------------------- */}}

{{- define "atomfleet.tests.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "test") -}}
{{- end -}}

{{/* The tests' API token (a regular release Secret: generated once, kept with lookup). */}}
{{- define "atomfleet.tests.secretName" -}}
{{- include "atomfleet.tests.name" . -}}
{{- end -}}

{{/* Queues with a test atom: {queue: merged queue values}. */}}
{{- define "atomfleet.tests.queues" -}}
{{- $out := dict -}}
{{- range $name, $q := fromJson (include "atomfleet.worker.queues" .) -}}
{{- if $q.test.atom -}}
{{- $_ := set $out $name $q -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Hook annotations of a test Pod: dict "weight" <n> (+ checkov skips: a Pod that runs once and exits has nothing to probe). */}}
{{- define "atomfleet.tests.annotations" -}}
helm.sh/hook: test
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
checkov.io/skip1: CKV_K8S_8=a test Pod runs once and exits; there is no process to keep alive
checkov.io/skip2: CKV_K8S_9=a test Pod receives no traffic
{{- end -}}

{{/* The spec every test Pod shares (everything but containers). */}}
{{- define "atomfleet.tests.podSpec" -}}
restartPolicy: Never
serviceAccountName: {{ include "atomfleet.serviceAccountName" . }}
{{- include "atomfleet.podSecurity" . | nindent 0 }}
terminationGracePeriodSeconds: 10
{{- end -}}

{{- define "atomfleet.tests.tokenEnv" -}}
- name: ATOMFLEET_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "atomfleet.tests.secretName" . }}
      key: token
{{- end -}}
