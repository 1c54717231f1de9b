"""env-binding: KubeVela's earlier form of per-environment placement and patches (refused)."""
from __future__ import annotations

from oam.registry import POLICIES, PolicyType


@POLICIES.register
class EnvBinding(PolicyType):
    """Environments, each a placement and a patch of the components (not supported; KubeVela replaced it)."""

    name = "env-binding"
    refused = ("KubeVela replaced it with the topology and override policies and the deploy step, and its "
               "environments were chosen by cluster and namespace selectors a controller resolves")
    alternative = ("give each environment a topology policy (its namespace) and an override policy (its patch), "
                   "and a deploy step naming both")
