{{/* ---------------------------------------------------------------------------------------------
Every cross-field check, gathered into one readable failure. values.schema.json handles types,
enums and unknown keys; this handles what depends on more than one value.
Called once, from config/config-configmap.yaml.
--------------------------------------------------------------------------------------------- */}}
{{- define "atomfleet.validate" -}}
{{- $v := .Values -}}
{{- $errors := list -}}

{{- /* Redis */ -}}
{{- if $v.redis.enabled -}}
{{- if or $v.externalRedis.host $v.externalRedis.urlSecret.name -}}
{{- $errors = append $errors "externalRedis.host/urlSecret.name are set but redis.enabled is true: set redis.enabled=false to use an external Redis" -}}
{{- end -}}
{{- else if not (or $v.externalRedis.host $v.externalRedis.urlSecret.name) -}}
{{- $errors = append $errors "redis.enabled is false: set externalRedis.host or externalRedis.urlSecret.name" -}}
{{- end -}}
{{- if and (not $v.redis.enabled) $v.externalRedis.password $v.externalRedis.existingSecret -}}
{{- $errors = append $errors "externalRedis.password and externalRedis.existingSecret are both set: keep one" -}}
{{- end -}}

{{- /* PostgreSQL */ -}}
{{- if $v.postgresql.enabled -}}
{{- if or $v.externalDatabase.url $v.externalDatabase.existingSecret -}}
{{- $errors = append $errors "externalDatabase.* is set but postgresql.enabled is true: keep one database" -}}
{{- end -}}
{{- else if not (or $v.externalDatabase.url $v.externalDatabase.existingSecret) -}}
{{- $errors = append $errors "no database: set externalDatabase.existingSecret (or externalDatabase.url), or postgresql.enabled=true for a dev cluster" -}}
{{- else if and $v.externalDatabase.url $v.externalDatabase.existingSecret -}}
{{- $errors = append $errors "externalDatabase.url and externalDatabase.existingSecret are both set: keep one" -}}
{{- end -}}

{{- /* Run lifecycle deadlines (docs/lifecycle.md; the processes refuse the same values) */ -}}
{{- $c := $v.config -}}
{{- if not (lt (mul 3 (int $c.heartbeatSeconds)) (int $c.staleAfterSeconds)) -}}
{{- $errors = append $errors (printf "config.staleAfterSeconds (%d) must exceed 3 x config.heartbeatSeconds (%d): a worker fences an execution two heartbeats before the deadline" (int $c.staleAfterSeconds) (int $c.heartbeatSeconds)) -}}
{{- end -}}
{{- range $name := list "staleAfterSeconds" "dispatchTimeoutSeconds" -}}
{{- if not (lt (int $c.reconcileInterval) (int (get $c $name))) -}}
{{- $errors = append $errors (printf "config.%s (%d) must exceed config.reconcileInterval (%d), which enforces it" $name (int (get $c $name)) (int $c.reconcileInterval)) -}}
{{- end -}}
{{- end -}}
{{- if not (lt (int $c.dispatchInterval) (int $c.dispatchTimeoutSeconds)) -}}
{{- $errors = append $errors (printf "config.dispatchTimeoutSeconds (%d) must exceed config.dispatchInterval (%d)" (int $c.dispatchTimeoutSeconds) (int $c.dispatchInterval)) -}}
{{- end -}}

{{- /* Storage */ -}}
{{- if eq $v.storage.backend "s3" -}}
{{- if not $v.storage.s3.bucket -}}
{{- $errors = append $errors "storage.s3.bucket is empty" -}}
{{- end -}}
{{- if and $v.storage.s3.accessKeyId (not $v.storage.s3.secretAccessKey) -}}
{{- $errors = append $errors "storage.s3.accessKeyId is set without storage.s3.secretAccessKey" -}}
{{- end -}}
{{- if and $v.minio.enabled $v.storage.s3.endpointUrl -}}
{{- $errors = append $errors "storage.s3.endpointUrl is set but minio.enabled is true (the in-chart MinIO is the endpoint): keep one" -}}
{{- end -}}
{{- else -}}
{{- if not $v.storage.local.existingClaim -}}
{{- $errors = append $errors "storage.backend is local: set storage.local.existingClaim to a ReadWriteMany claim shared by every pod" -}}
{{- end -}}
{{- if $v.minio.enabled -}}
{{- $errors = append $errors "minio.enabled is true but storage.backend is local: use storage.backend=s3" -}}
{{- end -}}
{{- end -}}

{{- /* Ingress, proxies, ports */ -}}
{{- if and $v.api.ingress.enabled (not $v.api.ingress.hosts) -}}
{{- $errors = append $errors "api.ingress.enabled is true but api.ingress.hosts is empty" -}}
{{- end -}}
{{- if and (has "*" $v.api.forwardedAllowIps) (not (and $v.networkPolicy.enabled $v.networkPolicy.apiIngressFrom)) -}}
{{- $errors = append $errors "api.forwardedAllowIps is \"*\" but the API port is open to every pod: any of them could claim https with X-Forwarded-Proto; set networkPolicy.apiIngressFrom to your Ingress controller (networkPolicy.enabled=true) or list the controller's addresses" -}}
{{- end -}}
{{- if eq (int $v.ports.api) (int $v.ports.metrics) -}}
{{- $errors = append $errors (printf "ports.api and ports.metrics are both %d: metrics need a port of their own (the Ingress routes ports.api)" (int $v.ports.api)) -}}
{{- end -}}
{{- if eq (int $v.ports.events) (int $v.ports.metrics) -}}
{{- $errors = append $errors (printf "ports.events and ports.metrics are both %d: metrics need a port of their own (the Ingress routes ports.events)" (int $v.ports.events)) -}}
{{- end -}}

{{- /* Queues */ -}}
{{- $queues := fromJson (include "atomfleet.worker.queues" .) -}}
{{- if not $queues -}}
{{- $errors = append $errors "workers.queues is empty: declare at least the default queue" -}}
{{- end -}}
{{- if not (hasKey $queues "default") -}}
{{- $errors = append $errors "workers.queues.default is missing: it is Celery's default queue and every process refuses to start without it (scale it to zero instead)" -}}
{{- end -}}
{{- if hasKey $queues "webhooks" -}}
{{- $errors = append $errors "workers.queues.webhooks: `webhooks` is the webhook senders' own queue (set webhooks.worker instead); name atom queues otherwise" -}}
{{- end -}}
{{- $visibility := int $v.config.visibilityTimeout -}}
{{- range $name, $q := $queues -}}
{{- $p := printf "workers.queues.%s" $name -}}
{{- $grace := int $q.terminationGracePeriodSeconds -}}
{{- $a := $q.autoscaling -}}
{{- $hasSoft := not (kindIs "invalid" $q.softTimeLimit) -}}
{{- $hasHard := not (kindIs "invalid" $q.timeLimit) -}}
{{- if ne $q.pool "prefork" -}}
{{- $errors = append $errors (printf "%s.pool is %s: only prefork enforces the atoms' time limits (threads, solo, gevent and eventlet cannot; a GIL-holding atom freezes a threads pool), and workers refuse to start with another pool" $p $q.pool) -}}
{{- end -}}
{{- /* Queue-level limits only: the atoms' own limits are checked by the worker at start-up
(ATOMFLEET_TERMINATION_GRACE_SECONDS, atomfleet.catalog.shutdown), which the chart cannot see. */ -}}
{{- if and $hasSoft $hasHard (ge (int $q.softTimeLimit) (int $q.timeLimit)) -}}
{{- $errors = append $errors (printf "%s.softTimeLimit (%d) must be below timeLimit (%d)" $p (int $q.softTimeLimit) (int $q.timeLimit)) -}}
{{- end -}}
{{- if and $hasHard (ge (int $q.timeLimit) $visibility) -}}
{{- $errors = append $errors (printf "%s.timeLimit (%d) must be below config.visibilityTimeout (%d), or Redis redelivers running tasks" $p (int $q.timeLimit) $visibility) -}}
{{- end -}}
{{- if and (eq $q.pool "solo") (or $hasSoft $hasHard) -}}
{{- $errors = append $errors (printf "%s: pool solo cannot enforce timeLimit/softTimeLimit; use prefork" $p) -}}
{{- end -}}
{{- if eq $q.shutdown.mode "soft" -}}
{{- if le $grace (int $q.shutdown.softTimeout) -}}
{{- $errors = append $errors (printf "%s.terminationGracePeriodSeconds (%d) must exceed shutdown.softTimeout (%d), or pods are killed mid soft shutdown" $p $grace (int $q.shutdown.softTimeout)) -}}
{{- end -}}
{{- else if $hasSoft -}}
{{- if le $grace (int $q.softTimeLimit) -}}
{{- $errors = append $errors (printf "%s.terminationGracePeriodSeconds (%d) must exceed softTimeLimit (%d), or warm shutdown is cut by SIGKILL" $p $grace (int $q.softTimeLimit)) -}}
{{- end -}}
{{- else if $hasHard -}}
{{- if le $grace (int $q.timeLimit) -}}
{{- $errors = append $errors (printf "%s.terminationGracePeriodSeconds (%d) must exceed timeLimit (%d), or warm shutdown is cut by SIGKILL" $p $grace (int $q.timeLimit)) -}}
{{- end -}}
{{- end -}}
{{- if ne $a.mode "none" -}}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) -}}
{{- $errors = append $errors (printf "%s.autoscaling.minReplicas (%d) exceeds maxReplicas (%d)" $p (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- end -}}
{{- if and (eq $a.mode "hpa") (lt (int $a.minReplicas) 1) -}}
{{- $errors = append $errors (printf "%s.autoscaling.minReplicas must be >= 1 in hpa mode (a HorizontalPodAutoscaler cannot scale from zero; use keda)" $p) -}}
{{- end -}}
{{- if gt (int $a.fallbackReplicas) (int $a.maxReplicas) -}}
{{- $errors = append $errors (printf "%s.autoscaling.fallbackReplicas (%d) exceeds maxReplicas (%d)" $p (int $a.fallbackReplicas) (int $a.maxReplicas)) -}}
{{- end -}}
{{- if and (not (kindIs "invalid" $a.scaleDownStabilizationSeconds)) (lt (int $a.scaleDownStabilizationSeconds) (min $grace 3600)) -}}
{{- $errors = append $errors (printf "%s.autoscaling.scaleDownStabilizationSeconds (%d) must be at least terminationGracePeriodSeconds (%d, or 3600, the largest window Kubernetes accepts)" $p (int $a.scaleDownStabilizationSeconds) $grace) -}}
{{- end -}}
{{- if and (eq $a.mode "keda") (not $v.autoscaling.prometheus.serverAddress) -}}
{{- $errors = append $errors (printf "%s.autoscaling.mode is keda but autoscaling.prometheus.serverAddress is empty" $p) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- if $errors -}}
{{- fail (printf "\n\natomfleet: invalid values (%d):\n  - %s\n" (len $errors) (join "\n  - " $errors)) -}}
{{- end -}}
{{- end -}}
