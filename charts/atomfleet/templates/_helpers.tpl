{{/* ---------------------------------------------------------------------------------------------
Shared helpers: names, labels, image, security, generated secrets.
Component helpers live beside their templates (templates/<component>/_<component>.tpl) and are
named atomfleet.<component>.<thing>.
--------------------------------------------------------------------------------------------- */}}

{{- define "atomfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "atomfleet.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of a component's objects: dict "ctx" $ "component" "api" -> <fullname>-api */}}
{{- define "atomfleet.componentName" -}}
{{- printf "%s-%s" (include "atomfleet.fullname" .ctx | trunc 50 | trimSuffix "-") .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "atomfleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Immutable selector labels: dict "ctx" $ "component" "api" ["queue" "io_bound"] */}}
{{- define "atomfleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "atomfleet.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .queue }}
atomfleet.io/queue: {{ . }}
{{- end }}
{{- end -}}

{{/* Full labels: selector labels + version, managed-by, chart, part-of, commonLabels. */}}
{{- define "atomfleet.labels" -}}
{{ include "atomfleet.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: atomfleet
helm.sh/chart: {{ include "atomfleet.chart" .ctx }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata block of a namespaced object: dict "ctx" $ "component" "api" "name" "<name>" ["annotations" dict] ["labels" dict] */}}
{{- define "atomfleet.metadata" -}}
name: {{ .name }}
namespace: {{ .ctx.Release.Namespace }}
labels:
  {{- include "atomfleet.labels" . | nindent 2 }}
  {{- with .labels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $ann := merge (dict) (.annotations | default dict) .ctx.Values.commonAnnotations }}
{{- with $ann }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The one image of every atomfleet role. */}}
{{- define "atomfleet.image" -}}
{{- $img := .Values.image -}}
{{- $repo := ternary (printf "%s/%s" (trimSuffix "/" $img.registry) $img.repository) $img.repository (ne $img.registry "") -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{- define "atomfleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "atomfleet.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Pod-level settings shared by every pod: service account, token, security context, pull secrets. */}}
{{- define "atomfleet.podSecurity" -}}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "atomfleet.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{/* The writable /tmp of every container (read-only root filesystem). */}}
{{- define "atomfleet.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolumeSizeLimit }}
{{- end -}}

{{/*
A Secret value generated once and kept across upgrades: the value already stored in the live
Secret (lookup) when there is one, else a fresh random string. Returns it base64-encoded.
dict "ctx" $ "name" <secret name> "key" <data key> "length" <n>
*/}}
{{- define "atomfleet.secretValue" -}}
{{- $live := lookup "v1" "Secret" .ctx.Release.Namespace .name -}}
{{- if and $live $live.data (hasKey $live.data .key) -}}
{{- index $live.data .key -}}
{{- else -}}
{{- randAlphaNum (int .length) | b64enc -}}
{{- end -}}
{{- end -}}

{{/*
What a pod template's checksum sees of a generated value (the random value itself would differ in
every render): a digest of the live value when the Secret exists, else "new". A regenerated value
(the Secret was deleted) therefore changes the checksum and rolls the pods that read it.
dict "ctx" $ "name" <secret name> "key" <data key>
*/}}
{{- define "atomfleet.secretDigest" -}}
{{- $live := lookup "v1" "Secret" .ctx.Release.Namespace .name -}}
{{- if and $live $live.data (hasKey $live.data .key) -}}
{{- index $live.data .key | sha256sum -}}
{{- else -}}
new
{{- end -}}
{{- end -}}

{{/* Deep merge of two maps (maps merge recursively, everything else in "over" wins, false and 0
included — unlike sprig's merge/mergeOverwrite). dict "base" <map> "over" <map> -> JSON */}}
{{- define "atomfleet.deepMerge" -}}
{{- $out := deepCopy (.base | default dict) -}}
{{- range $k, $v := (.over | default dict) -}}
{{- if and (kindIs "map" $v) (kindIs "map" (get $out $k)) -}}
{{- $_ := set $out $k (fromJson (include "atomfleet.deepMerge" (dict "base" (get $out $k) "over" $v))) -}}
{{- else -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Components that are fleet clients (may reach Redis, PostgreSQL, MinIO). */}}
{{- define "atomfleet.clientSelector" -}}
matchLabels:
  app.kubernetes.io/name: {{ include "atomfleet.name" . }}
  app.kubernetes.io/instance: {{ .Release.Name }}
matchExpressions:
  - key: app.kubernetes.io/component
    operator: In
    values: [api, worker, beat, migrations, flower, minio-setup, test]
{{- end -}}
