"""apply-component: deploy one component (to the application's namespace, or another)."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from oam.loader import closest
from oam.model import OamModel
from oam.registry import STEPS, StepType
from oam.workflow.placements import LOCAL, TargetNamespace, Placement, other_cluster


class ApplyComponentProperties(OamModel):
    component: str = Field(description="The component to deploy")
    cluster: str = Field("", description="Only the stack's cluster ('' or 'local')")
    namespace: Optional[TargetNamespace] = Field(
        None, description="Target namespace; the application's when absent")


@STEPS.register
class ApplyComponent(StepType):
    """Deploy one component; the components of the steps run so far are what the stage deploys."""

    name = "apply-component"
    Properties = ApplyComponentProperties
    places = True

    def check(self, step, app, _):
        p: ApplyComponentProperties = step.properties
        problems = []
        names = [c.name for c in app.components]
        if p.component not in names:
            problems.append(app.locator.problem(step.path + ("properties", "component"),
                                                f"'{p.component}' is not a component of {app.locator.file}",
                                                closest(p.component, names)))
        if p.cluster not in ("", LOCAL):
            problems.append(other_cluster(app, step.path + ("properties", "cluster"), f"cluster '{p.cluster}'",
                                          "leave cluster out, and use a stack per other cluster"))
        return problems

    def run(self, p: ApplyComponentProperties, run, step) -> bool:
        run.deploy([Placement(p.namespace or run.app.namespace, (), (p.component,))])
        return True
