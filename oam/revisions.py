"""Revision naming and the history kept in the stack's own state.

A component revision is ``<component>-v<N>``; N goes up only when the component's type or
properties change (traits do not count), and a hash seen before gets its old name back.
The history lives in a stack output, read back at the start of the next run, so it moves
with ``pulumi stack export/import`` and ``pulumi destroy`` resets it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

STATE_OUTPUT = "oamState"
STATE_VERSION = 1


@dataclass
class Revision:
    component: str
    n: int
    hash: str
    type: str
    properties: Optional[dict] = None  # kept only while the revision may be deployed

    @property
    def name(self) -> str:
        return f"{self.component}-v{self.n}"


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


@dataclass
class History:
    revisions: dict[str, list[Revision]] = field(default_factory=dict)
    release: Optional[Release] = None
    approvals: dict[str, int] = field(default_factory=dict)  # suspend step -> release it was given for
    gates: dict[str, str] = field(default_factory=dict)  # timed suspend step -> when it started waiting

    def to_json(self) -> str:
        data = {"version": STATE_VERSION,
                "revisions": {c: [asdict(r) for r in revs] for c, revs in sorted(self.revisions.items())},
                "release": asdict(self.release) if self.release else None,
                "approvals": dict(sorted(self.approvals.items())),
                "gates": dict(sorted(self.gates.items()))}
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
            gates=dict(data.get("gates", {})),
        )

    def revision(self, component: str, n: int) -> Optional[Revision]:
        return next((r for r in self.revisions.get(component, []) if r.n == n), None)


def workload_hash(type_: str, properties: dict[str, Any]) -> str:
    """A stable hash of what makes a revision: the component's type and properties."""
    text = json.dumps({"type": type_, "properties": properties}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def assign_revisions(app, history: History) -> dict[str, Revision]:
    """The current revision of every component, adding new ones to ``history``."""
    current = {}
    for comp in app.components:
        h = workload_hash(comp.type, comp.raw_properties)
        revs = history.revisions.setdefault(comp.name, [])
        rev = next((r for r in revs if r.hash == h), None)
        if rev is None:
            rev = Revision(comp.name, max((r.n for r in revs), default=0) + 1, h, comp.type)
            revs.append(rev)
        rev.properties = dict(comp.raw_properties)
        current[comp.name] = rev
    return current


def prune(history: History, keep: dict[str, set[int]]) -> None:
    """Forget the properties of revisions that can no longer be deployed; keep their names."""
    for comp, revs in history.revisions.items():
        for r in revs:
            if r.n not in keep.get(comp, set()):
                r.properties = None
