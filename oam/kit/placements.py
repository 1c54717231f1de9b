"""Where the application is deployed: one placement per target cluster and namespace, each with the overrides it
gets."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Mapping, Optional

from pydantic import AfterValidator

from oam.kit import k8s_values as kv
from oam.kit.applied import LOCAL
from oam.kit.spec import AppSpec, PolicySpec
from oam.registry import POLICIES

TargetNamespace = Annotated[str, AfterValidator(kv.checked(kv.dns_label, "namespace"))]  # a placement's target


def other_cluster(app: AppSpec, path: tuple, what: str, hint: str):
    """The problem of a step that names a cluster of its own: clusters are named by topology policies."""
    return app.locator.problem(path, f"{what} is not supported here: this step deploys to the stack's own cluster "
                                     f"(KubeVela's '{LOCAL}'); other clusters are named by a topology policy and "
                                     "deployed by a deploy step", hint)


@dataclass(frozen=True)
class ClusterConfig:
    """One cluster that Applications name: how to reach it, its labels (for clusterLabelSelector), its Prometheus.
    ``local`` has no connection of its own: it is the stack's Kubernetes provider (kubernetes:kubeconfig)."""

    name: str
    kubeconfig: Optional[str] = None  # a path (~ expanded) or the kubeconfig's contents
    context: Optional[str] = None
    labels: tuple[tuple[str, str], ...] = ()
    prometheus_url: Optional[str] = None

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class Placement:
    namespace: str
    overrides: tuple[PolicySpec, ...] = ()
    components: Optional[tuple[str, ...]] = None  # only these components; all when None
    # The namespace was named (a topology's, a step's): objects that name another go there too, as in KubeVela.
    moves: bool = False
    cluster: str = LOCAL  # the cluster, by the name the stack's clusters config gives it

    @property
    def where(self) -> tuple[str, str]:
        return self.cluster, self.namespace

    def joined(self, later: "Placement") -> "Placement":
        """This placement with a later one to the same namespace: the later overrides, both sets of components."""
        moves = self.moves or later.moves
        if self.components is None or later.components is None:
            return Placement(self.namespace, later.overrides, None, moves, self.cluster)
        return Placement(self.namespace, later.overrides, tuple(dict.fromkeys(self.components + later.components)),
                         moves, self.cluster)


Clusters = Optional[Mapping[str, ClusterConfig]]  # the stack's clusters config; None: not known (no stack)


def placements(app: AppSpec, names: tuple[str, ...], clusters: Clusters = None) -> list[Placement]:
    """The placements of the policies ``names`` (a deploy step's): every cluster and namespace they name (the
    application's namespace in the stack's cluster when none), each with the overrides, in the order given."""
    named = [p for n in names for p in app.policies if p.name == n]
    targets: dict[tuple[str, str], bool] = {}  # (cluster, namespace) -> whether a policy names the namespace
    for p in named:
        definition = POLICIES.get(p.type)
        if definition.places:
            ns = definition.namespace(p.properties, app)
            for cluster in definition.clusters(p, app, clusters):
                targets[cluster, ns] = targets.get((cluster, ns), False) or definition.moves_objects(p.properties)
    overrides = tuple(p for p in named if POLICIES.get(p.type).transforms)
    if not targets and not any(POLICIES.get(p.type).places for p in named):
        targets = {(LOCAL, app.namespace): False}
    return [Placement(ns, overrides, None, moves, cluster) for (cluster, ns), moves in targets.items()]


def default_placements(app: AppSpec, clusters: Clusters = None) -> list[Placement]:
    """Without a deploy step: to every placement policy's target (or the application's namespace), with every override."""
    return placements(app, tuple(p.name for p in app.policies), clusters)


def clusters_of(placements: list[Placement]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.cluster for p in placements))
