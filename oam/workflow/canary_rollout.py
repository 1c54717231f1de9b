"""canary-rollout: move a rollout to a batch partition and set its route weights."""
from __future__ import annotations

import re
from typing import Annotated, Any, Optional

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from oam.loader import excerpt
from oam.model import OamModel
from oam.registry import STEPS

REVISION = re.compile(r"^(?P<component>[a-z]([-a-z0-9]*[a-z0-9])?)-v(?P<n>[1-9][0-9]*)$")


def _weight(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise PydanticCustomError("weight", "must be an integer from 0 to 100 (got {value})", {"value": excerpt(value)})
    return value


Weight = Annotated[int, BeforeValidator(_weight)]


class WeightedTarget(OamModel):
    revision: str = Field(description="Component revision, <component>-v<N>")
    weight: Weight = Field(description="Percent of the component's traffic, 0 to 100")


class Traffic(OamModel):
    weighted_targets: list[WeightedTarget] = Field(min_length=1, description="Weights per revision; 100 in all per component")


class CanaryRolloutProperties(OamModel):
    batch_partition: int = Field(ge=0, description="Last batch (0-based) moved to the new revision")
    traffic: Optional[Traffic] = Field(None, description="Route weights; traffic follows replicas when absent")


def split_revision(name: str) -> Optional[tuple[str, int]]:
    """'reviews-v2' -> ('reviews', 2)."""
    m = REVISION.match(name)
    return (m["component"], int(m["n"])) if m else None


def check(step, app, _):
    loc = app.locator
    rolled = app.canaried
    if not rolled:
        return [loc.problem(step.path + ("type",), "this canary step has no component to act on",
                            "add a rollout trait to the component to roll out")]
    problems = []
    p: CanaryRolloutProperties = step.properties
    for comp in rolled:
        batches = len(comp.trait("rollout").properties.rollout_batches)
        if p.batch_partition >= batches:
            problems.append(loc.problem(step.path + ("properties", "batchPartition"),
                                        f"batchPartition {p.batch_partition} is out of range for component '{comp.name}'",
                                        f"its rollout has {batches} batches: use 0 to {batches - 1}"))
    if p.traffic is None:
        return problems
    names = [c.name for c in rolled]
    sums: dict[str, int] = {}
    seen: set[str] = set()
    for i, target in enumerate(p.traffic.weighted_targets):
        path = step.path + ("properties", "traffic", "weightedTargets", i, "revision")
        parsed = split_revision(target.revision)
        if target.revision in seen:
            problems.append(loc.problem(path, f"revision '{target.revision}' is listed twice", "list each revision once"))
        seen.add(target.revision)
        if parsed is None or parsed[0] not in names:
            problems.append(loc.problem(path, f"'{target.revision}' is not a revision of a rolled-out component",
                                        "name a revision as <component>-v<N> of: " + ", ".join(names)))
            continue
        if not app.component(parsed[0]).trait("canary-traffic"):
            problems.append(loc.problem(path, f"component '{parsed[0]}' has no canary-traffic trait to weigh",
                                        "add canary-traffic to it, or remove traffic from this step"))
        sums[parsed[0]] = sums.get(parsed[0], 0) + target.weight
    for comp, total in sums.items():
        if total != 100:
            problems.append(loc.problem(step.path + ("properties", "traffic", "weightedTargets"),
                                        f"weights of '{comp}' add up to {total}", "make them sum to 100"))
    return problems


def targets(p: CanaryRolloutProperties, step) -> dict[str, dict[str, tuple[int, tuple]]]:
    """component -> revision -> (weight, path of the revision entry), from the step's traffic."""
    out: dict[str, dict[str, tuple[int, tuple]]] = {}
    for i, t in enumerate(p.traffic.weighted_targets if p.traffic else ()):
        comp, _ = split_revision(t.revision)
        out.setdefault(comp, {})[t.revision] = (t.weight, step.path + ("properties", "traffic", "weightedTargets", i, "revision"))
    return out


@STEPS.define("canary-rollout", CanaryRolloutProperties, check=check)
def canary_rollout(p: CanaryRolloutProperties, run, step) -> bool:
    """Set the batch partition of every rolled-out component and the weights given."""
    run.partition(p.batch_partition)
    for comp, weights in targets(p, step).items():
        run.weigh(comp, {rev: w for rev, (w, _) in weights.items()})
    return True
