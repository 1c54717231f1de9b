"""k8s-objects: Kubernetes objects written out in full, applied as they are."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from oam.context import Workload
from oam.model import OamModel
from oam.registry import COMPONENTS, ComponentType, TRAITS

# Core (apiVersion v1) kinds this program can apply; other groups' kinds are applied as they are.
CORE_KINDS = ("ConfigMap", "Secret", "Service", "Namespace", "PersistentVolumeClaim")


class K8sObjectsProperties(OamModel):
    objects: list[dict[str, Any]] = Field(min_length=1, description="The objects, each with apiVersion, kind "
                                                                    "and metadata.name")


def check_objects(objects: list[tuple[dict, tuple]], comp, app) -> list:
    """Each object is whole and of a kind applied here; the component's traits need no pods."""
    problems = []
    for obj, where in objects:
        meta = obj.get("metadata")
        if not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
            problems.append(app.locator.problem(where, "needs apiVersion and kind", "write the object in full"))
        elif not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
            problems.append(app.locator.problem(where, "needs metadata.name", "name the object"))
        elif obj["apiVersion"] == "v1" and obj["kind"] not in CORE_KINDS:
            problems.append(app.locator.problem(where + ("kind",), f"kind {obj['kind']} of apiVersion v1 is not "
                                                                   "supported here",
                                                "supported core kinds: " + ", ".join(CORE_KINDS)))
        elif obj["apiVersion"] == "apps/v1" and obj["kind"] == "Deployment":
            problems.append(app.locator.problem(where + ("kind",), "a Deployment here would be applied without "
                                                                   "the readiness waits every route relies on",
                                                "use a webservice or worker component"))
    allowed = {"labels", "annotations"}
    problems += [app.locator.problem(t.path + ("type",), f"trait '{t.type}' needs pods, and {comp.type} has none",
                                     f"only labels and annotations apply to {comp.type}")
                 for t in comp.traits if t.type not in allowed and TRAITS.get(t.type) is not None]
    return problems


@COMPONENTS.register
class K8sObjects(ComponentType):
    """Apply the objects listed, in the application's namespace unless they name one (or have none)."""

    name = "k8s-objects"
    Properties = K8sObjectsProperties
    token = "oam:component:K8sObjects"
    rolls_out = False

    def check(self, comp, app, _):
        return check_objects([(obj, comp.path + ("properties", "objects", i))
                              for i, obj in enumerate(comp.properties.objects)], comp, app)

    def workload(self, name: str, p: K8sObjectsProperties) -> Workload:
        return Workload(container={}, objects=[dict(o) for o in p.objects])
