"""suspend: a gate that waits for the user's approval or for a duration to pass."""
from __future__ import annotations

from typing import Optional

from pydantic import Field, field_validator

from oam.durations import parse_duration
from oam.model import OamModel
from oam.registry import STEPS


class SuspendProperties(OamModel):
    duration: Optional[str] = Field(None, description="Open by itself this long after the previous stage, e.g. 30s, 5m, 1h")

    @field_validator("duration")
    @classmethod
    def _parses(cls, v):
        if v is not None and parse_duration(v) is None:
            raise ValueError(f"'{v}' is not a duration; write it like 30s, 5m or 1h30m")
        return v


@STEPS.define("suspend", SuspendProperties)
def suspend(p: SuspendProperties, run, step) -> bool:
    """Go on only once approved with `pulumi config set approve <step>` or when the duration is over."""
    return run.gate(step, parse_duration(p.duration) if p.duration else None)
