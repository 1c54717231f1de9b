"""Revision naming and the history kept in the stack's own state.

A component revision is ``<component>-v<N>``; N goes up only when the component's type or
properties change, or the properties of a trait that shapes its pods (a sidecar, env,
volumes); other traits do not count. A hash seen before gets its old name back.
The history lives in a stack output, read back at the start of the next run, so it moves
with ``pulumi stack export/import`` and ``pulumi destroy`` resets it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from oam.errors import ApplicationError

STATE_OUTPUT = "oamState"
STATE_VERSION = 1


@dataclass
class Revision:
    component: str
    n: int
    hash: str
    type: str
    properties: Optional[dict] = None  # kept only while the revision may be deployed
    traits: Optional[list[dict]] = None  # the pod-shaping traits ({type, properties}), kept with the properties
    external: Optional[str] = None  # the name the user gave it (externalRevision)

    @property
    def name(self) -> str:
        return self.external or f"{self.component}-v{self.n}"


@dataclass
class Release:
    """One rollout of new revisions, from its first stage to success or rollback."""

    n: int
    targets: dict[str, int]
    baselines: dict[str, int] = field(default_factory=dict)
    phase: str = "progressing"
    step: int = 0
    replicas: dict[str, int] = field(default_factory=dict)  # revision name -> replicas applied
    live: dict[str, list[str]] = field(default_factory=dict)  # component -> revisions with a subset
    gate: Optional[str] = None  # the suspend step it waits at
    aborted: Optional[str] = None  # why a metric gate rolled it back (written only when set)
    # Without a rolled-out component: the revision of every component, and a digest of the file's spec; a
    # change of either starts a release.
    revisions: Optional[dict[str, int]] = None
    spec: Optional[str] = None


@dataclass
class History:
    revisions: dict[str, list[Revision]] = field(default_factory=dict)
    release: Optional[Release] = None
    approvals: dict[str, int] = field(default_factory=dict)  # suspend step -> release it was given for
    # suspend step -> each component it holds back (its step and later ones deploy) as it was when approved
    approved: dict[str, dict[str, str]] = field(default_factory=dict)
    gates: dict[str, str] = field(default_factory=dict)  # timed suspend step -> when it started waiting
    passed: dict[str, str] = field(default_factory=dict)  # metric gate -> when its analysis passed (kept if any)
    tried: dict[str, str] = field(default_factory=dict)  # object -> digest of the manifest the API server took
    values: dict[str, list] = field(default_factory=dict)  # step output -> [mark of its source, value]
    applied: dict[str, str] = field(default_factory=dict)  # step with outputs -> its mark when last applied
    step_objects: list[list] = field(default_factory=list)  # [step, manifest] of each object steps applied
    # Each object of the components, as applied: one a workflow's steps have not deployed again stays so until they
    # do. None: not recorded (a record from before it was kept).
    component_objects: Optional[list[dict]] = None
    # The stack's mark on the objects it makes (context.STACK_LABEL): its name and a random suffix, kept from its
    # first update on, so that another stack of the same name (another backend) is another owner.
    owner: Optional[str] = None

    def to_json(self) -> str:
        data = {"version": STATE_VERSION,
                "revisions": {c: [_revision(r) for r in revs] for c, revs in sorted(self.revisions.items())},
                "release": _release(self.release) if self.release else None,
                "approvals": dict(sorted(self.approvals.items())),
                "gates": dict(sorted(self.gates.items()))}
        if self.approved:
            data["approved"] = dict(sorted(self.approved.items()))  # absent from records written before it was kept
        if self.passed:
            data["passed"] = dict(sorted(self.passed.items()))  # absent from a record without metric gates
        if self.tried:
            data["tried"] = dict(sorted(self.tried.items()))  # absent from records written before it was kept
        if self.values:
            data["values"] = dict(sorted(self.values.items()))  # absent from a record without step outputs
        if self.applied:
            data["applied"] = dict(sorted(self.applied.items()))  # absent from a record without step outputs
        if self.step_objects:
            data["stepObjects"] = self.step_objects  # absent from a record without steps that apply objects
        if self.component_objects is not None:
            data["componentObjects"] = self.component_objects  # absent from records written before it was kept
        if self.owner:
            data["owner"] = self.owner  # absent from records written before it was kept
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: Optional[str]) -> "History":
        if not text:
            return cls()
        data = json.loads(text)
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"stack state version {data.get('version')} is not {STATE_VERSION}")
        release = data.get("release")
        return cls(
            revisions={c: [Revision(**r) for r in revs] for c, revs in data.get("revisions", {}).items()},
            release=Release(**release) if release else None,
            approvals={k: int(v) for k, v in data.get("approvals", {}).items()},
            approved={k: {c: str(n) for c, n in dict(v).items()} for k, v in data.get("approved", {}).items()},
            gates=dict(data.get("gates", {})),
            passed=dict(data.get("passed", {})),
            tried=dict(data.get("tried", {})),
            values=dict(data.get("values", {})),
            applied=dict(data.get("applied", {})),
            step_objects=[list(o)[:2] for o in data.get("stepObjects", [])],
            component_objects=None if "componentObjects" not in data else [
                dict(o) for o in data["componentObjects"] or [] if isinstance(o, dict)],
            owner=data.get("owner") or None,
        )

    def revision(self, component: str, n: int) -> Optional[Revision]:
        return next((r for r in self.revisions.get(component, []) if r.n == n), None)


def _without_unset(record, optional: tuple[str, ...]) -> dict:
    """The record as a dict, without the fields added later that are unset: older records read as they were."""
    out = asdict(record)
    for key in optional:
        if out[key] is None:
            del out[key]
    return out


def _revision(r: Revision) -> dict:
    return _without_unset(r, ("traits", "external"))


def _release(r: Release) -> dict:
    return _without_unset(r, ("aborted", "revisions", "spec"))


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
    from oam.registry import TRAITS

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
