"""rollout: one Deployment per revision, replicas moved from the old to the new in batches."""
from __future__ import annotations

import re
from typing import Optional

from pydantic import Field

from oam.kit.k8s_values import MAX_INT32
from oam.kit.spec import OamModel, rolls_out
from oam.registry import TRAITS, TraitType


class Batch(OamModel):
    replicas: int = Field(ge=0, le=MAX_INT32, description="Pods moved to the new revision in this batch")


class RolloutProperties(OamModel):
    target_size: int = Field(ge=1, le=MAX_INT32, description="Total pods across revisions")
    rollout_batches: list[Batch] = Field(min_length=1, description="Batches; their replicas sum to targetSize")
    target_revision: Optional[str] = Field(None, description="The revision rolled out: the one the file makes "
                                                             "(the default)")
    batch_partition: Optional[int] = Field(None, ge=0, description="Without a workflow: the last batch (0-based) "
                                                                   "moved to the new revision; all when absent")


@TRAITS.register
class Rollout(TraitType):
    """Deploy the component revision by revision, moving its pods in batches."""

    name = "rollout"
    Properties = RolloutProperties
    rolls_out = True

    def check(self, trait, app, comp):
        p: RolloutProperties = trait.properties
        if not rolls_out(comp):
            return [fixed_workload(trait, app, comp)]
        total = sum(b.replicas for b in p.rollout_batches)
        if total != p.target_size:
            return [app.locator.problem(trait.path + ("properties", "rolloutBatches"),
                                        f"batches add up to {total} replicas but targetSize is {p.target_size}",
                                        "make the batches' replicas sum to targetSize")]
        own = re.fullmatch(f"{re.escape(comp.name)}-v[1-9][0-9]*", p.target_revision or "")
        if p.target_revision is not None and p.target_revision != comp.external_revision and not own:
            return [app.locator.problem(trait.path + ("properties", "targetRevision"),
                                        f"'{p.target_revision}' is not a revision of '{comp.name}' "
                                        f"({comp.external_revision or comp.name + '-v<N>'})",
                                        "remove targetRevision: the revision the file makes is rolled out")]
        return []

    def check_revision(self, p: RolloutProperties, current: str) -> Optional[str]:
        """Why ``targetRevision`` cannot be rolled out when the file makes ``current``; None when it can."""
        if p.target_revision is None or p.target_revision == current:
            return None
        return (f"targetRevision is '{p.target_revision}', but this file makes '{current}': a release rolls out "
                f"the revision its file makes")

    def direct_partition(self, p: RolloutProperties) -> int:
        last = len(p.rollout_batches) - 1
        return last if p.batch_partition is None else min(p.batch_partition, last)

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


def fixed_workload(trait, app, comp):
    """The problem of a rollout trait on a component whose type does not run its pods in a Deployment."""
    return app.locator.problem(trait.path + ("type",), f"a {comp.type} component is not rolled out revision by "
                                                       "revision", f"use {trait.type} with webservice or worker")
