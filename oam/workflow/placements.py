"""Where the application is deployed: one placement per target namespace, each with the overrides it gets."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Optional

from pydantic import AfterValidator

from oam import k8s_values as kv
from oam.model import AppSpec, PolicySpec
from oam.registry import POLICIES


LOCAL = "local"  # KubeVela's name for the cluster it runs in: here, the stack's
TargetNamespace = Annotated[str, AfterValidator(kv.checked(kv.dns_label, "namespace"))]  # a placement's target


def other_cluster(app: AppSpec, path: tuple, what: str, hint: str):
    """The problem of a target outside the stack's cluster: another cluster is another stack."""
    return app.locator.problem(path, f"{what} is not supported: this program deploys to the cluster of its stack's "
                                     f"Kubernetes provider (KubeVela's '{LOCAL}'); another cluster is another "
                                     "stack, with its own kubernetes provider config", hint)


@dataclass(frozen=True)
class Placement:
    namespace: str
    overrides: tuple[PolicySpec, ...] = ()
    components: Optional[tuple[str, ...]] = None  # only these components; all when None
    # The namespace was named (a topology's, a step's): objects that name another go there too, as in KubeVela.
    moves: bool = False

    def joined(self, later: "Placement") -> "Placement":
        """This placement with a later one to the same namespace: the later overrides, both sets of components."""
        moves = self.moves or later.moves
        if self.components is None or later.components is None:
            return Placement(self.namespace, later.overrides, None, moves)
        return Placement(self.namespace, later.overrides, tuple(dict.fromkeys(self.components + later.components)),
                         moves)


def placements(app: AppSpec, names: tuple[str, ...]) -> list[Placement]:
    """The placements of the policies ``names`` (a deploy step's): every target they name (the application's
    namespace when none), each with the overrides, in the order given."""
    named = [p for n in names for p in app.policies if p.name == n]
    targets: dict[str, bool] = {}  # namespace -> whether a policy names it
    for p in named:
        if POLICIES.get(p.type).places:
            ns = POLICIES.get(p.type).namespace(p.properties, app)
            targets[ns] = targets.get(ns, False) or POLICIES.get(p.type).moves_objects(p.properties)
    overrides = tuple(p for p in named if POLICIES.get(p.type).transforms)
    return [Placement(ns, overrides, None, moves) for ns, moves in (targets or {app.namespace: False}).items()]


def default_placements(app: AppSpec) -> list[Placement]:
    """Without a deploy step: to every placement policy's target (or the application's namespace), with every override."""
    return placements(app, tuple(p.name for p in app.policies))
