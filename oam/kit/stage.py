"""One component at the stage being rendered: what traits see once its revisions are known. Plain data."""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Optional

from oam.kit.applied import Applied
from oam.kit.charts import is_chart
from oam.revisions import Revision


@dataclass
class Rollout:
    """The resolved state of one rolled-out component: its live revisions, their pods and the routes' weights."""

    component: str
    live: list[Revision]  # ordered by revision number; each has a Deployment
    replicas: dict[str, int]
    weights: dict[str, int]  # revision -> weight; only used when a trait weighs the routes

    @property
    def routes(self) -> dict[str, int]:
        return {r.name: self.weights[r.name] for r in self.live if self.weights.get(r.name, 0) > 0}


@dataclass
class Desired:
    """One object to exist: its Pulumi name, owner component, role and manifest."""

    key: str
    component: str
    role: str
    manifest: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)
    source: str = ""  # the trait that made it; "" when the component type did
    owner: str = ""  # the Pulumi component resource it belongs to
    retain: bool = False  # left in the cluster when the application stops making it (garbage-collect)
    ignore_changes: tuple[str, ...] = ()  # fields the cluster keeps once applied (apply-once)
    recreate_on: tuple[str, ...] = ()  # fields whose change deletes the object and creates it anew (resource-update)
    revision: str = ""  # the revision a rolled-out component's Deployment runs
    step: str = ""  # the workflow step that applies it, for an object no component owns
    policy: str = ""  # the policy that makes it, for an object no component owns
    path: tuple = ()  # where an object written out in full (k8s-objects, raw, a step's) or its policy is in the file
    placement: str = ""  # the namespace of the placement whose rendering made it (a component's object)
    cluster: str = ""  # the cluster it is in, when not the local one (the stack's own Kubernetes provider)
    # What must be Ready, as the cluster has it now, before this object is applied, and that this update leaves as it
    # is (so the provider does not wait for its pods): the Deployments a route gives a larger share of the traffic,
    # the objects that run the pods of the components a component dependsOn or that earlier workflow steps deployed.
    ready_first: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def opaque(self) -> bool:
        """A chart: the provider renders and applies its objects, which the program never reads or asks about."""
        return is_chart(self.manifest)

    def record(self, token: str) -> dict[str, Any]:
        """As the stack's record keeps it (with the Pulumi type of its component resource): unset fields left out,
        and its ordering edges and waits (they follow what the cluster holds, not what the object is)."""
        out: dict[str, Any] = {"token": token}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("depends_on", "ready_first"):
                continue
            unset = f.default_factory() if f.default_factory is not MISSING else f.default  # type: ignore[misc]
            if value != unset:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def restore(cls, record: dict[str, Any]) -> "Desired":
        """The object a record keeps, as it was rendered."""
        values = {}
        for f in fields(cls):
            if f.name in record:
                value = record[f.name]
                values[f.name] = tuple(value) if isinstance(f.default, tuple) else value
        return cls(**values)


@dataclass
class ComponentStage:
    """The component's Deployments at this stage, and the objects traits add once those are known.

    ``rollout`` is None for a component deployed as one Deployment; otherwise it names the
    live revisions, their replicas and the route weights. ``applied`` is what the cluster holds.
    """

    app: str  # what the Pulumi names of its objects start with (the application's name)
    component: str
    rollout: Optional[Rollout]
    applied: Applied
    deployments: list[Desired]
    added: list[Desired] = field(default_factory=list)
    subsets: set[str] = field(default_factory=set)  # keys of objects that define subsets routes will name
    retiring: set[str] = field(default_factory=set)  # keys of objects that lose what the routes name now
    routes: set[str] = field(default_factory=set)  # keys of added objects that route to the component's pods
    current: str = ""  # the trait whose stage() is running: the source of what it adds

    @property
    def prefix(self) -> str:
        return f"{self.app}-{self.component}"

    @property
    def service_key(self) -> str:
        return f"{self.prefix}-service"

    def add(self, role: str, manifest: dict[str, Any], key: Optional[str] = None, after: tuple[str, ...] = (),
            route: bool = False, subset: bool = False, retiring: bool = False) -> Desired:
        """Add an object after the Deployments; ``after``: keys of objects it waits for.

        A ``route`` sends traffic to the component's revisions; a ``subset`` object is applied
        before every route (they may name what it defines); a ``retiring`` one after every
        route (the routes stop naming what it gives up first).
        """
        d = Desired(key or f"{self.prefix}-{role}", self.component, role, manifest, list(after), self.current)
        self.added.append(d)
        for flag, keys in ((route, self.routes), (subset, self.subsets), (retiring, self.retiring)):
            if flag:
                keys.add(d.key)
        return d
