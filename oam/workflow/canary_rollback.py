"""canary-rollback: give the stable revision all replicas and all traffic again."""
from __future__ import annotations

from oam.model import OamModel
from oam.registry import STEPS


class CanaryRollbackProperties(OamModel):
    """No parameters."""


def check(step, app, _):
    if not app.canaried:
        return [app.locator.problem(step.path + ("type",), "this canary step has no component to act on",
                                    "add a rollout trait to the component to roll back")]
    return []


@STEPS.define("canary-rollback", CanaryRollbackProperties, check=check)
def canary_rollback(p: CanaryRollbackProperties, run, step) -> bool:
    """Abort the release: the workflow ends here."""
    run.roll_back()
    return False
