#!/usr/bin/env bash
# The bookinfo tutorial's first deploy, from a fresh machine: builds what is missing, uses
# the cluster your kubeconfig names or starts a local one, then `pulumi up` on stack dev.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools/setup-python.sh
source tools/env.sh
if [[ -n "${KUBECONFIG:-}" || -f "$HOME/.kube/config" ]]; then
    echo "[quickstart] using the cluster of ${KUBECONFIG:-$HOME/.kube/config}" >&2
else
    echo "[quickstart] no kubeconfig: starting the local cluster (tools/cluster.sh)" >&2
    eval "$(tools/cluster.sh start)"
fi
stack="${OAM_STACK:-dev}"
pulumi stack select "$stack" --create --non-interactive >&2
pulumi config set app "${OAM_APP:-examples/bookinfo/first-deploy.yaml}"
pulumi up --yes --non-interactive --skip-preview
pulumi stack output status
