{{/* ---------------------------------------------------------------------------------------------
Workers: one Deployment (+ autoscaler, PDB) per entry of workers.queues, merged over workers.defaults.
--------------------------------------------------------------------------------------------- */}}

{{/* The merged queue map as JSON: {<queue>: defaults ⊕ queues.<queue>}. Null entries are dropped. */}}
{{- define "atomfleet.worker.queues" -}}
{{- $out := dict -}}
{{- range $name, $q := .Values.workers.queues -}}
{{- if kindIs "map" $q -}}
{{- $_ := set $out $name (fromJson (include "atomfleet.deepMerge" (dict "base" $.Values.workers.defaults "over" $q))) -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Every worker Deployment: the atom queues, and the webhook senders (queue `webhooks`, a service
queue no atom uses; never autoscaled) when webhooks.enabled, merged over workers.defaults too. */}}
{{- define "atomfleet.worker.deployments" -}}
{{- $out := fromJson (include "atomfleet.worker.queues" .) -}}
{{- if .Values.webhooks.enabled -}}
{{- $senders := deepCopy .Values.webhooks.worker -}}
{{- $_ := set $senders "autoscaling" (dict "mode" "none") -}}
{{- $_ := set $out "webhooks" (fromJson (include "atomfleet.deepMerge" (dict "base" .Values.workers.defaults "over" $senders))) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Object name of a queue's Deployment and friends: dict "ctx" $ "queue" <name> */}}
{{- define "atomfleet.worker.name" -}}
{{- include "atomfleet.componentName" (dict "ctx" .ctx "component" (printf "worker-%s" (.queue | replace "_" "-"))) -}}
{{- end -}}

{{/* Scale-down stabilization: the explicit value, else the queue's grace period capped at 3600
(the largest stabilizationWindowSeconds the API server accepts for an HPA, and so for KEDA). */}}
{{- define "atomfleet.worker.stabilization" -}}
{{- $a := .autoscaling -}}
{{- if kindIs "invalid" $a.scaleDownStabilizationSeconds -}}
{{- min (int .terminationGracePeriodSeconds) 3600 -}}
{{- else -}}
{{- int $a.scaleDownStabilizationSeconds -}}
{{- end -}}
{{- end -}}

{{/* PromQL label matchers of the queue's scaling query: dict "ctx" $ "queue" <name> */}}
{{- define "atomfleet.worker.matchers" -}}
{{- $extra := tpl .ctx.Values.autoscaling.prometheus.labelMatchers .ctx -}}
{{- printf "queue_name=%q" .queue -}}{{- with $extra }},{{ . }}{{- end -}}
{{- end -}}

{{/*
Demand of a queue = runs that need a slot now: waiting (queued or retrying) + running, counted in
the database by beat (atomfleet_queue_demand). With target = slots per pod (concurrency) and an
AverageValue target, the autoscaler computes desired = ceil(demand / concurrency). Beat is the one
exporter, so max and sum give the same value; max also stays right if a second scrape job ever
duplicates beat's series. Beat exports every declared queue whether or not any worker runs: 0 -> N.
*/}}
{{- define "atomfleet.worker.demandQuery" -}}
{{- printf "max(atomfleet_queue_demand{%s})" (include "atomfleet.worker.matchers" .) -}}
{{- end -}}

{{/* The worker's command line (exec form: celery is PID 1 and receives SIGTERM). dict "ctx" $ "queue" <name> "q" <merged> */}}
{{- define "atomfleet.worker.args" -}}
{{- $q := .q -}}
- -A
- atomfleet_orchestrator
- worker
- --queues={{ .queue }}
- --hostname={{ .queue }}@$(POD_NAME)
- --concurrency={{ int $q.concurrency }}
- --prefetch-multiplier={{ int $q.prefetchMultiplier }}
- --pool={{ $q.pool }}
{{- if not (kindIs "invalid" $q.timeLimit) }}
- --time-limit={{ int $q.timeLimit }}
{{- end }}
{{- if not (kindIs "invalid" $q.softTimeLimit) }}
- --soft-time-limit={{ int $q.softTimeLimit }}
{{- end }}
{{- if not (kindIs "invalid" $q.maxTasksPerChild) }}
- --max-tasks-per-child={{ int $q.maxTasksPerChild }}
{{- end }}
- --without-mingle
- --without-gossip
- --loglevel={{ .ctx.Values.config.logLevel }}
{{- end -}}

{{/* Worker resources: values, plus the GPU limit when gpu.enabled. */}}
{{- define "atomfleet.worker.resources" -}}
{{- $res := deepCopy (.resources | default dict) -}}
{{- if .gpu.enabled -}}
{{- $limits := deepCopy (get $res "limits" | default dict) -}}
{{- $_ := set $limits .gpu.resourceName (int .gpu.count) -}}
{{- $_ := set $res "limits" $limits -}}
{{- end -}}
{{- toYaml $res -}}
{{- end -}}

{{/* The image of a queue's workers: its own (workers.queues.<q>.image.repository), else the fleet's. dict "ctx" $ "q" <merged> */}}
{{- define "atomfleet.worker.image" -}}
{{- $img := .q.image -}}
{{- if $img.repository -}}
{{- $repo := ternary (printf "%s/%s" (trimSuffix "/" $img.registry) $img.repository) $img.repository (ne $img.registry "") -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo $img.tag -}}
{{- end -}}
{{- else -}}
{{- include "atomfleet.image" .ctx -}}
{{- end -}}
{{- end -}}

{{/* Queues grouped by what their workers load (image + atom packages): one registration hook
Job each. A JSON list of {"image", "packages", "queues"}, in a stable order. */}}
{{- define "atomfleet.worker.atomGroups" -}}
{{- $groups := dict -}}
{{- $queues := fromJson (include "atomfleet.worker.queues" .) -}}
{{- range $name := keys $queues | sortAlpha -}}
{{- $q := get $queues $name -}}
{{- $image := include "atomfleet.worker.image" (dict "ctx" $ "q" $q) -}}
{{- $packages := $q.atomPackages | default list -}}
{{- $key := printf "%s %s" $image (toJson $packages) -}}
{{- $g := get $groups $key | default (dict "image" $image "packages" $packages "queues" list) -}}
{{- $_ := set $g "queues" (append $g.queues $name) -}}
{{- $_ := set $groups $key $g -}}
{{- end -}}
{{- $out := list -}}
{{- range $key := keys $groups | sortAlpha -}}
{{- $out = append $out (get $groups $key) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}
