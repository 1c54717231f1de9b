"""rollout: one Deployment per revision, replicas moved from the old to the new in batches."""
from __future__ import annotations

from pydantic import Field

from oam.context import ComponentContext
from oam.k8s_values import MAX_INT32
from oam.model import OamModel
from oam.registry import TRAITS


class Batch(OamModel):
    replicas: int = Field(ge=0, le=MAX_INT32, description="Pods moved to the new revision in this batch")


class RolloutProperties(OamModel):
    target_size: int = Field(ge=1, le=MAX_INT32, description="Total pods across revisions")
    rollout_batches: list[Batch] = Field(min_length=1, description="Batches; their replicas sum to targetSize")


def check(trait, app, comp):
    p: RolloutProperties = trait.properties
    total = sum(b.replicas for b in p.rollout_batches)
    if total != p.target_size:
        return [app.locator.problem(trait.path + ("properties", "rolloutBatches"),
                                    f"batches add up to {total} replicas but targetSize is {p.target_size}",
                                    "make the batches' replicas sum to targetSize")]
    return []


@TRAITS.define("rollout", RolloutProperties, check=check)
def rollout(p: RolloutProperties, ctx: ComponentContext) -> None:
    """Mark the component to be deployed revision by revision."""
    ctx.rollout = p


def new_replicas(p: RolloutProperties, partition: int) -> int:
    """Replicas of the new revision once batches 0..partition are done (the last means all)."""
    if partition >= len(p.rollout_batches) - 1:
        return p.target_size
    return sum(b.replicas for b in p.rollout_batches[: partition + 1])
