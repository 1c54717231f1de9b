"""What the cluster holds now, as Pulumi last recorded each object: the base of every ordering edge.

Pure. An update that fails half-way leaves each object as it was applied: a Deployment
whose pods never became Ready is recorded with its new replicas, a route the update never
reached keeps its old weights. Ordering edges are worked out against this record, never
against what the last update meant to apply, so a re-run after any failure moves each
object from where it really is, in the safe direction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from oam.kit.charts import CHART_TOKEN


# The kinds whose objects the program never lets the provider replace (see render's check of replacements).
INPUTS_KEPT = ("Deployment", "StatefulSet", "DaemonSet", "Service", "PersistentVolumeClaim")
# Kinds whose objects run pods or route to them: replacing one (deleted, then created anew) would leave
# nothing to serve in between, and the safety rules never replace them.
NEVER_REPLACED = ("Deployment", "StatefulSet", "DaemonSet", "Service", "Ingress", "VirtualService",
                  "DestinationRule", "Gateway")
LOCAL = "local"  # KubeVela's name for the cluster it runs in: here, the stack's own Kubernetes provider


def in_cluster(cluster: str, key: str) -> str:
    """The Pulumi name of an object named ``key`` in one cluster: the local cluster's keep their names, another
    cluster's start with its name and a slash."""
    return key if cluster in ("", LOCAL) else f"{cluster}/{key}"


def cluster_of(key: str) -> str:
    """The cluster of an object by its Pulumi name (see in_cluster)."""
    return key.split("/", 1)[0] if "/" in key else LOCAL


@dataclass
class Applied:
    """Per Pulumi resource name: the replicas each Deployment was last applied with, the subsets each
    DestinationRule defines; per host, the subsets routes send traffic to; the Namespaces the stack made."""

    replicas: dict[str, int] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    subsets: dict[str, list[str]] = field(default_factory=dict)
    routed: dict[str, set[str]] = field(default_factory=dict)  # host -> subsets a VirtualService sends traffic to
    weights: dict[str, dict[str, int]] = field(default_factory=dict)  # VirtualService key -> subset -> its weight
    selectors: dict[str, Any] = field(default_factory=dict)  # the selector of each object that runs pods
    keys: set[str] = field(default_factory=set)  # every object the stack holds
    objects: dict[str, tuple] = field(default_factory=dict)  # key -> (apiVersion, kind, namespace, name)
    urns: dict[str, str] = field(default_factory=dict)  # key -> URN, when read from the stack
    components: dict[str, str] = field(default_factory=dict)  # component resource name -> URN, from the stack
    # key -> the manifest the object was last applied from, for the kinds whose replacement the program refuses
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    charted: set[str] = field(default_factory=set)  # the Pulumi names of the objects of charts the stack holds
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)  # key -> as read
    _by_object: Optional[dict[tuple, list[str]]] = field(default=None, repr=False, compare=False)

    def add(self, key: str, manifest: dict[str, Any]) -> None:
        self._by_object = None
        self.keys.add(key)
        self.manifests[key] = manifest
        meta = manifest.get("metadata") or {}
        self.objects[key] = (manifest.get("apiVersion"), manifest.get("kind"), meta.get("namespace") or None,
                             meta.get("name"))
        if manifest.get("kind") == "Namespace":
            self.namespaces.add(key)
        elif manifest.get("kind") == "DestinationRule":
            subsets = (manifest.get("spec") or {}).get("subsets") or []
            self.subsets[key] = [str(s.get("name")) for s in subsets if isinstance(s, dict)]
        elif manifest.get("kind") == "VirtualService":
            self.weights[key] = route_weights(manifest)
            for http in (manifest.get("spec") or {}).get("http") or []:
                for route in (http or {}).get("route") or []:
                    dest = (route or {}).get("destination") or {}
                    if dest.get("subset") and (route.get("weight") is None or route.get("weight", 0) > 0):
                        self.routed.setdefault(str(dest.get("host")), set()).add(str(dest["subset"]))
        if manifest.get("kind") in INPUTS_KEPT:
            self.inputs[key] = manifest
        if manifest.get("kind") == "Deployment":
            replicas = (manifest.get("spec") or {}).get("replicas")
            self.replicas[key] = 1 if replicas is None else int(replicas)
        selector = (manifest.get("spec") or {}).get("selector")
        if manifest.get("kind") in ("Deployment", "StatefulSet", "DaemonSet") and selector:
            self.selectors[key] = selector

    @classmethod
    def from_plan(cls, plan) -> "Applied":
        """The cluster once ``plan`` has been applied in full (for a walk of stages without a cluster)."""
        out = cls()
        for d in plan.objects:
            out.add(d.key, d.manifest)
        return out

    @classmethod
    def from_resource_outputs(cls, resources: dict[str, Any]) -> "Applied":
        """From the engine's ``readStackResourceOutputs`` (secrets unwrapped): URN -> {type, outputs}."""
        out = cls()
        # A chart's objects are named after it (its name, a colon): the provider makes them, not the program.
        charts = tuple(f"{str(urn).rsplit('::', 1)[-1]}:" for urn, entry in (resources or {}).items()
                       if isinstance(entry, dict) and entry.get("type") == CHART_TOKEN)
        for urn, entry in (resources or {}).items():
            if charts and str(urn).rsplit("::", 1)[-1].startswith(charts):
                out.charted.add(str(urn).rsplit("::", 1)[-1])
                continue
            if isinstance(entry, dict) and str(entry.get("type", "")).startswith("oam:component:"):
                out.components[str(urn).rsplit("::", 1)[-1]] = str(urn)
            if not isinstance(entry, dict) or not str(entry.get("type", "")).startswith("kubernetes:"):
                continue
            outputs = entry.get("outputs") or {}
            if isinstance(outputs, dict) and outputs.get("kind"):
                key = str(urn).rsplit("::", 1)[-1]
                out.add(key, outputs)
                out.urns[key] = str(urn)
                if key in out.inputs and isinstance(outputs.get("__inputs"), dict):
                    out.inputs[key] = outputs["__inputs"]  # the provider keeps what it was given next to the live object
        return out

    def of_cluster(self, cluster: str) -> "Applied":
        """What the stack holds in one cluster, named as in a stack of that cluster alone (see in_cluster)."""
        out = Applied()
        prefix = "" if cluster == LOCAL else f"{cluster}/"
        for key in sorted(self.keys):
            if cluster_of(key) != cluster:
                continue
            name = key[len(prefix):]
            out.add(name, self.manifests.get(key) or _bare(self.objects[key]))
            if key in self.inputs:
                out.inputs[name] = self.inputs[key]
            if key in self.urns:
                out.urns[name] = self.urns[key]
        out.components = {name[len(prefix):]: urn for name, urn in self.components.items() if cluster_of(name) == cluster}
        return out

    def held_as(self, key: str, manifest: dict[str, Any], planned: set[str]) -> Optional[str]:
        """The Pulumi resource name under which the stack holds the object ``manifest`` is, to be registered as
        ``key``: ``key`` itself, or the resource it was before that the stage (``planned``) no longer has (a
        component that changed type or an object that moved to another); None for a new object or one held twice.

        The same object: the same API group, kind, namespace and name, whatever version of its API either is
        written in (the provider's own classes take every version of a kind as one).
        """
        held = self._held().get((cluster_of(key), *same_object(manifest)), [])
        if len(held) != 1 or (held[0] != key and held[0] in planned):
            return None  # new, held twice, or still another resource's
        return held[0]

    def held_twice(self) -> dict[tuple, list[str]]:
        """Objects two Pulumi resources of the stack hold (an earlier version could make one twice): the object
        (its cluster, then ``same_object``) -> their keys."""
        return {ident: keys for ident, keys in self._held().items() if len(keys) > 1}

    def _held(self) -> dict[tuple, list[str]]:
        """The object (its cluster, then ``same_object``) -> the keys of the resources that hold it, in order."""
        if self._by_object is None:
            self._by_object = {}
            for key, (api_version, kind, namespace, name) in sorted(self.objects.items()):
                self._by_object.setdefault((cluster_of(key), *_same(api_version, kind, namespace, name)),
                                           []).append(key)
        return self._by_object


def route_weights(manifest: dict[str, Any]) -> dict[str, int]:
    """The share of a VirtualService's traffic each subset it names gets: subset -> weight, the largest over its
    HTTP routes (a route's only destination gets it all; "" is a destination without a subset, the Service's
    every pod). Weights read back from the stack may be floats."""
    out: dict[str, int] = {}
    for http in (manifest.get("spec") or {}).get("http") or []:
        routes = [r for r in (http or {}).get("route") or [] if isinstance(r, dict)]
        for route in routes:
            subset = str((route.get("destination") or {}).get("subset") or "")
            weight = route.get("weight", 100 if len(routes) == 1 else 0)
            if isinstance(weight, (int, float)) and not isinstance(weight, bool):
                out[subset] = max(out.get(subset, 0), int(weight))
    return out


def _same(api_version: Any, kind: Any, namespace: Any, name: Any) -> tuple:
    group = str(api_version).rpartition("/")[0]
    return group, kind, namespace or None, name


def same_object(manifest: dict[str, Any]) -> tuple:
    """What makes two manifests the same object of the cluster: API group, kind, namespace, name (any version)."""
    meta = manifest.get("metadata") or {}
    return _same(manifest.get("apiVersion"), manifest.get("kind"), meta.get("namespace"), meta.get("name"))


def _bare(ident: tuple) -> dict[str, Any]:
    api_version, kind, namespace, name = ident
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}}
