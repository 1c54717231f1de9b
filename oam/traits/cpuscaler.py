"""cpuscaler: scale the component's Deployment between min and max pods to hold a CPU utilization."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from oam.kit.context import ComponentContext
from oam.kit.k8s_values import MAX_INT32
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._autoscaler import check_autoscaled, target


class CpuScalerProperties(OamModel):
    min: int = Field(1, ge=1, le=MAX_INT32, description="Fewest pods")
    max: int = Field(10, ge=1, le=MAX_INT32, description="Most pods")
    cpu_util: int = Field(50, ge=1, description="Target average CPU utilization, percent of the request")
    target_api_version: Literal["apps/v1"] = Field("apps/v1", alias="targetAPIVersion",
                                                    description="API version of what is scaled")
    target_kind: Literal["Deployment", "StatefulSet"] = Field(
        "Deployment", description="Kind of what is scaled: the component's Deployment, or its StatefulSet")

    @model_validator(mode="after")
    def _bounds(self):
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


@TRAITS.register
class CpuScaler(TraitType):
    """A HorizontalPodAutoscaler (autoscaling/v1) on CPU; the Deployment then leaves its replicas to it."""

    name = "cpuscaler"
    needs = frozenset({"pods", "replicas"})
    Properties = CpuScalerProperties

    def check(self, trait, app, comp):
        return check_autoscaled(trait, app, comp, ("scaler", "hpa", "cpuscaler"))

    def apply(self, p: CpuScalerProperties, ctx: ComponentContext) -> None:
        ctx.autoscaled = True
        ctx.add("hpa", {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                        "metadata": ctx.metadata(ctx.component),
                        "spec": {"scaleTargetRef": target(ctx, p), "minReplicas": p.min, "maxReplicas": p.max,
                                 "targetCPUUtilizationPercentage": p.cpu_util}})
