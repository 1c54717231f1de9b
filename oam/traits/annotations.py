"""annotations: extra annotations on every object of the component and on its pods."""
from __future__ import annotations

from oam.kit.context import ComponentContext
from oam.kit.keys import PatchMap, check_map, patch_into
from oam.registry import TRAITS, TraitType


class AnnotationsProperties(PatchMap):
    """The annotations, as a map of key to value; a key given null is deleted."""


@TRAITS.register
class Annotations(TraitType):
    """Add the annotations to the workload, its pod template and the component's other objects."""

    name = "annotations"
    needs = frozenset()  # any component: its objects carry them
    Properties = AnnotationsProperties

    def check(self, trait, app, comp):
        return check_map(trait, app, values=False)

    def apply(self, p: AnnotationsProperties, ctx: ComponentContext) -> None:
        patch_into(ctx.annotations, ctx.removed_annotations, p.root)
