"""raw: one Kubernetes object written out in full as the properties (the older form of k8s-objects)."""
from __future__ import annotations

from typing import Any

from pydantic import RootModel

from oam.components.k8s_objects import check_objects
from oam.kit.context import Workload
from oam.registry import COMPONENTS, ComponentType


class RawProperties(RootModel[dict[str, Any]]):
    """The object: apiVersion, kind, metadata (with name) and the rest."""


@COMPONENTS.register
class Raw(ComponentType):
    """Apply the one object given as properties, in the application's namespace unless it names one."""

    name = "raw"
    Properties = RawProperties
    token = "oam:component:Raw"
    rolls_out = False
    offers = frozenset()
    runs = "the objects written in it"

    def check(self, comp, app, _):
        return check_objects([(comp.properties.root, comp.path + ("properties",))], comp, app)

    def workload(self, name: str, p: RawProperties) -> Workload:
        return Workload(container={}, objects=[dict(p.root)], object_paths=[()])
