{{- define "likeness.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* fullnameOverride wins; else the release name alone when it already holds the name (release
"likeness" gives likeness-*, not likeness-likeness-consent-*); else release-name. */}}
{{- define "likeness.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if or (contains $name .Release.Name) (hasPrefix .Release.Name $name) -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "likeness.labels" -}}
app.kubernetes.io/name: {{ include "likeness.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "likeness.selector" -}}
app.kubernetes.io/name: {{ include "likeness.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "likeness.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "likeness.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "likeness.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if and .Values.gpu.enabled (not (hasSuffix "-gpu" $tag)) -}}
{{- $tag = printf "%s-gpu" $tag -}}
{{- end -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}

{{/* Environment shared by every container: config, secrets, key files. */}}
{{- define "likeness.env" -}}
- name: LIKENESS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.database.name }}
      key: {{ .Values.secrets.database.key }}
- name: LIKENESS_CALLERS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.callers.name }}
      key: {{ .Values.secrets.callers.key }}
- name: LIKENESS_TEMPLATE_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.templateKeys.name }}
      key: {{ .Values.secrets.templateKeys.key }}
- name: LIKENESS_SIGNING_KEY_FILE
  value: /etc/likeness/signing/{{ .Values.secrets.signingKeys.key }}
- name: LIKENESS_AUTO_MIGRATE
  value: "false"
- name: LIKENESS_DATA_DIR
  value: /var/lib/likeness
{{- if .Values.tls.enabled }}
- name: LIKENESS_TLS_CERT_FILE
  value: /etc/likeness/tls/tls.crt
- name: LIKENESS_TLS_KEY_FILE
  value: /etc/likeness/tls/tls.key
{{- if .Values.tls.requireClientCertificates }}
- name: LIKENESS_TLS_CLIENT_CA_FILE
  value: /etc/likeness/tls/ca.crt
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "likeness.volumes" -}}
- name: data
  emptyDir: {}
- name: tmp
  emptyDir: {}
- name: signing-keys
  secret:
    secretName: {{ .Values.secrets.signingKeys.name }}
    defaultMode: 0400
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
    defaultMode: 0400
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "likeness.volumeMounts" -}}
- name: data
  mountPath: /var/lib/likeness
- name: tmp
  mountPath: /tmp
- name: signing-keys
  mountPath: /etc/likeness/signing
  readOnly: true
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: /etc/likeness/tls
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}
