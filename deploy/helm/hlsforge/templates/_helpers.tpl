{{/* Names. */}}
{{- define "hlsforge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hlsforge.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "hlsforge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels: helm.sh/chart never goes into selectors. */}}
{{- define "hlsforge.labels" -}}
helm.sh/chart: {{ include "hlsforge.chart" . }}
{{ include "hlsforge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hlsforge
{{- end }}

{{- define "hlsforge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hlsforge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Per-component labels: (dict "ctx" $ "component" "operator"). */}}
{{- define "hlsforge.componentLabels" -}}
{{ include "hlsforge.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "hlsforge.componentSelectorLabels" -}}
{{ include "hlsforge.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* ServiceAccount names. */}}
{{- define "hlsforge.serviceAccountName" -}}
{{- $sa := index .ctx.Values .component "serviceAccount" }}
{{- if $sa.create }}
{{- default (printf "%s-%s" (include "hlsforge.fullname" .ctx) .component) $sa.name }}
{{- else }}
{{- default "default" $sa.name }}
{{- end }}
{{- end }}

{{/* Images: (dict "ctx" $ "image" .Values.images.platform). */}}
{{- define "hlsforge.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}

{{- define "hlsforge.tokenSecretName" -}}
{{- default (printf "%s-token" (include "hlsforge.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{- define "hlsforge.mediaClaimName" -}}
{{- default (printf "%s-media" (include "hlsforge.fullname" .)) .Values.storage.pvc.existingClaim }}
{{- end }}

{{- define "hlsforge.devVolumeName" -}}
{{- printf "%s-%s-media" .Release.Namespace (include "hlsforge.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Pod Security Standard `restricted` profile, for every pod of the chart. */}}
{{- define "hlsforge.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "hlsforge.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Storage env shared by the operator and the uploader (hlsforge_storage.s3config and
areas). Called with (dict "ctx" . "component" "operator"|"uploader"). The areas: sources below
PREFIXuploads/, outputs below PREFIXhls/, claim records below PREFIX.hlsforge/claims/. A
cluster-wide operator gives every namespace its own folder in each area, so the uploader (in
the release namespace) writes below uploads/<namespace>/ and hls/<namespace>/. */}}
{{- define "hlsforge.storageEnv" -}}
{{- $component := .component }}
{{- with .ctx }}
{{- $prefix := ternary .Values.storage.s3.prefix "" (eq .Values.storage.mode "s3") }}
{{- $own := ternary (printf "/%s" .Release.Namespace) "" (and .Values.rbac.clusterWide (eq $component "uploader")) }}
- name: HLSFORGE_UPLOADS_DIR
  value: {{ printf "%suploads%s" $prefix $own | quote }}
- name: HLSFORGE_OUTPUT_DIR
  value: {{ printf "%shls%s" $prefix $own | quote }}
- name: HLSFORGE_CLAIMS_DIR
  value: {{ printf "%s.hlsforge/claims" $prefix | quote }}
{{- if eq .Values.storage.mode "pvc" }}
- name: HLSFORGE_STORAGE
  value: volume
- name: HLSFORGE_MEDIA_ROOT
  value: /data
{{- else }}
- name: HLSFORGE_STORAGE
  value: s3
- name: HLSFORGE_S3_BUCKET
  value: {{ .Values.storage.s3.bucket | quote }}
- name: HLSFORGE_S3_REGION
  value: {{ .Values.storage.s3.region | quote }}
- name: AWS_REGION
  value: {{ .Values.storage.s3.region | quote }}
{{- with .Values.storage.s3.endpoint }}
- name: HLSFORGE_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.storage.s3.publicEndpoint }}
- name: HLSFORGE_S3_PUBLIC_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: HLSFORGE_S3_ADDRESSING
  value: {{ .Values.storage.s3.addressing | quote }}
- name: HLSFORGE_S3_PRESIGN_SECONDS
  value: {{ .Values.storage.s3.presignSeconds | quote }}
- name: HLSFORGE_S3_SOURCE_ACCESS
  value: {{ .Values.storage.s3.sourceAccess | quote }}
- name: HLSFORGE_S3_DELIVERY
  value: {{ .Values.storage.s3.delivery | quote }}
{{- with .Values.storage.s3.credentialsSecret }}
# Static keys by Secret reference (S3-compatible stores); on EKS prefer IRSA (roleArn).
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: {name: {{ . | quote }}, key: AWS_ACCESS_KEY_ID}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ . | quote }}, key: AWS_SECRET_ACCESS_KEY}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* ServiceAccount annotations: the user's, plus the IRSA role in s3 mode. */}}
{{- define "hlsforge.serviceAccountAnnotations" -}}
{{- $annotations := deepCopy (index .ctx.Values .component "serviceAccount" "annotations") }}
{{- if and (eq .ctx.Values.storage.mode "s3") .ctx.Values.storage.s3.roleArn }}
{{- $_ := set $annotations "eks.amazonaws.com/role-arn" .ctx.Values.storage.s3.roleArn }}
{{- end }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
