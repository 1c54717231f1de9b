"""annotations: extra annotations on every object of the component and on its pods."""
from __future__ import annotations

from oam.context import ComponentContext
from oam.registry import TRAITS
from oam.keys import StringMap, check_map


class AnnotationsProperties(StringMap):
    """The annotations, as a map of key to value."""


def check(trait, app, comp):
    return check_map(trait, app, values=False)


@TRAITS.define("annotations", AnnotationsProperties, check=check)
def annotations(p: AnnotationsProperties, ctx: ComponentContext) -> None:
    """Add the annotations to the workload, its pod template and the component's other objects."""
    ctx.annotations.update(p.root)
