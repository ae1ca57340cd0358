{{/* ---------------------------------------------------------------------------------------------
Configuration shared by every fleet process (docs/configuration.md is the contract).
Plain settings go into one ConfigMap (envFrom); credentials are env entries referencing Secrets.
"Which Secret, which key" is answered once per credential by a helper pair
(atomfleet.<credential>.secretName / .secret<Thing>Key), used by the env entries and by the
condition of the Secret template that creates it.
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

{{/* ATOMFLEET_ALLOWED_HOSTS: the configured hosts (none by default), the Ingress hosts when the
Ingress is enabled, the API Service's DNS names (in-cluster clients and the `helm test` Pods call it
by name) and the loopback names (`kubectl port-forward`, as NOTES.txt says) — unless `*` is
configured, which turns host validation off. Kubelet probes and Prometheus scrapes need no entry
(probes skip host validation; metrics have their own port). */}}
{{- define "atomfleet.config.allowedHosts" -}}
{{- $hosts := list -}}
{{- range splitList "," .Values.config.allowedHosts -}}
{{- if trim . }}{{ $hosts = append $hosts (trim .) }}{{ end -}}
{{- end -}}
{{- if has "*" $hosts -}}
*
{{- else -}}
{{- if .Values.api.ingress.enabled -}}
{{- range .Values.api.ingress.hosts -}}
{{- if .host }}{{ $hosts = append $hosts .host }}{{ end -}}
{{- end -}}
{{- end -}}
{{- $svc := include "atomfleet.api.name" . -}}
{{- $ns := .Release.Namespace -}}
{{- $hosts = concat $hosts (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain)) -}}
{{- $hosts = concat $hosts (list "localhost" "127.0.0.1" "[::1]") -}}
{{- join "," (uniq $hosts) -}}
{{- end -}}
{{- end -}}

{{/* ConfigMap data (also inlined into the migration hook Job, which can run before the ConfigMap exists). */}}
{{- define "atomfleet.config.data" -}}
{{- $c := .Values.config -}}
ATOMFLEET_DEBUG: {{ $c.debug | toString | quote }}
ATOMFLEET_ALLOWED_HOSTS: {{ include "atomfleet.config.allowedHosts" . | quote }}
ATOMFLEET_FORWARDED_ALLOW_IPS: {{ join "," .Values.api.forwardedAllowIps | quote }}
ATOMFLEET_LOG_FORMAT: {{ $c.logFormat | quote }}
ATOMFLEET_LOG_LEVEL: {{ $c.logLevel | quote }}
ATOMFLEET_QUEUES: {{ include "atomfleet.config.queueList" . | quote }}
ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS: {{ join "," .Values.webhooks.allowedNetworks | quote }}
ATOMFLEET_VISIBILITY_TIMEOUT: {{ int $c.visibilityTimeout | toString | quote }}
ATOMFLEET_HEARTBEAT_SECONDS: {{ int $c.heartbeatSeconds | toString | quote }}
ATOMFLEET_STALE_AFTER_SECONDS: {{ int $c.staleAfterSeconds | toString | quote }}
ATOMFLEET_DISPATCH_INTERVAL: {{ int $c.dispatchInterval | toString | quote }}
ATOMFLEET_RECONCILE_INTERVAL: {{ int $c.reconcileInterval | toString | quote }}
ATOMFLEET_DISPATCH_TIMEOUT_SECONDS: {{ int $c.dispatchTimeoutSeconds | toString | quote }}
ATOMFLEET_MAX_REDISPATCHES: {{ int $c.maxRedispatches | toString | quote }}
{{- /* Task events cost three Redis PUBLISHes a task: on only for Flower, which reads them. */}}
ATOMFLEET_TASK_EVENTS: {{ .Values.flower.enabled | toString | quote }}
ATOMFLEET_INLINE_RESULT_MAX_BYTES: {{ int $c.inlineResultMaxBytes | toString | quote }}
ATOMFLEET_MAX_REQUEST_BYTES: {{ int $c.maxRequestBytes | toString | quote }}
ATOMFLEET_WORKFLOW_MAX_STEPS: {{ int $c.workflowMaxSteps | toString | quote }}
ATOMFLEET_TENANT_QUOTA_RUNS: {{ int $c.tenantQuotaRuns | toString | quote }}
ATOMFLEET_TENANT_SUBMIT_RATE: {{ $c.tenantSubmitRate | toString | quote }}
ATOMFLEET_TENANT_SUBMIT_BURST: {{ int $c.tenantSubmitBurst | toString | quote }}
ATOMFLEET_TENANT_WEIGHT: {{ int $c.tenantWeight | toString | quote }}
ATOMFLEET_TENANT_MAX_RUNNING: {{ int $c.tenantMaxRunning | toString | quote }}
ATOMFLEET_TENANT_MAX_RUNNING_PER_QUEUE: {{ int $c.tenantMaxRunningPerQueue | toString | quote }}
ATOMFLEET_QUEUE_READY: {{ int $c.queueReady | toString | quote }}
ATOMFLEET_FAIR_DISPATCH: {{ $c.fairDispatch | toString | quote }}
ATOMFLEET_METRICS_TENANT_LABELS: {{ int $c.metricsTenantLabels | toString | quote }}
ATOMFLEET_MAX_UPLOAD_BYTES: {{ int $c.maxUploadBytes | toString | quote }}
ATOMFLEET_LIVENESS_MAX_AGE: {{ int $c.livenessMaxAge | toString | quote }}
ATOMFLEET_API_PORT: {{ int .Values.ports.api | toString | quote }}
ATOMFLEET_API_WORKERS: {{ int .Values.api.gunicornWorkers | toString | quote }}
ATOMFLEET_METRICS_PORT: {{ int .Values.ports.metrics | toString | quote }}
ATOMFLEET_EVENTS_PORT: {{ int .Values.ports.events | toString | quote }}
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

{{/* ---------------------------------------------------------------- which Secret, which key */}}

{{/* Django secret key. dict "ctx" $ "hook" bool (the pre-install hook reads its own Secret). */}}
{{- define "atomfleet.secretKey.secretName" -}}
{{- $v := .ctx.Values -}}
{{- if $v.secretKey.existingSecret -}}
{{- $v.secretKey.existingSecret -}}
{{- else if .hook -}}
{{- include "atomfleet.migrations.secretName" .ctx -}}
{{- else -}}
{{- include "atomfleet.config.secretName" .ctx -}}
{{- end -}}
{{- end -}}

{{- define "atomfleet.secretKey.secretKey" -}}
{{- ternary .Values.secretKey.existingSecretKey "secret-key" (ne .Values.secretKey.existingSecret "") -}}
{{- end -}}

{{/* External database URL (not used with the in-chart PostgreSQL). dict "ctx" $ "hook" bool */}}
{{- define "atomfleet.database.secretName" -}}
{{- $v := .ctx.Values -}}
{{- if $v.externalDatabase.existingSecret -}}
{{- $v.externalDatabase.existingSecret -}}
{{- else if .hook -}}
{{- include "atomfleet.migrations.secretName" .ctx -}}
{{- else -}}
{{- include "atomfleet.config.secretName" .ctx -}}
{{- end -}}
{{- end -}}

{{- define "atomfleet.database.secretUrlKey" -}}
{{- ternary .Values.externalDatabase.existingSecretUrlKey "database-url" (ne .Values.externalDatabase.existingSecret "") -}}
{{- end -}}

{{/* Redis password: in-chart (its Secret, or redis.auth.existingSecret) or external (existingSecret,
the chart Secret for externalRedis.password, or none: empty name). */}}
{{- define "atomfleet.redis.secretName" -}}
{{- if .Values.redis.enabled -}}
{{- default (include "atomfleet.redis.name" .) .Values.redis.auth.existingSecret -}}
{{- else if .Values.externalRedis.existingSecret -}}
{{- .Values.externalRedis.existingSecret -}}
{{- else if .Values.externalRedis.password -}}
{{- include "atomfleet.config.secretName" . -}}
{{- end -}}
{{- end -}}

{{- define "atomfleet.redis.secretPasswordKey" -}}
{{- if .Values.redis.enabled -}}
{{- .Values.redis.auth.existingSecretPasswordKey -}}
{{- else if .Values.externalRedis.existingSecret -}}
{{- .Values.externalRedis.existingSecretPasswordKey -}}
{{- else -}}
redis-password
{{- end -}}
{{- end -}}

{{/* S3 credentials: in-chart MinIO, an existing Secret, plain values (chart Secret) or none (pod identity). */}}
{{- define "atomfleet.storage.secretName" -}}
{{- $s3 := .Values.storage.s3 -}}
{{- if ne .Values.storage.backend "s3" -}}
{{- else if .Values.minio.enabled -}}
{{- include "atomfleet.minio.secretName" . -}}
{{- else if $s3.existingSecret -}}
{{- $s3.existingSecret -}}
{{- else if $s3.accessKeyId -}}
{{- include "atomfleet.config.secretName" . -}}
{{- end -}}
{{- end -}}

{{/* dict "ctx" $ "which" "id"|"secret" */}}
{{- define "atomfleet.storage.secretKey" -}}
{{- $v := .ctx.Values -}}
{{- $id := eq .which "id" -}}
{{- if $v.minio.enabled -}}
{{- ternary "root-user" "root-password" $id -}}
{{- else if $v.storage.s3.existingSecret -}}
{{- ternary $v.storage.s3.accessKeyIdKey $v.storage.s3.secretAccessKeyKey $id -}}
{{- else -}}
{{- ternary "s3-access-key-id" "s3-secret-access-key" $id -}}
{{- end -}}
{{- end -}}

{{/* Data of the chart's own Secret. dict "ctx" $ "checksum" bool: with checksum, generated values
appear as digests (atomfleet.secretDigest) so that renders are comparable. */}}
{{- define "atomfleet.config.secretData" -}}
{{- $v := .ctx.Values -}}
{{- $name := include "atomfleet.config.secretName" .ctx -}}
{{- $data := dict -}}
{{- if eq (include "atomfleet.secretKey.secretName" (dict "ctx" .ctx)) $name -}}
{{- $_ := set $data "secret-key" (include (ternary "atomfleet.secretDigest" "atomfleet.secretValue" (.checksum | default false)) (dict "ctx" .ctx "name" $name "key" "secret-key" "length" 50)) -}}
{{- end -}}
{{- if and (not $v.postgresql.enabled) (eq (include "atomfleet.database.secretName" (dict "ctx" .ctx)) $name) $v.externalDatabase.url -}}
{{- $_ := set $data "database-url" ($v.externalDatabase.url | b64enc) -}}
{{- end -}}
{{- if and (not $v.redis.enabled) (not $v.externalRedis.urlSecret.name) (eq (include "atomfleet.redis.secretName" .ctx) $name) -}}
{{- $_ := set $data "redis-password" ($v.externalRedis.password | b64enc) -}}
{{- end -}}
{{- if eq (include "atomfleet.storage.secretName" .ctx) $name -}}
{{- $_ := set $data "s3-access-key-id" ($v.storage.s3.accessKeyId | b64enc) -}}
{{- $_ := set $data "s3-secret-access-key" ($v.storage.s3.secretAccessKey | b64enc) -}}
{{- end -}}
{{- toJson $data -}}
{{- end -}}

{{/* ---------------------------------------------------------------- env entries */}}

{{/* ATOMFLEET_BROKER_URL. In-chart and host-based external Redis: the password comes from a Secret
as REDIS_PASSWORD and Kubernetes expands $(REDIS_PASSWORD) inside the URL (so it must be URL-safe;
generated passwords are alphanumeric). externalRedis.urlSecret: the URL straight from a Secret. */}}
{{- define "atomfleet.config.redisEnv" -}}
{{- $r := .Values.externalRedis -}}
{{- if and (not .Values.redis.enabled) $r.urlSecret.name }}
- name: ATOMFLEET_BROKER_URL
  valueFrom:
    secretKeyRef:
      name: {{ $r.urlSecret.name }}
      key: {{ $r.urlSecret.brokerUrlKey }}
{{- else }}
{{- $scheme := "redis" }}
{{- $host := include "atomfleet.redis.name" . }}
{{- $port := 6379 }}
{{- $db := 0 }}
{{- $query := "" }}
{{- if not .Values.redis.enabled }}
{{- $host = $r.host }}
{{- $port = int $r.port }}
{{- $db = int $r.brokerDatabase }}
{{- if $r.tls.enabled }}
{{- $scheme = "rediss" }}
{{- $query = printf "?ssl_cert_reqs=%s" $r.tls.certReqs }}
{{- if $r.tls.caSecret }}
{{- $query = printf "%s&ssl_ca_certs=/etc/atomfleet/redis-ca/ca.crt" $query }}
{{- end }}
{{- end }}
{{- end }}
{{- $auth := "" }}
{{- with include "atomfleet.redis.secretName" . }}
{{- $auth = ":$(REDIS_PASSWORD)@" }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ include "atomfleet.redis.secretPasswordKey" $ }}
{{- end }}
- name: ATOMFLEET_BROKER_URL
  value: {{ printf "%s://%s%s:%d/%d%s" $scheme $auth $host $port $db $query | quote }}
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
      name: {{ include "atomfleet.postgresql.secretName" .ctx }}
      key: {{ include "atomfleet.postgresql.secretPasswordKey" .ctx }}
- name: DATABASE_URL
  value: {{ printf "postgres://%s:$(POSTGRES_PASSWORD)@%s:5432/%s" $v.postgresql.auth.username (include "atomfleet.postgresql.name" .ctx) $v.postgresql.auth.database | quote }}
{{- else }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "atomfleet.database.secretName" . }}
      key: {{ include "atomfleet.database.secretUrlKey" .ctx }}
{{- end }}
{{- end -}}

{{/* ATOMFLEET_SECRET_KEY. dict "ctx" $ "hook" bool */}}
{{- define "atomfleet.config.secretKeyEnv" -}}
- name: ATOMFLEET_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "atomfleet.secretKey.secretName" . }}
      key: {{ include "atomfleet.secretKey.secretKey" .ctx }}
{{- end -}}

{{- define "atomfleet.config.storageEnv" -}}
{{- with include "atomfleet.storage.secretName" . }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ include "atomfleet.storage.secretKey" (dict "ctx" $ "which" "id") }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ include "atomfleet.storage.secretKey" (dict "ctx" $ "which" "secret") }}
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

{{/* ---------------------------------------------------------------- checksums */}}

{{/*
Pod template annotations that roll the pods when anything they read changes:
  checksum/config   the ConfigMap's data
  checksum/secrets  every input of every Secret the pod reads: the values that fill or name them
                    (credentials given as values, existingSecret names and keys) and, for generated
                    values, a digest of the live value (atomfleet.secretDigest)
Secrets you create yourself (`*.existingSecret`) are read by name: a change of their content rolls
nothing; `kubectl rollout restart` does (docs/operations.md).
dict "ctx" $ "secrets" (list of: "fleet" "flower" "tests" "redis" "postgresql" "minio")
*/}}
{{- define "atomfleet.checksums" -}}
{{- $v := .ctx.Values -}}
{{- $in := dict -}}
{{- range .secrets -}}
{{- if eq . "fleet" -}}
{{- $_ := set $in "fleet" (dict
      "config" (include "atomfleet.config.secretData" (dict "ctx" $.ctx "checksum" true))
      "secretKey" $v.secretKey "externalDatabase" $v.externalDatabase "externalRedis" $v.externalRedis
      "redis" (dict "enabled" $v.redis.enabled "auth" $v.redis.auth)
      "postgresql" (dict "enabled" $v.postgresql.enabled "auth" $v.postgresql.auth)
      "minio" (dict "enabled" $v.minio.enabled "auth" $v.minio.auth) "s3" $v.storage.s3) -}}
{{- end -}}
{{- if or (eq . "fleet") (eq . "redis") -}}
{{- if and $v.redis.enabled (not $v.redis.auth.existingSecret) -}}
{{- $_ := set $in "redis" (include "atomfleet.secretDigest" (dict "ctx" $.ctx "name" (include "atomfleet.redis.name" $.ctx) "key" "redis-password")) -}}
{{- end -}}
{{- $_ := set $in "redisAuth" $v.redis.auth -}}
{{- end -}}
{{- if or (eq . "fleet") (eq . "postgresql") -}}
{{- if and $v.postgresql.enabled (not $v.postgresql.auth.existingSecret) -}}
{{- $_ := set $in "postgresql" (include "atomfleet.secretDigest" (dict "ctx" $.ctx "name" (include "atomfleet.postgresql.name" $.ctx) "key" "postgres-password")) -}}
{{- end -}}
{{- $_ := set $in "postgresqlAuth" $v.postgresql.auth -}}
{{- end -}}
{{- if or (eq . "fleet") (eq . "minio") -}}
{{- if and $v.minio.enabled (not $v.minio.auth.existingSecret) -}}
{{- $_ := set $in "minio" (include "atomfleet.secretDigest" (dict "ctx" $.ctx "name" (include "atomfleet.minio.name" $.ctx) "key" "root-password")) -}}
{{- end -}}
{{- $_ := set $in "minioAuth" $v.minio.auth -}}
{{- end -}}
{{- if eq . "flower" -}}
{{- $_ := set $in "flower" (dict "basicAuth" $v.flower.basicAuth "live" (include "atomfleet.secretDigest" (dict "ctx" $.ctx "name" (include "atomfleet.flower.name" $.ctx) "key" "basic-auth"))) -}}
{{- end -}}
{{- if eq . "tests" -}}
{{- $_ := set $in "tests" (dict "tenant" $v.tests.tenant "live" (include "atomfleet.secretDigest" (dict "ctx" $.ctx "name" (include "atomfleet.tests.secretName" $.ctx) "key" "token"))) -}}
{{- end -}}
{{- end -}}
checksum/config: {{ include "atomfleet.config.data" .ctx | sha256sum }}
checksum/secrets: {{ toJson $in | sha256sum }}
{{- end -}}
