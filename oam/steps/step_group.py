"""step-group: steps that run together, as one step of the workflow."""
from __future__ import annotations

from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import STEPS, StepType


class StepGroupProperties(OamModel):
    """No parameters: the steps are the group's subSteps."""


@STEPS.register
class StepGroup(StepType):
    """Run its subSteps as one step: what they deploy goes together (later steps wait for all of it); it waits
    where one of them waits."""

    name = "step-group"
    Properties = StepGroupProperties

    def check(self, step, app, _):
        if not step.sub_steps:
            return [app.locator.problem(step.path + ("type",), "a step-group needs subSteps",
                                        "list the steps of the group under subSteps")]
        return [app.locator.problem(sub.path + ("type",), "a step-group inside a step-group is not supported",
                                    "list its steps in the outer group") for sub in step.sub_steps
                if sub.type == self.name]

    def waits(self, step) -> bool:
        return False

    def run(self, p: StepGroupProperties, run: Run, step) -> bool:
        for sub in step.sub_steps:
            if sub.properties is None or not run.step(sub):
                return False
        return True
