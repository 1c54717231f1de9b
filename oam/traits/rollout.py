"""rollout: one Deployment per revision, replicas moved from the old to the new in batches."""
from __future__ import annotations

from pydantic import Field

from oam.k8s_values import MAX_INT32
from oam.model import OamModel
from oam.registry import TRAITS, TraitType


class Batch(OamModel):
    replicas: int = Field(ge=0, le=MAX_INT32, description="Pods moved to the new revision in this batch")


class RolloutProperties(OamModel):
    target_size: int = Field(ge=1, le=MAX_INT32, description="Total pods across revisions")
    rollout_batches: list[Batch] = Field(min_length=1, description="Batches; their replicas sum to targetSize")


@TRAITS.register
class Rollout(TraitType):
    """Deploy the component revision by revision, moving its pods in batches."""

    name = "rollout"
    Properties = RolloutProperties
    rolls_out = True

    def check(self, trait, app, comp):
        p: RolloutProperties = trait.properties
        total = sum(b.replicas for b in p.rollout_batches)
        if total != p.target_size:
            return [app.locator.problem(trait.path + ("properties", "rolloutBatches"),
                                        f"batches add up to {total} replicas but targetSize is {p.target_size}",
                                        "make the batches' replicas sum to targetSize")]
        return []

    def target_size(self, p: RolloutProperties) -> int:
        return p.target_size

    def batches(self, p: RolloutProperties) -> int:
        return len(p.rollout_batches)

    def new_replicas(self, p: RolloutProperties, partition: int) -> int:
        return new_replicas(p, partition)


def new_replicas(p: RolloutProperties, partition: int) -> int:
    """Replicas of the new revision once batches 0..partition are done (the last means all)."""
    if partition >= len(p.rollout_batches) - 1:
        return p.target_size
    return sum(b.replicas for b in p.rollout_batches[: partition + 1])
