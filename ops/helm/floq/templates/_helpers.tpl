{{/* Names and labels */}}
{{- define "floq.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "floq.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* floq.selector: (dict "ctx" $ "component" "worker") */}}
{{- define "floq.selector" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "floq.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The size's table (sizes.<size>); an unknown size fails the render. */}}
{{- define "floq.size" -}}
{{- $s := index .Values.sizes (toString .Values.size) -}}
{{- if not $s -}}
{{- fail (printf "size %q: expected small, medium or large" (toString .Values.size)) -}}
{{- end -}}
{{- toYaml $s -}}
{{- end -}}

{{/* Replicas cap: nothing beyond the commands topic's partition count. */}}
{{- define "floq.maxReplicas" -}}
{{- $max := int .max -}}
{{- $parts := int .ctx.Values.kafka.partitions -}}
{{- if gt $max $parts -}}{{ $parts }}{{- else -}}{{ $max }}{{- end -}}
{{- end -}}

{{/* Keys the chart derives its pods from (the pod grace from the drain,
     the probes' port from metrics.listen): set through their values, never
     overridden in worker.config. */}}
{{- define "floq.noOverrides" -}}
{{- if hasKey .Values.worker.config "worker.drain.grace.ms" -}}
{{- fail "worker.config.worker.drain.grace.ms: set worker.drainGraceMs instead (terminationGracePeriodSeconds is computed from it)" -}}
{{- end -}}
{{- if hasKey .Values.worker.config "metrics.listen" -}}
{{- fail "worker.config.metrics.listen: set worker.metricsPort instead (the probes ask that port)" -}}
{{- end -}}
{{- if hasKey .Values.console.config "console.listen" -}}
{{- fail "console.config.console.listen: set console.port instead (the probes and the Service use it)" -}}
{{- end -}}
{{- end -}}

{{/* Pod grace: the drain grace plus the margin to hand over and commit. */}}
{{- define "floq.workerGrace" -}}
{{- $ms := int .Values.worker.drainGraceMs -}}
{{- add (div (add $ms 999) 1000) (int .Values.worker.stopMarginSeconds) -}}
{{- end -}}

{{/* Secrets never go inline: refuse secret-looking keys in a config map
     (their *.file variants, naming a mounted Secret, are fine). */}}
{{- define "floq.noInlineSecrets" -}}
{{- range $k, $v := .config -}}
{{- if and (regexMatch "(password|secret|token|user\\.info|hmac\\.keys|api\\.key|ssl\\.key\\.pem|oauthbearer\\.config)" $k) (not (hasSuffix ".file" $k)) -}}
{{- fail (printf "%s.config.%s looks like a secret: put it in the Secret named by secrets.existingSecret (secrets.files / secrets.env), never in values" $.where $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Volume and mounts of the referenced Secret. */}}
{{- define "floq.secretVolume" -}}
{{- if and .Values.secrets.existingSecret (or .Values.secrets.files .Values.secrets.env) }}
- name: secrets
  secret:
    secretName: {{ .Values.secrets.existingSecret }}
    defaultMode: 0400
{{- end }}
{{- end -}}
{{- define "floq.secretMount" -}}
{{- if and .Values.secrets.existingSecret .Values.secrets.files }}
- name: secrets
  mountPath: /etc/floq/secrets
  readOnly: true
{{- end }}
{{- end -}}
{{- define "floq.secretEnv" -}}
{{- $secret := .Values.secrets.existingSecret -}}
{{- range $name, $key := .Values.secrets.env }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.env needs secrets.existingSecret" $secret }}
      key: {{ $key }}
{{- end }}
{{- end -}}
