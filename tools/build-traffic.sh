#!/usr/bin/env bash
# Builds oam-traffic (tools/traffic: the traffic oracle, Istio's own xDS generation run in
# memory) and istioctl (Istio's analyzer, the module's `tool`), in one go build of one module
# so that Istio's packages compile once for both, into a cache outside the repository, keyed
# by this script, the module's go.mod, go.sum and .go files, the Go version and platform;
# prints exactly one line on stdout:
# the absolute bin dir. Progress goes to stderr. With --check it builds nothing: exit 3 when
# the build for the current sources is not there.
#   ${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}/traffic-<key>/bin/{oam-traffic,istioctl}
# The module pins istio.io/istio (the proxy serves it only as pseudo-versions; its go.mod has
# no replace directives, so as a dependency it builds as it is). tools/build-istioctl.sh
# runs this script.
set -euo pipefail

log() { printf '[build-traffic] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/traffic"
root="${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}"
command -v go >/dev/null 2>&1 || die "go is not on PATH"
[[ -f "$src/go.mod" && -f "$src/go.sum" ]] || die "no go.mod/go.sum in $src"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
flags=(-trimpath -ldflags "-s -w")

key="$({ cat "$here/$(basename "${BASH_SOURCE[0]}")" "$src/go.mod" "$src/go.sum" "$src"/*.go;
         go env GOVERSION GOOS GOARCH; echo "${flags[*]}"; } | sha256sum | cut -c1-16)"
dest="$root/traffic-$key"
if [[ -f "$dest/.complete" ]]; then printf '%s\n' "$dest/bin"; exit 0; fi
# --check: only say whether it is built (exit 3 when not), never build.
if [[ "${1:-}" == "--check" ]]; then exit 3; fi

mkdir -p "$root"
exec 9>"$root/traffic-$key.lock"
if command -v flock >/dev/null; then flock 9; fi
if [[ -f "$dest/.complete" ]]; then printf '%s\n' "$dest/bin"; exit 0; fi

tmp="$(mktemp -d "$root/.traffic-$key.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
start=$SECONDS
log "building oam-traffic and istioctl from $src with $(go env GOVERSION) into $dest"
mkdir -p "$tmp/bin"
(cd "$src" && go build "${flags[@]}" -o "$tmp/bin/" . istio.io/istio/istioctl/cmd/istioctl) >&2
mv "$tmp/bin/traffic" "$tmp/bin/oam-traffic"  # go build names a main package after its directory
[[ -x "$tmp/bin/oam-traffic" && -x "$tmp/bin/istioctl" ]] || die "no oam-traffic or istioctl after the build"
date -u +%FT%TZ >"$tmp/.complete"   # marker, written last
rm -rf "$dest"
mv -T "$tmp" "$dest"
trap - EXIT
log "done in $((SECONDS - start))s"
printf '%s\n' "$dest/bin"
