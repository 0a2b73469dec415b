{{/* Names, labels, images and the serving certificate shared by the templates. */}}

{{- define "camfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "camfleet.fullname" -}}
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

{{- define "camfleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "camfleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "camfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "camfleet.labels" -}}
helm.sh/chart: {{ include "camfleet.chart" . }}
app.kubernetes.io/name: {{ include "camfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: camfleet
{{- end }}

{{- define "camfleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "camfleet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest is given. Argument: (dict "image" .Values.image "root" .) */}}
{{- define "camfleet.imageRef" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}
{{- end }}

{{- define "camfleet.webhookServiceName" -}}
{{- printf "%s-webhook" (include "camfleet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "camfleet.decisionServiceName" -}}
{{- printf "%s-decision" (include "camfleet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "camfleet.metricsServiceName" -}}
{{- printf "%s-metrics" (include "camfleet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "camfleet.gatewayCredentialsSecretName" -}}
{{- if .Values.decisionEndpoint.existingCredentialsSecret }}
{{- .Values.decisionEndpoint.existingCredentialsSecret }}
{{- else }}
{{- printf "%s-gateway-credentials" (include "camfleet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "camfleet.tlsSecretName" -}}
{{- printf "%s-tls" (include "camfleet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "camfleet.tlsMountPath" -}}/etc/camfleet/webhook-tls{{- end }}

{{/* The names the serving certificate covers: the webhook and decision Services, in every short form. */}}
{{- define "camfleet.tlsDnsNames" -}}
{{- $names := list }}
{{- range $service := list (include "camfleet.webhookServiceName" .) (include "camfleet.decisionServiceName" .) }}
{{- $names = concat $names (list $service (printf "%s.%s" $service $.Release.Namespace) (printf "%s.%s.svc" $service $.Release.Namespace) (printf "%s.%s.svc.cluster.local" $service $.Release.Namespace)) }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{/*
The generated serving certificate as JSON {"ca", "crt", "key"} (PEM), made once per render and shared by the
Secret and the webhook configurations' caBundle. An existing Secret is read back (`lookup`), so `helm upgrade`
keeps the same certificate instead of rotating it on every release.
*/}}
{{- define "camfleet.generatedTls" -}}
{{- if not (hasKey .Values "__camfleetGeneratedTls") }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "camfleet.tlsSecretName" .) }}
{{- $data := dict }}
{{- if and $existing (hasKey $existing "data") }}
{{- $data = $existing.data }}
{{- end }}
{{- $tls := dict }}
{{- if and (hasKey $data "ca.crt") (hasKey $data "tls.crt") (hasKey $data "tls.key") }}
{{- $tls = dict "ca" (index $data "ca.crt" | b64dec) "crt" (index $data "tls.crt" | b64dec) "key" (index $data "tls.key" | b64dec) }}
{{- else }}
{{- $days := int .Values.tls.validityDays }}
{{- $ca := genCA (printf "%s-ca" (include "camfleet.fullname" .)) $days }}
{{- $dnsNames := include "camfleet.tlsDnsNames" . | fromJsonArray }}
{{- $cert := genSignedCert (index $dnsNames 0) nil $dnsNames $days $ca }}
{{- $tls = dict "ca" $ca.Cert "crt" $cert.Cert "key" $cert.Key }}
{{- end }}
{{- $_ := set .Values "__camfleetGeneratedTls" $tls }}
{{- end }}
{{- toJson (get .Values "__camfleetGeneratedTls") }}
{{- end }}

{{/* The webhook configurations' caBundle (generated certificate only; cert-manager injects its own). */}}
{{- define "camfleet.caBundle" -}}
{{- (include "camfleet.generatedTls" . | fromJson).ca | b64enc }}
{{- end }}

{{- define "camfleet.certificateName" -}}
{{- printf "%s-serving" (include "camfleet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The ClusterKopfPeering's name: the operator's default cluster-wide, the release's own with watchNamespaces. */}}
{{- define "camfleet.peeringName" -}}
{{- if .Values.operator.watchNamespaces }}
{{- include "camfleet.fullname" . }}
{{- else -}}
camfleet
{{- end }}
{{- end }}
