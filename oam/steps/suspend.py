"""suspend: a gate that waits for the user's approval or for a duration to pass."""
from __future__ import annotations

from typing import Optional

from pydantic import Field, field_validator

from oam.kit.durations import parse_duration
from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import STEPS, StepType


class SuspendProperties(OamModel):
    duration: Optional[str] = Field(None, description="Open by itself this long after the previous stage, e.g. 30s, 5m, 1h")

    @field_validator("duration")
    @classmethod
    def _parses(cls, v):
        if v is not None and parse_duration(v) is None:
            raise ValueError(f"'{v}' is not a duration; write it like 30s, 5m or 1h30m")
        return v


@STEPS.register
class Suspend(StepType):
    """Go on only once approved with `pulumi config set approve <step>` or when the duration is over."""

    name = "suspend"
    Properties = SuspendProperties
    gate = True

    def run(self, p: SuspendProperties, run: Run, step) -> bool:
        return run.gate(step, parse_duration(p.duration) if p.duration else None)
