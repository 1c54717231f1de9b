"""k8s-objects: Kubernetes objects written out in full, applied as they are."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from oam.errors import excerpt, quoting_hint
from oam.kit import k8s_values as kv
from oam.kit.context import Workload
from oam.kit.keys import check_keys, engine_key
from oam.kit.pod_objects import check_pod_object
from oam.kit.spec import OamModel
from oam.registry import COMPONENTS, ComponentType

# Core (apiVersion v1) kinds this program can apply; other groups' kinds are applied as they are.
CORE_KINDS = ("ConfigMap", "Secret", "Service", "Namespace", "PersistentVolumeClaim", "ServiceAccount")

# Objects written out in full are applied in the order the safety rules need, within their component:
# what pods need to start (their configuration, claims, account) before the objects that run pods;
# what sends traffic to pods after them, so a route reaches pods that are Ready (the provider waits
# for a Deployment's, StatefulSet's and DaemonSet's pods; a Service is not awaited).
RUNS_PODS = {("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet")}
PODS_NEED = {("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "PersistentVolumeClaim"), ("v1", "ServiceAccount")}
ROUTE_GROUPS = ("networking.k8s.io/", "networking.istio.io/", "gateway.networking.k8s.io/")
ROUTE_KINDS = ("Ingress", "VirtualService", "HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute")


def _sends_traffic(obj: dict) -> bool:
    if (obj.get("apiVersion"), obj.get("kind")) == ("v1", "Service"):
        return True
    return obj.get("kind") in ROUTE_KINDS and str(obj.get("apiVersion")).startswith(ROUTE_GROUPS)


def object_order(objects: list[dict]) -> dict[int, list[int]]:
    """For each object (by index), the objects of the same list it is applied after."""
    pods = [i for i, o in enumerate(objects) if (o.get("apiVersion"), o.get("kind")) in RUNS_PODS]
    needed = [i for i, o in enumerate(objects) if (o.get("apiVersion"), o.get("kind")) in PODS_NEED]
    order: dict[int, list[int]] = {}
    for i, obj in enumerate(objects):
        if i in pods and needed:
            order[i] = needed
        elif pods and _sends_traffic(obj):
            order[i] = pods
    return order


class K8sObjectsProperties(OamModel):
    objects: list[dict[str, Any]] = Field(min_length=1, description="The objects, each with apiVersion, kind "
                                                                    "and metadata.name")


def check_object(obj: dict, where: tuple, app) -> list:
    """An object written in full (at ``where`` of the file) is whole and of a kind applied here."""
    meta = obj.get("metadata")
    if not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
        return [app.locator.problem(where, "needs apiVersion and kind", "write the object in full")]
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        return [app.locator.problem(where, "needs metadata.name", "name the object")]
    if obj["apiVersion"] == "v1" and obj["kind"] not in CORE_KINDS:
        return [app.locator.problem(where + ("kind",), f"kind {obj['kind']} of apiVersion v1 is not supported here",
                                    "supported core kinds: " + ", ".join(CORE_KINDS))]
    problems = []
    namespace = meta.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or kv.dns_label(namespace, "namespace")):
        problems.append(app.locator.problem(where + ("metadata", "namespace"),
                                            f"namespace {excerpt(namespace)} is not a valid name",
                                            "use lower-case letters, digits and '-', at most 63 characters; "
                                            "leave it out for the application's namespace"))
    problems += check_pod_object(obj, where, app.locator)
    for field in ("labels", "annotations"):
        items = meta.get(field)
        if items is not None and not isinstance(items, dict):
            problems.append(app.locator.problem(where + ("metadata", field), "must map keys to strings"))
        elif items is not None and not all(isinstance(v, str) for v in items.values()):
            problems += [app.locator.problem(where + ("metadata", field, k), f"must be a string (got {excerpt(v)})",
                                             quoting_hint(v, app.locator.written.get(where + ("metadata", field, k)))
                                             if v is None or isinstance(v, (bool, int, float)) else "")
                         for k, v in items.items() if not isinstance(v, str)]
        elif items:
            # What tells Pulumi how to await or apply the object is the program's: the safe order relies on it.
            problems += check_keys({k: "" for k in items if engine_key(k)}, where + ("metadata", field),
                                   app.locator, values=False)
    return problems


def check_objects(objects: list[tuple[dict, tuple]], comp, app) -> list:
    """Each object is whole and of a kind applied here."""
    return [p for obj, where in objects for p in check_object(obj, where, app)]


@COMPONENTS.register
class K8sObjects(ComponentType):
    """Apply the objects listed, in the application's namespace unless they name one (or have none)."""

    name = "k8s-objects"
    Properties = K8sObjectsProperties
    token = "oam:component:K8sObjects"
    rolls_out = False
    offers = frozenset()
    runs = "the objects written in it"

    def check(self, comp, app, _):
        return check_objects([(obj, comp.path + ("properties", "objects", i))
                              for i, obj in enumerate(comp.properties.objects)], comp, app)

    def workload(self, name: str, p: K8sObjectsProperties) -> Workload:
        objects = [dict(o) for o in p.objects]
        return Workload(container={}, objects=objects, object_after=object_order(objects),
                        object_paths=[("objects", i) for i in range(len(objects))])
