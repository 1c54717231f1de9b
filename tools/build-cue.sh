#!/usr/bin/env bash
# Builds oam-cue (tools/cue: KubeVela-style CUE definition templates evaluated with the CUE
# evaluator, cuelang.org/go, through its Go API; JSON jobs on stdin, JSON results on stdout)
# into a cache outside the repository, keyed by this script, the module's go.mod, go.sum and
# .go files, the Go version and platform; prints exactly one line on stdout: the absolute bin
# dir. Progress goes to stderr. With --check it builds nothing: exit 3 when the build for the
# current sources is not there.
#   ${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}/cue-<key>/bin/oam-cue
# The module pins cuelang.org/go (served by the Go module proxy).
set -euo pipefail

log() { printf '[build-cue] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/cue"
root="${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}"
command -v go >/dev/null 2>&1 || die "go is not on PATH"
[[ -f "$src/go.mod" && -f "$src/go.sum" ]] || die "no go.mod/go.sum in $src"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
flags=(-trimpath -ldflags "-s -w")

key="$({ cat "$here/$(basename "${BASH_SOURCE[0]}")" "$src/go.mod" "$src/go.sum" "$src"/*.go;
         go env GOVERSION GOOS GOARCH; echo "${flags[*]}"; } | sha256sum | cut -c1-16)"
dest="$root/cue-$key"
if [[ -f "$dest/.complete" ]]; then printf '%s\n' "$dest/bin"; exit 0; fi
# --check: only say whether it is built (exit 3 when not), never build.
if [[ "${1:-}" == "--check" ]]; then exit 3; fi

mkdir -p "$root"
exec 9>"$root/cue-$key.lock"
if command -v flock >/dev/null; then flock 9; fi
if [[ -f "$dest/.complete" ]]; then printf '%s\n' "$dest/bin"; exit 0; fi

tmp="$(mktemp -d "$root/.cue-$key.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
start=$SECONDS
log "building oam-cue from $src with $(go env GOVERSION) into $dest"
mkdir -p "$tmp/bin"
(cd "$src" && go build "${flags[@]}" -o "$tmp/bin/oam-cue" .) >&2
[[ -x "$tmp/bin/oam-cue" ]] || die "no oam-cue after the build"
date -u +%FT%TZ >"$tmp/.complete"   # marker, written last
rm -rf "$dest"
mv -T "$tmp" "$dest"
trap - EXIT
log "done in $((SECONDS - start))s"
printf '%s\n' "$dest/bin"
