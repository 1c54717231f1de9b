"""topology: where the application is deployed: clusters, by name or by label, and a namespace."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from oam.errors import ApplicationError, closest
from oam.kit.placements import LOCAL, TargetNamespace
from oam.kit.spec import OamModel
from oam.registry import POLICIES, PolicyType


class TopologyProperties(OamModel):
    clusters: list[str] = Field(default_factory=list, description="Target clusters, by the names the stack's "
                                                                  "clusters config gives them; 'local' is the "
                                                                  "stack's own Kubernetes provider")
    cluster_label_selector: dict[str, str] = Field(default_factory=dict, description="Target clusters: those whose "
                                                                                     "labels in the clusters config "
                                                                                     "match all of these")
    cluster_selector: dict[str, str] = Field(default_factory=dict, description="Older name of "
                                                                               "clusterLabelSelector")
    namespace: Optional[TargetNamespace] = Field(
        None, description="Target namespace, of every object of the components it deploys (those that name "
                          "another too, as in KubeVela); the application's when absent")
    allow_empty: bool = Field(False, description="A label selector that matches no cluster deploys nowhere, "
                                                 "instead of being refused")


@POLICIES.register
class Topology(PolicyType):
    """Deploy to the clusters named (or chosen by label from the stack's clusters config), in the namespace given."""

    name = "topology"
    Properties = TopologyProperties
    places = True

    def check(self, policy, app, _):
        p: TopologyProperties = policy.properties
        if p.clusters and (p.cluster_label_selector or p.cluster_selector):
            return [app.locator.problem(policy.path + ("properties", "clusterLabelSelector"),
                                        "names clusters and selects them by label at once",
                                        "keep one of clusters and clusterLabelSelector")]
        return []

    def clusters(self, policy, app, known) -> tuple[str, ...]:
        """The clusters named, or those whose labels match; ``known`` is the stack's clusters config (None without
        a stack: names are taken as given, and a label selector chooses none)."""
        p: TopologyProperties = policy.properties
        selector = p.cluster_label_selector or p.cluster_selector
        field = "clusterLabelSelector" if p.cluster_label_selector else "clusterSelector"
        if not selector:
            names = tuple(dict.fromkeys(p.clusters)) or (LOCAL,)
            if known is None:
                return names
            problems = [app.locator.problem(
                policy.path + ("properties", "clusters", i),
                f"cluster '{name}' is not in the stack's clusters config",
                closest(name, sorted(known)) + f"; or name it: pulumi config set --path 'clusters.{name}.kubeconfig' "
                                               "PATH")
                for i, name in enumerate(p.clusters) if name not in known]
            if problems:
                raise ApplicationError(problems)
            return names
        if known is None:
            return ()
        chosen = tuple(name for name, c in known.items() if c.labels and
                       all(c.label_map.get(k) == v for k, v in selector.items()))
        if not chosen and not p.allow_empty:
            wanted = ", ".join(f"{k}={v}" for k, v in selector.items())
            raise ApplicationError([app.locator.problem(
                policy.path + ("properties", field),
                f"no cluster of the stack's clusters config has the labels {wanted}",
                f"pulumi config set --path 'clusters.NAME.labels.KEY' VALUE, or allowEmpty: true")])
        return chosen

    def namespace(self, p: TopologyProperties, app) -> str:
        return p.namespace or app.namespace

    def moves_objects(self, p: TopologyProperties) -> bool:
        return p.namespace is not None
