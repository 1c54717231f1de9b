"""scaler: a fixed number of replicas for the component's Deployment."""
from __future__ import annotations

from pydantic import Field

from oam.context import ComponentContext
from oam.k8s_values import MAX_INT32
from oam.model import OamModel
from oam.registry import TRAITS


class ScalerProperties(OamModel):
    replicas: int = Field(1, ge=0, le=MAX_INT32, description="Number of pods")


def check(trait, app, comp):
    if comp.trait("rollout"):
        return [app.locator.problem(trait.path + ("type",), "scaler and rollout both set the replica count",
                                    "remove scaler: rollout's targetSize is the replica count")]
    return []


@TRAITS.define("scaler", ScalerProperties, check=check)
def scaler(p: ScalerProperties, ctx: ComponentContext) -> None:
    """Set spec.replicas of the component's Deployment."""
    ctx.replicas = p.replicas
