{{/* The release's prefix for every object: <release>-natter, or the release
name alone when it already says natter. */}}
{{- define "natter.fullname" -}}
{{- if contains "natter" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-natter" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The labels of a component's objects; "component" is gateway, presence
or history. */}}
{{- define "natter.selectorLabels" -}}
app.kubernetes.io/name: natter
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "natter.labels" -}}
{{ include "natter.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* The component's image: <repository>/<component>:<tag>, each part
overridable per component. */}}
{{- define "natter.image" -}}
{{- $c := index .root.Values .component -}}
{{- $repo := default (printf "%s/%s" .root.Values.image.repository .component) $c.image.repository -}}
{{- $tag := default (default .root.Chart.AppVersion .root.Values.image.tag) $c.image.tag -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{/* A component's Deployment. "env" is its list of container env entries
(what compose sets, from the values); the component's values give the
rest. */}}
{{- define "natter.deployment" -}}
{{- $c := index .root.Values .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "natter.fullname" .root }}-{{ .component }}
  labels:
    {{- include "natter.labels" . | nindent 4 }}
spec:
  replicas: {{ $c.replicas }}
  selector:
    matchLabels:
      {{- include "natter.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "natter.selectorLabels" . | nindent 8 }}
      {{- if .root.Values.metrics.annotations }}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $c.port | quote }}
        prometheus.io/path: /metrics
      {{- end }}
    spec:
      {{- with .root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.terminationGracePeriodSeconds }}
      terminationGracePeriodSeconds: {{ . }}
      {{- end }}
      # The images' user (distroless nonroot); nothing is written to disk.
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: {{ .component }}
          image: {{ include "natter.image" . }}
          imagePullPolicy: {{ .root.Values.image.pullPolicy }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [ALL]
          ports:
            - name: http
              containerPort: {{ $c.port }}
          env:
            {{- toYaml .env | nindent 12 }}
            {{- range $name, $value := $c.env }}
            - name: {{ $name }}
              value: {{ $value | quote }}
            {{- end }}
          {{- with .volumeMounts }}
          volumeMounts:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          # /readyz: NATS connected and serving (history: its stream
          # read); a pod that is not ready gets no traffic from its Service.
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 5
            failureThreshold: 2
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
            failureThreshold: 3
          {{- with $c.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
      {{- with .volumes }}
      volumes:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* A component's Service, on its one port. */}}
{{- define "natter.service" -}}
{{- $c := index .root.Values .component -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "natter.fullname" .root }}-{{ .component }}
  labels:
    {{- include "natter.labels" . | nindent 4 }}
spec:
  type: {{ .type | default "ClusterIP" }}
  selector:
    {{- include "natter.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ $c.port }}
      targetPort: http
{{- end -}}

{{/* NATTER_ALLOWED_HOSTS: gateway.allowedHosts and the Ingress host. */}}
{{- define "natter.allowedHosts" -}}
{{- $hosts := list -}}
{{- with .Values.gateway.allowedHosts }}{{ $hosts = append $hosts . }}{{ end -}}
{{- if and .Values.ingress.enabled .Values.ingress.host }}{{ $hosts = append $hosts .Values.ingress.host }}{{ end -}}
{{- join "," $hosts -}}
{{- end -}}
