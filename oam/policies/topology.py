"""topology: where the application is deployed: the stack's cluster, in a namespace."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from oam.model import OamModel
from oam.registry import POLICIES, PolicyType
from oam.workflow.placements import LOCAL, TargetNamespace, other_cluster


class TopologyProperties(OamModel):
    clusters: list[str] = Field(default_factory=list, description="Target clusters: only 'local', the cluster of "
                                                                  "the stack's Kubernetes provider")
    cluster_label_selector: dict[str, str] = Field(default_factory=dict, description="Not supported: clusters "
                                                                                     "chosen by label")
    cluster_selector: dict[str, str] = Field(default_factory=dict, description="Not supported (older name of "
                                                                               "clusterLabelSelector)")
    namespace: Optional[TargetNamespace] = Field(
        None, description="Target namespace, of every object of the components it deploys (those that name "
                          "another too, as in KubeVela); the application's when absent")
    allow_empty: bool = Field(False, description="Accepted; with the local cluster there is always a target")


@POLICIES.register
class Topology(PolicyType):
    """Deploy to the stack's cluster (KubeVela's 'local'), in the namespace given."""

    name = "topology"
    Properties = TopologyProperties
    places = True

    def check(self, policy, app, _):
        p: TopologyProperties = policy.properties
        hint = "use clusters: [local], and a stack per other cluster"
        problems = [other_cluster(app, policy.path + ("properties", "clusters", i), f"cluster '{name}'", hint)
                    for i, name in enumerate(p.clusters) if name != LOCAL]
        for field, given in (("clusterLabelSelector", p.cluster_label_selector), ("clusterSelector", p.cluster_selector)):
            if given:
                problems.append(other_cluster(app, policy.path + ("properties", field), "choosing clusters by label",
                                              hint))
        return problems

    def namespace(self, p: TopologyProperties, app) -> str:
        return p.namespace or app.namespace

    def moves_objects(self, p: TopologyProperties) -> bool:
        return p.namespace is not None
