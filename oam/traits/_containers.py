"""Helpers for traits that change the pod template: find containers, merge lists by name."""
from __future__ import annotations

from typing import Any, Optional

from pydantic.alias_generators import to_snake

from oam.registry import TRAITS


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
    names = [comp.name]
    for t in comp.traits:
        definition = TRAITS.get(t.type)
        if definition is not None and t.properties is not None:
            names += definition.container_names(t.properties)
    return names


def component_volumes(comp) -> Optional[list[str]]:
    """Names of the volumes of the component's pods; None when a part that adds volumes is not valid."""
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


def missing_containers(trait, app, comp, named: list[tuple[tuple, str]]) -> list:
    """A problem for each (path under properties, container name) that names no container of the pods.

    A trait changes the pods in the order the traits are listed: a sidecar added by a later
    trait is not there yet when this one runs, so naming it is refused too.
    """
    before = [comp.name]
    for t in comp.traits:
        if t is trait:
            break
        definition = TRAITS.get(t.type)
        if definition is not None and t.properties is not None:
            before += definition.container_names(t.properties)
    every = component_containers(comp)
    problems = []
    for path, name in named:
        where = trait.path + ("properties", *path)
        if name in before:
            continue
        if name in every:
            problems.append(app.locator.problem(where, f"container '{name}' is added by a trait listed after this one",
                                                "list this trait after the one that adds the container"))
        else:
            problems.append(app.locator.problem(where, f"the pods of '{comp.name}' have no container '{name}' "
                                                       f"(theirs: {', '.join(every)})", "name one of them"))
    return problems


def changed_containers(p, many: str) -> list[tuple[tuple, Optional[str], Any]]:
    """(path of the container's name under properties, the name or None for the component's own, the change).

    For a trait that, like KubeVela's, changes one container with its own fields or several
    with a list (``many``: the list's parameter name) of the same fields and a containerName.
    """
    items = getattr(p, to_snake(many))
    if items:
        return [((many, i, "containerName"), c.container_name, c) for i, c in enumerate(items)]
    return [(("containerName",), p.container_name or None, p)]


def one_form(p, many: str) -> None:
    """Refuse the fields of one container given with the list of several (a model validator's check)."""
    if getattr(p, to_snake(many)) and p.model_fields_set - {to_snake(many)}:
        raise ValueError(f"give {many}, or the fields of one container, not both")
