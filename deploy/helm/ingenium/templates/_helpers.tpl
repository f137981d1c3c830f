{{/* Names and labels. */}}
{{- define "ingenium.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ingenium.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: ingenium
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "ingenium.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "ingenium.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "ingenium.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* The INGENIUM_* and OTEL_* settings every component shares, as a YAML map (ConfigMap data, Job env). */}}
{{- define "ingenium.settings" -}}
{{- $s := .Values.settings -}}
INGENIUM_NATS_URL: {{ .Values.nats.url | quote }}
INGENIUM_STREAM_REPLICAS: {{ $s.streamReplicas | quote }}
INGENIUM_STREAM_MAX_AGE_DAYS: {{ $s.streamMaxAgeDays | quote }}
INGENIUM_DUPLICATE_WINDOW_SECONDS: {{ $s.duplicateWindowSeconds | quote }}
INGENIUM_FETCH_BATCH: {{ $s.fetchBatch | quote }}
INGENIUM_ACK_WAIT_SECONDS: {{ $s.ackWaitSeconds | quote }}
INGENIUM_MAX_ATTEMPTS: {{ $s.maxAttempts | quote }}
INGENIUM_RETRY_BACKOFF_SECONDS: {{ $s.retryBackoffSeconds | quote }}
INGENIUM_NAMESPACE: {{ $s.namespace | quote }}
{{- /* A read-only root filesystem: embedded-server state and stack.json would go here, never used in a cluster. */}}
INGENIUM_DATA_DIR: /tmp/ingenium
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .Values.telemetry.otlpEndpoint | quote }}
OTEL_EXPORTER_OTLP_PROTOCOL: {{ .Values.telemetry.otlpProtocol | quote }}
OTEL_METRIC_EXPORT_INTERVAL: {{ .Values.telemetry.metricExportIntervalMs | quote }}
{{- range $name, $value := $s.extraEnv }}
{{ $name }}: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* NATS credentials of one component kind (the user of deploy/helm/nats-values.yaml with that name). */}}
{{- define "ingenium.natsEnv" -}}
{{- $auth := .ctx.Values.nats.auth -}}
{{- if ne $auth.mode "none" }}
{{- /* The user may subscribe only to its own inbox, and only the provisioner makes streams and consumers. */}}
- name: INGENIUM_NATS_INBOX_PREFIX
  value: _INBOX_{{ .kind }}
- name: INGENIUM_NATS_PROVISIONED
  value: {{ ne .kind "provisioner" | quote }}
{{- end }}
{{- if eq $auth.mode "password" }}
- name: INGENIUM_NATS_USER
  value: {{ .kind }}
- name: INGENIUM_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $auth.existingSecret }}
      key: {{ .kind }}
{{- else if eq $auth.mode "creds" }}
- name: INGENIUM_NATS_CREDS
  value: /etc/ingenium/nats/{{ .kind }}.creds
{{- end }}
{{- end -}}

{{- define "ingenium.natsVolumeMounts" -}}
{{- if eq .ctx.Values.nats.auth.mode "creds" -}}
- name: nats-creds
  mountPath: /etc/ingenium/nats
  readOnly: true
{{- end }}
{{- end -}}

{{- define "ingenium.natsVolumes" -}}
{{- if eq .ctx.Values.nats.auth.mode "creds" -}}
- name: nats-creds
  secret:
    secretName: {{ .ctx.Values.nats.auth.existingSecret }}
    items:
      - key: {{ .kind }}.creds
        path: {{ .kind }}.creds
{{- end }}
{{- end -}}

{{/* INGENIUM_DATABASE_URL from the CloudNativePG app secret, this release's secret or the user's. */}}
{{- define "ingenium.databaseEnv" -}}
{{- $pg := .Values.postgresql -}}
- name: INGENIUM_DATABASE_URL
  valueFrom:
    secretKeyRef:
{{- if eq $pg.mode "cnpg" }}
      name: {{ include "ingenium.fullname" . }}-pg-app
      key: uri
{{- else if $pg.external.existingSecret }}
      name: {{ $pg.external.existingSecret }}
      key: {{ $pg.external.key }}
{{- else }}
      name: {{ include "ingenium.fullname" . }}-database
      key: uri
{{- end }}
{{- end -}}

{{/*
One Deployment running the image. Arguments (a dict): ctx (the root), name, kind, args, replicas, resources,
database (gets INGENIUM_DATABASE_URL), migrate (runs `ingenium ledger migrate` first), port (a container port
named http), strategy (Recreate or RollingUpdate).
*/}}
{{- define "ingenium.deployment" -}}
{{- $ctx := .ctx -}}
{{- $fullname := printf "%s-%s" (include "ingenium.fullname" $ctx) .name -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "ingenium.labels" $ctx | nindent 4 }}
    app.kubernetes.io/name: {{ $fullname }}
    app.kubernetes.io/component: {{ .kind }}
spec:
  replicas: {{ .replicas }}
  strategy:
    type: {{ .strategy }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ $ctx.Release.Name }}
      app.kubernetes.io/name: {{ $fullname }}
  template:
    metadata:
      labels:
        {{- include "ingenium.labels" $ctx | nindent 8 }}
        app.kubernetes.io/name: {{ $fullname }}
        app.kubernetes.io/component: {{ .kind }}
      annotations:
        checksum/config: {{ include "ingenium.settings" $ctx | sha256sum }}
        {{- with $ctx.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "ingenium.serviceAccountName" $ctx }}
      automountServiceAccountToken: false
      {{- with $ctx.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $ctx.Values.podSecurityContext | nindent 8 }}
      # SIGTERM: no new fetches, in-flight messages finish and are acked, telemetry flushes (2 s at most), exit 0.
      terminationGracePeriodSeconds: 30
      {{- if .migrate }}
      initContainers:
        # Tables first (idempotent, serialized by a lock): this component reads the ledger before it consumes.
        - name: migrate
          image: {{ include "ingenium.image" $ctx }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          args: [ledger, migrate]
          envFrom:
            - configMapRef:
                name: {{ include "ingenium.fullname" $ctx }}-config
          env:
            {{- include "ingenium.databaseEnv" $ctx | nindent 12 }}
          securityContext:
            {{- toYaml $ctx.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      {{- end }}
      containers:
        - name: {{ .kind }}
          image: {{ include "ingenium.image" $ctx }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
          envFrom:
            - configMapRef:
                name: {{ include "ingenium.fullname" $ctx }}-config
          env:
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            - name: OTEL_SERVICE_NAME
              value: ingenium-{{ .name }}
            - name: OTEL_RESOURCE_ATTRIBUTES
              value: k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME),k8s.deployment.name={{ $fullname }}
            {{- include "ingenium.natsEnv" (dict "ctx" $ctx "kind" .kind) | nindent 12 }}
            {{- if .database }}
            {{- include "ingenium.databaseEnv" $ctx | nindent 12 }}
            {{- end }}
          {{- if .port }}
          ports:
            - name: http
              containerPort: {{ .port }}
          readinessProbe:
            tcpSocket:
              port: http
            periodSeconds: 10
          livenessProbe:
            tcpSocket:
              port: http
            initialDelaySeconds: 20
            periodSeconds: 30
          {{- end }}
          resources:
            {{- toYaml (.resources | default $ctx.Values.resources) | nindent 12 }}
          securityContext:
            {{- toYaml $ctx.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- include "ingenium.natsVolumeMounts" (dict "ctx" $ctx) | nindent 12 }}
      volumes:
        - name: tmp
          emptyDir: {}
        {{- include "ingenium.natsVolumes" (dict "ctx" $ctx "kind" .kind) | nindent 8 }}
      {{- with $ctx.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ctx.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ctx.Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}
