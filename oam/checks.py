"""Checks of a whole rendered stage, before anything is applied: no object made twice, no selector or field
changed that would make the provider replace an object that runs pods, routes to them or holds data.

Each raises one ApplicationError with every problem it finds, at the line of the file that makes the object.
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from oam.errors import ApplicationError
from oam.kit.applied import Applied, same_object
from oam.kit.context import NAME_LABEL
from oam.kit.spec import AppSpec
from oam.kit.stage import Desired

if TYPE_CHECKING:
    from oam.workflow.engine import Resolution


def check_names(app: AppSpec, res: Resolution, objects: list[Desired]) -> None:
    """Two components must never make one object: each would own it, and one would undo the other."""
    problems = []
    owners: dict[tuple, Desired] = {}
    for d in objects:
        meta = d.manifest["metadata"]
        for ident in (("pulumi", d.key), same_object(d.manifest)):  # one object, whatever version it is written in
            first = owners.setdefault(ident, d)
            if first is not d and (first.component, first.step, first.policy) != (d.component, d.step, d.policy):
                what = f"Pulumi resource '{d.key}'" if ident[0] == "pulumi" else f"{d.kind} '{meta['name']}'"
                problems.append(_made_twice(app, d, first, what))
            elif first is not d and d.component and first.placement == d.placement and app.component(d.component):
                problems.append(app.locator.problem(
                    d.path or app.component(d.component).path + ("name",),
                    f"component '{d.component}' makes {d.kind} '{meta['name']}' twice"
                    + (f" (as {first.manifest['apiVersion']} and {d.manifest['apiVersion']})"
                       if first.manifest["apiVersion"] != d.manifest["apiVersion"] else ""),
                    "list the object once"))
            elif first is not d and d.component and first.key != d.key and app.component(d.component):
                # One component in two placements, an object that stays where it is, rendered differently.
                problems.append(app.locator.problem(
                    app.component(d.component).path + ("name",),
                    f"component '{d.component}' is deployed to namespaces '{first.placement}' and '{d.placement}', "
                    f"and both would make {d.kind} '{meta['name']}'"
                    + (f" in namespace '{meta['namespace']}' (it names it)" if meta.get("namespace") else "")
                    + ", each differently (their overrides differ)",
                    "leave its namespace out, so that each placement makes its own; or make it in a component "
                    "that one placement deploys"))
    # A rolled-out component names its Deployments <component>-v<N>, for revisions still to come too.
    for comp in app.components:
        if comp.name not in res.rollouts:
            continue
        revision = res.revisions[comp.name].name
        if len(revision) > 63:
            problems.append(app.locator.problem(
                comp.path + ("name",), f"revision name '{revision}' is longer than 63 characters, the most a "
                                       "label value (and a Service name) may have",
                f"shorten the component name to at most {63 - len(revision) + len(comp.name)} characters"))
        for other in app.components:
            rest = other.name[len(comp.name):]
            if other is not comp and other.name.startswith(comp.name) and re.fullmatch(r"-v[1-9][0-9]*", rest):
                problems.append(_collision(app, other.name, comp.name,
                                           f"Deployment '{other.name}' (revision {rest[2:]} of '{comp.name}')"))
    if problems:
        raise ApplicationError(list(dict.fromkeys(problems)))


def check_selectors(app: AppSpec, objects: list[Desired], applied: Applied) -> None:
    """An object that runs pods keeps its selector: Kubernetes cannot change it, and Pulumi would replace the
    object (every pod deleted before new ones exist). The object as it was applied may have been another
    resource's (a component that changed type: ``Applied.held_as``)."""
    problems = []
    planned = {d.key for d in objects}
    for d in objects:
        if d.kind not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        old = applied.held_as(d.key, d.manifest, planned)
        before = applied.selectors.get(old) if old else None
        now = (d.manifest.get("spec") or {}).get("selector")
        if before is None or now == before:
            continue
        was = ((before.get("matchLabels") or {}) if isinstance(before, dict) else {}).get(NAME_LABEL)
        if not d.path and was is not None and was != app.name:
            problems.append(app.locator.problem(
                ("metadata", "name"), f"this stack deployed the application as '{was}': its {d.kind}s select their "
                f"pods by {NAME_LABEL}={was}, which Kubernetes cannot change, and renamed each would be replaced, "
                "every pod deleted before new ones exist",
                f"keep the name '{was}', or deploy '{app.name}' to another namespace from a new stack (pulumi stack "
                "init), and destroy this one once the new one serves"))
            continue
        comp = app.component(d.component) if d.component else None
        where = d.path + ("spec", "selector") if d.path else comp.path + ("type",) if comp else ("metadata", "name")
        problems.append(app.locator.problem(
            where, f"the selector of {d.kind} '{d.manifest['metadata']['name']}' "
            f"differs from the one applied ({json.dumps(before, sort_keys=True)}); Kubernetes cannot change "
            "it, and the object would be replaced, every pod deleted before new ones exist",
            "keep the selector, or give the object a new name to run the new one beside it" if d.path else
            "keep the component's type (or write the object in full with that selector, as k8s-objects), or give "
            "the component a new name to run the new one beside it"))
    if problems:
        raise ApplicationError(list(dict.fromkeys(problems)))


# Fields whose change the Kubernetes provider makes by replacing the object (deleted, then created anew), for
# the kinds the program never lets it replace; a selector is checked on its own (check_selectors). Some of
# them Kubernetes could change in place (a StatefulSet's revisionHistoryLimit): the API server's dry run
# would take the change, and the provider would still replace the object.
REPLACED_ON = {
    "StatefulSet": ("spec.podManagementPolicy", "spec.revisionHistoryLimit", "spec.serviceName",
                    "spec.volumeClaimTemplates"),
    "Service": ("spec.clusterIP",),
    "PersistentVolumeClaim": ("spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeName"),
}


_ABSENT = object()


def _at(manifest: dict[str, Any], path: str) -> Any:
    value: Any = manifest
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _ABSENT
        value = value[part]
    return value


def _shown(value: Any) -> str:
    return "unset" if value is _ABSENT else json.dumps(value, sort_keys=True)


def made_at(app: AppSpec, d: Desired) -> tuple:
    """Where the file makes ``d``: the object written out in full, else the trait that makes it, else its
    component; the application's name for what the stack makes itself."""
    comp = app.component(d.component) if d.component else None
    trait = next((t for t in comp.traits if t.type == d.source), None) if comp else None
    return d.path or (trait.path if trait else comp.path if comp else ("metadata", "name"))


def check_replacements(app: AppSpec, objects: list[Desired], applied: Applied) -> None:
    """A change the provider would make by replacing an object that runs pods, routes to them or holds data is
    refused (a claim's, unless a resource-update policy asks for it): compared with what the object was last
    applied from, as the provider compares."""
    problems = []
    planned = {d.key for d in objects}
    for d in objects:
        fields = REPLACED_ON.get(d.kind, ())
        if not fields or (d.kind == "PersistentVolumeClaim" and d.recreate_on):
            continue
        old = applied.held_as(d.key, d.manifest, planned)
        before = applied.inputs.get(old) if old else None
        if before is None:
            continue
        for path in fields:
            was, now = _at(before, path), _at(d.manifest, path)
            if was == now:
                continue
            data = d.kind == "PersistentVolumeClaim"
            problems.append(app.locator.problem(
                made_at(app, d) + (tuple(path.split(".")) if d.path else ()),
                f"{path} of {d.kind} '{d.manifest['metadata']['name']}' would change from {_shown(was)} to "
                f"{_shown(now)}; the Kubernetes provider makes that change by deleting the {d.kind} and creating it "
                "again" + (", and with it, under a Delete reclaim policy, its volume's data" if data else
                           ", and nothing would serve in between"),
                f"keep {path} as it was applied" + (", or ask for the claim to be recreated with a resource-update "
                                                     f"policy whose recreateFields name {path}" if data else
                                                     ", or give the object a new name to run the new one beside it")))
    if problems:
        raise ApplicationError(problems)


def _maker(app: AppSpec, d: Desired) -> tuple[str, tuple]:
    """What makes ``d`` (for a message), and where the file says so; () for what the stack makes itself."""
    if d.step:
        return f"step '{d.step}'", d.path
    if d.policy:
        return f"policy '{d.policy}'", d.path + ("type",)
    if d.component:
        return f"component '{d.component}'", app.component(d.component).path + ("name",)
    return "the stack", ()


def _made_twice(app: AppSpec, d: Desired, first: Desired, what: str):
    """``d`` would make what ``first`` makes already: each would own it, and one would undo the other."""
    if d.component and first.component:
        return _collision(app, d.component, first.component, what)
    mine, path = _maker(app, d)
    other, other_path = _maker(app, first)
    if not other_path:
        return app.locator.problem(path, f"{mine} would make {what}, which the stack makes itself (the namespace "
                                         "of the application or a placement)",
                                   "leave the object out: pulumi up creates the namespace when it is missing")
    line = app.locator.line(other_path)
    where = f"{app.locator.file}:{line}" if line else app.locator.file
    return app.locator.problem(path, f"{mine} and {other} ({where}) would both make {what}",
                               "rename one of them, or leave one out")


def _collision(app: AppSpec, comp: str, other: str, what: str):
    line = app.locator.line(app.component(other).path + ("name",))
    where = f"{app.locator.file}:{line}" if line else app.locator.file
    return app.locator.problem(app.component(comp).path + ("name",),
                               f"component '{comp}' and component '{other}' ({where}) would both make {what}",
                               "rename one of them")
