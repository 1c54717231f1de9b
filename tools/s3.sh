#!/usr/bin/env bash
# Builds the S3-compatible server that the end-to-end tests start on loopback to hold Pulumi
# state the way a team shares it (tests/e2e/test_team_state.py, docs/team.md): versitygw,
# Versity's S3 gateway, pinned in the wrapper module tools/s3 (go.mod + go.sum), served by the
# Go module proxy as a tagged release without replace directives. Its posix backend stores a
# bucket as a directory and an object as a file (metadata in extended attributes).
#
# Into a cache outside the repository, keyed by this script, the module's go.mod and go.sum,
# the Go version and platform and the flags:
#   ${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}/s3-<key>/bin/versitygw
# Prints exactly one line on stdout: the absolute path of the binary. Progress goes to stderr.
# With --check it builds nothing: it prints the path when the build is there, else exits 3.
set -euo pipefail

log() { printf '[s3] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/s3"
root="${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}"
command -v go >/dev/null 2>&1 || die "go is not on PATH"
[[ -f "$src/go.mod" && -f "$src/go.sum" ]] || die "no go.mod/go.sum in $src"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"

pkg=github.com/versity/versitygw
version="$(awk -v m="$pkg" '$1 == m { print $2; exit }' "$src/go.mod")"
[[ -n "$version" ]] || die "$pkg is not required in $src/go.mod"
flags=(-trimpath -ldflags "-s -w -X main.Version=$version -X main.Build=go-module-proxy")

key="$({ cat "$here/$(basename "${BASH_SOURCE[0]}")" "$src/go.mod" "$src/go.sum";
         go env GOVERSION GOOS GOARCH; echo "${flags[*]}"; } | sha256sum | cut -c1-16)"
dest="$root/s3-$key"
binary="$dest/bin/versitygw"
if [[ -f "$dest/.complete" ]]; then printf '%s\n' "$binary"; exit 0; fi
if [[ "${1:-}" == "--check" ]]; then exit 3; fi

mkdir -p "$root"
exec 9>"$root/s3-$key.lock"
if command -v flock >/dev/null; then flock 9; fi
# Another run may have finished the build while this one waited for the lock.
if [[ -f "$dest/.complete" ]]; then printf '%s\n' "$binary"; exit 0; fi

tmp="$(mktemp -d "$root/.s3-$key.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
start=$SECONDS
log "building versitygw $version from $src with $(go env GOVERSION) into $dest"
mkdir -p "$tmp/bin"
(cd "$src" && go build "${flags[@]}" -o "$tmp/bin/versitygw" "$pkg/cmd/versitygw") >&2
"$tmp/bin/versitygw" --version 2>/dev/null | grep -q "$version" || die "the built versitygw does not report $version"
printf 'versitygw %s\nkey %s\nbuilt %s\n' "$version" "$key" "$(date -u +%FT%TZ)" >"$tmp/.complete"  # written last
rm -rf "$dest"
mv -T "$tmp" "$dest"
trap - EXIT
log "done in $((SECONDS - start))s"
printf '%s\n' "$binary"
