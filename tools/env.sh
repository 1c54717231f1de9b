# Sourced by the project's scripts: puts the Pulumi CLI and the Kubernetes provider plugin
# in reach (built from the Go module proxy when missing) and keeps Pulumi's state local.
#   OAM_BIN   the directory holding pulumi (and pulumi-resource-kubernetes when we built it)
_oam_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OAM_BIN="$("$_oam_root/tools/build-pulumi.sh")"
export OAM_BIN PATH="$OAM_BIN:$PATH"
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_IGNORE_AMBIENT_PLUGINS=true
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$_oam_root/.pulumi-state}"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
if [[ "$PULUMI_BACKEND_URL" == file://* ]]; then mkdir -p "${PULUMI_BACKEND_URL#file://}"; fi
_oam_k8s="$(sed -n 's/^pulumi-kubernetes==//p' "$_oam_root/requirements.txt")"
if ! pulumi plugin ls 2>/dev/null | awk -v v="$_oam_k8s" '$1=="kubernetes" && $3==v {f=1} END {exit !f}'; then
    [[ -x "$OAM_BIN/pulumi-resource-kubernetes" ]] || { echo "no kubernetes $_oam_k8s plugin to install" >&2; return 1; }
    pulumi plugin install resource kubernetes "v$_oam_k8s" --file "$OAM_BIN/pulumi-resource-kubernetes" >&2
fi
unset _oam_root _oam_k8s
