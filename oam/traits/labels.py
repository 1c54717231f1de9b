"""labels: extra labels on every object of the component and on its pods."""
from __future__ import annotations

from oam.context import ComponentContext
from oam.registry import TRAITS
from oam.keys import StringMap, check_map


class LabelsProperties(StringMap):
    """The labels, as a map of key to value."""


def check(trait, app, comp):
    return check_map(trait, app, values=True)


@TRAITS.define("labels", LabelsProperties, check=check)
def labels(p: LabelsProperties, ctx: ComponentContext) -> None:
    """Add the labels to the workload, its pod template and the component's other objects."""
    ctx.labels.update(p.root)
