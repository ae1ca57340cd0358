{{/* Who may scrape metrics: networkPolicy.metrics (the monitoring namespace). */}}
{{- define "atomfleet.monitoring.metricsPeer" -}}
namespaceSelector:
  {{- toYaml .Values.networkPolicy.metrics.namespaceSelector | nindent 2 }}
podSelector:
  {{- toYaml .Values.networkPolicy.metrics.podSelector | nindent 2 }}
{{- end -}}

{{/*
Relabelings of every atomfleet monitor (PodMonitor/ServiceMonitor endpoint): one `job` for the
whole fleet (monitoring.jobLabel, default `celery`: celery-exporter's dashboards select
`job=~"celery|celery-exporter"`, its alerts `job=~".*celery.*"`, and its overview takes `$job` from
`celery_worker_up`, exported by beat, so workers, API and beat must share it), a `component`
label (worker, api, beat) to tell them apart, and for workers the pod's queue as `queue`.
dict "ctx" $ "component" "worker"
*/}}
{{- define "atomfleet.monitoring.relabelings" -}}
- action: replace
  targetLabel: job
  replacement: {{ .ctx.Values.monitoring.jobLabel | quote }}
- action: replace
  targetLabel: component
  replacement: {{ .component }}
{{- if eq .component "worker" }}
- action: replace
  sourceLabels: [__meta_kubernetes_pod_label_atomfleet_io_queue]
  targetLabel: queue
{{- end }}
{{- end -}}
