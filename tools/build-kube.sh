#!/usr/bin/env bash
# Build a local Kubernetes control plane from the Go module proxy:
#   kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok
#
# Wrapper modules (committed): tools/kube (k8s.io/kubernetes + etcd server) and
# tools/kwok (sigs.k8s.io/kwok). Binaries go to a cache outside the repository:
#   ${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}/kube-<key>/bin
# where <key> hashes the wrapper files, this script, the Go version and the flags.
# A complete cache dir is reused as is. Progress goes to stderr; on success the only
# line on stdout is the absolute bin dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kube_mod="$here/kube"
kwok_mod="$here/kwok"
root="${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}"
bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok)

log() { printf '[build-kube] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

export GOTOOLCHAIN=local CGO_ENABLED=0
command -v go >/dev/null || die "go is not on PATH (Go >= 1.26 needed)"
go_version="$(go env GOVERSION)"

# Versions come from the wrapper go.mod files, so a bump only touches those.
modver() { awk -v m="$2" '$1==m && $2 ~ /^v/ {print $2; exit} $1=="require" && $2==m {print $3; exit}' "$1"; }
kube_version="$(modver "$kube_mod/go.mod" k8s.io/kubernetes)"
kwok_version="$(modver "$kwok_mod/go.mod" sigs.k8s.io/kwok)"
[[ -n "$kube_version" && -n "$kwok_version" ]] || die "cannot read versions from the wrapper go.mod files"
kv="${kube_version#v}"; kube_major="${kv%%.*}"; kv="${kv#*.}"; kube_minor="${kv%%.*}"

kube_ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $p.gitVersion=$kube_version -X $p.gitMajor=$kube_major -X $p.gitMinor=$kube_minor"
  kube_ldflags+=" -X $p.gitTreeState=clean -X $p.gitCommit="
done
kwok_ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${kwok_version#v}"
buildflags=(-trimpath -buildvcs=false)

key="$(
  {
    for f in "$kube_mod/go.mod" "$kube_mod/go.sum" "$kwok_mod/go.mod" "$kwok_mod/go.sum" "${BASH_SOURCE[0]}"; do
      printf '== %s\n' "${f##*/}"; cat "$f"
    done
    printf '%s\n' "$go_version" "$(go env GOOS GOARCH)" "CGO_ENABLED=0" "${buildflags[*]}" "$kube_ldflags" "$kwok_ldflags"
  } | sha256sum | cut -c1-16
)"
dest="$root/kube-$key"
marker="$dest/.complete"

complete() {
  [[ -f "$marker" ]] || return 1
  local b; for b in "${bins[@]}"; do [[ -x "$dest/bin/$b" ]] || return 1; done
}

if complete; then
  printf '%s\n' "$dest/bin"
  exit 0
fi

mkdir -p "$root"
# Serialise concurrent builds of the same key.
exec 9>"$root/kube-$key.lock"
if command -v flock >/dev/null; then flock 9; fi
if complete; then printf '%s\n' "$dest/bin"; exit 0; fi

tmp="$(mktemp -d "$root/.kube-$key.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/bin"
start=$SECONDS
log "building Kubernetes $kube_version, etcd, kwok $kwok_version with $go_version into $dest (cold build: 30+ min on 2 cores)"

log "downloading modules"
(cd "$kube_mod" && go mod download) >&2
(cd "$kwok_mod" && go mod download) >&2

log "go build kube-apiserver kube-controller-manager kube-scheduler kubectl"
(cd "$kube_mod" && go build "${buildflags[@]}" -ldflags "$kube_ldflags" -o "$tmp/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl) >&2
log "go build etcd ($((SECONDS - start))s so far)"
(cd "$kube_mod" && go build "${buildflags[@]}" -ldflags "-s -w" -o "$tmp/bin/etcd" go.etcd.io/etcd/server/v3) >&2
log "go build kwok ($((SECONDS - start))s so far)"
(cd "$kwok_mod" && go build "${buildflags[@]}" -ldflags "$kwok_ldflags" -o "$tmp/bin/kwok" sigs.k8s.io/kwok/cmd/kwok) >&2

for b in "${bins[@]}"; do [[ -x "$tmp/bin/$b" ]] || die "missing $b after build"; done
printf '%s\n%s\n' "$kube_version" "$kwok_version" >"$tmp/versions"
date -u +%FT%TZ >"$tmp/.complete"   # marker, written last

rm -rf "$dest"
mv -T "$tmp" "$dest"
trap - EXIT
log "done in $((SECONDS - start))s"
printf '%s\n' "$dest/bin"
