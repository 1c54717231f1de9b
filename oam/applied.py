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


@dataclass
class Applied:
    """Per Pulumi resource name: replicas of Deployments, subsets of DestinationRules, routed subsets of VirtualServices."""

    replicas: dict[str, int] = field(default_factory=dict)
    ready: dict[str, int] = field(default_factory=dict)
    subsets: dict[str, set[str]] = field(default_factory=dict)
    routed: dict[str, set[str]] = field(default_factory=dict)

    def add(self, key: str, manifest: dict[str, Any], status: Optional[dict] = None) -> None:
        kind = manifest.get("kind")
        spec = manifest.get("spec") or {}
        if kind == "Deployment":
            self.replicas[key] = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
            if status is not None:
                self.ready[key] = int(status.get("readyReplicas") or 0)
        elif kind == "DestinationRule":
            self.subsets[key] = {s.get("name") for s in spec.get("subsets") or () if s.get("name")}
        elif kind == "VirtualService":
            self.routed[key] = routed_subsets(spec)

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
        for urn, entry in (resources or {}).items():
            if not isinstance(entry, dict) or not str(entry.get("type", "")).startswith("kubernetes:"):
                continue
            outputs = entry.get("outputs") or {}
            if isinstance(outputs, dict) and outputs.get("kind"):
                out.add(str(urn).rsplit("::", 1)[-1], outputs, outputs.get("status") or {})
        return out


def routed_subsets(spec: dict) -> set[str]:
    """Subsets that get traffic (weight above 0) on any HTTP route of a VirtualService spec."""
    names: set[str] = set()
    for http in spec.get("http") or ():
        routes = http.get("route") or ()
        for r in routes:
            subset = (r.get("destination") or {}).get("subset")
            weight = r.get("weight")
            if subset and (weight is None and len(routes) == 1 or (weight or 0) > 0):
                names.add(subset)
    return names

