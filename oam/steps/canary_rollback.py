"""canary-rollback: give the stable revision all replicas and all traffic again."""
from __future__ import annotations

from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import STEPS, StepType


class CanaryRollbackProperties(OamModel):
    """No parameters."""


@STEPS.register
class CanaryRollback(StepType):
    """Abort the release: the workflow ends here."""

    name = "canary-rollback"
    Properties = CanaryRollbackProperties
    ends_release = True

    def check(self, step, app, _):
        if not app.canaried:
            return [app.locator.problem(step.path + ("type",), "this canary step has no component to act on",
                                        "add a rollout trait to the component to roll back")]
        return []

    def run(self, p: CanaryRollbackProperties, run: Run, step) -> bool:
        run.roll_back()
        return False
