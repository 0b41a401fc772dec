{{- /* The values as a plain map, so that `dig` reaches keys the user did not set. */ -}}
{{- define "standin.values" -}}{{ .Values | toJson }}{{- end -}}
