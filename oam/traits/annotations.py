"""annotations: extra annotations on every object of the component and on its pods."""
from __future__ import annotations

from oam.context import ComponentContext
from oam.registry import TRAITS, TraitType
from oam.keys import PatchMap, check_map


class AnnotationsProperties(PatchMap):
    """The annotations, as a map of key to value; a key given null is deleted."""


@TRAITS.register
class Annotations(TraitType):
    """Add the annotations to the workload, its pod template and the component's other objects."""

    name = "annotations"
    Properties = AnnotationsProperties

    def check(self, trait, app, comp):
        return check_map(trait, app, values=False)

    def apply(self, p: AnnotationsProperties, ctx: ComponentContext) -> None:
        for key, value in p.root.items():
            if value is None:  # a JSON merge patch: null deletes the key, from the component's own annotations too
                ctx.annotations.pop(key, None)
                ctx.removed_annotations.add(key)
            else:
                ctx.annotations[key] = value
                ctx.removed_annotations.discard(key)
