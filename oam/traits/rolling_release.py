"""rolling-release: the component rolled out in place, a percentage of its pods at a time (what canary-deploy adds)."""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Annotated, Optional, Union

from pydantic import AfterValidator, Field

from oam.kit.k8s_values import MAX_INT32
from oam.kit.spec import OamModel, TraitSpec, rollout_of, rolls_out
from oam.registry import TRAITS, TraitType
from oam.traits.rollout import fixed_workload

PERCENT = re.compile(r"^(100|[1-9]?[0-9])%$")


def _replicas(value: Union[int, str]) -> Union[int, str]:
    if isinstance(value, str) and not PERCENT.match(value):
        raise ValueError(f"'{value}' is neither a number of pods nor a percentage like 20%")
    return value


class RollingReleaseProperties(OamModel):
    weight: Optional[int] = Field(None, ge=0, le=100, description="Percent of the pods on the new revision")
    replicas: Optional[Annotated[Union[Annotated[int, Field(ge=0, le=MAX_INT32)], str], AfterValidator(_replicas)]] = (
        Field(None, description="Pods on the new revision, a number or a percentage like 20%; instead of weight"))
    final: bool = Field(False, description="The last step of the release: every pod on the new revision")


@dataclass(frozen=True)
class InPlacePlan:
    """What the release means for one component: its pods, and how many the new revision has at a weight."""

    size: int  # the component's replicas (scaler's; 1 without one)
    direct: int  # the percentage a release without canary-deploy steps goes to (the trait's own)

    def pods(self, percent: int) -> int:
        """Pods of the new revision at ``percent`` (rounded up, as KubeVela's rollout controller does)."""
        return self.size if percent >= 100 else math.ceil(self.size * percent / 100)


def percent_of(p: RollingReleaseProperties, size: int) -> int:
    """The percentage the trait's own parameters name (100 when they name none, or final)."""
    if p.final:
        return 100
    if p.replicas is not None:
        if isinstance(p.replicas, str):
            return int(p.replicas[:-1])
        return 100 if size == 0 or p.replicas >= size else math.floor(p.replicas * 100 / size)
    return 100 if p.weight is None else p.weight


@TRAITS.register
class RollingRelease(TraitType):
    """Roll the component out in place: its Deployment keeps the stable revision while the new one runs a share
    of its pods beside it; at 100% the Deployment takes the new revision. The canary-deploy step adds this trait
    and sets its weight, step by step."""

    name = "rolling-release"
    Properties = RollingReleaseProperties
    rolls_out = True
    in_place = True
    takes_replicas = True

    def check(self, trait, app, comp):
        if not rolls_out(comp):
            return [fixed_workload(trait, app, comp)]
        others = [t for t in comp.traits if t is not trait and TRAITS.get(t.type) is not None
                  and TRAITS.get(t.type).rolls_out]
        return [app.locator.problem(t.path + ("type",), f"{t.type} and {self.name} both roll '{comp.name}' out",
                                    "keep one of them") for t in others]

    def plan(self, p: RollingReleaseProperties, comp) -> InPlacePlan:
        scaler = comp.trait("scaler")
        size = scaler.properties.replicas if scaler is not None and scaler.properties is not None else 1
        return InPlacePlan(size, percent_of(p, size))

    # The partitions are percentages: a canary-deploy step sets its weight.
    def target_size(self, p: InPlacePlan) -> int:
        return p.size

    def batches(self, p: InPlacePlan) -> int:
        return 101

    def new_replicas(self, p: InPlacePlan, partition: int) -> int:
        return p.pods(partition)

    def direct_partition(self, p: InPlacePlan) -> int:
        return p.direct


def with_rolling_release(comp, path: tuple):
    """``comp`` with a rolling-release trait of its own, unless a trait rolls it out already."""
    if rollout_of(comp) is not None:
        return comp
    trait = TraitSpec(RollingRelease.name, RollingReleaseProperties(), path, {})
    return dataclasses.replace(comp, traits=comp.traits + (trait,))

