{{- define "onemap.fullname" -}}{{ .Release.Name }}-onemap{{- end -}}
{{- define "onemap.labels" -}}
app.kubernetes.io/name: onemap
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "onemap.secretName" -}}{{ .Values.existingSecret | default (printf "%s-secrets" (include "onemap.fullname" .)) }}{{- end -}}
