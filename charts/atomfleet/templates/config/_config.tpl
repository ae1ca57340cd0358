{{/* ---------------------------------------------------------------------------------------------
Configuration shared by every fleet process (docs/configuration.md is the contract).
Plain settings go into one ConfigMap (envFrom); credentials are env entries referencing Secrets.
--------------------------------------------------------------------------------------------- */}}

{{- define "atomfleet.config.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "config") -}}
{{- end -}}

{{/* The chart's own Secret (secret key, and credentials given as plain values). */}}
{{- define "atomfleet.config.secretName" -}}
{{- include "atomfleet.componentName" (dict "ctx" . "component" "secret") -}}
{{- end -}}

{{/* JSON list of queue names: the keys of the merged workers.queues map. */}}
{{- define "atomfleet.config.queueList" -}}
{{- keys (fromJson (include "atomfleet.worker.queues" .)) | sortAlpha | toJson -}}
{{- end -}}

{{/* S3 endpoint: in-chart MinIO wins over storage.s3.endpointUrl. */}}
{{- define "atomfleet.config.s3Endpoint" -}}
{{- if .Values.minio.enabled -}}
{{- printf "http://%s:9000" (include "atomfleet.minio.name" .) -}}
{{- else -}}
{{- .Values.storage.s3.endpointUrl -}}
{{- end -}}
{{- end -}}

{{/* ConfigMap data (also inlined into the migration hook Job, which can run before the ConfigMap exists). */}}
{{- define "atomfleet.config.data" -}}
{{- $c := .Values.config -}}
ATOMFLEET_DEBUG: {{ $c.debug | toString | quote }}
ATOMFLEET_ALLOWED_HOSTS: {{ $c.allowedHosts | quote }}
ATOMFLEET_LOG_FORMAT: {{ $c.logFormat | quote }}
ATOMFLEET_LOG_LEVEL: {{ $c.logLevel | quote }}
ATOMFLEET_QUEUES: {{ include "atomfleet.config.queueList" . | quote }}
ATOMFLEET_VISIBILITY_TIMEOUT: {{ int $c.visibilityTimeout | toString | quote }}
ATOMFLEET_HEARTBEAT_SECONDS: {{ int $c.heartbeatSeconds | toString | quote }}
ATOMFLEET_STALE_AFTER_SECONDS: {{ int $c.staleAfterSeconds | toString | quote }}
ATOMFLEET_DISPATCH_INTERVAL: {{ int $c.dispatchInterval | toString | quote }}
ATOMFLEET_RECONCILE_INTERVAL: {{ int $c.reconcileInterval | toString | quote }}
ATOMFLEET_INLINE_RESULT_MAX_BYTES: {{ int $c.inlineResultMaxBytes | toString | quote }}
ATOMFLEET_MAX_REQUEST_BYTES: {{ int $c.maxRequestBytes | toString | quote }}
ATOMFLEET_MAX_UPLOAD_BYTES: {{ int $c.maxUploadBytes | toString | quote }}
ATOMFLEET_LIVENESS_MAX_AGE: {{ int $c.livenessMaxAge | toString | quote }}
ATOMFLEET_API_PORT: "8000"
ATOMFLEET_API_WORKERS: {{ int .Values.api.gunicornWorkers | toString | quote }}
ATOMFLEET_METRICS_PORT: "9808"
PROMETHEUS_MULTIPROC_DIR: "/tmp/atomfleet-metrics"
ATOMFLEET_PROBE_DIR: "/tmp/atomfleet-probes"
HOME: "/tmp"
ATOMFLEET_STORAGE_BACKEND: {{ .Values.storage.backend | quote }}
{{- if eq .Values.storage.backend "s3" }}
ATOMFLEET_S3_BUCKET: {{ .Values.storage.s3.bucket | quote }}
ATOMFLEET_S3_REGION: {{ .Values.storage.s3.region | quote }}
{{- with include "atomfleet.config.s3Endpoint" . }}
ATOMFLEET_S3_ENDPOINT_URL: {{ . | quote }}
{{- end }}
{{- else }}
ATOMFLEET_STORAGE_LOCAL_ROOT: "/data/storage"
{{- end }}
{{- range $k, $v := $c.extraEnv }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/* Redis URLs. In-chart and host-based external Redis: the password comes from a Secret as
REDIS_PASSWORD and Kubernetes expands $(REDIS_PASSWORD) inside the URLs (so it must be URL-safe;
generated passwords are alphanumeric). externalRedis.urlSecret: both URLs straight from a Secret. */}}
{{- define "atomfleet.config.redisEnv" -}}
{{- $r := .Values.externalRedis -}}
{{- if and (not .Values.redis.enabled) $r.urlSecret.name }}
- name: ATOMFLEET_BROKER_URL
  valueFrom:
    secretKeyRef:
      name: {{ $r.urlSecret.name }}
      key: {{ $r.urlSecret.brokerUrlKey }}
- name: ATOMFLEET_RESULT_BACKEND_URL
  valueFrom:
    secretKeyRef:
      name: {{ $r.urlSecret.name }}
      key: {{ $r.urlSecret.resultBackendUrlKey }}
{{- else }}
{{- $scheme := "redis" }}
{{- $host := include "atomfleet.redis.name" . }}
{{- $port := 6379 }}
{{- $brokerDb := 0 }}
{{- $resultDb := 1 }}
{{- $query := "" }}
{{- $secretName := "" }}
{{- $secretKey := "" }}
{{- if .Values.redis.enabled }}
{{- $secretName = default (include "atomfleet.redis.name" .) .Values.redis.auth.existingSecret }}
{{- $secretKey = .Values.redis.auth.existingSecretPasswordKey }}
{{- else }}
{{- $host = $r.host }}
{{- $port = int $r.port }}
{{- $brokerDb = int $r.brokerDatabase }}
{{- $resultDb = int $r.resultDatabase }}
{{- if $r.existingSecret }}
{{- $secretName = $r.existingSecret }}
{{- $secretKey = $r.existingSecretPasswordKey }}
{{- else if $r.password }}
{{- $secretName = include "atomfleet.config.secretName" . }}
{{- $secretKey = "redis-password" }}
{{- end }}
{{- if $r.tls.enabled }}
{{- $scheme = "rediss" }}
{{- $query = printf "?ssl_cert_reqs=%s" $r.tls.certReqs }}
{{- if $r.tls.caSecret }}
{{- $query = printf "%s&ssl_ca_certs=/etc/atomfleet/redis-ca/ca.crt" $query }}
{{- end }}
{{- end }}
{{- end }}
{{- $auth := "" }}
{{- if $secretName }}
{{- $auth = ":$(REDIS_PASSWORD)@" }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: {{ $secretKey }}
{{- end }}
- name: ATOMFLEET_BROKER_URL
  value: {{ printf "%s://%s%s:%d/%d%s" $scheme $auth $host $port $brokerDb $query | quote }}
- name: ATOMFLEET_RESULT_BACKEND_URL
  value: {{ printf "%s://%s%s:%d/%d%s" $scheme $auth $host $port $resultDb $query | quote }}
{{- end }}
{{- end -}}

{{/* DATABASE_URL. dict "ctx" $ "hook" bool: the pre-install hook reads value-given URLs from the
hook Secret, because the chart's Secret does not exist yet. */}}
{{- define "atomfleet.config.databaseEnv" -}}
{{- $v := .ctx.Values -}}
{{- if $v.postgresql.enabled }}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default (include "atomfleet.postgresql.name" .ctx) $v.postgresql.auth.existingSecret }}
      key: {{ $v.postgresql.auth.existingSecretPasswordKey }}
- name: DATABASE_URL
  value: {{ printf "postgres://%s:$(POSTGRES_PASSWORD)@%s:5432/%s" $v.postgresql.auth.username (include "atomfleet.postgresql.name" .ctx) $v.postgresql.auth.database | quote }}
{{- else if $v.externalDatabase.existingSecret }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.externalDatabase.existingSecret }}
      key: {{ $v.externalDatabase.existingSecretUrlKey }}
{{- else }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ ternary (include "atomfleet.migrations.secretName" .ctx) (include "atomfleet.config.secretName" .ctx) (.hook | default false) }}
      key: database-url
{{- end }}
{{- end -}}

{{/* ATOMFLEET_SECRET_KEY. dict "ctx" $ "hook" bool */}}
{{- define "atomfleet.config.secretKeyEnv" -}}
{{- $v := .ctx.Values -}}
- name: ATOMFLEET_SECRET_KEY
  valueFrom:
    secretKeyRef:
      {{- if $v.secretKey.existingSecret }}
      name: {{ $v.secretKey.existingSecret }}
      key: {{ $v.secretKey.existingSecretKey }}
      {{- else }}
      name: {{ ternary (include "atomfleet.migrations.secretName" .ctx) (include "atomfleet.config.secretName" .ctx) (.hook | default false) }}
      key: secret-key
      {{- end }}
{{- end -}}

{{/* S3 credentials: in-chart MinIO, an existing Secret, plain values (chart Secret) or none (pod identity). */}}
{{- define "atomfleet.config.storageEnv" -}}
{{- $s3 := .Values.storage.s3 -}}
{{- if eq .Values.storage.backend "s3" }}
{{- $name := "" }}
{{- $idKey := "" }}
{{- $secretKey := "" }}
{{- if .Values.minio.enabled }}
{{- $name = default (include "atomfleet.minio.name" .) .Values.minio.auth.existingSecret }}
{{- $idKey = "root-user" }}
{{- $secretKey = "root-password" }}
{{- else if $s3.existingSecret }}
{{- $name = $s3.existingSecret }}
{{- $idKey = $s3.accessKeyIdKey }}
{{- $secretKey = $s3.secretAccessKeyKey }}
{{- else if $s3.accessKeyId }}
{{- $name = include "atomfleet.config.secretName" . }}
{{- $idKey = "s3-access-key-id" }}
{{- $secretKey = "s3-secret-access-key" }}
{{- end }}
{{- if $name }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $idKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $secretKey }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Everything a long-running fleet process (API, worker, beat, Flower) needs besides the ConfigMap. */}}
{{- define "atomfleet.config.fleetEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- include "atomfleet.config.secretKeyEnv" (dict "ctx" .) | nindent 0 }}
{{- include "atomfleet.config.databaseEnv" (dict "ctx" .) }}
{{- include "atomfleet.config.redisEnv" . }}
{{- include "atomfleet.config.storageEnv" . }}
{{- end -}}

{{/* envFrom of the fleet processes. */}}
{{- define "atomfleet.config.envFrom" -}}
- configMapRef:
    name: {{ include "atomfleet.config.name" . }}
{{- end -}}

{{/* Volumes/mounts of fleet processes: /tmp, plus the Redis CA and the local storage claim when used. */}}
{{- define "atomfleet.config.volumes" -}}
{{ include "atomfleet.tmpVolume" . }}
{{- if and (not .Values.redis.enabled) .Values.externalRedis.tls.enabled .Values.externalRedis.tls.caSecret }}
- name: redis-ca
  secret:
    secretName: {{ .Values.externalRedis.tls.caSecret }}
{{- end }}
{{- if eq .Values.storage.backend "local" }}
- name: storage
  persistentVolumeClaim:
    claimName: {{ .Values.storage.local.existingClaim }}
{{- end }}
{{- end -}}

{{- define "atomfleet.config.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and (not .Values.redis.enabled) .Values.externalRedis.tls.enabled .Values.externalRedis.tls.caSecret }}
- name: redis-ca
  mountPath: /etc/atomfleet/redis-ca
  readOnly: true
{{- end }}
{{- if eq .Values.storage.backend "local" }}
- name: storage
  mountPath: /data/storage
{{- end }}
{{- end -}}

{{/* checksum/config annotation: config changes roll every fleet pod. */}}
{{- define "atomfleet.config.checksum" -}}
checksum/config: {{ include "atomfleet.config.data" . | sha256sum }}
{{- end -}}
