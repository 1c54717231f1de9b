"""Revision assignment: which revision of each component the file makes, a new one added to the history.

A component revision is ``<component>-v<N>``; N goes up only when the component's type or
properties change, or the properties of a trait that shapes its pods (a sidecar, env,
volumes); other traits do not count. A hash seen before gets its old name back.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

from oam.errors import ApplicationError
from oam.registry import TRAITS
from oam.revisions import History, Revision


def workload_hash(type_: str, properties: dict[str, Any], traits: Optional[list[dict]] = None,
                  external: Optional[str] = None) -> str:
    """A stable hash of what makes a revision: the component's type and properties, its pod-shaping traits
    and the name the user gave it."""
    what: dict[str, Any] = {"type": type_, "properties": properties}
    if traits:
        what["traits"] = traits
    if external:
        what["external"] = external
    text = json.dumps(what, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pod_traits(comp) -> list[dict]:
    """The traits of ``comp`` that shape its pods, as written: part of its revision."""
    return [{"type": t.type, "properties": dict(t.raw)} for t in comp.traits
            if TRAITS.get(t.type) is not None and TRAITS.get(t.type).shapes_pod]


def assign_revisions(app, history: History) -> dict[str, Revision]:
    """The current revision of every component, adding new ones to ``history``."""
    current = {}
    for comp in app.components:
        shaping = pod_traits(comp)
        h = workload_hash(comp.type, comp.raw_properties, shaping, comp.external_revision)
        revs = history.revisions.setdefault(comp.name, [])
        rev = next((r for r in revs if r.hash == h), None)
        if rev is None:
            named = next((r for r in revs if r.name == comp.external_revision), None)
            if named is not None:
                raise ApplicationError([app.locator.problem(
                    comp.path + ("externalRevision",),
                    f"revision '{named.name}' is already another version of '{comp.name}' (other properties)",
                    "give this version a new externalRevision, or remove it to have one named for you")])
            rev = Revision(comp.name, max((r.n for r in revs), default=0) + 1, h, comp.type,
                           external=comp.external_revision)
            revs.append(rev)
        rev.properties = dict(comp.raw_properties)
        rev.traits = shaping or None
        current[comp.name] = rev
    return current


def prune(history: History, keep: dict[str, set[int]]) -> None:
    """Forget the properties of revisions that can no longer be deployed; keep their names."""
    for comp, revs in history.revisions.items():
        for r in revs:
            if r.n not in keep.get(comp, set()):
                r.properties = None
                r.traits = None
