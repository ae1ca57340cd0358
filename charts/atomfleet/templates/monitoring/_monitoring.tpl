{{/* Who may scrape metrics: networkPolicy.metrics (the monitoring namespace). */}}
{{- define "atomfleet.monitoring.metricsPeer" -}}
namespaceSelector:
  {{- toYaml .Values.networkPolicy.metrics.namespaceSelector | nindent 2 }}
podSelector:
  {{- toYaml .Values.networkPolicy.metrics.podSelector | nindent 2 }}
{{- end -}}
