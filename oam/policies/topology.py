"""topology: where the application is deployed: the stack's cluster, in a namespace."""
from __future__ import annotations

from typing import Annotated, Optional

from pydantic import AfterValidator, Field

from oam import k8s_values as kv
from oam.model import OamModel
from oam.registry import POLICIES, PolicyType

LOCAL = "local"


class TopologyProperties(OamModel):
    clusters: list[str] = Field(default_factory=list, description="Target clusters: only 'local', the cluster of "
                                                                  "the stack's Kubernetes provider")
    cluster_label_selector: dict[str, str] = Field(default_factory=dict, description="Not supported: clusters "
                                                                                     "chosen by label")
    cluster_selector: dict[str, str] = Field(default_factory=dict, description="Not supported (older name of "
                                                                               "clusterLabelSelector)")
    namespace: Optional[Annotated[str, AfterValidator(kv.checked(kv.dns_label, "namespace"))]] = Field(
        None, description="Target namespace; the application's when absent")
    allow_empty: bool = Field(False, description="Accepted; with the local cluster there is always a target")


@POLICIES.register
class Topology(PolicyType):
    """Deploy to the stack's cluster (KubeVela's 'local'), in the namespace given."""

    name = "topology"
    Properties = TopologyProperties
    places = True

    def check(self, policy, app, _):
        p: TopologyProperties = policy.properties
        problems = []
        why = ("this program deploys to the cluster of its stack's Kubernetes provider (KubeVela's 'local'); "
               "another cluster is another stack, with its own kubernetes provider config")
        for i, name in enumerate(p.clusters):
            if name != LOCAL:
                problems.append(app.locator.problem(policy.path + ("properties", "clusters", i),
                                                    f"cluster '{name}' is not supported: {why}",
                                                    "use clusters: [local], and a stack per other cluster"))
        for field in ("clusterLabelSelector", "clusterSelector"):
            if getattr(p, "cluster_label_selector" if field == "clusterLabelSelector" else "cluster_selector"):
                problems.append(app.locator.problem(policy.path + ("properties", field),
                                                    f"clusters chosen by label are not supported: {why}",
                                                    "use clusters: [local], and a stack per other cluster"))
        return problems

    def namespace(self, p: TopologyProperties, app) -> str:
        return p.namespace or app.namespace
