#!/usr/bin/env bash
# Builds istioctl (Istio's own configuration analyzer) from the Go module proxy into a cache
# outside the repository, keyed by the version, this script, the Go version and platform;
# prints exactly one line on stdout: the absolute bin dir. Progress goes to stderr.
#   ${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}/istioctl-<key>/bin/istioctl
# The proxy serves istio.io/istio only as pseudo-versions (its go.mod has no replace
# directives, so `go install module@version` builds it as it is).
set -euo pipefail

ISTIO_VERSION="${OAM_ISTIO_VERSION:-v0.0.0-20260827124520-eed52ebb66ad}"

log() { printf '[build-istioctl] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}"
command -v go >/dev/null 2>&1 || die "go is not on PATH"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS="-buildvcs=false"
flags=(-trimpath -ldflags "-s -w")

key="$({ cat "$here/$(basename "${BASH_SOURCE[0]}")"; echo "$ISTIO_VERSION"; go env GOVERSION GOOS GOARCH; echo "${flags[*]}"; } |
    sha256sum | cut -c1-16)"
dest="$root/istioctl-$key"
if [[ -f "$dest/.complete" ]]; then printf '%s\n' "$dest/bin"; exit 0; fi

mkdir -p "$root"
exec 9>"$root/istioctl-$key.lock"
if command -v flock >/dev/null; then flock 9; fi
if [[ -f "$dest/.complete" ]]; then printf '%s\n' "$dest/bin"; exit 0; fi

tmp="$(mktemp -d "$root/.istioctl-$key.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
start=$SECONDS
log "building istioctl istio.io/istio@$ISTIO_VERSION with $(go env GOVERSION) into $dest"
GOBIN="$tmp/bin" go install "${flags[@]}" "istio.io/istio/istioctl/cmd/istioctl@$ISTIO_VERSION" >&2
[[ -x "$tmp/bin/istioctl" ]] || die "no istioctl after the build"
date -u +%FT%TZ >"$tmp/.complete"   # marker, written last
rm -rf "$dest"
mv -T "$tmp" "$dest"
trap - EXIT
log "done in $((SECONDS - start))s"
printf '%s\n' "$dest/bin"
