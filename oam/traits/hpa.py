"""hpa: scale the component's Deployment between min and max pods on CPU, memory or pod metrics."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from oam.kit.context import ComponentContext
from oam.kit.k8s_values import MAX_INT32
from oam.kit.spec import OamModel
from oam.registry import TRAITS, TraitType
from oam.traits._autoscaler import check_autoscaled, target


class ResourceTarget(OamModel):
    type: Literal["Utilization", "AverageValue"] = Field("Utilization", description="Percent of the request, or "
                                                                                     "an amount per pod")
    value: int = Field(50, ge=1, description="The target: a percent, or an amount (cores in milli, bytes)")


class PodMetric(OamModel):
    name: str = Field(description="Pod metric name (served by a metrics adapter)")
    value: str = Field(description="Target average value per pod, like 100 or 500m")


class HpaProperties(OamModel):
    min: int = Field(1, ge=1, le=MAX_INT32, description="Fewest pods")
    max: int = Field(10, ge=1, le=MAX_INT32, description="Most pods")
    target_api_version: Literal["apps/v1"] = Field("apps/v1", alias="targetAPIVersion",
                                                    description="API version of what is scaled")
    target_kind: Literal["Deployment", "StatefulSet"] = Field(
        "Deployment", description="Kind of what is scaled: the component's Deployment, or its StatefulSet")
    cpu: Optional[ResourceTarget] = Field(default_factory=ResourceTarget, description="CPU target (50% when absent)")
    mem: Optional[ResourceTarget] = Field(None, description="Memory target")
    pod_custom_metrics: list[PodMetric] = Field(default_factory=list, description="Targets of pod metrics")

    @model_validator(mode="after")
    def _bounds(self):
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


def _resource_metric(name: str, t: ResourceTarget) -> dict:
    amount = ({"averageUtilization": t.value} if t.type == "Utilization" else
              {"averageValue": f"{t.value}m" if name == "cpu" else str(t.value)})
    return {"type": "Resource", "resource": {"name": name, "target": {"type": t.type, **amount}}}


@TRAITS.register
class Hpa(TraitType):
    """A HorizontalPodAutoscaler (autoscaling/v2); the Deployment then leaves its replicas to it."""

    name = "hpa"
    needs = frozenset({"pods", "replicas"})
    Properties = HpaProperties

    def check(self, trait, app, comp):
        return check_autoscaled(trait, app, comp, ("scaler", "hpa", "cpuscaler"))

    def apply(self, p: HpaProperties, ctx: ComponentContext) -> None:
        ctx.autoscaled = True
        metrics = [_resource_metric("cpu", p.cpu)] if p.cpu else []
        if p.mem:
            metrics.append(_resource_metric("memory", p.mem))
        metrics += [{"type": "Pods", "pods": {"metric": {"name": m.name},
                                              "target": {"type": "AverageValue", "averageValue": m.value}}}
                    for m in p.pod_custom_metrics]
        ctx.add("hpa", {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                        "metadata": ctx.metadata(ctx.component),
                        "spec": {"scaleTargetRef": target(ctx, p), "minReplicas": p.min, "maxReplicas": p.max,
                                 "metrics": metrics}})
