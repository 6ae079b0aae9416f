{{/* Per-job maxima (values `jobLimits`, hlsforge_api.job_limits.JobLimits): the same numbers
reach the uploader and the operator as HLSFORGE_JOB_LIMITS__* and the API server as the
ValidatingAdmissionPolicy's CEL rules (admissionpolicy-joblimits.yaml). */}}

{{- define "hlsforge.jobLimitsEnv" -}}
{{- with .Values.jobLimits }}
{{- if gt (int .httpPriority) (int .priority) }}
{{- fail "jobLimits.httpPriority must not exceed jobLimits.priority" }}
{{- end }}
- name: HLSFORGE_JOB_LIMITS__CPU
  value: {{ .cpu | toString | quote }}
- name: HLSFORGE_JOB_LIMITS__MEMORY
  value: {{ .memory | quote }}
- name: HLSFORGE_JOB_LIMITS__EPHEMERAL_STORAGE
  value: {{ .ephemeralStorage | quote }}
- name: HLSFORGE_JOB_LIMITS__DEADLINE_SECONDS
  value: {{ .deadlineSeconds | quote }}
- name: HLSFORGE_JOB_LIMITS__RETRIES
  value: {{ .retries | quote }}
- name: HLSFORGE_JOB_LIMITS__PRIORITY
  value: {{ .priority | quote }}
- name: HLSFORGE_JOB_LIMITS__HTTP_PRIORITY
  value: {{ .httpPriority | quote }}
{{- end }}
{{- end }}

{{/* The policy's name: cluster-scoped, so it carries the release's namespace too. */}}
{{- define "hlsforge.jobLimitsPolicyName" -}}
{{- printf "%s-%s-job-limits" .Release.Namespace (include "hlsforge.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
