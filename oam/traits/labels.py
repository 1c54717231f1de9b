"""labels: extra labels on every object of the component and on its pods."""
from __future__ import annotations

from oam.context import ComponentContext
from oam.registry import TRAITS, TraitType
from oam.keys import PatchMap, check_map


class LabelsProperties(PatchMap):
    """The labels, as a map of key to value; a key given null is deleted."""


@TRAITS.register
class Labels(TraitType):
    """Add the labels to the workload, its pod template and the component's other objects."""

    name = "labels"
    Properties = LabelsProperties

    def check(self, trait, app, comp):
        return check_map(trait, app, values=True)

    def apply(self, p: LabelsProperties, ctx: ComponentContext) -> None:
        for key, value in p.root.items():
            if value is None:  # a JSON merge patch: null deletes the key, from the component's own labels too
                ctx.labels.pop(key, None)
                ctx.removed_labels.add(key)
            else:
                ctx.labels[key] = value
                ctx.removed_labels.discard(key)
