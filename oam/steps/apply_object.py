"""apply-object: apply one Kubernetes object written in full, once the workflow reaches the step."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from oam.components.k8s_objects import check_object
from oam.kit.placements import LOCAL, other_cluster
from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import STEPS, StepType


class ApplyObjectProperties(OamModel):
    value: dict[str, Any] = Field(description="The object: apiVersion, kind, metadata (with name) and the rest; "
                                              "in the application's namespace unless it names one")
    cluster: str = Field("", description="Only the stack's cluster ('' or 'local')")


def check_cluster(step, app, what: str) -> list:
    """A step applies to the stack's cluster only: other clusters are deployed by deploy steps."""
    if step.properties.cluster in ("", LOCAL):
        return []
    return [other_cluster(app, step.path + ("properties", "cluster"), f"cluster '{step.properties.cluster}'",
                          f"leave cluster out, or {what} with a component that a deploy step sends there")]


@STEPS.register
class ApplyObject(StepType):
    """Apply one object written in full; it exists from the stage that reaches this step on."""

    name = "apply-object"
    Properties = ApplyObjectProperties
    takes_inputs = True

    def check(self, step, app, _):
        return check_object(step.properties.value, step.path + ("properties", "value"), app) + \
            check_cluster(step, app, "apply the object")

    def run(self, p: ApplyObjectProperties, run: Run, step) -> bool:
        run.apply(step, p.value, step.path + ("properties", "value"))
        return True
