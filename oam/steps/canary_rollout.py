"""canary-rollout: move a rollout to a batch partition and set its route weights."""
from __future__ import annotations

import re
from typing import Annotated, Any, Optional

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from oam.errors import excerpt
from oam.kit.run import Run
from oam.kit.spec import OamModel, rollout_of, splits_traffic
from oam.registry import STEPS, StepType

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


def targets(p: CanaryRolloutProperties, step) -> dict[str, dict[str, tuple[int, tuple]]]:
    """component -> revision -> (weight, path of the revision entry), from the step's traffic."""
    out: dict[str, dict[str, tuple[int, tuple]]] = {}
    for i, t in enumerate(p.traffic.weighted_targets if p.traffic else ()):
        comp, _ = split_revision(t.revision)
        out.setdefault(comp, {})[t.revision] = (t.weight, step.path + ("properties", "traffic", "weightedTargets", i, "revision"))
    return out


def _batches(comp) -> int:
    trait, spec = rollout_of(comp)
    return trait.batches(spec)


@STEPS.register
class CanaryRollout(StepType):
    """Set the batch partition of every rolled-out component and the weights given."""

    name = "canary-rollout"
    moves_release = True
    Properties = CanaryRolloutProperties

    def check(self, step, app, _):
        loc = app.locator
        rolled = app.canaried
        if not rolled:
            return [loc.problem(step.path + ("type",), "this canary step has no component to act on",
                                "add a rollout trait to the component to roll out")]
        problems = []
        p: CanaryRolloutProperties = step.properties
        for comp in rolled:
            batches = _batches(comp)
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
            if not splits_traffic(app.component(parsed[0])):
                problems.append(loc.problem(path, f"component '{parsed[0]}' has no canary-traffic trait to weigh",
                                            "add canary-traffic to it, or remove traffic from this step"))
            sums[parsed[0]] = sums.get(parsed[0], 0) + target.weight
        for comp, total in sums.items():
            if total != 100:
                problems.append(loc.problem(step.path + ("properties", "traffic", "weightedTargets"),
                                            f"weights of '{comp}' add up to {total}", "make them sum to 100"))
        return problems

    def check_release(self, step, app, release, history):
        """Every weight against this release, run yet or not: the revisions it names must be in it, with pods."""
        problems = []
        p: CanaryRolloutProperties = step.properties
        for comp_name, weights in targets(p, step).items():
            trait, spec = rollout_of(app.component(comp_name))
            size = trait.target_size(spec)
            target = release.targets[comp_name]
            base = release.baselines.get(comp_name)
            new = trait.new_replicas(spec, p.batch_partition)
            replicas = {f"{comp_name}-v{target}": new if base else size}
            if base:
                replicas[f"{comp_name}-v{base}"] = size - new
            for rev, (weight, path) in weights.items():
                n = split_revision(rev)[1]
                if rev not in replicas:
                    known = ", ".join(r.name for r in history.revisions.get(comp_name, [])) or "none"
                    in_release = " and ".join(sorted(replicas))
                    what = "does not exist" if history.revision(comp_name, n) is None else "is not part of this release"
                    problems.append(app.locator.problem(
                        path, f"revision '{rev}' {what} (release {release.n} moves {comp_name} "
                              f"{'from ' + comp_name + '-v' + str(base) + ' ' if base else ''}to {comp_name}-v{target})",
                        f"weigh {in_release}; revisions so far: {known}"))
                elif weight > 0 and replicas[rev] == 0:
                    problems.append(app.locator.problem(
                        path, f"weight {weight} goes to '{rev}', which has 0 replicas at batchPartition "
                              f"{p.batch_partition}", "give it weight 0, or move its batches with batchPartition"))
        return problems

    def run(self, p: CanaryRolloutProperties, run: Run, step) -> bool:
        run.partition(p.batch_partition)
        for comp, weights in targets(p, step).items():
            run.weigh(comp, {rev: w for rev, (w, _) in weights.items()})
        return True
