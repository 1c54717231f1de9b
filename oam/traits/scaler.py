"""scaler: a fixed number of replicas for the component's Deployment."""
from __future__ import annotations

from pydantic import Field

from oam.kit.context import ComponentContext
from oam.kit.k8s_values import MAX_INT32
from oam.kit.spec import OamModel, rollout_of
from oam.registry import TRAITS, TraitType


class ScalerProperties(OamModel):
    replicas: int = Field(1, ge=0, le=MAX_INT32, description="Number of pods")


@TRAITS.register
class Scaler(TraitType):
    """Set spec.replicas of the component's Deployment."""

    name = "scaler"
    needs = frozenset({"pods", "replicas"})
    Properties = ScalerProperties

    def check(self, trait, app, comp):
        rolling = rollout_of(comp)
        if rolling and not rolling[0].takes_replicas:
            other = rolling[0].name
            return [app.locator.problem(trait.path + ("type",), f"scaler and {other} both set the replica count",
                                        f"remove scaler: {other}'s targetSize is the replica count")]
        return []

    def apply(self, p: ScalerProperties, ctx: ComponentContext) -> None:
        ctx.replicas = p.replicas
