"""apply-application: deploy the whole application (the older form of deploy)."""
from __future__ import annotations

from oam.kit.placements import default_placements
from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import STEPS, StepType


class ApplyApplicationProperties(OamModel):
    """No parameters."""


@STEPS.register
class ApplyApplication(StepType):
    """Deploy every component, where the application's policies say (its namespace when they say nothing)."""

    name = "apply-application"
    Properties = ApplyApplicationProperties
    places = True

    def deploys(self, p: ApplyApplicationProperties, app) -> tuple[str, ...]:
        return tuple(c.name for c in app.components)

    def run(self, p: ApplyApplicationProperties, run: Run, step) -> bool:
        run.deploy(default_placements(run.app, run.cfg.clusters))
        return True
