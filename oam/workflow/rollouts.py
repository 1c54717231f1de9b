"""Rollout arithmetic: which revisions of a rolled-out component live at a stage, with how many pods and what weight."""
from __future__ import annotations

from typing import Optional

from oam.kit.stage import Rollout
from oam.revisions import Revision


def only(component: str, rev: Revision, size: int) -> Rollout:
    """One revision with every pod and all traffic."""
    return Rollout(component, [rev], {rev.name: size}, {rev.name: 100})


def split(component: str, base: Revision, target: Revision, size: int, new: int,
          weights: Optional[dict[str, int]]) -> Rollout:
    """``new`` pods on the target, the rest on the base; weights as given or following the pods."""
    replicas = {base.name: size - new, target.name: new}
    return Rollout(component, [base, target], replicas,
                   {base.name: 0, target.name: 0, **(weights or follow(replicas, size))})


def follow(replicas: dict[str, int], size: int) -> dict[str, int]:
    """Weights proportional to replicas, integers summing to 100 (largest remainder)."""
    exact = {r: n * 100 / size for r, n in replicas.items()}
    out = {r: int(v) for r, v in exact.items()}
    for r in sorted(exact, key=lambda r: exact[r] - out[r], reverse=True)[: 100 - sum(out.values())]:
        out[r] += 1
    return out
