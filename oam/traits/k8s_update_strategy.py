"""k8s-update-strategy: how a Deployment replaces its pods when their template changes."""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import Field

from oam.kit.context import ComponentContext
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType


class RollingStrategy(OamModel):
    max_surge: Union[int, str] = Field("25%", description="Pods above the count while replacing (number or percent)")
    max_unavailable: Union[int, str] = Field("25%", description="Pods that may be missing while replacing")
    partition: int = Field(0, ge=0, description="Not used by a Deployment (StatefulSets only)")


class Strategy(OamModel):
    type: Literal["RollingUpdate", "Recreate"] = Field("RollingUpdate", description="Replace pods gradually, "
                                                                                     "or all at once")
    rolling_strategy: Optional[RollingStrategy] = Field(None, description="Limits of a RollingUpdate")


class UpdateStrategyProperties(OamModel):
    target_api_version: Literal["apps/v1"] = Field("apps/v1", alias="targetAPIVersion",
                                                    description="API version of what is changed")
    target_kind: Literal["Deployment"] = Field("Deployment", description="Kind of what is changed")
    strategy: Strategy = Field(default_factory=Strategy, description="The strategy")


def _amount(value) -> bool:
    if isinstance(value, int):
        return value >= 0
    return value.endswith("%") and value[:-1].isdigit() and int(value[:-1]) <= 100


@TRAITS.register
class UpdateStrategy(TraitType):
    """Set the Deployment's update strategy: a rolling update with its limits, or recreate."""

    name = "k8s-update-strategy"
    needs = frozenset({"pods", "deployment"})
    Properties = UpdateStrategyProperties

    def check(self, trait, app, comp):
        rolling = trait.properties.strategy.rolling_strategy
        problems = []
        if rolling is not None:
            for field, value in (("maxSurge", rolling.max_surge), ("maxUnavailable", rolling.max_unavailable)):
                if not _amount(value):
                    problems.append(app.locator.problem(
                        trait.path + ("properties", "strategy", "rollingStrategy", field),
                        f"{value!r} is not a number of pods or a percent", "write it like 1 or 25%"))
            if rolling.max_surge in (0, "0%") and rolling.max_unavailable in (0, "0%"):
                problems.append(app.locator.problem(trait.path + ("properties", "strategy", "rollingStrategy"),
                                                    "maxSurge and maxUnavailable cannot both be 0 (Kubernetes refuses)",
                                                    "let one of them be above 0"))
            if trait.properties.strategy.type == "Recreate":
                problems.append(app.locator.problem(trait.path + ("properties", "strategy", "rollingStrategy"),
                                                    "rollingStrategy applies to RollingUpdate, not Recreate",
                                                    "remove it, or use type RollingUpdate"))
        return problems

    def patch_workload(self, p: UpdateStrategyProperties, manifest: dict, ctx: ComponentContext) -> None:
        if manifest["kind"] != "Deployment":
            return
        strategy: dict = {"type": p.strategy.type}
        rolling = p.strategy.rolling_strategy
        if p.strategy.type == "RollingUpdate" and rolling is not None:
            strategy["rollingUpdate"] = {"maxSurge": rolling.max_surge, "maxUnavailable": rolling.max_unavailable}
        manifest["spec"]["strategy"] = strategy
