"""Helpers for traits that change the pod template: find containers, merge lists by name."""
from __future__ import annotations

from typing import Optional


def container(template: dict, name: Optional[str] = None) -> Optional[dict]:
    """The container called ``name`` of a pod template; the first (the component's own) when no name is given."""
    containers = template["spec"]["containers"]
    if name is None:
        return containers[0]
    return next((c for c in containers if c["name"] == name), None)


def merge_by_name(items: list[dict], new: list[dict]) -> list[dict]:
    """``items`` with each of ``new`` replacing the entry of the same name, or appended."""
    out = list(items)
    for entry in new:
        at = next((i for i, old in enumerate(out) if old["name"] == entry["name"]), None)
        if at is None:
            out.append(entry)
        else:
            out[at] = entry
    return out


def component_containers(comp) -> list[str]:
    """Names of the containers the component's pods run: its own and its sidecars'."""
    from oam.registry import TRAITS

    names = [comp.name]
    for t in comp.traits:
        definition = TRAITS.get(t.type)
        if definition is not None and t.properties is not None:
            names += definition.container_names(t.properties)
    return names


def component_volumes(comp) -> Optional[list[str]]:
    """Names of the volumes of the component's pods; None when a part that adds volumes is not valid."""
    from oam.registry import TRAITS

    if comp.properties is None:
        return None
    p = comp.properties
    names = [v.name for v in getattr(p, "volumes", [])]
    if getattr(p, "volume_mounts", None) is not None:
        names = [m.name for _, _, m in p.volume_mounts.all()]
    for t in comp.traits:
        definition = TRAITS.get(t.type)
        if definition is None:
            continue
        if t.properties is None:
            return None
        names += definition.volume_names(t.properties)
    return names
