"""Revisions, releases and the history kept in the stack's own state: plain data (oam.workflow.assign names them).

The history lives in a stack output, read back at the start of the next run, so it moves
with ``pulumi stack export/import`` and ``pulumi destroy`` resets it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Optional

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
