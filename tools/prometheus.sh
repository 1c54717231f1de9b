#!/usr/bin/env bash
# Installs Prometheus for the tests from Debian's `prometheus` package, without root and
# without touching the system: `apt-get download` fetches the .deb into a temporary
# directory and `dpkg-deb -x` unpacks it into
#   ${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}/prometheus/<version>/
# (no maintainer scripts run, no user is created, nothing is registered with dpkg).
# Prints progress on stderr and, as its last stdout line, the absolute path of the
# `prometheus` binary.
#
# The version is apt's candidate for `prometheus` (bookworm: 2.42.0+ds-5+deb12u1), or
# OAM_PROMETHEUS_VERSION to ask for an exact one. When the system's apt index does not know
# the package (a fresh container with empty /var/lib/apt/lists), or knows a version the
# mirror no longer serves, a private index is fetched into the temporary directory
# (`apt-get update -o Dir::State::Lists=...`, works as any user); /var/lib/apt is never
# written. When the system's index does not know the package but a version is already
# unpacked in the cache, that one is used without asking the network.
#
# The binary is a Go program linked dynamically against glibc only (Depends: libc6 >= 2.34);
# the other Depends of the package are the web UI's JavaScript, which the HTTP API does not need.
set -euo pipefail

log() { printf '[prometheus] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

root="${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}/prometheus"
marker=".complete"
bin_rel="usr/bin/prometheus"

# A directory name for a Debian version (an epoch's colon is not welcome in paths).
dirname_of() { printf '%s' "${1//:/_}"; }

# The binary under a complete cache directory runs: prints its path, else fails.
ready() {
    local dir="$root/$(dirname_of "$1")"
    [[ -f "$dir/$marker" && -x "$dir/$bin_rel" ]] || return 1
    "$dir/$bin_rel" --version >/dev/null 2>&1 || return 1
    printf '%s\n' "$dir/$bin_rel"
}

# The newest complete version already in the cache, if any.
newest_cached() {
    local d best=""
    for d in "$root"/*/"$marker"; do
        [[ -f "$d" ]] || continue
        d="$(basename "$(dirname "$d")")"
        if [[ -z "$best" ]] || dpkg --compare-versions "${d//_/:}" gt "${best//_/:}"; then best="$d"; fi
    done
    printf '%s' "${best//_/:}"
}

for tool in apt-get apt-cache dpkg-deb dpkg; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH (this script needs a Debian or Ubuntu system)"
done

# apt's candidate version, from the system's index or from the private one ($apt_opts).
apt_opts=()
candidate() {
    apt-cache "${apt_opts[@]}" policy prometheus 2>/dev/null |
        awk '$1 == "Candidate:" && $2 != "(none)" { print $2; exit }'
}

version="${OAM_PROMETHEUS_VERSION:-$(candidate)}"
if [[ -n "$version" ]] && ready "$version"; then
    exit 0
fi

mkdir -p "$root"
tmp="$(mktemp -d "$root/.install.XXXXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/deb"
# apt run as root downloads as the user _apt, which cannot write into a private cache
# directory (it warns, then downloads as root anyway): download as root from the start.
fetch_opts=()
[[ $EUID -ne 0 ]] || fetch_opts=(-o APT::Sandbox::User=root)

private_index() {
    log "fetching a private apt index into $tmp/apt (the system's is not touched)"
    mkdir -p "$tmp/apt/lists/partial" "$tmp/apt/cache/archives/partial"
    apt_opts=(-o "Dir::State::Lists=$tmp/apt/lists" -o "Dir::Cache=$tmp/apt/cache" -o Debug::NoLocking=1)
    apt-get -q "${apt_opts[@]}" "${fetch_opts[@]}" update >&2 || return 1
    [[ -n "${OAM_PROMETHEUS_VERSION:-}" ]] || version="$(candidate)"
}

download() {
    (cd "$tmp/deb" && apt-get -q "${apt_opts[@]}" "${fetch_opts[@]}" download "prometheus=$version") >&2
}

start=$SECONDS
if [[ -z "$version" ]]; then
    cached="$(newest_cached)"
    if [[ -n "$cached" ]] && ready "$cached"; then
        log "the system's apt index does not know the package prometheus; using the cached $cached"
        exit 0
    fi
    log "the system's apt index does not know the package prometheus"
    if ! private_index || [[ -z "$version" ]]; then
        die "cannot find a version of the Debian package prometheus (is a Debian source in /etc/apt/sources.list*, and is it reachable?)"
    fi
    ready "$version" && exit 0
fi

log "downloading prometheus $version"
if ! download; then
    [[ ${#apt_opts[@]} -eq 0 ]] || die "apt-get download prometheus=$version failed"
    log "the system's index may be stale; trying a fresh private one"
    private_index || die "apt-get update into $tmp/apt failed"
    download || die "apt-get download prometheus=$version failed"
fi
debs=("$tmp"/deb/prometheus_*.deb)
[[ -f "${debs[0]}" ]] || die "apt-get download left no prometheus_*.deb in $tmp/deb"

log "unpacking ${debs[0]##*/}"
mkdir "$tmp/root"
dpkg-deb -x "${debs[0]}" "$tmp/root"
[[ -x "$tmp/root/$bin_rel" ]] || die "the package has no $bin_rel"
got="$(dpkg-deb -f "${debs[0]}" Version)"
[[ "$got" == "$version" ]] || die "asked for prometheus $version, apt downloaded $got"
if ! out="$("$tmp/root/$bin_rel" --version 2>&1)"; then
    die "the unpacked prometheus does not run: $out$(command -v ldd >/dev/null && printf '\n%s' "$(ldd "$tmp/root/$bin_rel" 2>&1)")"
fi
log "${out%%$'\n'*}"
printf 'prometheus %s\n' "$version" >"$tmp/root/$marker"   # marker, written last

# Into place in one rename; a leftover incomplete directory is replaced, a concurrent
# finished one wins.
dest="$root/$(dirname_of "$version")"
[[ ! -e "$dest" || -f "$dest/$marker" ]] || rm -rf "$dest"
if ! mv -T "$tmp/root" "$dest" 2>/dev/null; then
    [[ -f "$dest/$marker" ]] || die "could not move the unpacked package into $dest"
fi
log "done in $((SECONDS - start)) s: $dest"
ready "$version" || die "$dest/$bin_rel does not run"
