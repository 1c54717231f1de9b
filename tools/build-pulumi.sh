#!/usr/bin/env bash
# Builds, from the Go module proxy only, the tools a Pulumi Python program needs here:
#   pulumi                       the CLI (github.com/pulumi/pulumi/pkg/v3, see tools/pulumi/go.mod)
#   pulumi-language-python       the Python language host (our own, tools/pulumi/cmd/...)
#   pulumi-language-python-exec  the program runner script, copied from the sdk/v3 module
#   pulumi-resource-kubernetes   the Kubernetes provider plugin (tools/kubernetes-provider/go.mod)
# into a cache outside the repository, keyed by a hash of the inputs, and prints on stdout
# exactly one line: the absolute directory to put first on PATH. Progress goes to stderr.
#
# If a `pulumi` that is not ours is already on PATH it is used as it is (it brings its own
# language host) and only the provider plugin is built, unless `pulumi plugin ls` already
# lists kubernetes $K8S_PROVIDER_VERSION; the printed directory then holds only the plugin
# (or is the directory of that `pulumi`). OAM_IGNORE_PATH_PULUMI=1 builds everything anyway.
#
# Environment: OAM_TOOLS_CACHE (default $HOME/.cache/oam-delivery); the usual Go variables
# (GOPROXY, GOMODCACHE, GOCACHE) are respected. Needs only Go >= the go line of the wrappers.
set -euo pipefail

# The Kubernetes provider release built from tools/kubernetes-provider (the PyPI package
# pulumi-kubernetes must have the same version). Checked against the wrapper's go.mod below.
K8S_PROVIDER_VERSION=4.25.0

log() { printf '[build-pulumi] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
script="$here/$(basename "${BASH_SOURCE[0]}")"
root="${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}"
pulumi_mod="$here/pulumi"
k8s_mod="$here/kubernetes-provider"

command -v go >/dev/null 2>&1 || die "go is not on PATH"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"

# Versions come from the wrapper go.mod files (the single place where they are pinned).
pulumi_version="$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { print $2; exit }' "$pulumi_mod/go.mod")"
[[ -n "$pulumi_version" ]] || die "github.com/pulumi/pulumi/pkg/v3 not found in $pulumi_mod/go.mod"
grep -q "^replace github.com/pulumi/pulumi-kubernetes/sdk/v4 => .* v$K8S_PROVIDER_VERSION\$" "$k8s_mod/go.mod" ||
    die "K8S_PROVIDER_VERSION=$K8S_PROVIDER_VERSION does not match the sdk/v4 pin in $k8s_mod/go.mod"

cli_flags=(-trimpath -tags osusergo,grpcnotrace
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version")
k8s_flags=(-trimpath
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_PROVIDER_VERSION")

# Cache key: the wrapper modules, this script (it holds the flags), the Go version and platform.
key="$(
    {
        for f in "$script" "$pulumi_mod/go.mod" "$pulumi_mod/go.sum" "$k8s_mod/go.mod" "$k8s_mod/go.sum"; do
            printf '%s\n' "${f#"$here"/}"
            cat "$f"
        done
        while IFS= read -r f; do
            printf '%s\n' "${f#"$here"/}"
            cat "$f"
        done < <(find "$pulumi_mod" "$k8s_mod" -name '*.go' -type f | LC_ALL=C sort)
        go env GOVERSION GOOS GOARCH
        printf '%s\n' "${cli_flags[*]}" "${k8s_flags[*]}" "$GOFLAGS"
    } | sha256sum | cut -c1-16
)"
cache="$root/pulumi-$key"
marker=".complete"

# --- which mode -----------------------------------------------------------------------------
mode=full
path_pulumi=""
if [[ "${OAM_IGNORE_PATH_PULUMI:-}" != 1 ]] && path_pulumi="$(command -v pulumi 2>/dev/null)"; then
    real="$(readlink -f "$path_pulumi")"
    root_real="$(mkdir -p "$root" && cd "$root" && pwd -P)"
    if [[ "$real" != "$root_real"/* ]]; then
        mode=provider
    fi
fi

if [[ "$mode" == provider ]]; then
    if "$path_pulumi" plugin ls 2>/dev/null |
        awk -v v="$K8S_PROVIDER_VERSION" '$1 == "kubernetes" && $2 == "resource" && $3 == v { found = 1 } END { exit !found }'; then
        log "using $path_pulumi and its installed kubernetes $K8S_PROVIDER_VERSION plugin"
        dirname "$path_pulumi"
        exit 0
    fi
    log "using $path_pulumi (on PATH); building only the kubernetes $K8S_PROVIDER_VERSION plugin"
    final="$cache/provider-bin"
else
    final="$cache/bin"
fi

if [[ -f "$final/$marker" ]]; then
    log "up to date: $final"
    echo "$final"
    exit 0
fi

# --- build ----------------------------------------------------------------------------------
mkdir -p "$cache"
tmp="$(mktemp -d "$root/.build.XXXXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
log "building into $final (go $(go env GOVERSION), cache key $key)"
all_start=$SECONDS

{
    if [[ "$mode" == full ]]; then
        t=$SECONDS
        log "pulumi CLI $pulumi_version ..."
        (cd "$pulumi_mod" && go build "${cli_flags[@]}" -o "$tmp/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
        log "pulumi CLI built in $((SECONDS - t)) s"

        t=$SECONDS
        log "pulumi-language-python ..."
        (cd "$pulumi_mod" && go build "${cli_flags[@]}" -o "$tmp/bin/pulumi-language-python" ./cmd/pulumi-language-python)
        sdk_dir="$(cd "$pulumi_mod" && go mod download github.com/pulumi/pulumi/sdk/v3 &&
            go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
        [[ -f "$sdk_dir/python/cmd/pulumi-language-python-exec" ]] || die "no pulumi-language-python-exec in $sdk_dir"
        cp "$sdk_dir/python/cmd/pulumi-language-python-exec" "$tmp/bin/"
        chmod u+w,a+rx "$tmp/bin/pulumi-language-python-exec"
        log "language host built in $((SECONDS - t)) s"
    fi

    t=$SECONDS
    log "pulumi-resource-kubernetes $K8S_PROVIDER_VERSION ..."
    # The provider's main embeds schema-embed.json and terraform-mapping-embed.json, which are
    # generated (absent from the module zip): build from a copy of its cmd folder inside a copy
    # of our wrapper module, after running the upstream generate.go there.
    work="$tmp/kubernetes-provider"
    mkdir -p "$work/cmd"
    cp "$k8s_mod/go.mod" "$k8s_mod/go.sum" "$work/"
    provider_dir="$(cd "$work" && go mod download github.com/pulumi/pulumi-kubernetes/provider/v4 &&
        go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)"
    cp -R "$provider_dir/cmd/pulumi-resource-kubernetes" "$work/cmd/"
    chmod -R u+w "$work/cmd"
    (cd "$work/cmd/pulumi-resource-kubernetes" && VERSION="$K8S_PROVIDER_VERSION" go run ./generate.go)
    (cd "$work" && go build "${k8s_flags[@]}" -o "$tmp/bin/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes)
    log "kubernetes provider built in $((SECONDS - t)) s"

    printf 'pulumi %s\nkubernetes %s\nkey %s\n' "$pulumi_version" "$K8S_PROVIDER_VERSION" "$key" >"$tmp/bin/$marker"
} >&2

# Move into place atomically: the marker is already inside, so the directory only ever
# appears complete. A leftover incomplete directory is replaced; a concurrent finished one wins.
if [[ -e "$final" && ! -f "$final/$marker" ]]; then
    rm -rf "$final"
fi
if ! mv -T "$tmp/bin" "$final" 2>/dev/null; then
    [[ -f "$final/$marker" ]] || die "could not move the build into $final"
fi
log "done in $((SECONDS - all_start)) s: $final"
echo "$final"
