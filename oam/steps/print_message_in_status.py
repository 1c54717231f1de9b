"""print-message-in-status: a message the status shows once the workflow reaches the step."""
from __future__ import annotations

from pydantic import Field

from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import STEPS, StepType


class PrintMessageInStatusProperties(OamModel):
    message: str = Field(description="The message; pulumi stack output status shows it under stepMessages")


@STEPS.register
class PrintMessageInStatus(StepType):
    """Show a message in the status (pulumi stack output status), from the stage that reaches this step on."""

    name = "print-message-in-status"
    Properties = PrintMessageInStatusProperties
    takes_inputs = True

    def run(self, p: PrintMessageInStatusProperties, run: Run, step) -> bool:
        run.show(step, p.message)
        return True
