#!/usr/bin/env bash
# Regenerates tests/fixtures/dashboards/panels.tsv from the reference facts file
# (../shared/reference/dashboards.md): one line per panel, `uid<TAB>title<TAB>metrics<TAB>labels`,
# metrics and labels comma-separated. The tests read only the copy, never ../shared.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
src="${1:-$here/../shared/reference/dashboards.md}"
out="$here/tests/fixtures/dashboards/panels.tsv"
awk -F'|' '
  /^### / { uid=""; if (match($0, /uid `[^`]+`/)) { uid=substr($0, RSTART+5, RLENGTH-6) } next }
  uid != "" && /^\| / && $2 !~ /^ *panel *$/ && $2 !~ /^-+$/ {
    t=$2; m=$3; l=$4
    gsub(/^ +| +$/, "", t); gsub(/ /, "", m); gsub(/ /, "", l)
    if (t ~ /^-+$/) next
    printf "%s\t%s\t%s\t%s\n", uid, t, m, l
  }
' "$src" > "$out"
echo "wrote $(wc -l < "$out") panels to $out"

# The chart's default relabelings of the ServiceMonitors a cluster label is added to, per version.
fixtures="$here/../shared/fixtures/cilium-chart"
rel="$here/tests/fixtures/dashboards/default-relabelings.json"
python3 - "$fixtures" > "$rel" <<'PY'
import json, os, sys, yaml
root = sys.argv[1]
keys = ["hubble.metrics.serviceMonitor.relabelings", "prometheus.serviceMonitor.relabelings"]
out = {}
for v in sorted(os.listdir(root), key=lambda s: [int(x) for x in s.split(".")]):
    d = yaml.safe_load(open(os.path.join(root, v, "values.yaml")))
    def get(p):
        x = d
        for k in p.split("."):
            x = x.get(k) if isinstance(x, dict) else None
        return x
    out[v] = {k: get(k) for k in keys}
print(json.dumps(out, indent=1))
PY
echo "wrote $rel"
