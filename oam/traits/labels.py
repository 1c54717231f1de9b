"""labels: extra labels on every object of the component and on its pods."""
from __future__ import annotations

from oam.kit.context import ComponentContext
from oam.kit.keys import PatchMap, check_map, patch_into
from oam.registry import TRAITS, TraitType


class LabelsProperties(PatchMap):
    """The labels, as a map of key to value; a key given null is deleted."""


@TRAITS.register
class Labels(TraitType):
    """Add the labels to the workload, its pod template and the component's other objects."""

    name = "labels"
    needs = frozenset()  # any component: its objects carry them
    Properties = LabelsProperties

    def check(self, trait, app, comp):
        return check_map(trait, app, values=True)

    def apply(self, p: LabelsProperties, ctx: ComponentContext) -> None:
        patch_into(ctx.labels, ctx.removed_labels, p.root)
