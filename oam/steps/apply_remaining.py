"""apply-remaining: deploy every component but the ones named (KubeVela's older step, still installed)."""
from __future__ import annotations

from pydantic import Field

from oam.errors import closest
from oam.kit.placements import Placement
from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import STEPS, StepType


class ApplyRemainingProperties(OamModel):
    exceptions: list[str] = Field(default_factory=list, description="Components not to deploy here (another step "
                                                                    "deploys them, or none)")


@STEPS.register
class ApplyRemaining(StepType):
    """Deploy every component the exceptions do not name, in the application's namespace."""

    name = "apply-remaining"
    Properties = ApplyRemainingProperties
    places = True

    def check(self, step, app, _):
        names = [c.name for c in app.components]
        return [app.locator.problem(step.path + ("properties", "exceptions", i),
                                    f"'{name}' is not a component of {app.locator.file}", closest(name, names))
                for i, name in enumerate(step.properties.exceptions) if name not in names]

    def deploys(self, p: ApplyRemainingProperties, app) -> tuple[str, ...]:
        return tuple(c.name for c in app.components if c.name not in p.exceptions)

    def run(self, p: ApplyRemainingProperties, run: Run, step) -> bool:
        remaining = self.deploys(p, run.app)
        if remaining:
            run.deploy([Placement(run.app.namespace, (), remaining)])
        return True
