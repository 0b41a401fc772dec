#!/usr/bin/env bash
# Rewrites tests/fixtures/ from ../shared/fixtures/ (the project's shared fixtures, beside the
# checkout in CI): metrics payloads and chart schemas byte for byte, chart values as data only
# (JSON, no upstream comments). The test `fixtures::copies_match_shared_fixtures` fails when the
# copies drift; this is how to bring them back in line. Needs ../shared/fixtures.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$root/../shared/fixtures" ]; then
  echo "regen-fixtures: $root/../shared/fixtures is absent; nothing to regenerate from" >&2
  exit 1
fi
cd "$root"
CILIUMON_REGEN_FIXTURES=1 cargo test --test it fixtures::copies_match_shared_fixtures -- --nocapture
