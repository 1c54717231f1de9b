#!/usr/bin/env bash
# The bookinfo tutorial's first deploy, from a fresh machine: builds what is missing, starts
# the local cluster (tools/cluster.sh) and runs `pulumi up` on stack dev against it.
#
#   tools/quickstart.sh                    the local cluster, always (whatever your kubeconfig names)
#   tools/quickstart.sh --use-kubeconfig   the cluster of KUBECONFIG or ~/.kube/config instead, named
#                                          before anything is deployed (or OAM_USE_KUBECONFIG=1)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

use_kubeconfig="${OAM_USE_KUBECONFIG:-0}"
for arg in "$@"; do
    case "$arg" in
        --use-kubeconfig) use_kubeconfig=1 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "[quickstart] unknown argument: $arg (see --help)" >&2; exit 2 ;;
    esac
done

tools/setup-python.sh
source tools/env.sh
if [[ "$use_kubeconfig" == 1 ]]; then
    [[ -n "${KUBECONFIG:-}" || -f "$HOME/.kube/config" ]] || {
        echo "[quickstart] --use-kubeconfig: neither KUBECONFIG nor ~/.kube/config is there" >&2; exit 1; }
else
    # The local cluster unless asked otherwise: a newcomer's current context may be production.
    # (eval "$(...)" alone would go on after a failed start, to whatever cluster the environment names.)
    cluster_env="$(tools/cluster.sh start)" || {
        echo "[quickstart] the local cluster did not start (see its messages above and the logs under" \
             "${OAM_CLUSTER_DIR:-$HOME/.cache/oam-delivery/cluster}/logs); nothing was deployed." \
             "Run tools/cluster.sh stop, then this command again" >&2
        exit 1
    }
    eval "$cluster_env"
fi
echo "[quickstart] deploying to $(venv/bin/python -m oam.cluster)" >&2
stack="${OAM_STACK:-dev}"
pulumi stack select "$stack" --create --non-interactive >&2
pulumi config set app "${OAM_APP:-examples/bookinfo/first-deploy.yaml}"
pulumi up --yes --non-interactive --skip-preview
pulumi stack output status
