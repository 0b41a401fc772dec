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
