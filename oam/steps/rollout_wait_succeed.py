"""rollout-wait-succeed: finish one component's rollout before the workflow goes on."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from oam.errors import closest
from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import STEPS, StepType


class RolloutWaitSucceedProperties(OamModel):
    component: str = Field(description="The rolled-out component whose rollout finishes")
    app_name: Optional[str] = Field(None, description="The application's name (it can only be this one)")


@STEPS.register
class RolloutWaitSucceed(StepType):
    """Move every batch of one component's rollout; pulumi up goes on once its pods are Ready."""

    name = "rollout-wait-succeed"
    moves_release = True
    Properties = RolloutWaitSucceedProperties

    def check(self, step, app, _):
        p: RolloutWaitSucceedProperties = step.properties
        problems = []
        if p.app_name is not None and p.app_name != app.name:
            problems.append(app.locator.problem(step.path + ("properties", "appName"),
                                                f"is '{p.app_name}', but this application is '{app.name}'",
                                                f"write appName: {app.name}, or leave it out"))
        rolled = [c.name for c in app.canaried]
        if p.component not in rolled:
            what = "has no rollout trait" if app.component(p.component) else "is not a component of the file"
            problems.append(app.locator.problem(step.path + ("properties", "component"), f"'{p.component}' {what}",
                                                closest(p.component, rolled) if rolled else
                                                "add a rollout trait to the component to roll out"))
        return problems

    def run(self, p: RolloutWaitSucceedProperties, run: Run, step) -> bool:
        run.complete(p.component)
        return True
