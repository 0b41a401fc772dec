#!/usr/bin/env bash
# Builds the control plane the e2e tests (tests/e2e/) start: kube-apiserver, kube-controller-manager,
# kube-scheduler (Kubernetes 1.34.4), etcd (3.6.4) and kwok (0.7.0), from their Go modules through
# the Go module proxy, at the versions pinned in tests/cluster/tools/*/go.mod (+ go.sum), into
# .tools/cluster/ (git-ignored). Reused when present: a tool is rebuilt only when its go.mod or
# go.sum changed (a stamp next to the binaries records their hash). Go's build cache
# (~/.cache/go-build) and module cache are kept between runs, so a rebuild is incremental; the
# binaries themselves are kept in ~/.cache/ciliumon-cluster-tools/ for the next clone.
#
# From scratch on 2 cores this takes a while (see README, Development); it runs under `nice` so the
# machine stays usable.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.tools/cluster"
mods="$root/tests/cluster/tools"
# Built binaries are also kept per machine, by the hash of what they are built from, so that a
# fresh clone on the same machine (CI) copies them instead of relinking (CILIUMON_TOOLS_CACHE
# moves it; next to Go's own build cache by default).
cache="${CILIUMON_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ciliumon-cluster-tools}"
mkdir -p "$dest"

if ! command -v go >/dev/null; then
  echo "build-cluster-tools: go is not installed; the e2e tests need it to build the control plane" >&2
  exit 1
fi

k8s_version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v1\./ {print $2}' "$mods/kubernetes/go.mod")
if [ -z "$k8s_version" ]; then
  echo "build-cluster-tools: no k8s.io/kubernetes version in $mods/kubernetes/go.mod" >&2
  exit 1
fi
k8s_minor=${k8s_version#v1.}
k8s_minor=${k8s_minor%%.*}
# Without these, kube-apiserver reports v0.0.0-master, and helm refuses charts with a kubeVersion
# constraint (kube-prometheus-stack has one).
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

keep() { # keep MODULE_DIR CACHE_DIR BINARY=PACKAGE...: for the next clone, the newest build only
  local mod=$1 kept=$2 spec
  shift 2
  if mkdir -p "$cache"; then
    rm -rf "$cache/$mod-"* 2>/dev/null || true
    { mkdir -p "$kept.tmp" && for spec in "$@"; do cp "$dest/${spec%%=*}" "$kept.tmp/"; done \
      && mv "$kept.tmp" "$kept"; } || echo "build-cluster-tools: could not keep $mod in $cache" >&2
  fi
}

build() { # build MODULE_DIR LDFLAGS BINARY=PACKAGE...
  local mod=$1 ldflags=$2 stamp want have=
  shift 2
  stamp="$dest/.stamp-$mod"
  want=$( (cat "$mods/$mod/go.mod" "$mods/$mod/go.sum"; echo "$ldflags") | sha256sum | cut -d' ' -f1)
  [ -f "$stamp" ] && have=$(cat "$stamp")
  local missing=0 spec
  for spec in "$@"; do [ -x "$dest/${spec%%=*}" ] || missing=1; done
  local kept="$cache/$mod-$want" complete=1
  if [ "$missing" = 0 ] && [ "$have" = "$want" ]; then
    [ -d "$kept" ] || keep "$mod" "$kept" "$@"
    return 0
  fi
  for spec in "$@"; do [ -x "$kept/${spec%%=*}" ] || complete=0; done
  if [ "$complete" = 1 ]; then
    for spec in "$@"; do
      cp "$kept/${spec%%=*}" "$dest/${spec%%=*}.new"
      mv "$dest/${spec%%=*}.new" "$dest/${spec%%=*}"
    done
    echo "$want" >"$stamp"
    echo "build-cluster-tools: $mod copied from $kept" >&2
    return 0
  fi
  local start=$SECONDS
  for spec in "$@"; do
    echo "build-cluster-tools: building ${spec%%=*} (${spec#*=})" >&2
    (cd "$mods/$mod" && nice -n 10 go build -mod=readonly -trimpath -ldflags "$ldflags" \
      -o "$dest/${spec%%=*}.new" "${spec#*=}")
    mv "$dest/${spec%%=*}.new" "$dest/${spec%%=*}"
  done
  echo "$want" >"$stamp"
  echo "build-cluster-tools: $mod built in $((SECONDS - start))s" >&2
  keep "$mod" "$kept" "$@"
}

build etcd "-s -w" etcd=go.etcd.io/etcd/server/v3
build kwok "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v0.7.0" kwok=sigs.k8s.io/kwok/cmd/kwok
build kubernetes "$k8s_ldflags" \
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
  kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
  kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler

"$dest/kube-apiserver" --version >&2
etcd_version=$("$dest/etcd" --version 2>&1 || true)
echo "${etcd_version%%$'\n'*}" >&2
"$dest/kwok" --version >&2 || true
